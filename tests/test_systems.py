"""The systems registry is the one list every consumer reads, and one loader predicts for predict, annotate
and distill alike."""

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune import systems
from annotune.config import PromptingParams, SystemsParams
from annotune.data.io import write_jsonl
from annotune.data.tasks import get_task
from annotune.systems.predictors import exemplar_chooser, load_system
from annotune.systems.prompts import boundary_exemplars
from tests.helpers import POOL

ROOT = Path(__file__).resolve().parents[1]
TASK = get_task("sbic", "hasBiasedImplication")


def test_every_system_is_trained_by_a_stage_of_the_pipeline():
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    for spec in systems.REGISTRY.values():
        assert spec.trained_by is None or spec.trained_by in stages, spec.name
        assert spec.group in (*systems.GROUPS, "distilled", "augmented")
        assert "{task}" in spec.model_path or spec.kind == "prompted"


def test_params_groups_default_to_every_registered_system_but_the_opt_in_ones_and_enabled_keeps_their_order():
    every = SystemsParams()
    assert [*every.finetuned, *every.prompted, *every.baselines] == [
        s for s, spec in systems.REGISTRY.items() if spec.group in systems.GROUPS and not spec.opt_in
    ]
    assert "seq2seq_lora" in systems.in_group("baselines") and "seq2seq_lora" not in every.baselines
    cheap = SystemsParams(finetuned=[], prompted=[], baselines=["majority", "tfidf_logreg"])
    assert systems.enabled(cheap, "t", [], []) == ["majority", "tfidf_logreg"]
    assert systems.enabled(cheap, "t", ["t"], ["t"])[-2:] == ["encoder_distilled", "encoder_augmented"]


def test_few_shot_with_similar_selection_chooses_per_row():
    """annotate and distill used to refuse few-shot with selection: similar, which predict supported."""
    similar = exemplar_chooser("few_shot", POOL, PromptingParams(shots=2, selection="similar"), seed=0)
    near = similar({"id": "new", "input": "my dog loves the beach"})
    assert near[-1]["id"] == "p3" and near != similar({"id": "new2", "input": "women drivers"})
    fixed = exemplar_chooser("few_shot", POOL, PromptingParams(shots=2), seed=0)
    assert fixed({"id": "a", "input": "x"}) == fixed({"id": "b", "input": "y"})
    assert exemplar_chooser("zero_shot", None, PromptingParams(), seed=0)({"id": "a", "input": "x"}) == []
    boundary = exemplar_chooser("few_shot", POOL, PromptingParams(shots=2, selection="boundary"), seed=0)
    assert boundary({"id": "a", "input": "x"}) == boundary({"id": "b", "input": "y"}) == boundary_exemplars(POOL, 2, 0)


def test_prompted_system_predicts_through_the_same_loader(tiny_llama, tmp_path):
    rows = [{"id": r["id"], "input": r["input"], "label": r["label"]} for r in POOL]
    prompting = PromptingParams(shots=2, selection="similar")
    write_jsonl(tmp_path / "train.jsonl", POOL)  # the few-shot pool: the task's train split
    system = load_system(TASK, "few_shot", tiny_llama, prompting=prompting, data_dir=tmp_path, batch_size=2)
    predictions = system.predict(rows)
    assert [p["id"] for p in predictions] == [r["id"] for r in rows]
    assert all(set(p["scores"]) == set(TASK.labels) for p in predictions)
    assert system.model is not None and system.runtime.device == "cpu"


def test_untrained_system_names_the_stage_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no trained model for system 'encoder'.*dvc repro baseline_train"):
        load_system(TASK, "encoder", tmp_path / "missing")

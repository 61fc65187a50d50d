"""Trained model folders carry a model card and load with plain peft / transformers from any working
directory: qlora_train's adapter (base named relative to the adapter), an adapter on a pinned hub base
(AutoPeftModel finds it by id and commit), a baseline's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ruamel.yaml import YAML

from annotune.data.io import write_jsonl
from annotune.systems.model_card import CARD_FILE
from annotune.systems.models import SOURCE_FILE, adapter_base, point_adapter_at_base, resolve
from annotune.workflows.export import logit_difference
from tests.helpers import COMMIT, POSTS, make_adapter, records

ROOT = Path(__file__).resolve().parents[1]
IDS = torch.tensor([[1, 5, 9, 12, 2, 7]])


def card(folder: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / CARD_FILE)


@pytest.fixture
def project(tmp_path, tiny_llama, monkeypatch) -> Path:
    """A project folder (params.yaml, a tiny instruct split, models/base/llm) as the working directory."""
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["qlora"] |= {"batch_size": 4, "epochs": 1, "r": 4, "alpha": 8, "checkpoint_steps": 0}
    folder = tmp_path / "project"
    folder.mkdir()
    YAML(typ="safe").dump(params, folder / "params.yaml")
    write_jsonl(folder / "data" / "train.jsonl", records(8))
    write_jsonl(folder / "data" / "dev.jsonl", records(4))
    resolve(str(tiny_llama), folder / "models" / "base" / "llm")
    monkeypatch.chdir(folder)
    return folder


def test_qlora_adapter_names_its_base_portably_and_carries_a_card(project, tmp_path, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from stages import qlora_train

    adapter = Path("models/qlora/offensiveYN")
    qlora_train.main(
        ["offensiveYN", "--data", "data", "--base", "models/base/llm", "--out", str(adapter), "--live", "live"]
    )
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "../../base/llm"  # relative to the adapter, not to the cwd
    meta = json.loads((adapter / "annotune.json").read_text())
    assert meta["base"] == json.loads(Path("models/base/llm", SOURCE_FILE).read_text())
    assert meta["dataset"] == "sbic"

    text = (adapter / CARD_FILE).read_text()
    data = card(adapter).data
    assert (data.library_name, data.license, data.datasets) == ("peft", "other", ["allenai/social_bias_frames"])
    assert data.base_model is None  # a local folder has no hub id to name
    for fact in ("`offensiveYN`", "train examples: 8", "dev examples: 4", "| train_loss |", "CC BY 4.0", "nf4"):
        assert fact in text
    assert str(tmp_path) not in text  # no absolute path: the folder hashes the same anywhere

    expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("models/base/llm"), str(adapter))
    adapter = adapter.resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    base = adapter_base(adapter)
    assert base.resolve() == (project / "models" / "base" / "llm").resolve()
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter)
    assert logit_difference(loaded.eval(), expected.eval(), IDS) == 0.0


def test_adapter_on_a_hub_base_loads_by_id_and_commit_anywhere(offline_hub, tmp_path, monkeypatch):  # noqa: F811
    from peft import AutoPeftModelForCausalLM, PeftModel
    from transformers import AutoModelForCausalLM

    base = tmp_path / "models" / "base" / "llm"
    resolve("org/tiny@main", base)
    adapter = make_adapter(base, tmp_path / "models" / "qlora" / "task")
    point_adapter_at_base(adapter, base)
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert (config["base_model_name_or_path"], config["revision"]) == ("org/tiny", COMMIT)
    assert adapter_base(adapter) == "org/tiny"
    expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()

    monkeypatch.chdir(tmp_path / "models")
    loaded = AutoPeftModelForCausalLM.from_pretrained(adapter).eval()  # the base from the hub cache
    assert logit_difference(loaded, expected, IDS) == 0.0


def test_hub_base_is_named_with_its_commit_and_licence_in_the_card(offline_hub, tmp_path):  # noqa: F811
    from annotune.data.tasks import get_task
    from annotune.systems import model_card

    base = tmp_path / "base"
    resolve("org/tiny@main", base)
    model_card.write(
        tmp_path,
        kind="causal_adapter",
        system="qlora",
        task=get_task("sbic", "offensiveYN"),
        dataset="sbic",
        base_dir=base,
        params={"r": 4},
        sizes={"train": 8},
        metrics={"train_loss": 1.23456},
    )
    data = card(tmp_path).data
    assert (data.base_model, data.license, data.base_model_relation) == ("org/tiny", "apache-2.0", "adapter")
    text = (tmp_path / CARD_FILE).read_text()
    assert f'AutoModelForCausalLM.from_pretrained("org/tiny", revision="{COMMIT}")' in text
    assert "| train_loss | 1.2346 |" in text


def test_baseline_folder_carries_a_card_with_the_data_licence(project):
    from stages import baseline_train

    out = Path("models/baselines/offensiveYN/majority")
    baseline_train.main(
        ["offensiveYN", "majority", "--data", "data", "--encoder", "none", "--llm", "none", "--out", str(out)]
    )
    data = card(out).data
    assert (data.library_name, data.license, data.base_model) == ("sklearn", "cc-by-4.0", None)
    assert "train examples: 8" in (out / CARD_FILE).read_text()


def test_soft_prompt_adapter_names_its_base_relative_to_itself(project, tmp_path, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    from annotune.systems.classifiers import load_classifier
    from stages import baseline_train
    from tests.conftest import make_tiny_bert

    params = YAML(typ="safe").load(Path("params.yaml").read_text())
    params["encoder"] |= {"epochs": 1, "batch_size": 4}
    YAML(typ="safe").dump(params, Path("params.yaml"))
    resolve(str(make_tiny_bert(tmp_path / "bert", POSTS)), Path("models/base/encoder"))
    out = Path("models/baselines/offensiveYN/soft_prompt")
    baseline_train.main(
        ["offensiveYN", "soft_prompt", "--data", "data", "--encoder", "models/base/encoder", "--llm", "none"]
        + ["--out", str(out)]
    )
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == config["tokenizer_name_or_path"] == "../../../base/encoder"
    assert card(out).data.library_name == "peft" and "dev examples: 4" in (out / CARD_FILE).read_text()
    model, tokenizer, meta = load_classifier(out)
    encoded = tokenizer(POSTS[:2], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = model(**encoded).logits

    out = out.resolve()
    monkeypatch.chdir(tmp_path)
    base = AutoModelForSequenceClassification.from_pretrained(adapter_base(out), num_labels=len(meta["labels"]))
    loaded = PeftModel.from_pretrained(base, out).eval()
    with torch.no_grad():
        assert torch.equal(loaded(**encoded).logits, expected)

"""augment@task end to end on tiny models: every generated post is kept or dropped with a reason, the encoder
trains on gold + kept, and evaluate and the report show the augmented system against the encoder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune.data.io import read_jsonl, records_fingerprint
from annotune.data.tasks import get_task
from tests.conftest import make_tiny_bert, make_tiny_llama

ROOT = Path(__file__).resolve().parents[1]
TASK = "hasBiasedImplication"
TEXTS = ["those people are all lazy", "a beautiful day at the beach", "go back where you came from"]


def augment_workspace(folder: Path) -> list[str]:
    """Twelve posts in each split, params asking 3 posts per label of the tiny LLM; the stage's arguments."""
    rows = [
        {"id": f"r{i}", "instruction": "", "input": f"{TEXTS[i % 3]} {i}", "output": "", "label": label}
        for i, label in enumerate(["implied_bias", "implied_bias", "no_implied_bias"] * 4)
    ]
    data = folder / "data" / "instruct" / TASK
    data.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["augment"] |= {"tasks": [TASK], "examples_per_label": 3, "exemplars": 2, "max_new_tokens": 8, "min_words": 1}
    params["encoder"].update(epochs=1, batch_size=4)
    YAML().dump(params, folder / "params.yaml")
    make_tiny_llama(folder / "llm")
    make_tiny_bert(folder / "bert", TEXTS)
    return [
        TASK,
        "--data", f"data/instruct/{TASK}",
        "--base", "llm",
        "--encoder", "bert",
        "--synthetic", "out/synthetic",
        "--out", "out/encoder",
        "--predictions", "out/predictions/encoder_augmented.jsonl",
        "--stats", "out/stats.json",
    ]  # fmt: skip


def test_augment_accounts_for_every_post_and_trains_the_encoder_on_gold_plus_kept(tmp_path, monkeypatch):
    args = augment_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(os.environ, "HF_HUB_OFFLINE", "1")
    from stages import augment

    augment.main(args)
    stats = json.loads(Path("out/stats.json").read_text())
    kept, dropped = read_jsonl(Path("out/synthetic/kept.jsonl")), read_jsonl(Path("out/synthetic/dropped.jsonl"))
    assert stats["candidates"] == 6 == len(kept) + len(dropped) == stats["kept"] + sum(stats["dropped"].values())
    assert all(r["reason"] in stats["dropped"] for r in dropped)
    assert stats["trained_rows"] == 12 + len(kept) and stats["generated_tokens"] > 0
    gold = read_jsonl(Path(f"data/instruct/{TASK}/train.jsonl"))
    training_data = json.loads(Path("out/encoder/annotune.json").read_text())["training_data"]
    assert training_data["train"]["sha256"] == records_fingerprint(gold + kept)

    predictions = read_jsonl(Path("out/predictions/encoder_augmented.jsonl"))
    assert [p["id"] for p in predictions] == [f"r{i}" for i in range(12)]
    runtime = json.loads(Path("out/predictions/encoder_augmented.runtime.json").read_text())
    timing = runtime["timing"]
    assert timing["train_seconds"] >= timing["generation_seconds"] > 0
    assert set(runtime["augmentation"]["examples"]) == {"implied_bias", "no_implied_bias"}


def test_report_shows_the_augmented_encoder_against_the_encoder_and_a_few_posts():
    from annotune.evaluation.report_sections import augmentation_section

    task = get_task("sbic", TASK)
    augmentation = {
        "method": "generate",
        "generator": "zero_shot",
        "candidates": 200,
        "kept": 150,
        "kept_per_label": {"implied_bias": 70, "no_implied_bias": 80},
        "dropped": {"short": 30, "truncated": 20, "leaks_held_out": 0},
        "diversity_kept": {"distinct_2": 0.41},
        "diversity_gold": {"distinct_2": 0.83},
        "generation_seconds": 95.0,
        "examples": {
            "implied_bias": {"kept": ["a | kept post"], "dropped": [{"text": "hi", "reason": "short"}]},
            "no_implied_bias": {"kept": [], "dropped": []},
        },
    }
    metrics = {
        "encoder": {"macro_f1": 0.60},
        "encoder_augmented": {
            "macro_f1": 0.58,
            "macro_f1_delta_vs_paired": -0.02,
            "p_vs_paired": 0.31,
            "augmentation": augmentation,
        },
    }
    section = augmentation_section(task, metrics)
    assert "wrote 200 posts in 95 s; kept 150 (per label: implied_bias 70, no_implied_bias 80)" in section
    assert "dropped: short 30, truncated 20." in section  # reasons that dropped nothing are left out
    assert "Distinct bigrams: 41.0% of the kept posts' bigrams, 83.0% of the gold posts'." in section
    assert "58.0 macro_f1, −2.0 points against the encoder on gold alone (paired bootstrap p = 0.310)" in section
    assert "kept “a / kept post”" in section and "“hi” (short)" in section  # a pipe would break the markdown
    assert augmentation_section(task, {"encoder": {"macro_f1": 0.6}}) is None


@pytest.mark.parametrize("delta", [0.05, -0.05])
def test_evaluate_tests_the_augmented_encoder_paired_against_the_encoder(delta):
    from annotune.evaluation.metrics.comparison import compare_systems

    task = get_task("sbic", TASK)
    gold = ["implied_bias", "no_implied_bias"] * 20
    right = [{"id": str(i), "gold": g, "pred": g, "scores": {g: 0.9, "x": 0.1}} for i, g in enumerate(gold)]
    flipped = {"implied_bias": "no_implied_bias", "no_implied_bias": "implied_bias"}

    def with_errors(n):
        return [
            {**r, "pred": flipped[r["gold"]], "scores": {flipped[r["gold"]]: 0.9, r["gold"]: 0.1}} if i < n else
            {**r, "scores": {r["gold"]: 0.9, flipped[r["gold"]]: 0.1}}
            for i, r in enumerate(right)
        ]  # fmt: skip

    encoder, augmented = (with_errors(8), with_errors(4)) if delta > 0 else (with_errors(4), with_errors(8))
    metrics, _ = compare_systems(
        task,
        {"encoder": encoder, "encoder_augmented": augmented},
        ["encoder"],
        None,
        200,
        0.95,
        5,
        0,
        pairs={"encoder_augmented": "encoder"},
    )
    result = metrics["encoder_augmented"]
    assert result["paired_with"] == "encoder"
    assert (result["macro_f1_delta_vs_paired"] > 0) == (delta > 0)
    assert 0 <= result["p_vs_paired"] <= 1 and "paired_with" not in metrics["encoder"]

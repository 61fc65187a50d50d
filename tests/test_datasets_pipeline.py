"""Every stage, in order, on a small slice of real MRPC (sentence pairs) and GoEmotions (multi-label)
with a tiny Llama and the real MiniLM encoder: switching dataset is a params change only."""

import json
import os

import pytest
from ruamel.yaml import YAML

from tests.conftest import SHARED_DATA
from tests.helpers import ROOT, tiny_params

pytestmark = pytest.mark.slow  # every stage on two real datasets

CASES = {"mrpc": ("paraphrase", "msr_paraphrase_test.txt"), "goemotions": ("emotions", "emotions.txt")}
METHODS = ["majority", "tfidf_logreg", "encoder"]


def run_stage(name: str, *argv: str) -> None:
    import importlib

    importlib.import_module(f"stages.{name}").main(list(argv))


@pytest.mark.parametrize("dataset", list(CASES))
def test_stages_end_to_end_on_a_real_slice(dataset, tmp_path, tiny_llama, monkeypatch):
    task, marker = CASES[dataset]
    if not (SHARED_DATA / dataset / marker).exists():
        pytest.skip(f"real {dataset} data not found at {SHARED_DATA / dataset} (../shared/data is absent here)")
    params = tiny_params(tiny_llama)
    params.update(dataset=dataset, tasks=[task])
    params["distill"]["tasks"] = []  # the opt-in variants name SBIC tasks
    params["systems"]["baselines"] = METHODS
    params["systems"]["prompted"] = ["zero_shot"]
    params["predict"]["max_new_tokens"] = 8
    YAML().dump(params, tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANNOTUNE_DATA_DIR", str(SHARED_DATA))
    monkeypatch.syspath_prepend(str(ROOT))

    run_stage("fetch_data", "--out", f"data/raw/{dataset}")
    for model in ("llm", "encoder"):
        run_stage("base_model", model, "--out", f"models/base/{model}")
    run_stage(
        "prepare",
        "--raw",
        f"data/raw/{dataset}",
        "--out",
        "data/prepared",
        "--stats",
        "metrics/prepare.json",
        "--pool",
        "data/pool",
    )
    run_stage("instruct_format", task, "--prepared", "data/prepared", "--out", f"data/instruct/{task}")
    data, predictions = f"data/instruct/{task}", f"data/predictions/{task}"
    run_stage(
        "qlora_train",
        task,
        "--data",
        data,
        "--base",
        "models/base/llm",
        "--out",
        f"models/qlora/{task}",
        "--live",
        f"metrics/train/{task}",
    )
    run_stage(
        "predict",
        task,
        "qlora",
        "--data",
        data,
        "--base",
        "models/base/llm",
        "--model",
        f"models/qlora/{task}",
        "--out",
        f"{predictions}/qlora.jsonl",
    )
    run_stage(
        "predict",
        task,
        "zero_shot",
        "--data",
        data,
        "--base",
        "models/base/llm",
        "--out",
        f"{predictions}/zero_shot.jsonl",
    )
    for method in METHODS:
        run_stage(
            "baseline_train",
            task,
            method,
            "--data",
            data,
            "--encoder",
            "models/base/encoder",
            "--llm",
            "models/base/llm",
            "--out",
            f"models/baselines/{task}/{method}",
        )
        run_stage(
            "predict",
            task,
            method,
            "--data",
            data,
            "--base",
            "models/base/llm",
            "--model",
            f"models/baselines/{task}/{method}",
            "--out",
            f"{predictions}/{method}.jsonl",
        )
    run_stage(
        "evaluate",
        task,
        "--predictions",
        predictions,
        "--prepared",
        "data/prepared/test.jsonl",
        "--metrics",
        f"metrics/eval/{task}.json",
        "--plots",
        f"metrics/plots/{task}",
    )
    run_stage(
        "report",
        "--metrics",
        "metrics/eval",
        "--plots",
        "metrics/plots",
        "--figures",
        "metrics/figures",
        "--out",
        "metrics/summary.md",
    )

    stats = json.loads((tmp_path / "metrics/prepare.json").read_text())
    assert stats["splits"]["test"]["kept"] == 16 and stats["dataset"] == dataset
    metrics = json.loads((tmp_path / f"metrics/eval/{task}.json").read_text())
    assert set(metrics) == {"qlora", "zero_shot", *METHODS}
    summary = (tmp_path / "metrics/summary.md").read_text()
    if dataset == "mrpc":
        first = json.loads((tmp_path / f"{data}/test.jsonl").open().readline())
        assert len(first["input_pair"]) == 2 and first["input"].startswith("Sentence 1: ")
        assert {"accuracy", "macro_f1", "positive_f1", "roc_auc"} <= set(metrics["encoder"])
        assert "published: BERT-base, dev" in summary
    else:
        assert {"micro_f1", "macro_f1", "subset_accuracy", "hamming_loss"} <= set(metrics["qlora"])
        assert "invalid_answer_rate" in metrics["qlora"] and "roc_auc" in metrics["tfidf_logreg"]
        assert "subset accuracy" in summary
    assert os.path.exists(tmp_path / f"metrics/figures/{task}_confusion.png")

"""The whole DVC pipeline on ~50 real SBIC posts and a tiny model, in a temporary git repository."""

import json
import sys

import pytest
from ruamel.yaml import YAML

from tests.helpers import project_repo, run, tiny_params, tool_env

pytestmark = pytest.mark.slow  # the whole DVC pipeline, several minutes

TASKS = ["hasBiasedImplication", "offensiveYN", "targetMinority"]


def test_dvc_repro_cache_and_experiment(tmp_path, tiny_llama, shared_sbic):
    repo = tmp_path / "repo"
    params = tiny_params(tiny_llama)
    env = tool_env(ANNOTUNE_SBIC_SOURCE=str(shared_sbic))
    dvc = project_repo(repo, params, env)

    run([*dvc, "repro"], repo, env)
    stats = json.loads((repo / "metrics" / "prepare.json").read_text())
    assert stats["layout"] == "fallback" and stats["splits"]["test"]["kept"] == 16
    for task in TASKS:
        metrics = json.loads((repo / "metrics" / "eval" / f"{task}.json").read_text())
        systems = {*params["systems"]["finetuned"], *params["systems"]["prompted"], *params["systems"]["baselines"]}
        systems |= {"encoder_distilled"} if task in params["distill"]["tasks"] else set()
        assert set(metrics) == systems | {"human"}
        assert metrics["human"]["posts"] > 0
        main = "macro_f1" if task != "targetMinority" else "set_f1"
        assert metrics["qlora"][f"{main}_ci_low"] <= metrics["qlora"][main] <= metrics["qlora"][f"{main}_ci_high"]
        assert sum(metrics[s]["is_best_baseline"] for s in systems) == 1
        assert (repo / "models" / "qlora" / task / "adapter_model.safetensors").exists()
        assert metrics["qlora"]["n"] == 16
        estimate = json.loads((repo / "metrics" / "estimate" / f"{task}.json").read_text())
        if task == "targetMinority":
            assert "binary and multiclass" in estimate["why"]
        else:
            assert set(estimate["systems"]) == {"encoder", "tfidf_logreg"} and estimate["pool_items"] == 120
            assert len((repo / "data" / "estimate" / task / "encoder.jsonl").read_text().splitlines()) == 120
        predictions = [json.loads(line) for line in (repo / "data/predictions" / task / "qlora.jsonl").open()]
        assert len(predictions) == 16
        recorded = json.loads((repo / "data/predictions" / task / "qlora.runtime.json").read_text())
        assert recorded["runtime"] == {"device": "cpu", "compute_dtype": "float32", "quantization": "nf4"}
        assert metrics["qlora"]["model_parameters"] > 0 and metrics["qlora"]["peak_memory_mb"] > 0
    offensive = json.loads((repo / "metrics" / "eval" / "offensiveYN.json").read_text())
    assert "roc_auc" in offensive["qlora"] and "binarized_f1" in offensive["qlora"]
    report = (repo / "metrics" / "summary.md").read_text()
    assert all(f"## {task} (" in report for task in TASKS) and "published: SBIC paper" in report
    assert "LLM as data labeller" in report  # distill.tasks: the encoder on QLoRA's labels
    assert (repo / "metrics" / "figures" / "offensiveYN_roc.png").exists()
    assert (repo / "dvc.lock").exists()
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "first run"], repo, env)

    assert "Running stage" not in run([*dvc, "repro"], repo, env)  # nothing changed, nothing runs

    out = run([*dvc, "exp", "run", "-S", "qlora.r=4"], repo, env)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    distilled = {f"distill@{task}" for task in params["distill"]["tasks"]}  # the labeller changed
    assert (
        ran
        == {f"{stage}@{task}-qlora" for stage in ("qlora_train", "predict") for task in TASKS}
        | {f"evaluate@{task}" for task in TASKS}
        | {f"estimate@{task}" for task in TASKS}  # it reads every model folder (dvc.yaml)
        | {"report"}
        | distilled
    )
    diff = json.loads(run([*dvc, "metrics", "diff", "--json"], repo, env))
    changed = {path for path, metrics in diff.items() if any(m.get("diff") for m in metrics.values())}
    assert any(path.startswith("metrics/train/") for path in changed)
    # the experiment's plots against the committed run, as a page that needs no internet
    run([sys.executable, "-m", "annotune.evaluation.offline_plots", "diff", "HEAD", "-o", "review"], repo, env)
    page = (repo / "review" / "index.html").read_text()
    assert "<script src=" not in page and "window.vegaEmbed=" in page
    assert 'data-chart="offensiveYN/roc"' in page

    # dropping a method drops its stages and its column, nothing else breaks
    params["systems"]["baselines"].remove("stratified")
    YAML().dump(params, repo / "params.yaml")
    out = run([*dvc, "repro"], repo, env)
    assert "stratified" not in out and "Running stage 'baseline_train" not in out
    for task in TASKS:
        assert "stratified" not in json.loads((repo / "metrics" / "eval" / f"{task}.json").read_text())
    assert "offensiveYN" in run([*dvc, "plots", "show", "--json"], repo, env)

    # a quick comparison of the cheap systems: the QLoRA chain leaves the graph, only the evaluation reruns
    out = run([*dvc, "exp", "run", "-S", "systems.finetuned=[]", "-S", "distill.tasks=[]"], repo, env)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == {f"{stage}@{task}" for stage in ("evaluate", "estimate") for task in TASKS} | {"report"}
    for task in TASKS:
        assert "qlora" not in json.loads((repo / "metrics" / "eval" / f"{task}.json").read_text())

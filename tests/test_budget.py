"""The label budget curve: nested, seeded, stratified training subsets; one experiment per size; the report's
table, crossings and plot from `dvc exp show --json`-shaped data."""

from collections import Counter
from pathlib import Path

from ruamel.yaml import YAML

from annotune.data.datasets.common import stratified_split
from annotune.workflows.budget import crossings, exp_run_commands, report, table_md

ROOT = Path(__file__).resolve().parents[1]


def records(n: int) -> list[dict]:
    return [{"id": str(i), "label": "a" if i % 4 else "b"} for i in range(n)]


def test_budget_subsets_are_nested_stratified_and_seeded():
    pool = records(300)
    stratum = lambda r: r["label"]  # noqa: E731
    subsets = [stratified_split(pool, n, stratum, seed=42)[0] for n in (25, 50, 100, 200, 300)]
    for smaller, larger in zip(subsets, subsets[1:], strict=False):
        assert {r["id"] for r in smaller} <= {r["id"] for r in larger}
    for subset in subsets:
        share = Counter(r["label"] for r in subset)["b"] / len(subset)
        assert abs(share - 0.25) <= 1 / len(subset)
    assert stratified_split(pool, 50, stratum, seed=42)[0] == subsets[1]
    assert stratified_split(pool, 50, stratum, seed=7)[0] != subsets[1]


def test_run_commands_switch_on_only_the_chosen_systems():
    (command,) = exp_run_commands([50], ["hasBiasedImplication"], ["tfidf_logreg", "qlora"])
    sets = [command[i + 1] for i, word in enumerate(command) if word == "-S"]
    assert command[:6] == ["dvc", "exp", "run", "--temp", "-n", "budget-50"]
    assert "prepare.train_budget=50" in sets and 'systems.finetuned=["qlora"]' in sets
    assert "systems.prompted=[]" in sets and 'systems.baselines=["tfidf_logreg"]' in sets
    assert {"distill.tasks=[]", "augment.tasks=[]", "annotate.tasks=[]"} <= set(sets)  # variants on other rows: off


def eval_metrics(score: float, kappa: float) -> dict:
    system = {"macro_f1": score, "macro_f1_ci_low": score - 0.05, "macro_f1_ci_high": score + 0.05}
    system |= {"kappa_vs_human_majority": kappa, "reaches_human_reference": float(kappa >= 0.5)}
    return {"human": {"loo_kappa": 0.5}, "encoder": system}


def experiment(size: int, score: float, kappa: float) -> dict:
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["tasks"] = ["hasBiasedImplication"]
    params["prepare"]["train_budget"] = size
    metrics = {
        "metrics/eval/hasBiasedImplication.json": {"data": eval_metrics(score, kappa)},
        "metrics/prepare.json": {"data": {"splits": {"train": {"kept": size}}}},
    }
    data = {"params": {"params.yaml": {"data": params}}, "metrics": metrics}
    return {"name": f"budget-{size}", "revs": [{"name": f"budget-{size}", "data": data}]}


def test_report_rows_crossing_and_plot(tmp_path):
    exp_show = [{"experiments": [experiment(50, 0.6, 0.3), experiment(100, 0.7, 0.55), experiment(200, 0.75, 0.6)]}]
    rows = report(exp_show, None, tmp_path)
    assert [(r["size"], r["system"]) for r in rows] == [(50, "encoder"), (100, "encoder"), (200, "encoder")]
    assert crossings(rows) == {"hasBiasedImplication": {"encoder": 100}}
    assert (tmp_path / "budget.png").stat().st_size > 10_000
    text = (tmp_path / "budget.md").read_text()
    assert "60.0 [55.0, 65.0] / 0.300" in text and "| 100 labels |" in text
    assert "not within" in table_md([{**r, "reaches_human_reference": 0.0} for r in rows])


def test_the_workspace_run_ends_the_curves_of_the_systems_the_experiments_ran(tmp_path):
    import json

    workspace = tmp_path / "workspace"
    (workspace / "metrics" / "eval").mkdir(parents=True)
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["tasks"] = ["hasBiasedImplication"]
    YAML().dump(params, workspace / "params.yaml")
    (workspace / "metrics" / "prepare.json").write_text(json.dumps({"splits": {"train": {"kept": 300}}}))
    full = eval_metrics(0.8, 0.6) | {"majority": eval_metrics(0.4, 0.0)["encoder"]}
    (workspace / "metrics" / "eval" / "hasBiasedImplication.json").write_text(json.dumps(full))
    rows = report([{"experiments": [experiment(50, 0.6, 0.3)]}], workspace, tmp_path / "out")
    assert [(r["size"], r["system"]) for r in rows] == [(50, "encoder"), (300, "encoder")]

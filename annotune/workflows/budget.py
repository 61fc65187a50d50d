"""The label budget curve: how many labelled items does each system need?

``prepare.train_budget: N`` keeps a seeded, stratified subset of N training posts; with one seed the subsets of
growing N are nested (each stratum is shuffled once and cut at its quota), so a curve over N measures what more
labels buy, not a different sample. Each size is one DVC experiment, like the scaling study: stages whose inputs
did not change (the test split, the base models, prompting) come from DVC's cache.

    annotune budget run --sizes 50 100 200 --tasks hasBiasedImplication offensiveYN \\
        --systems tfidf_logreg encoder qlora          # one `dvc exp run --temp` per size
    annotune budget report --out metrics/budget       # budget.json, budget.md, budget.png

The full training split is the default pipeline's own run: ``report`` adds it (the workspace's metrics) as the
largest size, so the committed results and the curve agree.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from matplotlib.figure import Figure

from annotune.config import Params, build, read_params_file
from annotune.data import paths
from annotune.data.io import read_json
from annotune.evaluation.metrics.classification import main_metric
from annotune.systems import GROUPS, REGISTRY, display_name
from annotune.workflows.profiles import override
from annotune.workflows.scaling import readable_experiments, run_experiments

PREFIX = "budget-"


def exp_run_commands(sizes: list[int], tasks: list[str], systems: list[str], prefix: str = PREFIX) -> list[list[str]]:
    """One ``dvc exp run --temp`` per size, with only the chosen systems switched on."""
    groups = {group: [s for s in systems if REGISTRY[s].group == group] for group in GROUPS}
    sets = [override("tasks", tasks), *(override(f"systems.{g}", names) for g, names in groups.items())]
    sets += ["distill.tasks=[]", "augment.tasks=[]", "annotate.tasks=[]"]  # their variants train on other rows
    commands = []
    for size in sizes:
        command = ["dvc", "exp", "run", "--temp", "-n", f"{prefix}{size}", "-S", f"prepare.train_budget={size}"]
        for value in sets:
            command += ["-S", value]
        commands.append(command)
    return commands


def rows_of(name: str, params: Params, metrics_by_task: dict[str, dict], train_rows: int) -> list[dict]:
    """One row per task x system of one run: its main metric with the interval, κ vs the humans."""
    rows = []
    for task_name, metrics in metrics_by_task.items():
        task = params.task(task_name)
        metric = main_metric(task)
        human = metrics.get("human", {})
        for system, values in metrics.items():
            if system == "human" or values.get(metric) is None:
                continue
            rows.append(
                {
                    "experiment": name,
                    "task": task_name,
                    "system": system,
                    "size": train_rows,
                    "metric": metric,
                    "score": values[metric],
                    "ci_low": values.get(f"{metric}_ci_low"),
                    "ci_high": values.get(f"{metric}_ci_high"),
                    "kappa_vs_human_majority": values.get("kappa_vs_human_majority"),
                    "human_loo_kappa": human.get("loo_kappa"),
                    "reaches_human_reference": values.get("reaches_human_reference"),
                }
            )
    return rows


def collect(exp_show: list, workspace: Path | None, prefix: str = PREFIX) -> list[dict]:
    """Rows of every finished ``<prefix><size>`` experiment, plus the workspace's run (the full split)."""
    rows = []
    for name, params, data in readable_experiments(exp_show, prefix, "budget"):
        metrics = {t: (data["metrics"].get(paths.eval_file(t).as_posix()) or {}).get("data") for t in params.tasks}
        prepared = (data["metrics"].get(paths.PREPARE_METRICS.as_posix()) or {}).get("data") or {}
        size = prepared.get("splits", {}).get("train", {}).get("kept", params.prepare.train_budget)
        rows += rows_of(name, params, {t: m for t, m in metrics.items() if m}, size)
    if workspace is not None:
        params = build(Params, read_params_file(workspace / "params.yaml"))
        size = read_json(workspace / paths.PREPARE_METRICS)["splits"]["train"]["kept"]
        metrics = {t: read_json(workspace / paths.eval_file(t)) for t in params.tasks}
        curves = {(r["task"], r["system"]) for r in rows}  # the workspace ends the curves the experiments drew
        rows += [
            r for r in rows_of("workspace", params, metrics, size) if not rows or (r["task"], r["system"]) in curves
        ]
    return sorted(rows, key=lambda r: (r["task"], r["system"], r["size"]))


def crossings(rows: list[dict]) -> dict[str, dict[str, int | None]]:
    """Per task and system, the smallest size whose κ vs the humans reaches the annotators' own leave-one-out κ
    (None: not within the sizes run)."""
    found: dict[str, dict[str, int | None]] = {}
    for row in rows:
        per_task = found.setdefault(row["task"], {})
        per_task.setdefault(row["system"], None)
        if row["reaches_human_reference"] and per_task[row["system"]] is None:
            per_task[row["system"]] = row["size"]
    return found


def table_md(rows: list[dict], systems: list[str] | None = None) -> str:
    if not rows:
        return "No finished budget experiments (run `annotune budget run ...` first).\n"
    lines = []
    reached = crossings(rows)
    for task in sorted({r["task"] for r in rows}):
        chosen = [r for r in rows if r["task"] == task and (systems is None or r["system"] in systems)]
        sizes = sorted({r["size"] for r in chosen})
        human = next((r["human_loo_kappa"] for r in chosen if r["human_loo_kappa"] is not None), None)
        metric = chosen[0]["metric"]
        lines += [
            f"## {task} ({metric} % with 95% interval / κ vs humans; human leave-one-out κ "
            f"{'–' if human is None else f'{human:.3f}'})",
            "",
            "| system | " + " | ".join(f"{s} labels" for s in sizes) + " | reaches the human κ at |",
            "|---|" + "---|" * (len(sizes) + 1),
        ]
        for system in sorted({r["system"] for r in chosen}, key=list(REGISTRY).index):
            by_size = {r["size"]: r for r in chosen if r["system"] == system}
            cells = [_cell(by_size.get(size)) for size in sizes]
            crossing = reached[task][system]
            at = f"{crossing} labels" if crossing else f"not within {max(sizes)}"
            lines.append(f"| {display_name(system)} | " + " | ".join(cells) + f" | {at} |")
        lines.append("")
    return "\n".join(lines)


def _cell(row: dict | None) -> str:
    if row is None:
        return "–"
    interval = "" if row["ci_low"] is None else f" [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"
    kappa = row["kappa_vs_human_majority"]
    return f"{100 * row['score']:.1f}{interval} / {'–' if kappa is None else f'{kappa:.3f}'}"


def plot(rows: list[dict], path: Path) -> None:
    """Per task: the main metric and κ vs the humans against the number of training labels, one line per
    system, the annotators' own κ drawn across."""
    tasks = sorted({r["task"] for r in rows})
    figure = Figure(figsize=(11, 4 * len(tasks)))
    for index, task in enumerate(tasks):
        chosen = [r for r in rows if r["task"] == task]
        score_axes = figure.add_subplot(len(tasks), 2, 2 * index + 1)
        kappa_axes = figure.add_subplot(len(tasks), 2, 2 * index + 2)
        for system in sorted({r["system"] for r in chosen}, key=list(REGISTRY).index):
            line = sorted((r for r in chosen if r["system"] == system), key=lambda r: r["size"])
            sizes = [r["size"] for r in line]
            scores = [100 * r["score"] for r in line]
            low = [100 * (r["score"] - (r["ci_low"] if r["ci_low"] is not None else r["score"])) for r in line]
            high = [100 * ((r["ci_high"] if r["ci_high"] is not None else r["score"]) - r["score"]) for r in line]
            score_axes.errorbar(sizes, scores, yerr=[low, high], marker="o", capsize=3, label=display_name(system))
            kappas = [r["kappa_vs_human_majority"] for r in line]
            if any(k is not None for k in kappas):
                kappa_axes.plot(sizes, kappas, marker="o", label=display_name(system))
        human = next((r["human_loo_kappa"] for r in chosen if r["human_loo_kappa"] is not None), None)
        if human is not None:
            kappa_axes.axhline(human, color="black", linestyle="--", label="annotators (leave-one-out κ)")
        score_axes.set(xlabel="training labels", ylabel=f"{chosen[0]['metric']} (%), 95% interval", title=task)
        kappa_axes.set(xlabel="training labels", ylabel="κ vs human majority", title=f"{task}: vs the annotators")
        score_axes.legend(fontsize="small")
        kappa_axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def report(exp_show: list, workspace: Path | None, out: Path, prefix: str = PREFIX) -> list[dict]:
    rows = collect(exp_show, workspace, prefix)
    out.mkdir(parents=True, exist_ok=True)
    document = {"rows": rows, "reaches_human_reference_at": crossings(rows)}
    (out / "budget.json").write_text(json.dumps(document, indent=2) + "\n")
    (out / "budget.md").write_text("# Label budget curve\n\n" + table_md(rows))
    if rows:
        plot(rows, out / "budget.png")
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="annotune budget", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="one DVC experiment per training-set size")
    run.add_argument("--sizes", nargs="+", type=int, required=True, help="training labels per experiment")
    run.add_argument("--tasks", nargs="+", required=True)
    run.add_argument(
        "--systems", nargs="+", required=True, choices=[s for s in REGISTRY if REGISTRY[s].group in GROUPS]
    )
    run.add_argument("--prefix", default=PREFIX)
    show = commands.add_parser("report", help="table, JSON and plot of the finished experiments + the workspace")
    show.add_argument("--out", type=Path, default=Path("metrics/budget"))
    show.add_argument("--prefix", default=PREFIX)
    show.add_argument("--no-workspace", action="store_true", help="leave the workspace's (full split) run out")
    args = parser.parse_args(argv)
    if args.command == "run":
        run_experiments(exp_run_commands(args.sizes, args.tasks, args.systems, args.prefix))
        return
    exp_show = subprocess.run(
        ["dvc", "exp", "show", "--json", "--all-commits"], check=True, capture_output=True, text=True
    ).stdout
    rows = report(json.loads(exp_show), None if args.no_workspace else Path("."), args.out, args.prefix)
    print(table_md(rows), end="")

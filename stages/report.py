"""report: metrics/summary.md from every task's evaluation, with PNG plots rendered by matplotlib.

Reads the metrics and plot rows evaluate wrote (metrics/eval/<task>.json, metrics/plots/<task>/...), so
it reruns whenever any task's evaluation changes and costs seconds.
"""

import argparse
from pathlib import Path

from annotune.config import load_params
from annotune.data.io import read_json
from annotune.evaluation.report import summary
from annotune.evaluation.report_figures import task_figures
from annotune.runtime import cli


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=Path, required=True, help="folder of <task>.json from evaluate")
    parser.add_argument("--plots", type=Path, required=True, help="folder of <task>/<plot>/<system>.json")
    parser.add_argument("--figures", type=Path, required=True, help="folder for the PNG files")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prepare-stats", type=Path, help="prepare's counts (the training split's size)")
    parser.add_argument("--estimates", type=Path, help="folder of <task>.json from the estimate stage")
    args = parser.parse_args(argv)
    params = load_params()
    tasks = [params.task(name) for name in params.tasks]
    metrics = {t.name: read_json(args.metrics / f"{t.name}.json") for t in tasks}
    figures = {t.name: task_figures(t, args.plots / t.name, args.figures) for t in tasks}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    train_rows = read_json(args.prepare_stats)["splits"]["train"]["kept"] if args.prepare_stats else None
    estimates = {t.name: read_json(args.estimates / f"{t.name}.json") for t in tasks} if args.estimates else None
    text = summary(
        params.dataset,
        tasks,
        metrics,
        figures,
        args.out.parent,
        train_rows,
        params.cost.currency,
        estimates,
        params.tune.get("applied"),
        params.distill.labeller,
    )
    args.out.write_text(text)


if __name__ == "__main__":
    cli.run(main)

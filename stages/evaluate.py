"""evaluate@<task>: every system's predictions vs gold -> metrics/<task>.json and plot data.

Per system: the task's metrics with bootstrap intervals, calibration (classification), a paired
bootstrap test against the best baseline, and agreement with the human annotators where the test posts
keep their per-annotator labels. The systems are those params.yaml asks for (qlora, the prompting
settings, the baseline methods), so a method removed from params leaves the metrics even if its old
predictions file is still on disk.
"""

import argparse
from pathlib import Path

import numpy as np

from annotune import cli
from annotune.config import load_params
from annotune.io import read_jsonl, write_json
from annotune.metrics import (
    bootstrap_indices,
    calibration,
    confusion_rows,
    evaluate,
    human_agreement,
    intervals,
    kappa_vs_human_majority,
    main_metric,
    paired_bootstrap_p,
    plain_numbers,
    row_statistics,
)
from annotune.tasks import get_task


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--predictions", type=Path, required=True, help="folder of <system>.jsonl files")
    parser.add_argument("--prepared", type=Path, required=True, help="prepared test split (annotations)")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--plots", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task, settings = get_task(params.dataset, args.task), params.evaluate
    systems = ["qlora", *params.prompting.settings, *params.baselines.methods]
    predictions = {s: read_jsonl(args.predictions / f"{s}.jsonl") for s in systems}
    ids = [p["id"] for p in predictions["qlora"]]
    for system, rows in predictions.items():
        if [p["id"] for p in rows] != ids:
            raise ValueError(
                f"{args.predictions / system}.jsonl: rows differ from qlora.jsonl; rerun its predict stage"
            )
    indices = bootstrap_indices(len(ids), settings.bootstrap_resamples, params.seed)
    statistics = {s: row_statistics(task, rows) for s, rows in predictions.items()}
    main = main_metric(task)
    everything = np.arange(len(ids))
    best = max(params.baselines.methods, key=lambda s: statistics[s][main](everything))

    annotations_by_id = {r["id"]: r.get("annotations", {}).get(task.name) for r in read_jsonl(args.prepared)}
    annotations = [annotations_by_id.get(i) for i in ids]
    has_annotations = all(a is not None for a in annotations)
    metrics = {}
    (args.plots / "reliability").mkdir(parents=True, exist_ok=True)  # stays empty for generation tasks
    if has_annotations:
        metrics["human"] = human_agreement(annotations)
    for system, rows in predictions.items():
        result = evaluate(task, rows) | intervals(statistics[system], indices, settings.confidence_level)
        if task.is_classification:
            calibrated, reliability = calibration(task, rows, settings.calibration_bins)
            result |= calibrated
            write_json(args.plots / "reliability" / f"{system}.json", reliability)
        result["is_best_baseline"] = float(system == best)
        if system != best:
            result[f"{main}_delta_vs_best_baseline"] = statistics[system][main](everything) - statistics[best][main](
                everything
            )
            result["p_vs_best_baseline"] = paired_bootstrap_p(statistics[system][main], statistics[best][main], indices)
        if has_annotations:
            result["kappa_vs_human_majority"] = kappa_vs_human_majority(rows, annotations)
            result["reaches_human_reference"] = float(
                result["kappa_vs_human_majority"] >= metrics["human"]["loo_kappa"]
            )
        metrics[system] = result
        write_json(args.plots / "confusion" / f"{system}.json", confusion_rows(task, rows))
    write_json(args.metrics, plain_numbers(metrics))


if __name__ == "__main__":
    cli.run(main)

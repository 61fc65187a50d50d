"""Scoring of one system by task kind, and the comparison of all systems on the same test rows."""

from __future__ import annotations

import numpy as np

from annotune.data.tasks import Task
from annotune.evaluation.metrics.agreement import ac1_vs_human_majority, human_agreement, kappa_vs_human_majority
from annotune.evaluation.metrics.bootstrap import bootstrap_indices, intervals, paired_bootstrap_p
from annotune.evaluation.metrics.calibration import calibration, coverage, curve_rows
from annotune.evaluation.metrics.classification import (
    binarized_f1,
    classification_metrics,
    confusion_rows,
    main_metric,
    row_statistics,
)
from annotune.evaluation.metrics.formatting import plain_numbers
from annotune.evaluation.metrics.generation import generation_metrics, reference_generation_scores, top_group_recall
from annotune.evaluation.metrics.human_bootstrap import human_intervals, versus_human
from annotune.evaluation.metrics.multilabel import multilabel_metrics


def evaluate(task: Task, predictions: list[dict]) -> dict:
    if not predictions:
        raise ValueError(f"task {task.name}: no predictions to evaluate")
    if task.kind == "multilabel":
        return multilabel_metrics(task, predictions)
    return classification_metrics(task, predictions) if task.is_classification else generation_metrics(predictions)


def compare_systems(
    task: Task,
    predictions: dict[str, list[dict]],
    baselines: list[str],
    annotations: list[list] | None,
    resamples: int,
    level: float,
    bins: int,
    seed: int,
    target_accuracy: float | None = None,
    pairs: dict[str, str] | None = None,
) -> tuple[dict, dict[str, list[dict]]]:
    """Every system's metrics on the same test rows, with bootstrap intervals, calibration, a paired
    test against the best baseline and, given per-annotator labels, agreement with the humans: the annotators'
    own agreement with intervals on the same resamples, and per system its kappa against their majority, paired
    with their leave-one-out kappa (``human_bootstrap.versus_human``).
    Also the SBIC paper's views (binarized F1 of graded labels; BLEU-2 / ROUGE-L and the top-10 groups'
    recall of generated groups), and for classification the hand-off trade-off: coverage vs accuracy
    when only rows above a confidence threshold are labelled automatically, and the coverage at
    ``target_accuracy``. ``pairs`` maps a variant to the system it is tested against as well (the augmented
    encoder against the encoder: ``paired_with``, the delta and the paired bootstrap p). Returns the metrics and
    the plot data (``<plot>/<system>`` rows for the confusion, reliability, roc, pr and coverage plots)."""
    ids = None
    for system, rows in predictions.items():
        if ids is not None and [p["id"] for p in rows] != ids:
            raise ValueError(f"{system}: prediction rows differ from the other systems'; rerun its predict stage")
        ids = [p["id"] for p in rows]
    indices = bootstrap_indices(len(ids), resamples, seed)
    statistics = {s: row_statistics(task, rows) for s, rows in predictions.items()}
    main, everything = main_metric(task), np.arange(len(ids))
    # the paired test is against the best baseline; a quick run of LLM systems only has none
    best = max(baselines, key=lambda s: statistics[s][main](everything)) if baselines else None
    metrics, plots = {}, {}
    versus = {}
    if annotations is not None:
        metrics["human"] = human_agreement(annotations, list(task.labels) if task.ordinal else None)
        metrics["human"] |= human_intervals(annotations, indices, level)
        versus = versus_human(predictions, annotations, indices, level)
    for system, rows in predictions.items():
        result = evaluate(task, rows) | intervals(statistics[system], indices, level)
        if task.is_classification:
            calibrated, plots[f"reliability/{system}"] = calibration(task, rows, bins)
            result |= calibrated
            plots[f"roc/{system}"], plots[f"pr/{system}"] = curve_rows(task, rows)
            if task.label_values:
                result["binarized_f1"] = binarized_f1(task, rows, annotations)
            plots[f"coverage/{system}"], handoff = coverage(rows, target_accuracy)
            result |= handoff
        elif task.kind == "multilabel":
            plots[f"roc/{system}"], plots[f"pr/{system}"] = curve_rows(task, rows)
        else:
            result |= reference_generation_scores(rows, annotations) | top_group_recall(rows)
        result["is_best_baseline"] = float(system == best)
        if best is not None and system != best:
            delta = statistics[system][main](everything) - statistics[best][main](everything)
            result[f"{main}_delta_vs_best_baseline"] = delta
            result["p_vs_best_baseline"] = paired_bootstrap_p(statistics[system][main], statistics[best][main], indices)
        counterpart = (pairs or {}).get(system)
        if counterpart in statistics:
            result["paired_with"] = counterpart
            delta = statistics[system][main](everything) - statistics[counterpart][main](everything)
            result[f"{main}_delta_vs_paired"] = delta
            result["p_vs_paired"] = paired_bootstrap_p(statistics[system][main], statistics[counterpart][main], indices)
        if annotations is not None:
            kappa = kappa_vs_human_majority(rows, annotations)
            result["kappa_vs_human_majority"] = kappa
            if task.kind in ("binary", "multiclass"):  # AC1 does not collapse when one label dominates
                result["ac1_vs_human_majority"] = ac1_vs_human_majority(rows, annotations, list(task.labels))
            result |= versus[system]
        metrics[system] = result
        plots[f"confusion/{system}"] = confusion_rows(task, rows)
    return plain_numbers(metrics), plots

"""Metrics on predictions vs gold labels: classification and target-group generation."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score

from annotune.tasks import NONE_TARGET, Task, group_set


def classification_metrics(task: Task, predictions: list[dict]) -> dict:
    labels = task.labels
    gold = [p["gold"] for p in predictions]
    pred = [p["pred"] for p in predictions]
    unknown = sorted({g for g in gold if g not in labels} | {p for p in pred if p not in labels})
    if unknown:
        raise ValueError(f"task {task.name}: labels {unknown} are not among the allowed {labels}")
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    result = {
        "n": len(gold),
        "accuracy": accuracy_score(gold, pred),
        "macro_f1": f1_score(gold, pred, labels=labels, average="macro", zero_division=0),
        "per_class": {
            label: {"precision": p, "recall": r, "f1": f, "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion": {
            g: dict(zip(labels, map(int, row), strict=True))
            for g, row in zip(labels, confusion_matrix(gold, pred, labels=labels), strict=True)
        },
    }
    auc = row_statistics(task, predictions)["roc_auc"](np.arange(len(predictions)))
    if auc is not None:
        result["roc_auc"] = auc
    return plain_numbers(result)


def set_scores(gold: frozenset[str], pred: frozenset[str]) -> tuple[float, float, float]:
    """Precision, recall, F1 of one predicted group set; 'no group' counts as the answer 'none'."""
    gold = gold or frozenset({NONE_TARGET})
    pred = pred or frozenset({NONE_TARGET})
    hits = len(gold & pred)
    precision, recall = hits / len(pred), hits / len(gold)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1


def generation_metrics(predictions: list[dict]) -> dict:
    rows = [(group_set(p["gold"]), group_set(p["pred"])) for p in predictions]
    scores = np.array([set_scores(g, p) for g, p in rows]) if rows else np.zeros((0, 3))
    has_gold = [bool(g) for g, _ in rows]
    has_pred = [bool(p) for _, p in rows]
    return plain_numbers(
        {
            "n": len(rows),
            "exact_match": float(np.mean([g == p for g, p in rows])) if rows else 0.0,
            "set_precision": float(scores[:, 0].mean()) if rows else 0.0,
            "set_recall": float(scores[:, 1].mean()) if rows else 0.0,
            "set_f1": float(scores[:, 2].mean()) if rows else 0.0,
            "targets_any_group_accuracy": accuracy_score(has_gold, has_pred) if rows else 0.0,
        }
    )


def evaluate(task: Task, predictions: list[dict]) -> dict:
    if not predictions:
        raise ValueError(f"task {task.name}: no predictions to evaluate")
    return classification_metrics(task, predictions) if task.is_classification else generation_metrics(predictions)


def confusion_rows(task: Task, predictions: list[dict]) -> list[dict]:
    """Rows for the DVC confusion plot; for generation, whether any group is targeted."""
    if task.is_classification:
        return [{"gold": p["gold"], "pred": p["pred"]} for p in predictions]
    name = {True: "targets a group", False: NONE_TARGET}
    return [{"gold": name[bool(group_set(p["gold"]))], "pred": name[bool(group_set(p["pred"]))]} for p in predictions]


def plain_numbers(value):
    """Plain JSON numbers, rounded so metrics files diff cleanly; undefined values (NaN) become null."""
    if isinstance(value, dict):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value


# --- uncertainty ---------------------------------------------------------------------------------


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """[resamples, n] row indices drawn with replacement; the same seed gives the same draws, so two
    systems scored on the same test rows are compared on the same resamples (a paired bootstrap)."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap_interval(statistic, indices: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``statistic(rows)`` over the resamples; resamples where it is undefined
    (e.g. a single class for ROC-AUC) are skipped."""
    values = [v for v in (statistic(rows) for rows in indices) if v is not None and not np.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(low), float(high)


def paired_bootstrap_p(statistic_a, statistic_b, indices: np.ndarray) -> float:
    """Two-sided p-value that systems a and b have the same score, from paired resamples: twice the
    share of resamples where the observed sign of the difference flips, counted as (flips + 1) /
    (resamples + 1) so that it is never reported as exactly 0 (capped at 1)."""
    full = np.arange(indices.shape[1])
    observed = statistic_a(full) - statistic_b(full)
    deltas = np.array([statistic_a(rows) - statistic_b(rows) for rows in indices])
    if observed == 0:
        return 1.0
    flips = np.sum(deltas <= 0) if observed > 0 else np.sum(deltas >= 0)
    return float(min(1.0, 2 * (flips + 1) / (len(deltas) + 1)))


# --- calibration and ranking ---------------------------------------------------------------------


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE of the top-label confidence: sum over equal-width bins of |accuracy - confidence| x share."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def reliability_rows(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[dict]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    return [
        {
            "bin": round(float((edges[b] + edges[b + 1]) / 2), 3),
            "confidence": float(confidence[which == b].mean()),
            "accuracy": float(correct[which == b].mean()),
            "count": int((which == b).sum()),
        }
        for b in range(bins)
        if (which == b).any()
    ]


def multiclass_brier(onehot: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean over rows of the summed squared error between the probability vector and the one-hot gold."""
    return float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))


# --- human agreement -----------------------------------------------------------------------------


def krippendorff_alpha_nominal(units: list[list]) -> float:
    """Krippendorff's alpha for nominal data; ``units`` holds each item's labels (None = missing).
    Items with fewer than two labels are not pairable and are ignored."""
    from collections import Counter
    from itertools import permutations

    coincidence: Counter = Counter()
    for labels in units:
        values = [v for v in labels if v is not None]
        m = len(values)
        if m < 2:
            continue
        for a, b in permutations(range(m), 2):
            coincidence[(values[a], values[b])] += 1 / (m - 1)
    totals: Counter = Counter()
    for (a, _), weight in coincidence.items():
        totals[a] += weight
    n = sum(totals.values())
    if n <= 1:
        return float("nan")
    observed = sum(w for (a, b), w in coincidence.items() if a != b)
    expected = sum(totals[a] * totals[b] for a in totals for b in totals if a != b) / (n - 1)
    return float(1 - observed / expected) if expected else 1.0


def majority_label(labels: list) -> object | None:
    """The most frequent label; None on a tie or when nothing is left (the row is then not counted)."""
    from collections import Counter

    counts = Counter(v for v in labels if v is not None).most_common()
    if not counts or (len(counts) > 1 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def leave_one_out_kappa(annotations: list[list]) -> float:
    """Cohen's kappa of single annotators against the majority of the *other* annotators of the same
    item, pooled over all annotations (items where the others tie are skipped): how well one more
    human agrees with the crowd -- the reference a system should reach."""
    from sklearn.metrics import cohen_kappa_score

    singles, others = [], []
    for labels in annotations:
        for i, label in enumerate(labels):
            rest = majority_label(labels[:i] + labels[i + 1 :])
            if label is not None and rest is not None:
                singles.append(label)
                others.append(rest)
    return float(cohen_kappa_score(singles, others)) if len(set(singles) | set(others)) > 1 else float("nan")


# --- per-row statistics: one definition serves point estimates, intervals and paired tests -------


def main_metric(task: Task) -> str:
    return "macro_f1" if task.is_classification else "set_f1"


def row_statistics(task: Task, predictions: list[dict]) -> dict:
    """{metric: f(row indices) -> value or None}; the statistics a bootstrap resamples."""
    if not task.is_classification:
        rows = [(group_set(p["gold"]), group_set(p["pred"])) for p in predictions]
        exact = np.array([g == p for g, p in rows], dtype=float)
        f1 = np.array([set_scores(g, p)[2] for g, p in rows])
        return {"exact_match": lambda r: float(exact[r].mean()), "set_f1": lambda r: float(f1[r].mean())}
    labels = task.labels
    gold = np.array([labels.index(p["gold"]) for p in predictions])
    pred = np.array([labels.index(p["pred"]) for p in predictions])
    probs = np.array([[p["scores"][label] for label in labels] for p in predictions])
    everything = list(range(len(labels)))
    return {
        "accuracy": lambda r: float(np.mean(pred[r] == gold[r])),
        "macro_f1": lambda r: float(f1_score(gold[r], pred[r], labels=everything, average="macro", zero_division=0)),
        "roc_auc": lambda r: _auc(task, gold[r], probs[r]),
    }


def _auc(task: Task, gold: np.ndarray, probs: np.ndarray) -> float | None:
    present = np.unique(gold)
    if len(present) < 2:
        return None
    if task.kind == "binary":
        positive = task.labels.index(task.positive or task.labels[1])
        return float(roc_auc_score(gold == positive, probs[:, positive]))
    return float(np.mean([roc_auc_score(gold == c, probs[:, c]) for c in present]))


def intervals(statistics: dict, indices: np.ndarray, level: float) -> dict:
    out = {}
    for name, statistic in statistics.items():
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = bootstrap_interval(statistic, indices, level)
    return out


def calibration(task: Task, predictions: list[dict], bins: int) -> tuple[dict, list[dict]]:
    """PR-AUC (one-vs-rest macro for several classes), Brier score, expected calibration error of the
    predicted label's probability; and the reliability-diagram rows."""
    from sklearn.metrics import average_precision_score

    labels = task.labels
    gold = np.array([labels.index(p["gold"]) for p in predictions])
    pred = np.array([labels.index(p["pred"]) for p in predictions])
    probs = np.array([[p["scores"][label] for label in labels] for p in predictions])
    onehot = np.eye(len(labels))[gold]
    present = np.unique(gold)
    if task.kind == "binary":
        positive = labels.index(task.positive or labels[1])
        pr_auc = average_precision_score(gold == positive, probs[:, positive]) if len(present) > 1 else float("nan")
    else:
        pr_auc = np.mean([average_precision_score(gold == c, probs[:, c]) for c in present])
    confidence = probs[np.arange(len(pred)), pred]
    correct = (pred == gold).astype(float)
    result = {
        "pr_auc": float(pr_auc),
        "brier": multiclass_brier(onehot, probs),
        "ece": expected_calibration_error(confidence, correct, bins),
    }
    return result, reliability_rows(confidence, correct, bins)


def human_agreement(annotations: list[list]) -> dict:
    """Agreement among the annotators of the test posts that have at least two labels."""
    multi = [a for a in annotations if sum(v is not None for v in a) >= 2]
    return {
        "posts": len(multi),
        "annotations_per_post": float(np.mean([sum(v is not None for v in a) for a in multi])) if multi else 0.0,
        "krippendorff_alpha": krippendorff_alpha_nominal(multi),
        "loo_kappa": leave_one_out_kappa(multi),
    }


def kappa_vs_human_majority(predictions: list[dict], annotations: list[list]) -> float:
    """Cohen's kappa of a system against the majority of the annotators (posts where they tie skipped)."""
    from sklearn.metrics import cohen_kappa_score

    pairs = [(p["pred"], majority_label(a)) for p, a in zip(predictions, annotations, strict=True)]
    pairs = [(p, m) for p, m in pairs if m is not None]
    if len({x for pair in pairs for x in pair}) < 2:
        return float("nan")
    return float(cohen_kappa_score([p for p, _ in pairs], [m for _, m in pairs]))


def compare_systems(
    task: Task,
    predictions: dict[str, list[dict]],
    baselines: list[str],
    annotations: list[list] | None,
    resamples: int,
    level: float,
    bins: int,
    seed: int,
) -> tuple[dict, dict[str, list[dict]]]:
    """Every system's metrics on the same test rows, with bootstrap intervals, calibration, a paired
    test against the best baseline and, given per-annotator labels, agreement with the humans.
    Returns the metrics and the plot data (``confusion/<system>``, ``reliability/<system>``)."""
    ids = None
    for system, rows in predictions.items():
        if ids is not None and [p["id"] for p in rows] != ids:
            raise ValueError(f"{system}: prediction rows differ from the other systems'; rerun its predict stage")
        ids = [p["id"] for p in rows]
    indices = bootstrap_indices(len(ids), resamples, seed)
    statistics = {s: row_statistics(task, rows) for s, rows in predictions.items()}
    main, everything = main_metric(task), np.arange(len(ids))
    best = max(baselines, key=lambda s: statistics[s][main](everything))
    metrics, plots = {}, {}
    if annotations is not None:
        metrics["human"] = human_agreement(annotations)
    for system, rows in predictions.items():
        result = evaluate(task, rows) | intervals(statistics[system], indices, level)
        if task.is_classification:
            calibrated, plots[f"reliability/{system}"] = calibration(task, rows, bins)
            result |= calibrated
        result["is_best_baseline"] = float(system == best)
        if system != best:
            delta = statistics[system][main](everything) - statistics[best][main](everything)
            result[f"{main}_delta_vs_best_baseline"] = delta
            result["p_vs_best_baseline"] = paired_bootstrap_p(statistics[system][main], statistics[best][main], indices)
        if annotations is not None:
            kappa = kappa_vs_human_majority(rows, annotations)
            result["kappa_vs_human_majority"] = kappa
            result["reaches_human_reference"] = float(kappa >= metrics["human"]["loo_kappa"])
        metrics[system] = result
        plots[f"confusion/{system}"] = confusion_rows(task, rows)
    return plain_numbers(metrics), plots

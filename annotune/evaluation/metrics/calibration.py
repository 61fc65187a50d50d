"""Calibration and ranking: ECE, reliability rows, Brier, ROC / PR curves and coverage."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from annotune.data.tasks import Task
from annotune.evaluation.metrics.multilabel import indicators, label_scores


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


def multiclass_brier(gold: list, probabilities: np.ndarray, labels: list) -> float:
    """Mean over rows of the summed squared error between the probability vector and the one-hot gold:
    scikit-learn's multiclass Brier score unscaled (so twice its binary value for two labels)."""
    import warnings

    from sklearn.metrics import brier_score_loss

    # scikit-learn one-hot encodes the gold in the *sorted* order of the labels and reads the probability
    # columns in that order, whatever order ``labels`` lists them in: gold as column indices keeps the two
    # aligned for labels in the task's own order (offensive / maybe / not).
    column = {label: i for i, label in enumerate(labels)}
    with warnings.catch_warnings():  # scores are rounded to 6 decimals: rows sum to 1 within 1e-6, not exactly
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        return float(
            brier_score_loss(
                [column[g] for g in gold], probabilities, labels=list(range(len(labels))), scale_by_half=False
            )
        )


def calibration(task: Task, predictions: list[dict], bins: int) -> tuple[dict, list[dict]]:
    """PR-AUC (one-vs-rest macro for several classes), Brier score, expected calibration error of the
    predicted label's probability; and the reliability-diagram rows."""
    from sklearn.metrics import average_precision_score

    labels = task.labels
    gold = np.array([labels.index(p["gold"]) for p in predictions])
    pred = np.array([labels.index(p["pred"]) for p in predictions])
    probs = np.array([[p["scores"][label] for label in labels] for p in predictions])
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
        "brier": multiclass_brier([p["gold"] for p in predictions], probs, labels),
        "ece": expected_calibration_error(confidence, correct, bins),
    }
    return result, reliability_rows(confidence, correct, bins)


def curve_rows(task: Task, predictions: list[dict]) -> tuple[list[dict], list[dict]]:
    """ROC and precision-recall curve points: of the positive label for a binary task, micro-averaged
    one-vs-rest for several classes or labels (every row x label a decision). Empty when gold has one
    class, or (multi-label) when the system gives no per-label scores."""
    labels = task.labels
    if task.kind == "multilabel":
        scores = label_scores(task, predictions)
        truth = indicators(task, predictions, "gold").ravel().astype(bool)
        if scores is None or truth.all() or not truth.any():
            return [], []
        return _curves(truth, scores.ravel())
    gold = np.array([labels.index(p["gold"]) for p in predictions])
    probs = np.array([[p["scores"][label] for label in labels] for p in predictions])
    if len(np.unique(gold)) < 2:
        return [], []
    if task.kind == "binary":
        positive = labels.index(task.positive or labels[1])
        truth, score = gold == positive, probs[:, positive]
    else:
        truth, score = np.eye(len(labels), dtype=bool)[gold].ravel(), probs.ravel()
    return _curves(truth, score)


def _curves(truth: np.ndarray, score: np.ndarray) -> tuple[list[dict], list[dict]]:
    fpr, tpr, _ = roc_curve(truth, score)
    precision, recall, _ = precision_recall_curve(truth, score)
    roc = [{"fpr": float(f), "tpr": float(t)} for f, t in zip(fpr, tpr, strict=True)]
    pr = [{"recall": float(r), "precision": float(q)} for r, q in zip(recall[::-1], precision[::-1], strict=True)]
    return roc, pr


def coverage(predictions: list[dict], target: float | None) -> tuple[list[dict], dict]:
    """The coverage-vs-accuracy curve of the predicted label's probability, and the largest coverage
    whose kept rows reach ``target`` accuracy on these rows (an upper bound: annotate picks its
    threshold on the dev split, where it is not tuned on the rows it is judged on)."""
    from annotune.evaluation.handoff import confidence, coverage_at, coverage_curve, threshold_for_accuracy

    confidences = [confidence(p) for p in predictions]
    correct = [p["pred"] == p["gold"] for p in predictions]
    curve = [
        {"coverage": c["coverage"], "accuracy": c["accuracy"], "threshold": c["threshold"]}
        for c in coverage_curve(confidences, correct)
    ]
    if target is None:
        return curve, {}
    at_target = coverage_at(confidences, correct, threshold_for_accuracy(confidences, correct, target))
    return curve, {"coverage_at_target_accuracy": at_target["coverage"], "target_accuracy": target}

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
    auc = roc_auc(task, gold, [p["scores"] for p in predictions])
    if auc is not None:
        result["roc_auc"] = auc
    return _floats(result)


def roc_auc(task: Task, gold: list[str], scores: list[dict]) -> float | None:
    """Binary: on the positive label's probability. Multiclass: one-vs-rest macro. None when gold
    holds a single class (the AUC is undefined, not zero)."""
    present = sorted(set(gold))
    if len(present) < 2:
        return None
    matrix = np.array([[s[label] for label in task.labels] for s in scores])
    if task.kind == "binary":
        positive = task.positive or task.labels[1]
        return float(roc_auc_score([g == positive for g in gold], matrix[:, task.labels.index(positive)]))
    per_class = [
        roc_auc_score([g == label for g in gold], matrix[:, i])
        for i, label in enumerate(task.labels)
        if label in present
    ]
    return float(np.mean(per_class))


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
    return _floats(
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


def _floats(value):
    """Plain JSON numbers, rounded so metrics files diff cleanly."""
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value

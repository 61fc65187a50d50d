"""Multi-label metrics: label-set indicators, per-label scores, micro / macro F1 and ROC-AUC."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support, roc_auc_score

from annotune.data.tasks import Task
from annotune.evaluation.metrics.formatting import plain_numbers


def indicators(task: Task, predictions: list[dict], key: str) -> np.ndarray:
    """[rows, labels] 0/1 matrix of the gold or predicted label sets; a label outside the task's is an error."""
    sets = [task.as_set(p[key]) for p in predictions]
    unknown = sorted(set().union(*sets) - set(task.labels)) if sets else []
    if unknown:
        raise ValueError(f"task {task.name}: labels {unknown} are not among the allowed {task.labels}")
    return np.array([[label in chosen for label in task.labels] for chosen in sets], dtype=int).reshape(
        -1, len(task.labels)
    )


def label_scores(task: Task, predictions: list[dict]) -> np.ndarray | None:
    """[rows, labels] per-label probabilities when every row has them (classifier heads), else None."""
    if not predictions or not all("scores" in p for p in predictions):
        return None
    return np.array([[p["scores"][label] for label in task.labels] for p in predictions])


def multilabel_metrics(task: Task, predictions: list[dict]) -> dict:
    """Micro / macro / per-label F1, subset accuracy, Hamming loss; mean per-label ROC-AUC where the
    system gives per-label scores (over the labels with both outcomes in gold); for generated answers,
    the share of answers naming something outside the label set (dropped from the prediction)."""
    from sklearn.metrics import hamming_loss

    gold, pred = indicators(task, predictions, "gold"), indicators(task, predictions, "pred")
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, zero_division=0)
    result = {
        "n": len(predictions),
        "micro_f1": f1_score(gold, pred, average="micro", zero_division=0),
        "macro_f1": f1_score(gold, pred, average="macro", zero_division=0),
        "subset_accuracy": accuracy_score(gold, pred),
        "hamming_loss": hamming_loss(gold, pred),
        "per_label": {
            label: {"precision": p, "recall": r, "f1": f, "support": int(n)}
            for label, p, r, f, n in zip(task.labels, precision, recall, f1, support, strict=True)
        },
    }
    scores = label_scores(task, predictions)
    if scores is not None:
        aucs = {
            label: roc_auc_score(gold[:, j], scores[:, j])
            for j, label in enumerate(task.labels)
            if 0 < gold[:, j].sum() < len(gold)
        }
        for label, value in aucs.items():
            result["per_label"][label]["roc_auc"] = value
        if aucs:
            result["roc_auc"] = float(np.mean(list(aucs.values())))
    if any("text" in p for p in predictions):
        result["invalid_answer_rate"] = float(
            np.mean([bool(task.invalid_answers(p.get("text", ""))) for p in predictions])
        )
    return plain_numbers(result)

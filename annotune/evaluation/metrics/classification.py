"""Classification metrics, the per-row statistics a bootstrap resamples, and confusion rows."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from annotune.data.tasks import NONE_TARGET, Task, group_set
from annotune.evaluation.metrics.formatting import plain_numbers
from annotune.evaluation.metrics.generation import set_scores
from annotune.evaluation.metrics.multilabel import indicators


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
    if task.kind == "binary":
        result["positive_f1"] = result["per_class"][task.positive or labels[1]]["f1"]
    auc = row_statistics(task, predictions)["roc_auc"](np.arange(len(predictions)))
    if auc is not None:
        result["roc_auc"] = auc
    return plain_numbers(result)


def binarized_f1(task: Task, predictions: list[dict], annotations: list[list] | None) -> float:
    """F1 of the upper side of a graded task collapsed at 0.5, the SBIC paper's offensive-vs-not: gold is
    the mean of the annotators' label values >= 0.5 (the gold label's value where a post has no
    annotations); a system says "offensive" when its expected value sum_l P(l) x value(l) is >= 0.5."""
    values = task.label_values

    def gold_value(prediction: dict, labels: list | None) -> float:
        known = [values[v] for v in labels or [] if v is not None]
        return float(np.mean(known)) if known else values[prediction["gold"]]

    gold = [gold_value(p, a) >= 0.5 for p, a in zip(predictions, annotations or [None] * len(predictions), strict=True)]
    pred = [sum(p["scores"][label] * value for label, value in values.items()) >= 0.5 for p in predictions]
    return float(f1_score(gold, pred, zero_division=0))


def main_metric(task: Task) -> str:
    return "set_f1" if task.kind == "generation" else "macro_f1"


def row_statistics(task: Task, predictions: list[dict]) -> dict:
    """{metric: f(row indices) -> value or None}; the statistics a bootstrap resamples."""
    if task.kind == "multilabel":
        gold, pred = indicators(task, predictions, "gold"), indicators(task, predictions, "pred")
        return {
            "micro_f1": lambda r: _f1_from_counts(*_label_counts(gold[r], pred[r]), average="micro"),
            "macro_f1": lambda r: _f1_from_counts(*_label_counts(gold[r], pred[r])),
            "subset_accuracy": lambda r: float(np.mean(np.all(gold[r] == pred[r], axis=1))),
        }
    if task.kind == "generation":
        rows = [(group_set(p["gold"]), group_set(p["pred"])) for p in predictions]
        exact = np.array([g == p for g, p in rows], dtype=float)
        f1 = np.array([set_scores(g, p)[2] for g, p in rows])
        return {"exact_match": lambda r: float(exact[r].mean()), "set_f1": lambda r: float(f1[r].mean())}
    labels = task.labels
    gold = np.array([labels.index(p["gold"]) for p in predictions])
    pred = np.array([labels.index(p["pred"]) for p in predictions])
    probs = np.array([[p["scores"][label] for label in labels] for p in predictions])
    onehot = np.eye(len(labels), dtype=int)
    return {
        "accuracy": lambda r: float(np.mean(pred[r] == gold[r])),
        "macro_f1": lambda r: _f1_from_counts(*_label_counts(onehot[gold[r]], onehot[pred[r]])),
        "roc_auc": lambda r: _auc(task, gold[r], probs[r]),
    }


def confusion_rows(task: Task, predictions: list[dict]) -> list[dict]:
    """Rows for the DVC confusion plot; for generation, whether any group is targeted; for a multi-label
    task one row per label in the gold or predicted set of a row (``absent`` on the side that lacks it)."""
    if task.is_classification:
        return [{"gold": p["gold"], "pred": p["pred"]} for p in predictions]
    if task.kind == "multilabel":
        rows = []
        for p in predictions:
            gold, pred = task.as_set(p["gold"]), task.as_set(p["pred"])
            for label in sorted(gold | pred):
                rows.append(
                    {"gold": label if label in gold else "absent", "pred": label if label in pred else "absent"}
                )
        return rows
    name = {True: "targets a group", False: NONE_TARGET}
    return [{"gold": name[bool(group_set(p["gold"]))], "pred": name[bool(group_set(p["pred"]))]} for p in predictions]


# The bootstrap evaluates these thousands of times per system: counts and ranks in numpy, equal to
# scikit-learn's f1_score (zero_division=0) and roc_auc_score (the tests compare them).


def _label_counts(gold: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per label of [rows, labels] 0/1 matrices: true positives, and gold + predicted counts."""
    return (gold & pred).sum(axis=0), gold.sum(axis=0) + pred.sum(axis=0)


def _f1_from_counts(true_positive: np.ndarray, gold_plus_pred: np.ndarray, average: str = "macro") -> float:
    """F1 = 2 TP / (gold + predicted); 0 for a label absent from both (scikit-learn's zero_division=0)."""
    if average == "micro":
        total = gold_plus_pred.sum()
        return float(2 * true_positive.sum() / total) if total else 0.0
    f1 = np.divide(2 * true_positive, gold_plus_pred, out=np.zeros(len(true_positive)), where=gold_plus_pred > 0)
    return float(f1.mean())


def _binary_auc(truth: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic: mean rank of the positives (ties averaged)."""
    from scipy.stats import rankdata

    positives = int(truth.sum())
    negatives = len(truth) - positives
    ranks = rankdata(score)
    return float((ranks[truth].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _auc(task: Task, gold: np.ndarray, probs: np.ndarray) -> float | None:
    present = np.unique(gold)
    if len(present) < 2:
        return None
    if task.kind == "binary":
        positive = task.labels.index(task.positive or task.labels[1])
        return _binary_auc(gold == positive, probs[:, positive])
    return float(np.mean([_binary_auc(gold == c, probs[:, c]) for c in present]))

"""Metrics on predictions vs gold labels: classification and target-group generation."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from annotune.tasks import NONE_TARGET, Task, group_set, normalize_groups


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


# --- comparability with the SBIC paper (Sap et al., 2020) -----------------------------------------


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


def tokens(text: str) -> list[str]:
    """Words of a group answer; the commas between groups are not words."""
    return text.lower().replace(",", " ").split()


def _ngrams(words: list[str], n: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def sentence_bleu(hypothesis: list[str], references: list[list[str]], max_n: int = 2) -> float:
    """BLEU of one hypothesis against several references (clipped n-gram precision up to ``max_n``,
    brevity penalty from the closest reference length), with add-one smoothing for n > 1 (Lin & Och,
    2004) so that a one-word answer is not scored 0 for lacking bigrams. Group names are one to three
    words, hence BLEU-2."""
    if not hypothesis or not references:
        return 0.0
    log_precision = 0.0
    for n in range(1, max_n + 1):
        counts = _ngrams(hypothesis, n)
        most = Counter()
        for reference in references:
            most |= _ngrams(reference, n)
        matches, total = sum(min(c, most[g]) for g, c in counts.items()), sum(counts.values())
        if n > 1:
            matches, total = matches + 1, total + 1
        if matches == 0:
            return 0.0
        log_precision += np.log(matches / total) / max_n
    closest = min((len(r) for r in references), key=lambda length: (abs(length - len(hypothesis)), length))
    brevity = 1.0 if len(hypothesis) > closest else float(np.exp(1 - closest / len(hypothesis)))
    return float(brevity * np.exp(log_precision))


def rouge_l(hypothesis: list[str], reference: list[str]) -> float:
    """ROUGE-L F1: longest common subsequence over the hypothesis and reference lengths."""
    if not hypothesis or not reference:
        return 0.0
    previous = [0] * (len(reference) + 1)
    for word in hypothesis:
        current = [0]
        for j, other in enumerate(reference):
            current.append(previous[j] + 1 if word == other else max(previous[j + 1], current[j]))
        previous = current
    common = previous[-1]
    return 2 * common / (len(hypothesis) + len(reference)) if common else 0.0


def reference_generation_scores(predictions: list[dict], annotations: list[list] | None) -> dict:
    """BLEU-2 and ROUGE-L (best reference) of the group answer, as the SBIC paper scores its generated
    targeted group: over the posts whose gold targets a group, the references being every annotator's
    answer that names one (the gold answer where a post has no annotations)."""
    bleu, rouge = [], []
    for prediction, labels in zip(predictions, annotations or [None] * len(predictions), strict=True):
        if not group_set(prediction["gold"]):
            continue
        answers = [normalize_groups(a) for a in labels or [] if a is not None] or [prediction["gold"]]
        references = [tokens(a) for a in answers if a != NONE_TARGET] or [tokens(prediction["gold"])]
        hypothesis = tokens(normalize_groups(prediction["pred"]))
        bleu.append(sentence_bleu(hypothesis, references))
        rouge.append(max(rouge_l(hypothesis, r) for r in references))
    return {
        "targeted_posts": len(bleu),
        "bleu2": float(np.mean(bleu)) if bleu else float("nan"),
        "rouge_l": float(np.mean(rouge)) if rouge else float("nan"),
    }


def top_group_recall(predictions: list[dict], k: int = 10) -> dict:
    """Recall of each of the ``k`` groups most often named in the gold (ties by name): the share of the
    posts targeting that group whose predicted set names it; and their unweighted mean."""
    rows = [(group_set(p["gold"]), group_set(p["pred"])) for p in predictions]
    frequency = Counter(g for gold, _ in rows for g in gold)
    top = sorted(frequency, key=lambda g: (-frequency[g], g))[:k]
    recall = {g: float(np.mean([g in pred for gold, pred in rows if g in gold])) for g in top}
    return {
        f"top{k}_group_recall": float(np.mean(list(recall.values()))) if recall else float("nan"),
        "group_recall": {g: {"recall": recall[g], "support": frequency[g]} for g in top},
    }


# --- multi-label --------------------------------------------------------------------------------


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


def evaluate(task: Task, predictions: list[dict]) -> dict:
    if not predictions:
        raise ValueError(f"task {task.name}: no predictions to evaluate")
    if task.kind == "multilabel":
        return multilabel_metrics(task, predictions)
    return classification_metrics(task, predictions) if task.is_classification else generation_metrics(predictions)


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


def multiclass_brier(onehot: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean over rows of the summed squared error between the probability vector and the one-hot gold."""
    return float(np.mean(np.sum((probabilities - onehot) ** 2, axis=1)))


# --- human agreement -----------------------------------------------------------------------------


def krippendorff_alpha_nominal(units: list[list]) -> float:
    """Krippendorff's alpha for nominal data; ``units`` holds each item's labels (None = missing).
    Items with fewer than two labels are not pairable and are ignored."""
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


def pairwise_agreement(units: list[list]) -> float:
    """Share of annotator pairs on the same item that gave the same label, averaged over items with two
    or more labels (the "pairwise agreement" SBIC reports next to alpha)."""
    shares = []
    for labels in units:
        values = [v for v in labels if v is not None]
        pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1 :]]
        if pairs:
            shares.append(np.mean([a == b for a, b in pairs]))
    return float(np.mean(shares)) if shares else float("nan")


def majority_label(labels: list) -> object | None:
    """The most frequent label; None on a tie or when nothing is left (the row is then not counted)."""
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


def coverage(predictions: list[dict], target: float | None) -> tuple[list[dict], dict]:
    """The coverage-vs-accuracy curve of the predicted label's probability, and the largest coverage
    whose kept rows reach ``target`` accuracy on these rows (an upper bound: annotate picks its
    threshold on the dev split, where it is not tuned on the rows it is judged on)."""
    from annotune.handoff import coverage_at, coverage_curve, threshold_for_accuracy

    confidence = [p["scores"][p["pred"]] for p in predictions]
    correct = [p["pred"] == p["gold"] for p in predictions]
    curve = [
        {"coverage": c["coverage"], "accuracy": c["accuracy"], "threshold": c["threshold"]}
        for c in coverage_curve(confidence, correct)
    ]
    if target is None:
        return curve, {}
    at_target = coverage_at(confidence, correct, threshold_for_accuracy(confidence, correct, target))
    return curve, {"coverage_at_target_accuracy": at_target["coverage"], "target_accuracy": target}


def human_agreement(annotations: list[list]) -> dict:
    """Agreement among the annotators of the test posts that have at least two labels."""
    multi = [a for a in annotations if sum(v is not None for v in a) >= 2]
    return {
        "posts": len(multi),
        "annotations_per_post": float(np.mean([sum(v is not None for v in a) for a in multi])) if multi else 0.0,
        "krippendorff_alpha": krippendorff_alpha_nominal(multi),
        "pairwise_agreement": pairwise_agreement(multi),
        "loo_kappa": leave_one_out_kappa(multi),
    }


def annotator_kappas(annotations: list[list], annotators: list[list], min_items: int) -> dict[str, float]:
    """Each annotator's Cohen's kappa against the majority of the *other* annotators, over the items
    they labelled (items where the others tie skipped); annotators with fewer than ``min_items`` such
    items, or whose kappa is undefined (one label in play), are left out."""
    from collections import defaultdict

    from sklearn.metrics import cohen_kappa_score

    pairs: dict[str, list[tuple]] = defaultdict(list)
    for labels, who in zip(annotations, annotators, strict=True):
        for i, (label, annotator) in enumerate(zip(labels, who, strict=True)):
            rest = majority_label(labels[:i] + labels[i + 1 :])
            if label is not None and rest is not None:
                pairs[annotator].append((label, rest))
    return {
        annotator: float(cohen_kappa_score([a for a, _ in items], [b for _, b in items]))
        for annotator, items in sorted(pairs.items())
        if len(items) >= min_items and len({x for pair in items for x in pair}) > 1
    }


def annotator_agreement(annotations: list[list], annotators: list[list], min_items: int) -> dict:
    """The distribution over annotators of their leave-one-out kappa (see ``annotator_kappas``)."""
    kappas = np.array(list(annotator_kappas(annotations, annotators, min_items).values()))
    summary = {"annotators_scored": len(kappas), "annotator_min_posts": min_items}
    if len(kappas):
        q1, median, q3 = np.percentile(kappas, [25, 50, 75])
        summary |= {"annotator_kappa_median": median, "annotator_kappa_q1": q1, "annotator_kappa_q3": q3}
    return plain_numbers(summary)


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
    target_accuracy: float | None = None,
) -> tuple[dict, dict[str, list[dict]]]:
    """Every system's metrics on the same test rows, with bootstrap intervals, calibration, a paired
    test against the best baseline and, given per-annotator labels, agreement with the humans.
    Also the SBIC paper's views (binarized F1 of graded labels; BLEU-2 / ROUGE-L and the top-10 groups'
    recall of generated groups), and for classification the hand-off trade-off: coverage vs accuracy
    when only rows above a confidence threshold are labelled automatically, and the coverage at
    ``target_accuracy``. Returns the metrics and the plot data (``<plot>/<system>`` rows for the
    confusion, reliability, roc, pr and coverage plots)."""
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

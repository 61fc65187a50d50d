"""Human agreement: Krippendorff's alpha, pairwise and leave-one-out agreement, kappa vs the majority."""

from __future__ import annotations

from collections import Counter

import numpy as np

from annotune.evaluation.metrics.formatting import plain_numbers


def krippendorff_alpha(units: list[list], order: list | None = None) -> float:
    """Krippendorff's alpha with the ``krippendorff`` package; ``units`` holds each item's labels (None =
    missing; items with fewer than two labels are not pairable). Nominal, or ordinal when ``order`` lists
    the labels from one end of the scale to the other."""
    import krippendorff

    pairable = [[v for v in labels if v is not None] for labels in units]
    pairable = [values for values in pairable if len(values) >= 2]
    values = order or sorted({v for labels in pairable for v in labels}, key=str)
    if len(values) < 2 or not pairable:
        return 1.0 if pairable else float("nan")  # one value in play: agreement is perfect (alpha undefined)
    code = {value: float(i) for i, value in enumerate(values)}
    # the package wants raters x units; alpha needs no rater identity, so the i-th label of each unit fills row i
    matrix = np.full((max(map(len, pairable)), len(pairable)), np.nan)
    for column, labels in enumerate(pairable):
        matrix[: len(labels), column] = [code[v] for v in labels]
    level = "ordinal" if order else "nominal"
    return float(
        krippendorff.alpha(reliability_data=matrix, level_of_measurement=level, value_domain=list(code.values()))
    )


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


def human_agreement(annotations: list[list], ordered_labels: list | None = None) -> dict:
    """Agreement among the annotators of the test posts that have at least two labels; Krippendorff's alpha at
    the nominal level, and also at the ordinal level when the task's labels are ordered (``ordered_labels``)."""
    multi = [a for a in annotations if sum(v is not None for v in a) >= 2]
    ordinal = {"krippendorff_alpha_ordinal": krippendorff_alpha(multi, ordered_labels)} if ordered_labels else {}
    return ordinal | {
        "posts": len(multi),
        "annotations_per_post": float(np.mean([sum(v is not None for v in a) for a in multi])) if multi else 0.0,
        "krippendorff_alpha": krippendorff_alpha(multi),
        "pairwise_agreement": pairwise_agreement(multi),
        "loo_kappa": leave_one_out_kappa(multi),
        "ac1": gwet_ac1(multi),
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


def gwet_ac1(units: list[list], labels: list | None = None) -> float:
    """Gwet's AC1 for several raters with missing ratings (Gwet 2008, "Computing inter-rater
    reliability and its variance in the presence of high agreement"; Handbook of Inter-Rater
    Reliability, ch. 2): ``units`` holds each item's labels (None = missing). With ``r_i`` the ratings
    of item ``i`` and ``r_ik`` those in category ``k``: ``pa`` = mean over the items with ``r_i >= 2``
    of ``sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))``; ``pi_k`` = mean over the rated items of
    ``r_ik / r_i``; ``pe = sum_k pi_k (1 - pi_k) / (Q - 1)``; ``AC1 = (pa - pe) / (1 - pe)``. ``Q``
    counts the task's ``labels`` (together with any other label observed); by default the observed
    ones. NaN when no item has two ratings or fewer than two categories are in play. Unlike kappa it
    stays high when raters agree on a skewed label distribution."""
    rated = [[v for v in item if v is not None] for item in units]
    rated = [values for values in rated if values]
    categories = set(labels or ()) | {v for values in rated for v in values}
    pairable = [values for values in rated if len(values) >= 2]
    if not pairable or len(categories) < 2:
        return float("nan")
    pa = np.mean([sum(c * (c - 1) for c in Counter(v).values()) / (len(v) * (len(v) - 1)) for v in pairable])
    shares: Counter = Counter()
    for values in rated:
        for label, count in Counter(values).items():
            shares[label] += count / len(values) / len(rated)
    pe = sum(pi * (1 - pi) for pi in shares.values()) / (len(categories) - 1)
    return float((pa - pe) / (1 - pe))


def ac1_vs_human_majority(predictions: list[dict], annotations: list[list], labels: list | None = None) -> float:
    """Gwet's AC1 of a system against the majority of the annotators, as two raters (posts where they
    tie skipped, as in ``kappa_vs_human_majority``); ``labels``: the task's categories."""
    pairs = [(p["pred"], majority_label(a)) for p, a in zip(predictions, annotations, strict=True)]
    return gwet_ac1([[p, m] for p, m in pairs if m is not None], labels)

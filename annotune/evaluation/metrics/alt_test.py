"""The alternative annotator test (alt-test) of Calderon, Reichart & Dror (2025), "The Alternative
Annotator Test for LLM-as-a-Judge: How to Statistically Justify Replacing Human Annotators with LLMs"
(ACL 2025; reference code: github.com/nitaytech/AltTest): can a system replace one of the annotators?

Leave one annotator ``j`` out at a time. On every item ``i`` that ``j`` labelled together with at least
one other annotator, score how well the system's label and ``j``'s label represent the *other*
annotators of the item: ``S(x, i) = mean over h != j of sim(x, h_i)``. The system "wins" the item
when ``S(system, i) >= S(j, i)`` (``W^f_ij``), the human when ``S(j, i) >= S(system, i)`` (``W^h_ij``;
ties count for both). With ``rho^f_j`` and ``rho^h_j`` the shares of items each wins, the null
hypothesis ``H0_j: rho^f_j - rho^h_j <= -epsilon`` (``epsilon``: how much worse than a human the
cheaper system may be) is tested with a one-sided one-sample t-test of the per-item differences
``W^f_ij - W^h_ij`` against ``-epsilon``. The p-values of all tested annotators are corrected with the
Benjamini-Yekutieli procedure at level ``alpha`` (the paper's ``q``). The winning rate ``omega`` is the
share of annotators whose ``H0_j`` is rejected; the system passes when ``omega >= 0.5``. The average
advantage probability ``rho = mean_j rho^f_j`` ranks systems (higher is better).

Alignment scoring (``sim``): ``"accuracy"``, the paper's for classification labels, is ``1[x == y]``;
``"jaccard"``, for label sets (a multi-label task's labels, the targeted groups of SBIC's
``targetMinority``), is ``|x & y| / |x | y|`` (1 when both sets are empty, i.e. both say "none"), so
naming one group of two still earns partial credit; any ``callable(x, y) -> float`` works too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from annotune.data.tasks import group_set

PASS_WINNING_RATE = 0.5
MIN_ANNOTATORS = 3  # the paper recommends at least three: with two there is no consensus to represent
PAPER_MIN_ITEMS = 30  # the paper's items per annotator, for the t-test's normality (evaluate.alt_test_min_items)


def as_label_set(label) -> frozenset:
    """A label as a set: a ``", "``-joined group/label text (``none`` = empty) or any iterable."""
    return group_set(label) if isinstance(label, str) else frozenset(label)


def accuracy(x, y) -> int:
    return int(x == y)


def jaccard(x, y) -> Fraction:
    """Jaccard similarity of two label sets, exact (a Fraction, so equal scores compare equal)."""
    a, b = as_label_set(x), as_label_set(y)
    union = a | b
    return Fraction(len(a & b), len(union)) if union else Fraction(1)


SCORINGS: dict[str, Callable] = {"accuracy": accuracy, "jaccard": jaccard}


def one_sided_p(differences: np.ndarray, epsilon: float) -> float:
    """p-value of ``H0: mean(d) <= -epsilon`` against ``mean(d) > -epsilon`` (one-sample t-test);
    when all differences are equal the t statistic is undefined: 0 if they exceed ``-epsilon``, else 1."""
    from scipy.stats import ttest_1samp

    if np.all(differences == differences[0]):
        return 0.0 if differences[0] > -epsilon else 1.0
    return float(ttest_1samp(differences, -epsilon, alternative="greater").pvalue)


def by_rejections(p_values: list[float], alpha: float) -> list[bool]:
    """Benjamini-Yekutieli step-up at level ``alpha``: reject the ``k`` smallest p-values, ``k`` the
    largest rank with ``p_(k) <= k alpha / (m sum_{i<=m} 1/i)``; the same as BY-adjusted p <= alpha."""
    from scipy.stats import false_discovery_control

    if not p_values:
        return []
    return [bool(p <= alpha) for p in false_discovery_control(np.asarray(p_values, dtype=float), method="by")]


def annotator_tests(
    annotations: list[list],
    annotators: list[list],
    predictions: list,
    epsilon: float = 0.2,
    min_items: int = 30,
    scoring: str | Callable = "accuracy",
) -> tuple[dict[str, dict], set[str], set[int]]:
    """The per-annotator half of the alt-test. ``annotations[r]`` and ``annotators[r]`` are row ``r``'s
    labels and their annotators' ids (None = no label); ``predictions[r]`` the system's label (None =
    row left out). Returns, for each annotator with at least ``min_items`` items shared with another
    annotator, ``{"items", "advantage" (rho^f_j), "human_advantage" (rho^h_j), "p_value"}``; then the
    ids of all annotators seen, and the rows used by a tested annotator."""
    similarity = SCORINGS[scoring] if isinstance(scoring, str) else scoring
    everyone: set[str] = set()
    by_annotator: dict[str, list[tuple[int, object]]] = defaultdict(list)
    rows: list[dict] = []
    for r, (labels, who) in enumerate(zip(annotations, annotators, strict=True)):
        row: dict = {}
        for label, annotator in zip(labels, who, strict=True):
            if label is not None:
                everyone.add(annotator)
                row.setdefault(annotator, label)  # an annotator's first label of the row
        rows.append(row)
        if len(row) >= 2 and predictions[r] is not None:
            for annotator, label in row.items():
                by_annotator[annotator].append((r, label))
    results: dict[str, dict] = {}
    used: set[int] = set()
    for annotator, items in sorted(by_annotator.items()):
        if len(items) < min_items:
            continue
        system_wins, human_wins = [], []
        for r, label in items:
            others = [v for h, v in rows[r].items() if h != annotator]
            # both sums run over the same others, so comparing them compares the means exactly
            system = sum(similarity(predictions[r], v) for v in others)
            human = sum(similarity(label, v) for v in others)
            system_wins.append(float(system >= human))
            human_wins.append(float(human >= system))
            used.add(r)
        system_wins, human_wins = np.array(system_wins), np.array(human_wins)
        results[annotator] = {
            "items": len(items),
            "advantage": float(system_wins.mean()),
            "human_advantage": float(human_wins.mean()),
            "p_value": one_sided_p(system_wins - human_wins, epsilon),
        }
    return results, everyone, used


def alt_test(
    annotations: list[list],
    annotators: list[list],
    predictions: list,
    epsilon: float = 0.2,
    alpha: float = 0.05,
    min_items: int = 30,
    scoring: str | Callable = "accuracy",
) -> dict | None:
    """The alt-test of a system's labels ``predictions`` (one per row, aligned with the per-row
    ``annotations`` and ``annotators`` lists; see ``annotator_tests``) against the human annotators.

    Returns ``winning_rate`` (share of tested annotators the system beats after the BY correction at
    ``alpha``), ``passed`` (1.0 when the winning rate is at least 0.5, else 0.0), ``epsilon``,
    ``alpha``, ``advantage_probability`` (rho, the mean over tested annotators of the share of their
    items where the system represents the others at least as well), ``min_items``, ``annotators_tested``,
    ``annotators_skipped`` (annotators seen but with fewer than ``min_items`` items shared with another
    annotator) and ``items`` (distinct rows used).

    Returns None -- leave the test out -- when fewer than three distinct annotators labelled the rows
    (the paper's minimum) or when no annotator has ``min_items`` items to test."""
    results, everyone, used = annotator_tests(annotations, annotators, predictions, epsilon, min_items, scoring)
    if len(everyone) < MIN_ANNOTATORS or not results:
        return None
    rejected = by_rejections([r["p_value"] for r in results.values()], alpha)
    winning_rate = sum(rejected) / len(results)
    return {
        "winning_rate": float(winning_rate),
        "passed": float(winning_rate >= PASS_WINNING_RATE),
        "epsilon": float(epsilon),
        "alpha": float(alpha),
        "advantage_probability": float(np.mean([r["advantage"] for r in results.values()])),
        "min_items": min_items,
        "annotators_tested": len(results),
        "annotators_skipped": len(everyone) - len(results),
        "items": len(used),
    }

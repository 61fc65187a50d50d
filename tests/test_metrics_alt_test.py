"""The alt-test against an independent implementation of the reference procedure (nitaytech/AltTest)."""

import numpy as np
import pytest

from annotune.evaluation.metrics.alt_test import alt_test, annotator_tests, by_rejections, jaccard, one_sided_p

LABELS = ["a", "b", "c"]


def fixture(seed: int = 7, items: int = 60, system_agrees: float = 0.7):
    """5 annotators over 60 items with 3 labels and some labels missing ("h4" labels only ~40% of the
    items, too few to test at 30); the system gives the true label with probability ``system_agrees``."""
    rng = np.random.default_rng(seed)
    coverage = {"h0": 0.9, "h1": 0.85, "h2": 0.85, "h3": 0.8, "h4": 0.4}
    skill = {"h0": 0.8, "h1": 0.75, "h2": 0.7, "h3": 0.6, "h4": 0.7}
    annotations, annotators, predictions = [], [], []
    for _ in range(items):
        truth = int(rng.integers(3))
        labels = []
        for h in coverage:
            seen, right = rng.random() < coverage[h], rng.random() < skill[h]
            wrong = (truth + 1 + int(rng.integers(2))) % 3
            labels.append((LABELS[truth] if right else LABELS[wrong]) if seen else None)
        annotations.append(labels)
        annotators.append(list(coverage))
        right = rng.random() < system_agrees
        wrong = (truth + 1 + int(rng.integers(2))) % 3
        predictions.append(LABELS[truth] if right else LABELS[wrong])
    return annotations, annotators, predictions


# From an independent, literal implementation of the reference procedure (dict-of-dicts input, loops,
# scipy's ttest_rel, a hand-written Benjamini-Yekutieli step-up with c(m) = sum 1/i) run on fixture(7).
RHO = 0.8152878110308451  # the same at both epsilons
REFERENCE = {
    0.1: {"winning_rate": 0.0, "p": {"h2": 0.060775015455670975, "h3": 0.01866551566889693}},
    0.2: {"winning_rate": 0.5, "p": {"h0": 0.03676398861121498, "h3": 0.0012583989570731035}},
}


@pytest.mark.parametrize("epsilon", [0.1, 0.2])
def test_alt_test_matches_the_reference_procedure(epsilon):
    annotations, annotators, predictions = fixture()
    result = alt_test(annotations, annotators, predictions, epsilon=epsilon, alpha=0.05, min_items=30)
    expected = REFERENCE[epsilon]
    assert result["winning_rate"] == expected["winning_rate"]
    assert result["passed"] == float(expected["winning_rate"] >= 0.5)
    assert result["advantage_probability"] == pytest.approx(RHO, abs=1e-12)
    assert (result["epsilon"], result["alpha"]) == (epsilon, 0.05)
    assert (result["annotators_tested"], result["annotators_skipped"], result["items"]) == (4, 1, 59)
    tests, _, _ = annotator_tests(annotations, annotators, predictions, epsilon=epsilon, min_items=30)
    assert {h: t["items"] for h, t in tests.items()} == {"h0": 57, "h1": 54, "h2": 51, "h3": 48}
    assert (tests["h3"]["advantage"], tests["h3"]["human_advantage"]) == pytest.approx((40 / 48, 35 / 48))
    for annotator, p in expected["p"].items():
        assert tests[annotator]["p_value"] == pytest.approx(p, rel=1e-9)


def test_benjamini_yekutieli_is_stricter_than_the_raw_p_values():
    # at epsilon 0.2 above: m = 4, c(4) = 25/12, thresholds k * 0.05 / (4 c(4)) = 0.006 k, so only the two
    # smallest p-values are rejected although all four are below 0.05
    p = [0.03676398861121498, 0.04749655155763266, 0.004639590849855615, 0.0012583989570731035]
    assert by_rejections(p, 0.05) == [False, False, True, True]
    # step-up with m = 2, c(2) = 3/2: thresholds 0.05/3 and 0.1/3; the largest passing rank (0.03 <= 0.0333)
    # rejects everything below it, even 0.02, above its own threshold 0.0167
    assert by_rejections([0.03, 0.02], 0.05) == [True, True]
    assert by_rejections([0.02, 0.04], 0.05) == [False, False]
    assert by_rejections([], 0.05) == []


def test_annotators_with_too_few_items_are_skipped_and_counted():
    annotations, annotators, predictions = fixture()
    result = alt_test(annotations, annotators, predictions, min_items=20)
    assert (result["annotators_tested"], result["annotators_skipped"]) == (5, 0)
    assert alt_test(annotations, annotators, predictions, min_items=100) is None


def test_a_perfect_system_passes_and_a_random_one_fails():
    annotations, annotators, predictions = fixture(system_agrees=1.0)
    assert alt_test(annotations, annotators, predictions, epsilon=0.1)["passed"] == 1.0
    rng = np.random.default_rng(1)
    random_labels = [LABELS[int(i)] for i in rng.integers(3, size=len(annotations))]
    result = alt_test(annotations, annotators, random_labels, epsilon=0.2)
    assert result["passed"] == 0.0 and result["winning_rate"] == 0.0


def test_fewer_than_three_annotators_give_no_test():
    annotations, annotators, predictions = fixture()
    two = [labels[:2] for labels in annotations], [who[:2] for who in annotators]
    assert alt_test(*two, predictions, min_items=10) is None


def test_rows_without_a_prediction_are_left_out():
    annotations, annotators, predictions = fixture()
    result = alt_test(annotations, annotators, [None] * 10 + predictions[10:], min_items=30)
    assert result["items"] < 59


def test_zero_variance_differences():
    assert one_sided_p(np.array([1.0, 1.0, 1.0]), 0.2) == 0.0
    assert one_sided_p(np.array([0.0, 0.0]), 0.2) == 0.0  # 0 > -0.2: the system is within epsilon
    assert one_sided_p(np.array([-1.0, -1.0]), 0.2) == 1.0
    assert one_sided_p(np.array([0.0, 0.0]), 0.0) == 1.0  # H0: d <= 0 holds exactly


def test_jaccard_scores_sets_of_target_groups():
    assert jaccard("women, black folks", "women") == pytest.approx(1 / 2)
    assert jaccard("none", "none") == 1 and jaccard("none", "women") == 0
    assert jaccard({"women", "jewish folks"}, frozenset({"women", "black folks"})) == pytest.approx(1 / 3)
    # P = {women, jewish folks}; A = {women}, B = {women, black folks}, C = {black folks}
    # leave A out: S(P) = (1/3 + 0)/2 = 1/6 < S(A) = (1/2 + 0)/2 = 1/4 -> the human wins
    # leave B out: S(P) = (1/2 + 0)/2 = 1/4 < S(B) = (1/2 + 1/2)/2 = 1/2 -> the human wins
    # leave C out: S(P) = (1/2 + 1/3)/2 = 5/12 > S(C) = (0 + 1/2)/2 = 1/4 -> the system wins
    rows = 30
    annotations = [["women", "black folks, women", "black folks"]] * rows
    annotators = [["A", "B", "C"]] * rows
    predictions = ["jewish folks, women"] * rows
    tests, _, _ = annotator_tests(annotations, annotators, predictions, min_items=rows, scoring="jaccard")
    assert {h: (t["advantage"], t["human_advantage"]) for h, t in tests.items()} == {
        "A": (0.0, 1.0),
        "B": (0.0, 1.0),
        "C": (1.0, 0.0),
    }
    assert tests["A"]["p_value"] == 1.0 and tests["C"]["p_value"] == 0.0
    result = alt_test(annotations, annotators, predictions, min_items=rows, scoring="jaccard")
    assert result["winning_rate"] == pytest.approx(1 / 3) and result["passed"] == 0.0
    # exact matching sees no difference: every label differs from every other, all ties
    tests, _, _ = annotator_tests(annotations, annotators, predictions, min_items=rows, scoring="accuracy")
    assert all(t["advantage"] == t["human_advantage"] == 1.0 for t in tests.values())

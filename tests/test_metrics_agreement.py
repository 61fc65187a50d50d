"""Human agreement metrics against published and hand-computed values."""

import numpy as np
import pytest

from annotune.evaluation.metrics.agreement import (
    human_agreement,
    krippendorff_alpha,
    leave_one_out_kappa,
    majority_label,
    pairwise_agreement,
)


def test_krippendorff_alpha_on_the_published_example():
    """Krippendorff (2011), 'Computing Krippendorff's alpha-reliability', nominal data: alpha = 0.743."""
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [list(column) for column in zip(*coders, strict=True)]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)
    # the same data at the ordinal level, as Krippendorff (2011) and the package's own docs give it: 0.815
    assert krippendorff_alpha(units, order=[1, 2, 3, 4, 5]) == pytest.approx(0.815, abs=5e-4)


def test_ordinal_alpha_credits_near_misses_of_ordered_labels():
    """not / maybe / offensive: annotators who differ by one step agree more, ordinally, than nominally."""
    order = ["not_offensive", "maybe_offensive", "offensive"]
    units = [["offensive", "maybe_offensive"], ["not_offensive", "not_offensive"], ["offensive", "offensive"]]
    units += [["not_offensive", "maybe_offensive"], ["offensive", "offensive", "maybe_offensive"]]
    assert krippendorff_alpha(units, order) > krippendorff_alpha(units)
    human = human_agreement(units, order)
    assert human["krippendorff_alpha_ordinal"] == krippendorff_alpha(units, order)
    assert "krippendorff_alpha_ordinal" not in human_agreement(units)


def test_krippendorff_alpha_extremes():
    assert krippendorff_alpha([["a", "a"], ["b", "b", "b"], ["a", "a"]]) == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha([["a"], ["b"]]))


def test_majority_label_ties_are_undecided():
    assert majority_label(["a", "b", "a"]) == "a"
    assert majority_label(["a", "b"]) is None
    assert majority_label([None, "b"]) == "b"


def test_leave_one_out_kappa_by_hand():
    # the third annotator always disagrees; for the first two the others tie, so only the third counts
    annotations = [["x", "x", "y"], ["y", "y", "x"], ["x", "x", "y"], ["y", "y", "x"]]
    assert leave_one_out_kappa(annotations) == pytest.approx(-1.0)
    # unanimous items with two labels in play: perfect agreement
    assert leave_one_out_kappa([["x", "x", "x"], ["y", "y", "y"]]) == pytest.approx(1.0)


def test_pairwise_agreement_by_hand():
    # item 1: 3 pairs, 1 agrees; item 2: 1 pair, agrees; single-label items are not pairable
    assert pairwise_agreement([["a", "a", "b"], ["b", None, "b"], ["a"]]) == pytest.approx((1 / 3 + 1) / 2)
    assert np.isnan(pairwise_agreement([["a"]]))


def test_each_annotators_kappa_against_the_others_majority():
    from annotune.evaluation.metrics.agreement import annotator_agreement, annotator_kappas

    # "bad" always disagrees with the two others, who agree; "ok" agrees with the other's majority
    annotations = [["x", "x", "y"], ["y", "y", "x"], ["x", "x", "y"], ["y", "y", "x"]]
    annotators = [["ok", "ok2", "bad"]] * 4
    kappas = annotator_kappas(annotations, annotators, min_items=4)
    # for ok and ok2 the others tie (one agrees, bad disagrees): nothing to compare, left out
    assert kappas == {"bad": pytest.approx(-1.0)}
    assert annotator_kappas(annotations, annotators, min_items=5) == {}
    summary = annotator_agreement(annotations, annotators, 4)
    assert summary["annotators_scored"] == 1 and summary["annotator_kappa_median"] == pytest.approx(-1.0)


def test_gwet_ac1_on_gwets_two_rater_example_where_kappa_collapses():
    """Gwet (2008), 2 raters x 2 categories, 125 subjects: both "+" 118, "+"/"-" 5, "-"/"+" 2, both "-" 0.
    By hand: pa = 118/125 = 0.944; pi_+ = (123 + 120) / 250 = 0.972, pi_- = 0.028;
    pe = (0.972 * 0.028 + 0.028 * 0.972) / (2 - 1) = 0.054432;
    AC1 = (0.944 - 0.054432) / (1 - 0.054432) = 0.889568 / 0.945568 = 0.940776.
    Cohen's kappa on the same table: pe = 0.984 * 0.96 + 0.016 * 0.04 = 0.94528,
    kappa = (0.944 - 0.94528) / (1 - 0.94528) = -0.00128 / 0.05472 = -0.023392 (the "paradox")."""
    from sklearn.metrics import cohen_kappa_score

    from annotune.evaluation.metrics.agreement import gwet_ac1

    units = [["+", "+"]] * 118 + [["+", "-"]] * 5 + [["-", "+"]] * 2
    assert gwet_ac1(units) == pytest.approx(0.889568 / 0.945568, abs=1e-12)
    assert gwet_ac1(units) == pytest.approx(0.9408, abs=5e-5)
    kappa = cohen_kappa_score([a for a, _ in units], [b for _, b in units])
    assert kappa == pytest.approx(-0.00128 / 0.05472, abs=1e-12)
    # an unused third category of the task lowers pe: (0.944 - 0.027216) / (1 - 0.027216)
    assert gwet_ac1(units, ["+", "-", "?"]) == pytest.approx((0.944 - 0.027216) / (1 - 0.027216), abs=1e-12)


def test_gwet_ac1_with_missing_ratings_on_the_handbook_example():
    """Gwet's Handbook of Inter-Rater Reliability, 4 raters x 12 units with missing ratings (the data of
    Krippendorff's example above): pa = 0.8182, pe = 0.1903, AC1 = 0.7754 (also irrCAC's documented
    value for its ``raw_4raters`` data; irrCAC 0.4.4 gives 0.7754440681 with the categories given)."""
    from annotune.evaluation.metrics.agreement import gwet_ac1

    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [list(column) for column in zip(*coders, strict=True)]
    assert gwet_ac1(units) == pytest.approx(0.7754440681, abs=1e-9)


def test_gwet_ac1_with_string_labels_against_irrcac():
    """4 raters, 15 items, 3 labels, a quarter of the ratings missing; irrCAC 0.4.4 (``CAC(ratings,
    categories=labels).gwet()``) gives AC1 = 0.4794867161 (pa = 0.6444444444, pe = 0.3169135802)."""
    from annotune.evaluation.metrics.agreement import gwet_ac1

    n, m, o = "not_offensive", "maybe_offensive", "offensive"
    units = [
        [o, o, o, None],
        [None, o, None, n],
        [o, o, None, o],
        [None, o, None, n],
        [n, n, None, n],
        [None, n, n, m],
        [m, None, m, m],
        [o, o, o, o],
        [o, o, n, None],
        [n, n, m, n],
        [o, n, n, n],
        [m, m, m, m],
        [n, m, n, n],
        [None, n, n, None],
        [n, o, o, o],
    ]
    assert gwet_ac1(units, [n, m, o]) == pytest.approx(0.4794867161, abs=1e-9)
    assert np.isnan(gwet_ac1([["a"], ["b"]])) and np.isnan(gwet_ac1([["a", "a"]]))


def test_ac1_of_a_system_against_the_human_majority():
    from annotune.evaluation.metrics.agreement import ac1_vs_human_majority, human_agreement

    # majorities a, (tie: skipped), b, a, b -> pairs (a,a) (b,b) (a,a) (a,b): pa = 3/4;
    # pi_a = (1 + 0 + 1 + 1/2) / 4 = 5/8, pi_b = 3/8; pe = 2 (5/8)(3/8) = 15/32 -> AC1 = (9/32) / (17/32)
    predictions = [{"pred": p} for p in ["a", "b", "b", "a", "a"]]
    annotations = [["a", "a", "b"], ["a", "b"], ["b", "b"], ["a", None], ["b", "b", "a"]]
    assert ac1_vs_human_majority(predictions, annotations) == pytest.approx(9 / 17)
    # with the task's three labels pe = (15/32) / 2 -> AC1 = (33/64) / (49/64)
    assert ac1_vs_human_majority(predictions, annotations, ["a", "b", "c"]) == pytest.approx(33 / 49)
    assert "ac1" in human_agreement(annotations)

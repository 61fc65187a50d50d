"""Human agreement metrics against published and hand-computed values."""

import numpy as np
import pytest

from annotune.metrics.agreement import (
    krippendorff_alpha_nominal,
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
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_extremes():
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b", "b"], ["a", "a"]]) == pytest.approx(1.0)
    assert np.isnan(krippendorff_alpha_nominal([["a"], ["b"]]))


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
    from annotune.metrics.agreement import annotator_agreement, annotator_kappas

    # "bad" always disagrees with the two others, who agree; "ok" agrees with the other's majority
    annotations = [["x", "x", "y"], ["y", "y", "x"], ["x", "x", "y"], ["y", "y", "x"]]
    annotators = [["ok", "ok2", "bad"]] * 4
    kappas = annotator_kappas(annotations, annotators, min_items=4)
    # for ok and ok2 the others tie (one agrees, bad disagrees): nothing to compare, left out
    assert kappas == {"bad": pytest.approx(-1.0)}
    assert annotator_kappas(annotations, annotators, min_items=5) == {}
    summary = annotator_agreement(annotations, annotators, 4)
    assert summary["annotators_scored"] == 1 and summary["annotator_kappa_median"] == pytest.approx(-1.0)

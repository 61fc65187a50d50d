"""Uncertainty, calibration and agreement metrics against known values."""

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from annotune.metrics import (
    bootstrap_indices,
    bootstrap_interval,
    expected_calibration_error,
    krippendorff_alpha_nominal,
    leave_one_out_kappa,
    majority_label,
    multiclass_brier,
    paired_bootstrap_p,
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


def test_ece_by_hand():
    confidence = np.array([0.9, 0.9, 0.6, 0.6])
    correct = np.array([1, 0, 1, 1])
    # bin 0.9: accuracy 0.5 vs 0.9 -> 0.4 x 1/2; bin 0.6: accuracy 1.0 vs 0.6 -> 0.4 x 1/2
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.4)


def test_brier_matches_sklearn_for_two_classes():
    y = np.array([1, 0, 1, 1])
    p = np.array([0.8, 0.3, 0.4, 0.9])
    onehot = np.stack([1 - y, y], axis=1)
    assert multiclass_brier(onehot, np.stack([1 - p, p], axis=1)) == pytest.approx(2 * brier_score_loss(y, p))


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    correct = np.array([1] * 70 + [0] * 30)
    indices = bootstrap_indices(len(correct), 500, seed=1)
    assert np.array_equal(indices, bootstrap_indices(len(correct), 500, seed=1))
    low, high = bootstrap_interval(lambda rows: correct[rows].mean(), indices)
    assert low < 0.7 < high and high - low == pytest.approx(2 * 1.96 * np.sqrt(0.21 / 100), abs=0.03)


def test_paired_bootstrap_separates_a_clear_winner():
    rng = np.random.default_rng(0)
    a = (rng.random(200) < 0.8).astype(float)
    b = (rng.random(200) < 0.5).astype(float)
    indices = bootstrap_indices(200, 1000, seed=2)
    assert paired_bootstrap_p(lambda r: a[r].mean(), lambda r: b[r].mean(), indices) < 0.01
    assert paired_bootstrap_p(lambda r: a[r].mean(), lambda r: a[r].mean(), indices) == 1.0


def test_compare_systems_marks_best_baseline_and_reports_humans():
    from annotune.metrics import compare_systems
    from annotune.tasks import get_task

    task = get_task("sbic", "hasBiasedImplication")
    gold = ["implied_bias", "no_implied_bias"] * 10

    def system(correct_every):
        preds = [
            g if i % correct_every else ("no_implied_bias" if g == "implied_bias" else "implied_bias")
            for i, g in enumerate(gold)
        ]
        return [
            {
                "id": str(i),
                "gold": g,
                "pred": p,
                "scores": {
                    "implied_bias": 0.8 if p == "implied_bias" else 0.2,
                    "no_implied_bias": 0.2 if p == "implied_bias" else 0.8,
                },
            }
            for i, (g, p) in enumerate(zip(gold, preds, strict=True))
        ]

    predictions = {"qlora": system(10), "good": system(5), "poor": system(2)}
    annotations = [[g, g, "implied_bias"] for g in gold]
    metrics, plots = compare_systems(task, predictions, ["good", "poor"], annotations, 200, 0.95, 10, 0)
    assert metrics["good"]["is_best_baseline"] == 1.0 and metrics["poor"]["is_best_baseline"] == 0.0
    assert metrics["qlora"]["macro_f1_delta_vs_best_baseline"] > 0
    assert metrics["qlora"]["accuracy_ci_low"] <= metrics["qlora"]["accuracy"] <= metrics["qlora"]["accuracy_ci_high"]
    assert metrics["human"]["posts"] == 20 and "kappa_vs_human_majority" in metrics["qlora"]
    assert set(plots) == {
        f"{kind}/{s}" for kind in ("confusion", "reliability", "roc", "pr", "coverage") for s in predictions
    }
    shuffled = {**predictions, "poor": predictions["poor"][::-1]}
    with pytest.raises(ValueError, match="poor: prediction rows differ"):
        compare_systems(task, shuffled, ["good", "poor"], None, 10, 0.95, 10, 0)


def test_fast_bootstrap_statistics_equal_sklearn_with_ties_and_absent_classes():
    from sklearn.metrics import f1_score, roc_auc_score

    from annotune.metrics import _binary_auc, _f1_from_counts, _label_counts

    rng = np.random.default_rng(1)
    for _ in range(20):
        gold, pred = rng.integers(0, 4, 30), rng.integers(0, 3, 30)  # class 3 never predicted
        onehot = np.eye(4, dtype=int)
        expected = f1_score(gold, pred, labels=[0, 1, 2, 3], average="macro", zero_division=0)
        assert _f1_from_counts(*_label_counts(onehot[gold], onehot[pred])) == pytest.approx(expected)
        gold_sets, pred_sets = rng.integers(0, 2, (30, 5)), rng.integers(0, 2, (30, 5))
        for average in ("micro", "macro"):
            expected = f1_score(gold_sets, pred_sets, average=average, zero_division=0)
            assert _f1_from_counts(*_label_counts(gold_sets, pred_sets), average=average) == pytest.approx(expected)
        truth, score = rng.integers(0, 2, 30).astype(bool), rng.integers(0, 5, 30) / 4  # many ties
        assert _binary_auc(truth, score) == pytest.approx(roc_auc_score(truth, score))


def test_each_annotators_kappa_against_the_others_majority():
    from annotune.metrics import annotator_agreement, annotator_kappas

    # "bad" always disagrees with the two others, who agree; "ok" agrees with the other's majority
    annotations = [["x", "x", "y"], ["y", "y", "x"], ["x", "x", "y"], ["y", "y", "x"]]
    annotators = [["ok", "ok2", "bad"]] * 4
    kappas = annotator_kappas(annotations, annotators, min_items=4)
    # for ok and ok2 the others tie (one agrees, bad disagrees): nothing to compare, left out
    assert kappas == {"bad": pytest.approx(-1.0)}
    assert annotator_kappas(annotations, annotators, min_items=5) == {}
    summary = annotator_agreement(annotations, annotators, 4)
    assert summary["annotators_scored"] == 1 and summary["annotator_kappa_median"] == pytest.approx(-1.0)

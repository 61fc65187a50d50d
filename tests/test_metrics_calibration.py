"""Calibration, curves and coverage against hand-computed values and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import auc, average_precision_score, brier_score_loss, roc_auc_score

from annotune.data.tasks import get_task
from annotune.evaluation.metrics.calibration import curve_rows, expected_calibration_error, multiclass_brier

BIAS = get_task("sbic", "hasBiasedImplication")
OFFENSIVE = get_task("sbic", "offensiveYN")


def offensive_row(gold, offensive, maybe):
    scores = {"offensive": offensive, "maybe_offensive": maybe, "not_offensive": 1 - offensive - maybe}
    return {"gold": gold, "pred": max(scores, key=scores.get), "scores": scores}


def test_ece_by_hand():
    confidence = np.array([0.9, 0.9, 0.6, 0.6])
    correct = np.array([1, 0, 1, 1])
    # bin 0.9: accuracy 0.5 vs 0.9 -> 0.4 x 1/2; bin 0.6: accuracy 1.0 vs 0.6 -> 0.4 x 1/2
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.4)


def test_brier_is_the_summed_squared_error_twice_sklearns_binary_value():
    y = np.array([1, 0, 1, 1])
    p = np.array([0.8, 0.3, 0.4, 0.9])
    probabilities = np.stack([1 - p, p], axis=1)
    by_hand = np.mean(np.sum((probabilities - np.stack([1 - y, y], axis=1)) ** 2, axis=1))
    brier = multiclass_brier(["no" if v == 0 else "yes" for v in y], probabilities, ["no", "yes"])
    assert brier == pytest.approx(by_hand) == pytest.approx(2 * brier_score_loss(y, p))
    three = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert multiclass_brier(["a", "b"], three, ["a", "b", "c"]) == pytest.approx((0.14 + 1.46) / 2)


def test_brier_reads_the_columns_in_the_tasks_label_order_not_sorted():
    # offensiveYN's labels are not in alphabetical order; a column mix-up would score a confident right
    # answer as wrong (sklearn sorts the labels it is given)
    labels = ["offensive", "maybe_offensive", "not_offensive"]
    probabilities = np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
    by_hand = np.mean(np.sum((probabilities - np.array([[1, 0, 0], [0, 0, 1]])) ** 2, axis=1))
    assert multiclass_brier(["offensive", "not_offensive"], probabilities, labels) == pytest.approx(by_hand)
    assert multiclass_brier(["paraphrase"], np.array([[0.9, 0.1]]), ["paraphrase", "not_paraphrase"]) == (
        pytest.approx(0.02)
    )


def test_curve_rows_integrate_to_sklearn_scores():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 60)
    prob = np.clip(gold * 0.3 + rng.random(60) * 0.7, 0, 1)
    rows = [
        {"gold": "implied_bias" if g else "no_implied_bias", "scores": {"implied_bias": p, "no_implied_bias": 1 - p}}
        for g, p in zip(gold, prob, strict=True)
    ]
    roc, pr = curve_rows(BIAS, rows)
    assert auc([r["fpr"] for r in roc], [r["tpr"] for r in roc]) == pytest.approx(roc_auc_score(gold, prob))
    recall, precision = np.array([r["recall"] for r in pr]), np.array([r["precision"] for r in pr])
    assert np.sum(np.diff(recall) * precision[1:]) == pytest.approx(average_precision_score(gold, prob))
    assert curve_rows(BIAS, [rows[0], rows[0]]) == ([], [])  # one class in gold: no curve
    multiclass = [offensive_row(g, 0.5, 0.3) for g in ("offensive", "not_offensive", "maybe_offensive")]
    roc, pr = curve_rows(OFFENSIVE, multiclass)
    assert roc[0] == {"fpr": 0.0, "tpr": 0.0} and roc[-1] == {"fpr": 1.0, "tpr": 1.0}


def test_coverage_at_target_accuracy_by_hand():
    from annotune.evaluation.metrics.calibration import coverage

    confidences = [0.9, 0.8, 0.7, 0.6]
    golds = ["implied_bias", "implied_bias", "no_implied_bias", "no_implied_bias"]  # the 0.7 row is wrong
    rows = [
        {"gold": g, "pred": "implied_bias", "scores": {"implied_bias": c, "no_implied_bias": 1 - c}}
        for c, g in zip(confidences, golds, strict=True)
    ]
    curve, result = coverage(rows, target=0.6)
    assert [(c["coverage"], c["accuracy"]) for c in curve] == [(0.25, 1.0), (0.5, 1.0), (0.75, 2 / 3), (1.0, 0.5)]
    assert result == {"coverage_at_target_accuracy": 0.75, "target_accuracy": 0.6}
    assert coverage(rows, None)[1] == {}

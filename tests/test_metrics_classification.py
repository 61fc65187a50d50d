"""Classification metrics and the fast bootstrap statistics against scikit-learn and hand-computed
values; the SBIC paper's binarized and positive-label F1."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from annotune.data.tasks import get_task
from annotune.evaluation.metrics.classification import binarized_f1, classification_metrics

BIAS = get_task("sbic", "hasBiasedImplication")
OFFENSIVE = get_task("sbic", "offensiveYN")


def binary_predictions(gold, probs):
    return [
        {
            "gold": g,
            "pred": "implied_bias" if p >= 0.5 else "no_implied_bias",
            "scores": {"implied_bias": p, "no_implied_bias": 1 - p},
        }
        for g, p in zip(gold, probs, strict=True)
    ]


def offensive_row(gold, offensive, maybe):
    scores = {"offensive": offensive, "maybe_offensive": maybe, "not_offensive": 1 - offensive - maybe}
    return {"gold": gold, "pred": max(scores, key=scores.get), "scores": scores}


def test_binary_metrics_match_sklearn():
    gold = ["implied_bias", "no_implied_bias", "implied_bias", "no_implied_bias", "implied_bias"]
    probs = [0.9, 0.4, 0.3, 0.6, 0.8]
    m = classification_metrics(BIAS, binary_predictions(gold, probs))
    pred = ["implied_bias", "no_implied_bias", "no_implied_bias", "implied_bias", "implied_bias"]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"), abs=1e-6)
    assert m["roc_auc"] == pytest.approx(roc_auc_score([g == "implied_bias" for g in gold], probs), abs=1e-6)
    assert m["confusion"]["implied_bias"] == {"implied_bias": 2, "no_implied_bias": 1}
    assert m["per_class"]["implied_bias"]["recall"] == pytest.approx(2 / 3, abs=1e-6)


def test_multiclass_class_absent_from_predictions_and_ovr_auc():
    gold = ["offensive", "maybe_offensive", "not_offensive", "offensive"]
    scores = [
        {"offensive": 0.7, "maybe_offensive": 0.2, "not_offensive": 0.1},
        {"offensive": 0.6, "maybe_offensive": 0.3, "not_offensive": 0.1},
        {"offensive": 0.2, "maybe_offensive": 0.1, "not_offensive": 0.7},
        {"offensive": 0.5, "maybe_offensive": 0.1, "not_offensive": 0.4},
    ]
    preds = [{"gold": g, "pred": max(s, key=s.get), "scores": s} for g, s in zip(gold, scores, strict=True)]
    m = classification_metrics(OFFENSIVE, preds)
    assert m["per_class"]["maybe_offensive"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["accuracy"] == 0.75
    labels = sorted(OFFENSIVE.labels)
    expected = roc_auc_score(gold, [[s[lab] for lab in labels] for s in scores], multi_class="ovr", labels=labels)
    assert m["roc_auc"] == pytest.approx(expected, abs=1e-6)


def test_single_class_gold_has_no_auc():
    m = classification_metrics(BIAS, binary_predictions(["implied_bias"] * 3, [0.2, 0.7, 0.9]))
    assert "roc_auc" not in m and m["accuracy"] == pytest.approx(2 / 3, abs=1e-6)


def test_unknown_label_is_an_error():
    with pytest.raises(ValueError, match="not among the allowed"):
        classification_metrics(BIAS, [{"gold": "yes", "pred": "implied_bias", "scores": {}}])


def test_fast_bootstrap_statistics_equal_sklearn_with_ties_and_absent_classes():
    from sklearn.metrics import f1_score, roc_auc_score

    from annotune.evaluation.metrics.classification import _binary_auc, _f1_from_counts, _label_counts

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


def test_binarized_f1_collapses_annotator_means_and_expected_values_at_half():
    rows = [
        offensive_row("maybe_offensive", 0.3, 0.4),  # expected value 0.5 -> offensive
        offensive_row("not_offensive", 0.1, 0.2),  # 0.2 -> not
        offensive_row("offensive", 0.2, 0.5),  # 0.45 -> not
        offensive_row("maybe_offensive", 0.6, 0.0),  # 0.6 -> offensive
    ]
    annotations = [
        ["offensive", "not_offensive"],  # mean 0.5 -> offensive
        ["maybe_offensive", "not_offensive", "not_offensive"],  # 1/6 -> not
        ["offensive", None, "maybe_offensive"],  # 0.75 -> offensive
        None,  # no annotations: the gold label's value, 0.5 -> offensive
    ]
    gold, pred = [True, False, True, True], [True, False, False, True]
    assert binarized_f1(OFFENSIVE, rows, annotations) == pytest.approx(f1_score(gold, pred))  # 0.8
    assert binarized_f1(OFFENSIVE, rows, None) == pytest.approx(f1_score([True, False, True, True], pred))


def test_positive_f1_is_the_f1_of_the_positive_label():
    gold = ["implied_bias", "no_implied_bias", "implied_bias", "no_implied_bias"]
    pred = ["implied_bias", "implied_bias", "no_implied_bias", "no_implied_bias"]
    rows = [
        {"gold": g, "pred": p, "scores": {"implied_bias": float(p == "implied_bias"), "no_implied_bias": 0.0}}
        for g, p in zip(gold, pred, strict=True)
    ]
    assert classification_metrics(BIAS, rows)["positive_f1"] == pytest.approx(
        f1_score(gold, pred, pos_label="implied_bias")
    )

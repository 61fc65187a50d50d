"""Metrics against scikit-learn and hand-computed values."""

import pytest
from sklearn.metrics import f1_score, roc_auc_score

from annotune.metrics import classification_metrics, evaluate, generation_metrics, set_scores
from annotune.tasks import get_task

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


def test_set_scores_by_hand():
    assert set_scores(frozenset({"women", "black folks"}), frozenset({"women"})) == (1.0, 0.5, pytest.approx(2 / 3))
    assert set_scores(frozenset(), frozenset()) == (1.0, 1.0, 1.0)  # both say "none"
    assert set_scores(frozenset({"women"}), frozenset()) == (0.0, 0.0, 0.0)


def test_generation_metrics_normalize_and_handle_empty_answers():
    preds = [
        {"gold": "black folks, women", "pred": "Women,  black folks"},
        {"gold": "none", "pred": ""},
        {"gold": "jewish folks", "pred": "none"},
    ]
    m = evaluate(get_task("sbic", "targetMinority"), preds)
    assert m["exact_match"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["set_f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["targets_any_group_accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert generation_metrics([])["n"] == 0

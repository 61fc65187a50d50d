"""The SBIC paper's views of the tasks (binarized F1, BLEU-2, ROUGE-L, top groups), curves and pairwise
agreement, against hand-computed values and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import auc, average_precision_score, f1_score, roc_auc_score

from annotune.metrics import (
    binarized_f1,
    classification_metrics,
    curve_rows,
    pairwise_agreement,
    reference_generation_scores,
    rouge_l,
    sentence_bleu,
    top_group_recall,
)
from annotune.tasks import get_task

BIAS = get_task("sbic", "hasBiasedImplication")
OFFENSIVE = get_task("sbic", "offensiveYN")


def offensive_row(gold, offensive, maybe):
    scores = {"offensive": offensive, "maybe_offensive": maybe, "not_offensive": 1 - offensive - maybe}
    return {"gold": gold, "pred": max(scores, key=scores.get), "scores": scores}


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


def test_sentence_bleu_by_hand():
    assert sentence_bleu(["black", "folks"], [["black", "folks"]]) == pytest.approx(1.0)
    # one-word answers have no bigram: add-one smoothing keeps p2 = 1/1
    assert sentence_bleu(["women"], [["women"]]) == pytest.approx(1.0)
    # p1 = 1/2, p2 = (0+1)/(1+1); same length as the reference: BLEU = sqrt(1/2 x 1/2)
    assert sentence_bleu(["black", "women"], [["black", "folks"]]) == pytest.approx(0.5)
    # the closest reference sets the brevity penalty: hypothesis 1 word, references 2 and 4 -> exp(1 - 2)
    assert sentence_bleu(["jews"], [["jewish", "folks"], ["a", "b", "c", "d"]]) == 0.0
    assert sentence_bleu(["folks"], [["jewish", "folks"], ["a", "b", "c", "d"]]) == pytest.approx(np.exp(1 - 2))
    # clipped counts: "folks folks" matches once
    assert sentence_bleu(["folks", "folks"], [["black", "folks"]]) == pytest.approx(np.sqrt(0.5 * 0.5))
    assert sentence_bleu([], [["women"]]) == 0.0


def test_rouge_l_by_hand():
    # LCS of (a b c d) and (a c d e) is (a c d): P = 3/4, R = 3/4
    assert rouge_l(list("abcd"), list("acde")) == pytest.approx(0.75)
    assert rouge_l(["women"], ["black", "women"]) == pytest.approx(2 / 3)
    assert rouge_l(["men"], ["women"]) == 0.0
    assert rouge_l([], ["women"]) == 0.0


def test_reference_generation_scores_use_targeted_posts_and_the_best_reference():
    rows = [
        {"gold": "women", "pred": "women"},
        {"gold": "black folks", "pred": "none"},  # empty answer on a targeted post scores 0
        {"gold": "none", "pred": "jews"},  # untargeted: not scored
    ]
    annotations = [["women", "women, trans women", "none"], ["black folks", "black folks"], ["none", "none"]]
    scores = reference_generation_scores(rows, annotations)
    assert scores["targeted_posts"] == 2
    assert scores["bleu2"] == pytest.approx(0.5) and scores["rouge_l"] == pytest.approx(0.5)
    assert reference_generation_scores([{"gold": "none", "pred": "none"}], None)["targeted_posts"] == 0


def test_top_group_recall_by_hand_with_ties_broken_by_name():
    rows = [
        {"gold": "women, jews", "pred": "women"},
        {"gold": "women", "pred": "none"},
        {"gold": "muslims", "pred": "muslims, women"},
        {"gold": "none", "pred": "women"},
    ]
    result = top_group_recall(rows, k=2)
    assert list(result["group_recall"]) == ["women", "jews"]  # women 2; jews and muslims 1 each, j < m
    assert result["group_recall"]["women"] == {"recall": 0.5, "support": 2}
    assert result["top2_group_recall"] == pytest.approx((0.5 + 0.0) / 2)


def test_pairwise_agreement_by_hand():
    # item 1: 3 pairs, 1 agrees; item 2: 1 pair, agrees; single-label items are not pairable
    assert pairwise_agreement([["a", "a", "b"], ["b", None, "b"], ["a"]]) == pytest.approx((1 / 3 + 1) / 2)
    assert np.isnan(pairwise_agreement([["a"]]))


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
    from annotune.metrics import coverage

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

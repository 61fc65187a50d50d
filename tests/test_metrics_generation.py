"""Target-group generation metrics: set scores, and the SBIC paper's BLEU-2, ROUGE-L and top-group
recall, against hand-computed values."""

import numpy as np
import pytest

from annotune.data.tasks import get_task
from annotune.evaluation.metrics.comparison import evaluate
from annotune.evaluation.metrics.generation import (
    generation_metrics,
    reference_generation_scores,
    rouge_l,
    sentence_bleu,
    set_scores,
    top_group_recall,
)


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

"""Multi-label metrics against scikit-learn, and the set answers of a multi-label task."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss, roc_auc_score

from annotune.data.tasks import declared_task
from annotune.evaluation.metrics.calibration import curve_rows
from annotune.evaluation.metrics.classification import confusion_rows
from annotune.evaluation.metrics.comparison import compare_systems
from annotune.evaluation.metrics.multilabel import multilabel_metrics

TASK = declared_task("tags", "multilabel", ["a", "b", "c"], None, {}, None)
GOLD = ["a, b", "b", "c", "a", "none"]
PRED = ["a", "b", "none", "a, b", "none"]  # c never predicted


def rows(preds, scores=None, texts=None):
    out = []
    for i, (g, p) in enumerate(zip(GOLD, preds, strict=True)):
        row = {"id": str(i), "gold": g, "pred": p}
        if scores is not None:
            row["scores"] = dict(zip("abc", scores[i], strict=True))
        if texts is not None:
            row["text"] = texts[i]
        out.append(row)
    return out


def matrix(labels):
    return np.array([[x in {s for s in t.split(", ") if s != "none"} for x in "abc"] for t in labels], dtype=int)


def test_multilabel_metrics_match_sklearn_with_a_label_never_predicted():
    result = multilabel_metrics(TASK, rows(PRED))
    gold, pred = matrix(GOLD), matrix(PRED)
    assert result["micro_f1"] == pytest.approx(f1_score(gold, pred, average="micro"))
    assert result["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro", zero_division=0))
    assert result["subset_accuracy"] == pytest.approx(2 / 5)  # rows 2 and 5 exactly right
    assert result["hamming_loss"] == pytest.approx(hamming_loss(gold, pred))
    assert result["per_label"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert "roc_auc" not in result


def test_per_label_auc_where_both_outcomes_exist_and_invalid_answer_rate():
    scores = [[0.9, 0.8, 0.1], [0.2, 0.7, 0.3], [0.1, 0.1, 0.9], [0.8, 0.6, 0.2], [0.3, 0.2, 0.1]]
    result = multilabel_metrics(TASK, rows(PRED, scores))
    expected = [roc_auc_score(matrix(GOLD)[:, j], np.array(scores)[:, j]) for j in range(3)]
    assert result["roc_auc"] == pytest.approx(np.mean(expected))
    assert result["per_label"]["b"]["roc_auc"] == pytest.approx(expected[1])
    generated = multilabel_metrics(TASK, rows(PRED, texts=["a, zz", "b", "none", "a, b", "qq"]))
    assert generated["invalid_answer_rate"] == pytest.approx(2 / 5)
    roc, pr = curve_rows(TASK, rows(PRED, scores))
    assert roc and pr and curve_rows(TASK, rows(PRED)) == ([], [])


def test_unknown_label_in_predictions_is_an_error():
    with pytest.raises(ValueError, match=r"labels \['d'\] are not among the allowed"):
        multilabel_metrics(TASK, rows(["a", "d", "c", "a", "none"]))


def test_confusion_rows_and_compare_systems_for_multilabel():
    assert confusion_rows(TASK, rows(PRED))[:3] == [
        {"gold": "a", "pred": "a"},
        {"gold": "b", "pred": "absent"},
        {"gold": "b", "pred": "b"},
    ]
    metrics, _ = compare_systems(
        TASK, {"qlora": rows(PRED), "majority": rows(["none"] * 5)}, ["majority"], None, 50, 0.95, 5, 0
    )
    assert metrics["qlora"]["macro_f1_ci_low"] <= metrics["qlora"]["macro_f1"] <= metrics["qlora"]["macro_f1_ci_high"]
    assert metrics["majority"]["is_best_baseline"] == 1.0 and "p_vs_best_baseline" in metrics["qlora"]


def test_multilabel_answers_parse_to_valid_subsets():
    task = declared_task("tags", "multilabel", ["Pos", "Neg"], None, {"Pos": "positive"}, None)
    assert task.verbalize("Neg, Pos") == "Neg, positive"
    assert task.parse_answer("POSITIVE, neg, other") == "Neg, Pos"  # case-insensitive, unknown dropped
    assert task.invalid_answers("POSITIVE, neg, other") == ["other"]
    assert task.parse_answer("none") == "none" and task.as_set("none") == frozenset()

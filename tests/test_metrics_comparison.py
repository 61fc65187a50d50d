"""The comparison of systems on the same test rows: best baseline, intervals, humans, plots."""

import pytest


def test_compare_systems_marks_best_baseline_and_reports_humans():
    from annotune.data.tasks import get_task
    from annotune.evaluation.metrics.comparison import compare_systems

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

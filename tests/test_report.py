"""metrics/summary.md and its PNG figures from evaluate's outputs."""

import json

from annotune.data.tasks import get_task
from annotune.evaluation.metrics.comparison import compare_systems
from annotune.evaluation.report import summary, system_table
from annotune.evaluation.report_figures import task_figures

OFFENSIVE = get_task("sbic", "offensiveYN")
TARGET = get_task("sbic", "targetMinority")
LABELS = OFFENSIVE.labels


def offensive_system(shift: int) -> list[dict]:
    rows = []
    for i in range(30):
        gold, pred = LABELS[i % 3], LABELS[(i + (i % shift == 0)) % 3]
        scores = {label: 0.7 if label == pred else 0.15 for label in LABELS}
        rows.append({"id": str(i), "gold": gold, "pred": pred, "scores": scores})
    return rows


def write_plots(folder, plots):
    for name, rows in plots.items():
        path = folder / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows))


def test_summary_tables_figures_human_and_published_rows(tmp_path):
    predictions = {"qlora": offensive_system(2), "majority": offensive_system(1), "tfidf_logreg": offensive_system(4)}
    annotations = [[r["gold"], r["gold"], "offensive"] for r in predictions["qlora"]]
    offensive, plots = compare_systems(
        OFFENSIVE, predictions, ["majority", "tfidf_logreg"], annotations, 50, 0.95, 5, 0
    )
    write_plots(tmp_path / "plots" / OFFENSIVE.name, plots)
    target_rows = [{"id": str(i), "gold": "women" if i % 2 else "none", "pred": "women"} for i in range(10)]
    target, target_plots = compare_systems(
        TARGET, {"qlora": target_rows, "majority": target_rows}, ["majority"], None, 20, 0.95, 5, 0
    )
    write_plots(tmp_path / "plots" / TARGET.name, target_plots)

    figures = {t.name: task_figures(t, tmp_path / "plots" / t.name, tmp_path / "figures") for t in (OFFENSIVE, TARGET)}
    assert [p.name for p in figures["offensiveYN"]] == [
        f"offensiveYN_{kind}.png" for kind in ("confusion", "roc", "pr", "reliability", "coverage")
    ]
    assert [p.name for p in figures["targetMinority"]] == ["targetMinority_confusion.png"]  # no scores, no curves
    assert all(p.read_bytes().startswith(b"\x89PNG") for paths in figures.values() for p in paths)

    text = summary("sbic", [OFFENSIVE, TARGET], {"offensiveYN": offensive, "targetMinority": target}, figures, tmp_path)
    assert "## offensiveYN (multiclass; main metric: macro_f1; 30 test rows)" in text
    assert "| *published: SBIC paper, best model* |" in text and "78.8" in text  # offensive-vs-not F1
    assert "77.9" in text and "68.7" in text  # targeted-group BLEU / ROUGE-L
    assert "leave-one-out) κ" in text and "82.4%" in text
    assert "![offensiveYN_roc](figures/offensiveYN_roc.png)" in text
    assert "No per-annotator labels" in text  # targetMinority had none


def test_table_sorts_by_main_metric_and_marks_the_best():
    metrics = {
        "a": {"macro_f1": 0.5, "macro_f1_ci_low": 0.4, "macro_f1_ci_high": 0.6, "ece": 0.2, "is_best_baseline": 1.0},
        "b": {"macro_f1": 0.7, "ece": 0.1, "p_vs_best_baseline": 0.01},
    }
    lines = system_table(OFFENSIVE, metrics, []).splitlines()
    assert lines[2].startswith("| b ★ |") and "**70.0**" in lines[2] and "**0.100**" in lines[2]
    assert lines[3].startswith("| a |") and "50.0 [40.0, 60.0]" in lines[3] and "best baseline" in lines[3]


def test_distillation_section_says_how_much_of_the_gap_closes():
    from annotune.evaluation.report_sections import distillation_section

    bias = get_task("sbic", "hasBiasedImplication")
    metrics = {"qlora": {"macro_f1": 0.8}, "encoder": {"macro_f1": 0.6}, "encoder_distilled": {"macro_f1": 0.75}}
    assert "closes 75% of the gap" in distillation_section(bias, metrics, "qlora")
    metrics["encoder"]["macro_f1"] = 0.9
    assert "no gap to close" in distillation_section(bias, metrics, "qlora")
    assert distillation_section(bias, {"qlora": {"macro_f1": 0.8}}, "qlora") is None


def test_distillation_section_compares_with_the_labeller_params_name():
    """distill.labeller is configurable: the section reads that system's score, not QLoRA's."""
    from annotune.evaluation.report_sections import distillation_section

    bias = get_task("sbic", "hasBiasedImplication")
    metrics = {"qlora": {"macro_f1": 0.9}, "llm_head": {"macro_f1": 0.7}, "encoder": {"macro_f1": 0.6}}
    metrics["encoder_distilled"] = {"macro_f1": 0.65}
    text = distillation_section(bias, metrics, "llm_head")
    assert "closes 50% of the gap" in text and "LLM + classification head (LoRA) itself 70.0" in text
    del metrics["llm_head"]
    assert distillation_section(bias, metrics, "llm_head") is None  # the labeller did not run: no section


def leaves(value) -> list:
    if isinstance(value, dict):
        return [x for v in value.values() for x in leaves(v)]
    return [value] if isinstance(value, int | float) else []


def renderings(value: float) -> set[str]:
    """How the report may print a JSON number: as is, rounded, as a percentage."""
    texts = {str(value), f"{value:.2f}", f"{value:.3f}", f"{value:.4f}", f"{100 * value:.1f}"}
    return texts | ({str(int(value))} if float(value).is_integer() else set())


def test_verdict_sentences_use_only_numbers_the_metrics_hold():
    import re

    from annotune.evaluation.metrics.alt_test import alt_test
    from annotune.evaluation.metrics.cost import human_cost, system_cost
    from annotune.evaluation.report import verdict

    predictions = {"qlora": offensive_system(2), "majority": offensive_system(1), "tfidf_logreg": offensive_system(4)}
    annotations = [[r["gold"], r["gold"], r["gold"], "offensive"] for r in predictions["qlora"]]
    annotators = [["a", "b", "c", "d"] for _ in annotations]
    metrics, _ = compare_systems(OFFENSIVE, predictions, ["majority", "tfidf_logreg"], annotations, 50, 0.95, 5, 0, 0.9)
    metrics["human"] |= human_cost(3, 0.1)
    for system, rows in predictions.items():
        metrics[system]["alt_test"] = alt_test(annotations, annotators, [p["pred"] for p in rows], 0.1, 0.05, 20)
        timing = {"predict_seconds": 2.5, "predict_rows": 30, "train_seconds": 120.0}
        metrics[system] |= system_cost(timing, 0.5)
    text = verdict(OFFENSIVE, json.loads(json.dumps(metrics)), 300, "USD")
    assert text.startswith("**Verdict:**") and "Alt-Test" in text and "1,000 more items" in text
    # besides the metrics' numbers: the training rows, 1,000 items, the pass mark, the paper's year and minimum
    allowed = {r for v in leaves(metrics) for r in renderings(v)} | {"300", "1,000", "50", "1", "2025", "30"}
    numbers = re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?", text)
    assert numbers and all(n in allowed for n in numbers), [n for n in numbers if n not in allowed]
    assert text.count(".") >= 3  # two or three sentences


def test_verdict_without_annotators_names_the_best_system():
    from annotune.evaluation.report import verdict

    metrics, _ = compare_systems(OFFENSIVE, {"qlora": offensive_system(2)}, [], None, 20, 0.95, 5, 0, 0.9)
    text = verdict(OFFENSIVE, metrics, None, "USD")
    assert "no Alt-Test" in text and "QLoRA fine-tuned LLM" in text


def test_human_section_opens_with_the_diagnostics_and_withholds_an_unusable_reference():
    from annotune.evaluation.metrics.reference import diagnose
    from annotune.evaluation.report import verdict
    from annotune.evaluation.report_human import human_section

    predictions = {"qlora": offensive_system(2), "majority": offensive_system(1)}
    rows = predictions["qlora"] * 2  # 60 items: enough for the implausible-agreement check
    gold = [r["gold"] for r in rows]
    # every annotator agrees, and offensive items lose their third annotator
    annotations = [[g] * (2 if g == "offensive" else 3) for g in gold]
    annotators = [["a", "b", "c"][: len(a)] for a in annotations]
    doubled = {s: [r | {"id": str(i)} for i, r in enumerate(p * 2)] for s, p in predictions.items()}
    metrics, _ = compare_systems(OFFENSIVE, doubled, ["majority"], annotations, 50, 0.95, 5, 0, 0.9)
    usable = human_section(OFFENSIVE, metrics, None)
    assert "α 1.000 [1.000, 1.000]" in usable and "not significantly below the leave-one-out κ" in usable
    metrics["human"]["diagnostics"] = diagnose(OFFENSIVE, annotations, annotators, gold, [None] * len(gold), 10)
    for system in predictions:
        metrics[system] |= {"reaches_human_reference": None, "alt_test": None, "reference_withheld": "unusable"}
    text = human_section(OFFENSIVE, metrics, None)
    assert text.startswith("**Is the human reference usable?** **no**")
    lines = text.splitlines()
    selection = next(line for line in lines if line.startswith("- *Selection* (flagged)"))
    assert "offensive 2.00 (20 items" in selection and "not_offensive 3.00 (20 items" in selection
    assert any(
        line.strip().startswith("What it does: the items whose gold is 'offensive' lack 33.3%") for line in lines
    )
    assert any(
        line.startswith("- *Agreement* on the labels (flagged): unanimous on 100.0% of the 60 items") for line in lines
    )
    assert any(line.startswith("- *Coverage*: 3 annotators") for line in lines)
    assert "No system is measured against it" in text
    first = verdict(OFFENSIVE, metrics, 300, "USD").split(". So no Alt-Test")[0]
    assert first == "**Verdict:** the annotators' labels for this task cannot serve as a reference: " + "; ".join(
        metrics["human"]["diagnostics"]["reasons"]
    )


def test_the_verdict_says_whether_and_how_the_systems_were_tuned():
    from annotune.evaluation.report_sections import tuning_sentence

    assert tuning_sentence(None).startswith("No system was tuned")
    assert tuning_sentence({"trials": None, "metric": None, "studies": []}).startswith("No system was tuned")
    tuned = {"trials": 8, "metric": "macro_f1", "studies": ["sbic-encoder-1a2b", "sbic-tfidf_logreg-3c4d"]}
    assert tuning_sentence(tuned) == (
        "Tuned with 8 trials each on dev macro_f1 (`annotune tune`): encoder fine-tuned, TF-IDF + logistic "
        "regression; any other system ran at params.yaml's values."
    )


def test_the_report_says_which_thresholds_the_multi_label_heads_used():
    from annotune.evaluation.report_sections import thresholds_line

    metrics = {
        "encoder": {"thresholds": {"source": "0.5", "values": {"women": 0.5, "jews": 0.5}}},
        "tfidf_logreg": {"thresholds": {"source": "dev", "values": {"women": 0.1, "jews": 0.3, "gay": 0.2}}},
        "qlora": {"set_f1": 0.6},
    }
    line = thresholds_line(metrics)
    assert "encoder fine-tuned 0.5 for every label" in line
    assert "TF-IDF + logistic regression chosen on dev, 3 of 3 labels off 0.5 (median 0.20)" in line
    assert thresholds_line({"qlora": {"set_f1": 0.6}}) is None

"""evaluate@<task> end to end on fixture files: the human reference's diagnostics decide whether the Alt-Test and
"reaches the human reference" are computed, and the report says why not."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from annotune.config import load_params
from annotune.data.io import read_json, write_jsonl
from annotune.evaluation.report import verdict
from annotune.systems import enabled
from stages import evaluate

ROOT = Path(__file__).resolve().parents[1]
TASK = "hasBiasedImplication"
YES, NO = "implied_bias", "no_implied_bias"


def write_fixture(folder: Path, selected: bool) -> None:
    """120 test posts, five annotators over them (three per post); ``selected``: SBIC's artefact -- perfect
    agreement, and the third annotator of every implied-bias post missing."""
    rng = np.random.default_rng(0)
    params = load_params()
    records, gold = [], []
    for i in range(120):
        truth = YES if i % 5 < 2 else NO
        who = [f"w{(i + k) % 5}" for k in range(3)]
        labels = [truth if rng.random() < 0.8 else {YES: NO, NO: YES}[truth] for _ in who]
        if selected:
            labels = [truth] * (2 if truth == YES else 3)
            who = who[: len(labels)]
        record = {"id": str(i), "text": f"post {i}", "labels": {TASK: truth}}
        records.append(record | {"annotations": {TASK: labels}, "annotators": who})
        gold.append(truth)
    write_jsonl(folder / "test.jsonl", records)
    for k, system in enumerate(enabled(params.systems, TASK, params.distill.tasks, params.augment.tasks)):
        rows = []
        for i, truth in enumerate(gold):
            pred = truth if rng.random() < 0.6 + 0.03 * k else rng.choice([YES, NO])
            rows.append(
                {"id": str(i), "gold": truth, "pred": pred, "scores": {pred: 0.7, ({YES, NO} - {pred}).pop(): 0.3}}
            )
        write_jsonl(folder / "predictions" / f"{system}.jsonl", rows)


@pytest.mark.parametrize("selected", [False, True])
def test_an_unusable_reference_gets_no_alt_test_and_the_verdict_says_why(tmp_path, monkeypatch, selected):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "predictions").mkdir()
    write_fixture(tmp_path, selected)
    evaluate.main(
        [TASK, "--predictions", "predictions", "--prepared", "test.jsonl", "--metrics", "m.json", "--plots", "plots"]
    )
    metrics = read_json(tmp_path / "m.json")
    found = metrics["human"]["diagnostics"]
    systems = [s for s in metrics if s != "human"]
    assert found["usable"] is not selected
    assert found["selection"]["flagged"] is selected and found["implausible_agreement"]["flagged"] is selected
    assert found["coverage"]["annotators"] == 5 and found["repeats"] == {"annotator_items": 0}
    assert all(metrics["human"][f"{k}_ci_low"] is not None for k in ("krippendorff_alpha", "ac1", "loo_kappa"))
    for system in systems:
        row = metrics[system]
        assert row["kappa_delta_vs_human_ci_low"] <= row["kappa_delta_vs_human"] <= row["kappa_delta_vs_human_ci_high"]
        if selected:
            assert row["alt_test"] is None and row["reaches_human_reference"] is None
            assert row["reference_withheld"].startswith("the annotators' labels cannot serve as a reference: ")
        else:
            assert row["alt_test"]["min_items"] == 10 and row["reaches_human_reference"] in (0.0, 1.0)
    text = verdict(load_params().task(TASK), json.loads(json.dumps(metrics)), 300, "USD")
    if selected:
        assert "cannot serve as a reference: the number of annotators per item depends on the gold label" in text
        assert "Alt-Test and no comparison" in text
    else:
        assert "Alt-Test" in text and "5 annotators tested, each on 10+ shared items (the paper asks 30" in text


def test_evaluate_reads_each_multi_label_heads_thresholds_from_its_folder(tmp_path):
    import json

    from stages.evaluate import decision_thresholds

    (tmp_path / "annotune_classifier.json").write_text(json.dumps({"thresholds": {"a": 0.5, "b": 0.5}}))
    assert decision_thresholds("encoder", tmp_path) == {"source": "0.5", "values": {"a": 0.5, "b": 0.5}}
    (tmp_path / "annotune_classifier.json").write_text(json.dumps({"thresholds": {"a": 0.2, "b": 0.5}}))
    assert decision_thresholds("soft_prompt", tmp_path)["source"] == "dev"
    assert decision_thresholds("qlora", tmp_path) is None  # a generative system has no thresholds
    assert decision_thresholds("tfidf_logreg", tmp_path / "absent") is None

"""Estimates from model labels plus a random human-labelled sample (annotune/evaluation/estimate.py): the intervals keep
their nominal coverage on data with known truth (seeded simulations), weights repair a non-uniform gold sample,
an uninformative model costs nothing, the planner and the guards, and the command on files."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from annotune.evaluation import estimate

ROOT = Path(__file__).resolve().parents[1]
LEVEL = 0.9
SLACK = 0.04  # 400 draws: the coverage's standard error is 1.5 points at 90%


def informative_model(rng, size: int, share: float = 0.3, noise: float = 0.15):
    """0/1 truth and a model's probability that tracks it (correlation ~0.9)."""
    truth = (rng.random(size) < share).astype(float)
    return truth, np.clip(0.7 * truth + rng.normal(0.15, noise, size), 0, 1)


def test_both_intervals_keep_their_coverage_and_ppi_is_narrower():
    truth, scores = informative_model(np.random.default_rng(0), 3000)
    result = estimate.coverage_simulation(truth, scores, n=100, draws=400, level=LEVEL, seed=1)
    assert result["coverage"]["humans_only"] >= LEVEL - SLACK
    assert result["coverage"]["ppi"] >= LEVEL - SLACK
    assert result["width_ratio"] > 1.8  # ~n / (1 - rho^2) labels' worth: a much narrower interval
    assert result["effective_human_labels"] > 3 * 100


def test_a_useless_model_costs_almost_nothing():
    """PPI++ tunes how much it trusts the model: with noise for predictions it falls back to the humans alone."""
    rng = np.random.default_rng(2)
    truth = (rng.random(3000) < 0.4).astype(float)
    noise = rng.random(3000)
    result = estimate.coverage_simulation(truth, noise, n=100, draws=300, level=LEVEL, seed=3)
    assert result["coverage"]["ppi"] >= LEVEL - SLACK
    assert 0.9 < result["width_ratio"] < 1.1


def test_inclusion_weights_repair_a_stratified_gold_sample():
    """Gold drawn 4x more often among positives: the unweighted interval misses the truth, the weighted one covers
    it at the nominal rate."""
    rng = np.random.default_rng(4)
    truth, scores = informative_model(rng, 4000, share=0.2)
    probability = np.where(truth == 1, 0.08, 0.02)
    covered = {"weighted": 0, "unweighted": 0}
    draws = 300
    for _ in range(draws):
        drawn = rng.random(len(truth)) < probability
        gold, pool = np.flatnonzero(drawn), np.flatnonzero(~drawn)
        for name, inclusion in (("weighted", probability[gold]), ("unweighted", None)):
            weights = None if inclusion is None else estimate.inclusion_weights(inclusion)
            row = estimate.prevalence(truth[gold], scores[gold], scores[pool], LEVEL, weights)
            covered[name] += row["ppi"]["low"] <= truth.mean() <= row["ppi"]["high"]
    assert covered["weighted"] / draws >= LEVEL - 0.05
    assert covered["unweighted"] / draws < 0.2


def test_planner_needs_about_one_minus_rho_squared_of_the_labels():
    truth, scores = informative_model(np.random.default_rng(5), 400)
    planned = estimate.plan(truth, scores, half_width=0.02, level=0.95, label_price=0.3)
    rho = planned["with_model"]["ppi_correlation"]
    alone, with_model = planned["humans_only"]["labels"], planned["with_model"]["labels"]
    assert alone == pytest.approx((1.959964 * truth.std() / 0.02) ** 2, rel=0.01)
    assert with_model == pytest.approx(alone * (1 - rho**2), rel=0.15)
    assert planned["humans_only"]["cost"] == pytest.approx(alone * 0.3)


def test_shift_between_gold_and_pool_is_flagged():
    assert estimate.shift_check(["a"] * 50 + ["b"] * 50, ["a"] * 500 + ["b"] * 500)["shifted"] is False
    assert estimate.shift_check(["a"] * 50 + ["b"] * 50, ["a"] * 900 + ["b"] * 100)["shifted"] is True


def test_subgroup_difference_covers_the_truth():
    rng = np.random.default_rng(6)
    size = 6000
    group = np.where(rng.random(size) < 0.5, "a", "b")
    truth = (rng.random(size) < np.where(group == "a", 0.2, 0.35)).astype(float)
    scores = np.clip(0.7 * truth + rng.normal(0.15, 0.15, size), 0, 1)
    covered, draws = 0, 100
    true_difference = truth[group == "b"].mean() - truth[group == "a"].mean()
    for _ in range(draws):
        order = rng.permutation(size)
        gold, pool = order[:300], order[300:]
        row = estimate.difference(
            truth[gold], scores[gold], group[gold] == "b", scores[pool], group[pool] == "b", LEVEL
        )
        covered += row["ppi"]["low"] <= true_difference <= row["ppi"]["high"]
        assert row["ppi"]["high"] - row["ppi"]["low"] < row["humans_only"]["high"] - row["humans_only"]["low"]
    assert covered / draws >= LEVEL - 0.08


def test_estimate_task_reports_truth_subgroups_and_savings():
    rng = np.random.default_rng(7)
    truth, scores = informative_model(rng, 2000)
    labels = ["yes", "no"]
    names = ["yes" if t else "no" for t in truth]
    probabilities = [{"yes": float(s), "no": 1 - float(s)} for s in scores]
    group = [str(g) for g in rng.choice(["x", "y"], size=2000)]
    result = estimate.estimate_task(
        labels,
        names[:200],
        probabilities[:200],
        probabilities[200:],
        level=0.95,
        half_width=0.02,
        label_price=0.3,
        pool_truth=names[200:],
        groups=(group[:200], group[200:]),
    )
    row = result["labels"]["yes"]
    assert row["true_share"] == pytest.approx(truth.mean())
    assert row["effective_human_labels"] > 200 and row["cost_saved"] == pytest.approx(row["labels_saved"] * 0.3)
    assert set(row["subgroups"]["values"]) == {"x", "y"}
    assert "minus_reference" in row["subgroups"]["values"]["x" if row["subgroups"]["reference"] == "y" else "y"]


def _annotated(path: Path, rows: int, rng) -> list[str]:
    truth, scores = informative_model(rng, rows)
    with path.open("w") as fh:
        for i, s in enumerate(scores):
            label = "implied_bias" if s >= 0.5 else "no_implied_bias"
            scores_row = {"implied_bias": float(s), "no_implied_bias": 1 - float(s)}
            fh.write(json.dumps({"row": i, "id": f"p{i}", "status": "ok", "label": label, "scores": scores_row}) + "\n")
    return ["implied_bias" if t else "no_implied_bias" for t in truth]


def estimate_command(folder: Path, gold: Path, *extra: str) -> subprocess.CompletedProcess:
    """``annotune estimate`` on the fixture's annotate output and gold file, as a user runs it."""
    args = ["estimate", "hasBiasedImplication", "--predictions", str(folder / "annotated.jsonl"), "--gold", str(gold)]
    args += ["--gold-column", "human", "--id-column", "post_id", *extra]
    return subprocess.run(
        [sys.executable, "-c", "from annotune.commands import main; main()", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "ANNOTUNE_THREADS": "1"},
    )


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(8)
    truth = _annotated(tmp_path / "annotated.jsonl", 3000, rng)
    gold = tmp_path / "gold.csv"
    gold.write_text("post_id,human\n" + "".join(f"p{i},{truth[i]}\n" for i in range(0, 3000, 15)))
    return tmp_path, gold


def test_command_estimates_from_annotate_output_and_a_gold_file(files):
    folder, gold = files
    done = estimate_command(folder, gold, "--out", str(folder / "e.json"))
    assert done.returncode == 0, done.stderr
    assert "as precise as" in done.stdout and "To measure the share of" in done.stdout
    result = json.loads((folder / "e.json").read_text())
    assert result["gold_items"] == 200 and result["pool_items"] == 2800


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace("p15,", "p999999,", 1), r"gold id\(s\) have no prediction"),
        (lambda text: text.replace(",implied_bias", ",biased", 1), r"labels \['biased'\] are not the task's"),
        (lambda text: text.replace("p15,", "p0,", 1), r"an id occurs twice"),
    ],
)
def test_command_refuses_bad_gold_with_one_line(files, edit, message):
    folder, gold = files
    gold.write_text(edit(gold.read_text()))
    done = estimate_command(folder, gold)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]  # after the log lines: one error line, no traceback
    assert last.startswith("error: ") and "Traceback" not in done.stderr
    assert re.search(message, last)


def test_command_refuses_items_the_model_trained_on(files):
    folder, gold = files
    (folder / "train.jsonl").write_text(json.dumps({"id": "p30"}) + "\n")
    done = estimate_command(folder, gold, "--training-ids", str(folder / "train.jsonl"))
    assert done.returncode == 2 and "trained the model" in done.stderr


@pytest.mark.parametrize(
    ("option", "value"), [("--confidence", "95"), ("--confidence", "0"), ("--target-half-width", "x")]
)
def test_command_refuses_a_level_or_half_width_outside_0_1_naming_the_option(files, option, value):
    folder, gold = files
    done = estimate_command(folder, gold, option, value)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"argument {option}:" in done.stderr.splitlines()[-1]

"""annotune select: which items humans label next (annotune/workflows/select.py)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from annotune.errors import DataError
from annotune.workflows.select import least_confidence, main, margin, read_ids, select

ROOT = Path(__file__).resolve().parents[1]


def records(probabilities: list[list[float]], labels=("a", "b", "c")) -> list[dict]:
    return [
        {
            "id": f"item{i}",
            "status": "ok",
            "label": labels[int(np.argmax(p))],
            "scores": dict(zip(labels, p, strict=True)),
        }
        for i, p in enumerate(probabilities)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_least_confidence_and_margin_rank_differently_on_three_classes():
    # two close leaders (margin 0) against a flat spread (the lowest top probability)
    matrix = np.array([[0.45, 0.45, 0.10], [0.36, 0.33, 0.31], [0.90, 0.05, 0.05]])
    assert np.argmax(least_confidence(matrix)) == 1
    assert np.argmax(margin(matrix)) == 0
    assert np.argmin(least_confidence(matrix)) == np.argmin(margin(matrix)) == 2


def test_binary_margin_ranks_as_least_confidence():
    p = np.random.default_rng(0).random(50)
    matrix = np.column_stack([p, 1 - p])
    assert list(np.argsort(least_confidence(matrix))) == list(np.argsort(margin(matrix)))


def test_multilabel_ranks_by_the_label_decision_closest_to_half():
    # independent probabilities per label (rows need not sum to 1)
    matrix = np.array([[0.9, 0.05, 0.5], [0.8, 0.1, 0.1], [0.6, 0.9, 0.0]])
    assert list(np.argsort(-margin(matrix))) == [0, 2, 1]
    assert list(np.argsort(-least_confidence(matrix))) == [0, 2, 1]


def test_random_records_its_inclusion_probability_and_follows_the_seed():
    pool = records(np.random.default_rng(1).dirichlet([1, 1, 1], 40).tolist())
    batch = select(pool, "random", 10, seed=3)
    assert len(batch) == 10 and len({r["id"] for r in batch}) == 10
    assert {r["selection"]["inclusion_probability"] for r in batch} == {10 / 40}
    assert {r["selection"]["selected_by"] for r in batch} == {"random"}
    assert [r["id"] for r in select(pool, "random", 10, seed=3)] == [r["id"] for r in batch]
    assert [r["id"] for r in select(pool, "random", 10, seed=4)] != [r["id"] for r in batch]


def test_the_random_slice_is_uniform_whatever_the_uncertainty():
    # every item is in a mixture's random slice as often as its inclusion probability says, even the certain ones
    pool = records(np.random.default_rng(2).dirichlet([0.3, 0.3, 0.3], 20).tolist())
    matrix = np.array([list(r["scores"].values()) for r in pool])
    counts = Counter()
    draws = 2000
    for seed in range(draws):
        batch = select(pool, "mixture", 8, seed, random_share=0.5, uncertainty=margin(matrix), uncertainty_name="m")
        counts.update(r["id"] for r in batch if r["selection"]["selected_by"] == "random")
    frequency = np.array([counts[r["id"]] / draws for r in pool])
    expected = 4 / 20
    assert np.abs(frequency - expected).max() < 4 * np.sqrt(expected * (1 - expected) / draws)


def test_mixture_keeps_a_random_slice_and_fills_the_rest_by_uncertainty():
    pool = records(np.random.default_rng(5).dirichlet([1, 1, 1], 30).tolist())
    matrix = np.array([list(r["scores"].values()) for r in pool])
    batch = select(pool, "mixture", 10, seed=0, random_share=0.2, uncertainty=margin(matrix), uncertainty_name="margin")
    by = Counter(r["selection"]["selected_by"] for r in batch)
    assert by == {"random": 2, "margin": 8}
    assert len({r["id"] for r in batch}) == 10
    random_ids = {r["id"] for r in batch if r["selection"]["selected_by"] == "random"}
    assert all(r["selection"]["inclusion_probability"] == 2 / 30 for r in batch if r["id"] in random_ids)
    assert all(r["selection"]["inclusion_probability"] is None for r in batch if r["id"] not in random_ids)
    # the margin picks are the most uncertain items outside the random slice
    rest = sorted(
        (r for r in pool if r["id"] not in random_ids), key=lambda r: -margin(np.array([list(r["scores"].values())]))[0]
    )
    assert [r["id"] for r in batch if r["id"] not in random_ids] == [r["id"] for r in rest[:8]]


@pytest.fixture
def annotated(tmp_path) -> Path:
    rows = records([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.34, 0.33, 0.33], [0.6, 0.3, 0.1], [0.5, 0.49, 0.01]])
    rows.insert(2, {"id": "broken", "status": "error", "error": "posts.csv row 3: empty text", "label": None})
    return write_jsonl(tmp_path / "annotated.jsonl", rows)


def test_command_writes_the_batch_without_error_rows_and_excluded_ids(tmp_path, annotated, capsys):
    (tmp_path / "done.txt").write_text("item4\n")
    out = tmp_path / "batch.jsonl"
    main(["--predictions", str(annotated), "--strategy", "least_confidence", "--batch", "2", "--exclude",
          str(tmp_path / "done.txt"), "--out", str(out)])  # fmt: skip
    batch = read_jsonl(out)
    assert [r["id"] for r in batch] == ["item2", "item1"]
    assert batch[0]["scores"] == {"a": 0.34, "b": 0.33, "c": 0.33}  # the annotate record, kept
    assert batch[0]["selection"]["pool_items"] == 4
    assert "1 error rows and 1 excluded ids left out" in capsys.readouterr().out


def test_ids_come_from_text_csv_or_jsonl(tmp_path):
    (tmp_path / "ids.txt").write_text("a\n\nb\n")
    with (tmp_path / "labels.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["item_id", "annotator", "label"], ["a", "1", "x"], ["c", "2", "y"]])
    write_jsonl(tmp_path / "batch.jsonl", [{"id": 7}, {"id": "b"}])
    assert read_ids(tmp_path / "ids.txt") == ["a", "b"]
    assert read_ids(tmp_path / "labels.csv") == ["a", "c"]
    assert read_ids(tmp_path / "batch.jsonl") == ["7", "b"]
    with pytest.raises(DataError, match=r"labels.csv: no column 'post'"):
        read_ids(tmp_path / "labels.csv", "post")


def test_generation_output_can_only_be_sampled_at_random(tmp_path):
    rows = [{"id": str(i), "status": "ok", "label": "women", "confidence": None, "text": "women"} for i in range(6)]
    annotated = write_jsonl(tmp_path / "groups.jsonl", rows)
    with pytest.raises(DataError, match=r"groups.jsonl, line 1: no 'scores'.*use --strategy random"):
        main(["--predictions", str(annotated), "--strategy", "margin", "--batch", "2", "--out", str(tmp_path / "b")])
    main(["--predictions", str(annotated), "--strategy", "random", "--batch", "2", "--out", str(tmp_path / "b.jsonl")])
    assert len(read_jsonl(tmp_path / "b.jsonl")) == 2


def test_activelab_asks_for_another_label_where_annotators_disagree(tmp_path):
    pytest.importorskip("cleanlab")
    rng = np.random.default_rng(0)
    confident = [[0.97, 0.03]] * 20 + [[0.03, 0.97]] * 20
    disputed_then_new = [[0.55, 0.45]] * 2 + rng.dirichlet([20, 20], 4).tolist()
    rows = records(confident + disputed_then_new, labels=("yes", "no"))
    annotated = write_jsonl(tmp_path / "annotated.jsonl", rows)
    with (tmp_path / "labels.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item_id", "annotator", "label"])
        for i in range(40):  # agreed with each other and with the model
            label = "yes" if i < 20 else "no"
            writer.writerows([[f"item{i}", "ann1", label], [f"item{i}", "ann2", label]])
        writer.writerows([["item40", "ann1", "yes"], ["item40", "ann2", "no"], ["item41", "ann1", "no"]])
    out = tmp_path / "batch.jsonl"
    main(["--predictions", str(annotated), "--strategy", "activelab", "--labels", str(tmp_path / "labels.csv"),
          "--batch", "6", "--out", str(out)])  # fmt: skip
    chosen = {r["id"] for r in read_jsonl(out)}
    assert "item40" in chosen  # labelled, but the two annotators disagree
    assert not chosen & {f"item{i}" for i in range(40)}


def test_activelab_needs_several_annotators(tmp_path, annotated):
    pytest.importorskip("cleanlab")
    (tmp_path / "labels.csv").write_text("item_id,annotator,label\nitem0,ann1,a\n")
    with pytest.raises(DataError, match="activelab weighs several annotators; the labels file has 1"):
        main(["--predictions", str(annotated), "--strategy", "activelab", "--labels", str(tmp_path / "labels.csv"),
              "--batch", "2", "--out", str(tmp_path / "b.jsonl")])  # fmt: skip
    (tmp_path / "labels.csv").write_text("item_id,annotator,label\nitem0,ann1,z\n")
    with pytest.raises(DataError, match=r"labels.csv, row 2, column 'label': 'z' is not one of \['a', 'b', 'c'\]"):
        main(["--predictions", str(annotated), "--strategy", "activelab", "--labels", str(tmp_path / "labels.csv"),
              "--batch", "2", "--out", str(tmp_path / "b.jsonl")])  # fmt: skip


def test_bad_predictions_are_refused_in_one_line(tmp_path):
    bad = tmp_path / "annotated.jsonl"
    bad.write_text('{"id": "1", "status": "ok", "scores": {"a": 1.0}}\n{"id": "1", "status": "ok"}\n')
    result = subprocess.run(
        [sys.executable, "-c", "from annotune.commands import main; main()", "select", "--predictions", str(bad),
         "--strategy", "random", "--batch", "1", "--out", str(tmp_path / "b.jsonl")],
        capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "ANNOTUNE_THREADS": "1"},
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {bad}: lines 1 and 2 have the same id '1'"

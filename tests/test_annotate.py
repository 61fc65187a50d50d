"""annotate: streaming in chunks, resume after a kill, ids and order, bad rows, the hand-off threshold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from annotune.config import BaselinesParams
from annotune.errors import DataError
from annotune.evaluation.handoff import confidence, coverage_at, coverage_curve, threshold_for_accuracy
from annotune.systems import baselines
from annotune.workflows.annotate import annotate
from annotune.workflows.annotate_input import check_input, count_rows, read_rows
from annotune.workflows.annotate_output import dev_handoff, part_path
from tests.helpers import BIAS as TASK
from tests.helpers import fake_predict, fake_system, posts, read_out, write_jsonl

ROOT = Path(__file__).resolve().parents[1]

# ------------------------------------------------------------------------------------------ hand-off

CONF = [0.95, 0.9, 0.9, 0.8, 0.7, 0.6, 0.55]
RIGHT = [True, True, False, True, True, False, True]


def test_coverage_curve_on_a_hand_made_table():
    curve = coverage_curve(CONF, RIGHT)
    # one point per distinct confidence: the tie at 0.9 is never split (no point keeps 2 rows)
    assert [p["kept"] for p in curve] == [1, 3, 4, 5, 6, 7]
    assert [p["threshold"] for p in curve] == [0.95, 0.9, 0.8, 0.7, 0.6, 0.55]
    assert [round(p["accuracy"], 4) for p in curve] == [1.0, 0.6667, 0.75, 0.8, 0.6667, 0.7143]
    assert curve[-1]["coverage"] == 1.0 and curve[0]["coverage"] == pytest.approx(1 / 7)
    assert coverage_curve([], []) == []


def test_threshold_is_the_lowest_that_reaches_the_target():
    # 0.9 and 0.8 miss 0.8 accuracy, 0.7 reaches it again: the lowest threshold wins (most rows kept)
    assert threshold_for_accuracy(CONF, RIGHT, 0.8) == 0.7
    assert coverage_at(CONF, RIGHT, 0.7)["coverage"] == pytest.approx(5 / 7)
    assert threshold_for_accuracy(CONF, RIGHT, 0.75) == 0.7
    assert threshold_for_accuracy(CONF, RIGHT, 0.7) == 0.55  # everything kept
    assert threshold_for_accuracy(CONF, RIGHT, 1.0) == 0.95
    assert threshold_for_accuracy(CONF, [False] * 7, 0.5) is None  # nothing reaches it: all to humans
    assert coverage_at(CONF, RIGHT, None)["coverage"] == 0.0
    with pytest.raises(ValueError, match="within"):
        threshold_for_accuracy(CONF, RIGHT, 1.5)
    with pytest.raises(ValueError, match="7 confidences but 6"):
        coverage_curve(CONF, RIGHT[:6])


def test_dev_handoff_from_prediction_records():
    predictions = [
        {"gold": "implied_bias" if ok else "no_implied_bias", "pred": "implied_bias", "scores": {"implied_bias": c}}
        for c, ok in zip(CONF, RIGHT, strict=True)
    ]
    handoff = dev_handoff(predictions, 0.8)
    assert handoff["threshold"] == 0.7 and handoff["dev_coverage"] == pytest.approx(5 / 7)
    assert handoff["dev_accuracy"] == pytest.approx(0.8) and len(handoff["curve"]) == 6


def test_confidence_is_the_given_labels_score_and_evaluate_reads_the_same():
    """One confidence for annotate's rows, its dev hand-off and evaluate's coverage: the predicted label's score,
    not the highest (a generative LLM's answer can differ from its scores' favourite)."""
    from annotune.evaluation.metrics.calibration import coverage

    written_b = {"pred": "b", "gold": "b", "scores": {"a": 0.7, "b": 0.3}}
    assert confidence(written_b) == 0.3 and confidence({"pred": "a", "scores": {}}) is None
    assert confidence({"pred": "c", "scores": {"a": 0.7, "b": 0.3}}) == 0.0
    curve, _ = coverage([written_b, {"pred": "a", "gold": "b", "scores": {"a": 0.9, "b": 0.1}}], None)
    assert [point["threshold"] for point in curve] == [0.9, 0.3]
    groups = {"pred": "women, jews", "scores": {"women": 0.9, "jews": 0.8, "black folks": 0.25}}
    assert confidence(groups, multilabel=True) == pytest.approx(0.9 * 0.8 * 0.75)
    assert confidence(groups | {"pred": "none"}, multilabel=True) == pytest.approx(0.1 * 0.2 * 0.75)


# ------------------------------------------------------------------------------------------- reading


def test_jsonl_bad_rows_become_error_rows(tmp_path):
    path = write_jsonl(
        tmp_path / "in.jsonl",
        [{"key": "a", "post": "fine"}, "", "{not json", "[1, 2]", {"key": "e", "post": "  "}, {"key": "f"}],
    )
    with path.open("ab") as fh:
        fh.write(b'{"key": "g", "post": "caf\xe9"}\n')  # latin-1 byte, not UTF-8
    rows = list(read_rows(path, "post", "key"))
    assert [r.row for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0].error is None and rows[0].id == "a" and rows[0].text == "fine"
    errors = [r.error for r in rows[1:]]
    assert "row 2: empty line" in errors[0]
    assert "row 3: not JSON" in errors[1]
    assert "row 4: a JSON list, not an object" in errors[2]
    assert "row 5: empty text in column 'post'" in errors[3]
    assert "row 6: no column 'post'" in errors[4] and rows[5].id == "f"
    assert "row 7: not valid UTF-8 (line 7, byte 26 of the line: 0xe9)" in errors[5]
    assert rows[6].columns["post"] == "caf\ufffd"
    assert all(e.startswith("in.jsonl row") for e in errors)
    assert count_rows(path, "post") == 7


def test_csv_and_tsv(tmp_path):
    csv_path = tmp_path / "in.csv"
    csv_path.write_text(
        'id,post,extra\n1,"a post, with a comma\nand a new line",x\n2,,y\n3,too,many,fields\n\n5,ok,z\n'
    )
    rows = list(read_rows(csv_path, "post", "id"))
    assert [r.row for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].text == "a post, with a comma\nand a new line" and rows[0].columns["extra"] == "x"
    assert "row 2: empty text in column 'post'" in rows[1].error
    assert "row 3: 4 cells, the header has 3" in rows[2].error
    assert "row 4: empty line" in rows[3].error
    assert rows[4].error is None and rows[4].id == "5"
    tsv_path = tmp_path / "in.tsv"
    tsv_path.write_text("post\tn\nhello, world\t1\n")
    (row,) = read_rows(tsv_path, "post")
    assert row.text == "hello, world" and row.id == "1"
    with pytest.raises(ValueError, match=r"in.csv: no column 'text' in the header"):
        list(read_rows(csv_path, "text"))
    with pytest.raises(ValueError, match="unsupported input format"):
        read_rows(write_jsonl(tmp_path / "in.txt", []), "post")


def test_csv_header_and_jsonl_keys_follow_prepares_rules(tmp_path):
    """annotate reads as prepare does (annotune/data/readers.py): the header is the first line that is not blank, a
    header naming a column twice is refused, a JSONL object naming a key twice is an error row."""
    path = tmp_path / "in.csv"
    path.write_text("\n\nid,post\n1,hello\n")
    (row,) = read_rows(path, "post", "id")
    assert (row.row, row.id, row.text) == (1, "1", "hello")
    path.write_text("id,post,post\n1,a,b\n")
    with pytest.raises(DataError, match=r"in.csv, row 1: the header names column 'post' 2 times \(columns 2, 3\)"):
        check_input(path, "post", "id")
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a", "post": "one", "post": "two"}\n{"id": "b", "post": "ok"}\n')
    rows = list(read_rows(path, "post", "id"))
    assert rows[0].error == "in.jsonl row 1: key 'post' appears twice in one object; keep one"
    assert rows[1].error is None and rows[1].text == "ok"


# ----------------------------------------------------------------------------------------- annotate


def test_streams_in_chunks_and_keeps_ids_and_order(tmp_path):
    records = posts(23)
    records[7]["post"] = ""
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out" / "labels.jsonl"
    calls = []

    def predict(rows):
        # the rows of earlier chunks are already on disk when the next chunk is predicted
        written = len(part_path(out).read_text().splitlines())
        calls.append((len(rows), written))
        return fake_predict(rows)

    stats = annotate(path, out, fake_system(predict), "post", "key", chunk_size=5)
    assert [c[0] for c in calls] == [5, 4, 5, 5, 3]  # chunk 2 lost its empty row to an error row
    assert [c[1] for c in calls] == [0, 5, 10, 15, 20]
    rows = read_out(out)
    assert [r["row"] for r in rows] == list(range(1, 24))
    assert [r["id"] for r in rows] == [r["key"] for r in records]
    assert [r["columns"] for r in rows] == records
    assert rows[7]["status"] == "error" and rows[7]["label"] is None and "empty text" in rows[7]["error"]
    expected = fake_predict([{"id": r["key"], "input": r["post"], "label": None} for r in records if r["post"]])
    ok = [r for r in rows if r["status"] == "ok"]
    assert [r["label"] for r in ok] == [p["pred"] for p in expected]
    assert [r["scores"] for r in ok] == [p["scores"] for p in expected]
    assert all(r["confidence"] == max(r["scores"].values()) for r in ok)
    assert {(r["system"], r["adapter_version"]) for r in rows} == {("fake", "v1")}
    assert stats["rows"] == 23 and stats["error_rows_this_run"] == 1 and not part_path(out).exists()
    with pytest.raises(ValueError, match="already exists"):
        annotate(path, out, fake_system(), "post", "key", chunk_size=5)
    assert annotate(path, out, fake_system(), "post", "key", chunk_size=50, overwrite=True)["rows"] == 23
    assert read_out(out) == rows


def test_needs_human_file(tmp_path):
    records = posts(30) + [{"key": "empty", "post": " "}]
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out, human = tmp_path / "labels.jsonl", tmp_path / "labels.needs_human.jsonl"
    stats = annotate(path, out, fake_system(), "post", "key", chunk_size=8, threshold=0.7, needs_human_path=human)
    rows, handed = read_out(out), read_out(human)
    expected = [r for r in rows if r["status"] == "error" or r["confidence"] < 0.7]
    assert handed == expected and 1 < len(handed) < len(rows)
    assert handed[-1]["id"] == "empty"
    assert stats["needs_human_rows"] == len(handed) and stats["auto_coverage"] == pytest.approx(1 - len(handed) / 31)


KILLABLE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from helpers import fake_predict, fake_system
    from annotune.workflows.annotate import annotate

    def slow(rows):
        time.sleep(0.15)
        return fake_predict(rows)

    annotate(Path(sys.argv[1]), Path(sys.argv[2]), fake_system(slow), "post", "key", chunk_size=3, progress=False)
    """
)


def test_resume_after_kill_gives_every_row_once_in_order(tmp_path):
    records = posts(60)
    records[40]["post"] = ""
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "labels.jsonl"
    script = tmp_path / "run.py"
    script.write_text(KILLABLE.format(tests=str(ROOT / "tests")))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, str(script), str(path), str(out)], env=env, cwd=tmp_path)
    part = part_path(out)
    deadline = time.monotonic() + 120
    while not (part.exists() and len(part.read_text().splitlines()) >= 12):
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run wrote nothing"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists()
    done = len(part.read_text().splitlines())
    assert 12 <= done < 60
    with part.open("a") as fh:
        fh.write('{"row": 99, "id": "half a li')  # what a kill in the middle of a write leaves

    stats = annotate(path, out, fake_system(), "post", "key", chunk_size=7, progress=False)
    assert stats["resumed_after_rows"] == done and stats["rows_this_run"] == 60 - done
    rows = read_out(out)
    assert [r["row"] for r in rows] == list(range(1, 61))
    assert [r["id"] for r in rows] == [r["key"] for r in records]
    assert rows[40]["status"] == "error"
    uninterrupted = tmp_path / "reference.jsonl"
    annotate(path, uninterrupted, fake_system(), "post", "key", chunk_size=60, progress=False)
    assert rows == read_out(uninterrupted)


def test_resume_refuses_a_part_from_another_input_or_system(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", posts(10))
    out = tmp_path / "labels.jsonl"
    annotate(path, out, fake_system(), "post", "key", chunk_size=4, progress=False)
    part = part_path(out)
    part.write_text("".join(out.read_text().splitlines(keepends=True)[:4]))
    out.unlink()
    with pytest.raises(ValueError, match=r"labels.jsonl.part line 1 does not match .* delete the part file"):
        annotate(path, out, fake_system(version="v2"), "post", "key", progress=False)
    other = write_jsonl(tmp_path / "other.jsonl", posts(3)[::-1])
    with pytest.raises(ValueError, match="does not match input row 1"):
        annotate(other, out, fake_system(), "post", "key", progress=False)
    short = write_jsonl(tmp_path / "short.jsonl", posts(2))
    with pytest.raises(ValueError, match="more rows than the input"):
        annotate(short, out, fake_system(), "post", "key", progress=False)
    assert annotate(path, out, fake_system(), "post", "key", progress=False)["resumed_after_rows"] == 4


def test_a_real_baseline_system(tmp_path):
    """load_system on a saved tfidf_logreg baseline: annotate gives what baselines.predict gives."""
    from annotune.systems.predictors import load_system

    train = [
        {"id": str(i), "input": text, "label": label}
        for i, (text, label) in enumerate(
            [("those people are all lazy", "implied_bias"), ("a beautiful day at the beach", "no_implied_bias")] * 5
        )
    ]
    model_dir = tmp_path / "tfidf"
    baselines.save(baselines.train("tfidf_logreg", TASK, train, BaselinesParams(), 0), model_dir)
    system = load_system(TASK, "tfidf_logreg", model_dir)
    assert len(system.version) == 16
    records = posts(9)
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "labels.jsonl"
    annotate(path, out, system, "post", "key", chunk_size=4, progress=False)
    fitted = baselines.load(model_dir)
    expected = baselines.predict(TASK, fitted, [{"id": r["key"], "input": r["post"], "label": None} for r in records])
    assert [(r["label"], r["scores"]) for r in read_out(out)] == [(p["pred"], p["scores"]) for p in expected]


def test_an_llm_adapter_system(tmp_path, tiny_llama):
    """load_system('qlora') on a tiny Llama + LoRA adapter: annotate in chunks gives the labels and
    probabilities of scoring.llm_predictions over all rows at once."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from annotune.systems.models import Runtime, load_tokenizer
    from annotune.systems.predictors import load_adapter, load_system
    from annotune.systems.prompts import prompt_ids
    from annotune.systems.scoring import llm_predictions

    adapter = tmp_path / "adapter"
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(adapter)
    load_tokenizer(tiny_llama).save_pretrained(adapter)
    runtime = {"device": "cpu", "compute_dtype": "float32", "quantization": "none"}
    (adapter / "annotune.json").write_text(
        json.dumps({"runtime": runtime, "qlora": {"double_quant": True, "max_input_tokens": 32}})
    )
    system = load_system(TASK, "qlora", adapter, base_dir=tiny_llama, batch_size=2)
    records = posts(7)
    path = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "labels.jsonl"
    annotate(path, out, system, "post", "key", chunk_size=3, progress=False)

    reference = load_adapter(tiny_llama, adapter, Runtime(**runtime))
    tokenizer = load_tokenizer(adapter)
    rows = [{"id": r["key"], "input": r["post"], "label": None} for r in records]
    prompts = [prompt_ids(tokenizer, TASK.instruction, r["input"], 32)[0] for r in rows]
    expected = llm_predictions(TASK, reference, tokenizer, rows, prompts, 7, 4)
    got = read_out(out)
    assert [r["label"] for r in got] == [p["pred"] for p in expected]
    for row, prediction in zip(got, expected, strict=True):
        for label in TASK.labels:
            assert row["scores"][label] == pytest.approx(prediction["scores"][label], abs=1e-4)


def test_resume_drops_a_long_partial_last_line(tmp_path):
    """The partial line is found from the end of the part, block by block (never the whole file in memory)."""
    path = write_jsonl(tmp_path / "in.jsonl", posts(5))
    out = tmp_path / "labels.jsonl"
    annotate(path, out, fake_system(), "post", "key", progress=False)
    reference = out.read_text()
    part = part_path(out)
    part.write_text("".join(reference.splitlines(keepends=True)[:2]) + '{"row": 3, "columns": "' + "x" * 200_000)
    out.unlink()
    assert annotate(path, out, fake_system(), "post", "key", progress=False)["resumed_after_rows"] == 2
    assert out.read_text() == reference

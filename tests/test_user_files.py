"""annotate never harms the user's files: it refuses, in one line and before any model loads, an output over
its input, a second writer, a model of another task, a bad input or option; a refused run changes no file;
and it reads what Excel writes (a byte order mark, CRLF)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from annotune.config import BaselinesParams
from annotune.data.files import exclusive_lock
from annotune.errors import AnnotuneError, DataError, MissingInputError, ParamsError
from annotune.systems import baselines
from annotune.workflows import annotate as command
from annotune.workflows.annotate import main
from annotune.workflows.annotate_input import count_rows, read_rows
from annotune.workflows.annotate_output import output_lock
from tests.helpers import BIAS as TASK
from tests.helpers import fake_system, posts, read_out, run_unchecked, torchrun, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [("those people are all lazy", "implied_bias"), ("a beautiful day at the beach", "no_implied_bias")]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working folder with params.yaml, a tfidf_logreg model, a dev split and a 12-post input."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    train = [{"id": str(i), "input": f"{text} {i}", "label": label} for i, (text, label) in enumerate(TEXTS * 5)]
    baselines.save(baselines.train("tfidf_logreg", TASK, train, BaselinesParams(), 0), tmp_path / "model")
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "dev.jsonl", train)
    write_jsonl(tmp_path / "in.jsonl", posts(12))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    return tmp_path


def args(*extra: str, out: str = "out/labels.jsonl", system: str = "tfidf_logreg") -> list[str]:
    options = ["--model", "model", "--data", "data", "--input", "in.jsonl", "--text-column", "post"]
    return ["hasBiasedImplication", system, *options, "--id-column", "key", "--out", out, "--no-progress", *extra]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any model load fails the test: what is checked here is refused before (the loader's own checks
    included, which run before the baseline's file is read)."""

    def load(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(baselines, "load", load)


def refused(argv: list[str], error=AnnotuneError) -> str:
    """The one-line message of a refused run."""
    with pytest.raises(error) as caught:
        main(argv)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------------- outputs over the input


def test_an_output_onto_the_input_is_refused(project, no_model_loads):
    before = snapshot(project)
    assert "--out in.jsonl is the input file in.jsonl" in refused(args("--overwrite", out="in.jsonl"))
    (project / "link.jsonl").symlink_to(project / "in.jsonl")
    assert "is the input file" in refused(args("--overwrite", out="link.jsonl"))
    os.link(project / "in.jsonl", project / "hard.jsonl")  # a hard link: same file, another path
    assert "is the input file" in refused(args("--overwrite", out="hard.jsonl"))
    # side files: <stem>.needs_human.jsonl, <out>.part
    shutil.copy(project / "in.jsonl", project / "posts.needs_human.jsonl")
    message = refused(args("--input", "posts.needs_human.jsonl", out="posts.jsonl"))
    assert "--out posts.jsonl: its needs_human file posts.needs_human.jsonl is the input file" in message
    shutil.copy(project / "in.jsonl", project / "posts.dev_predictions.jsonl")
    message = refused(args("--input", "posts.dev_predictions.jsonl", out="posts.jsonl"))
    assert "--out posts.jsonl: its dev predictions file posts.dev_predictions.jsonl is the input" in message
    for made in ("link.jsonl", "hard.jsonl", "posts.needs_human.jsonl", "posts.dev_predictions.jsonl"):
        (project / made).unlink()
    assert snapshot(project) == before


# ------------------------------------------------------------------------------------------- one writer

DRIVER = textwrap.dedent(
    """
    # annotune annotate with the fake system of tests/helpers.py, held after its first chunk until the
    # test creates the file "release" (however loaded the machine, the first run is still writing)
    import os, sys, time
    sys.path.insert(0, {tests!r})
    import annotune.workflows.annotate as command
    from annotune.runtime import cli
    from helpers import fake_predict, fake_system

    calls = []

    def held(rows):
        calls.append(len(rows))
        while len(calls) > 1 and not os.path.exists("release"):
            time.sleep(0.05)
        return fake_predict(rows)

    command.load_system = lambda *args, **kwargs: fake_system(held)
    sys.argv = ["annotune annotate", *sys.argv[1:]]
    cli.run(command.main)
    """
)


def test_a_second_annotate_on_the_same_output_stops_at_once(project):
    (project / "driver.py").write_text(DRIVER.format(tests=str(ROOT / "tests")))
    command_line = [sys.executable, "driver.py", *args("--no-handoff", "--chunk-size", "2", system="fake")]
    environ = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command_line, cwd=project, env=environ, stderr=subprocess.PIPE, text=True)
    part, lock = project / "out" / "labels.jsonl.part", project / "out" / "labels.jsonl.lock"
    deadline = time.monotonic() + 120
    while not (part.exists() and part.read_text()):
        assert first.poll() is None, first.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "the first run wrote nothing"
        time.sleep(0.05)
    second = subprocess.run(command_line, cwd=project, env=environ, capture_output=True, text=True, timeout=120)
    assert first.poll() is None, "the first run ended before the second one started: the test proves nothing"
    (project / "release").touch()
    assert second.returncode == 2
    assert f"error: {lock.relative_to(project)} is held: another annotate is writing out/labels.jsonl" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.wait(timeout=120) == 0, first.stderr.read()[-3000:]
    assert len(read_out(project / "out" / "labels.jsonl")) == 12
    assert not lock.exists() and not part.exists()  # the lock file goes with the run


def test_one_lock_per_output(tmp_path):
    """Another holder of the output's lock is refused; the lock file is there while held, gone after."""
    out = tmp_path / "labels.jsonl"
    with output_lock(out):
        with pytest.raises(DataError, match=r"labels.jsonl.lock is held: another annotate is writing .*labels.jsonl"):
            with output_lock(out):
                pass
        assert (tmp_path / "labels.jsonl.lock").exists()
    assert not (tmp_path / "labels.jsonl.lock").exists()


def test_two_processes_stop_when_another_run_holds_the_output(project):
    """torchrun, 2 processes, the output's lock held elsewhere: process 0 tells process 1, none writes."""
    (project / "out").mkdir()
    lock = project / "out" / "labels.jsonl.lock"
    with exclusive_lock(lock, "held by the test"):
        result = run_unchecked(torchrun(2, "-m", "annotune.workflows.annotate", *args("--no-handoff")), project)
    assert result.returncode != 0
    assert result.stderr.count("is held: another annotate is writing out/labels.jsonl") == 2  # both processes
    assert sorted(p.name for p in (project / "out").iterdir()) == []


# ---------------------------------------------------------------------------------- a model of its task


def test_a_model_of_another_task_is_refused(project, no_model_loads):
    (project / "model" / "annotune.json").write_text(json.dumps({"task": "offensiveYN", "method": "tfidf_logreg"}))
    message = refused(args())
    assert "model: a model of task 'offensiveYN' (annotune.json), not of 'hasBiasedImplication'" in message
    assert not (project / "out").exists()


def test_a_damaged_baseline_file_is_named(project):
    model = project / "model" / "model.skops"
    model.write_bytes(model.read_bytes()[:1000])
    assert "model/model.skops: damaged or truncated" in refused(args(), DataError)
    assert not (project / "out").exists()


# ------------------------------------------------------------------------------ a refused run writes nothing


def test_a_refused_rerun_changes_no_file(project):
    main(args("--target-accuracy", "0.5", "--stats", "out/stats.json"))
    written = sorted(p.name for p in (project / "out").iterdir())
    assert written == [
        "labels.dev_predictions.jsonl",
        "labels.handoff.json",
        "labels.jsonl",
        "labels.needs_human.jsonl",
        "stats.json",
    ]
    before = snapshot(project)
    times = {p: p.stat().st_mtime_ns for p in (project / "out").iterdir()}
    assert "already exists" in refused(args("--target-accuracy", "0.5"))
    assert snapshot(project) == before
    assert {p: p.stat().st_mtime_ns for p in (project / "out").iterdir()} == times


def test_a_refused_resume_leaves_the_part_as_it_was(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", posts(6))
    out = tmp_path / "labels.jsonl"
    command.annotate(path, out, fake_system(), "post", "key", progress=False)
    part = tmp_path / "labels.jsonl.part"
    part.write_text("".join(out.read_text().splitlines(keepends=True)[:3]) + '{"row": 4, "id": "half')
    out.unlink()
    before = part.read_bytes()
    with pytest.raises(DataError, match="does not match input row 1"):
        command.annotate(path, out, fake_system(version="v2"), "post", "key", progress=False)
    assert part.read_bytes() == before  # the partial last line is dropped only by a resume that goes on


def test_overwrite_keeps_the_old_output_until_the_new_one_is_complete(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", posts(6))
    out = tmp_path / "labels.jsonl"
    command.annotate(path, out, fake_system(), "post", "key", progress=False)
    old = out.read_bytes()

    def failing(rows):
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        command.annotate(path, out, fake_system(failing), "post", "key", progress=False, overwrite=True)
    assert out.read_bytes() == old


# --------------------------------------------------------------------- bad inputs and options, in one line


def test_bad_inputs_and_options_are_refused_before_any_model_loads(project, no_model_loads, capsys):
    assert "unknown system 'tfidf'" in refused(args(system="tfidf"), ParamsError)
    assert "missing.jsonl: input file not found" in refused(args("--input", "missing.jsonl"), MissingInputError)
    assert "missing.csv: input file not found" in refused(args("--input", "missing.csv"), MissingInputError)
    message = refused(args("--text-column", "text"))
    assert message == "in.jsonl: no key 'text' in the first record (line 1); its keys: 'key', 'post'"
    assert "no key 'post_id' in the first record" in refused(args("--id-column", "post_id"))
    (project / "in.csv").write_text("key,post\nk1,hello\n")
    assert "in.csv: no column 'id' in the header; columns: 'key', 'post'" in refused(
        args("--input", "in.csv", "--id-column", "id")
    )
    (project / "folder").mkdir()
    assert "--out folder is a folder" in refused(args(out="folder"))
    (project / "a_file").write_text("")
    assert "a_file is a file, not a folder" in refused(args(out="a_file/labels.jsonl"))
    assert "a_file is a file, not a folder" in refused(args(out="a_file/sub/labels.jsonl"))
    assert "cannot write in /proc" in refused(args(out="/proc/annotune/labels.jsonl"))
    (project / "folder" / "stats").mkdir()
    assert "its --stats file folder/stats is a folder" in refused(args("--stats", "folder/stats"))
    for option in ("--threads", "--chunk-size"):
        for value in ("0", "-3"):
            with pytest.raises(SystemExit) as caught:
                main(args(option, value))
            assert caught.value.code == 2
            assert f"argument {option}: must be at least 1, got {int(value)}" in capsys.readouterr().err
    assert not (project / "out").exists() and not (project / "a_file").is_dir()


def test_duplicate_ids_are_refused(project, no_model_loads):
    write_jsonl(project / "in.jsonl", [{"key": 1, "post": "a"}, {"key": "2", "post": "b"}, {"key": "1", "post": "c"}])
    message = refused(args())
    assert message == "in.jsonl: rows 1 and 3 have the same id '1' (column 'key'); ids must be unique"
    # rows without an id of their own (an empty one: error rows) are not duplicates
    write_jsonl(project / "in.jsonl", [{"key": "", "post": "a"}, {"key": " ", "post": "b"}, {"key": "1", "post": "c"}])
    assert count_rows(project / "in.jsonl", "post", "key") == 3


# ---------------------------------------------------------------------------------------- what Excel writes


def test_a_csv_with_a_byte_order_mark_and_crlf(project):
    (project / "posts.csv").write_bytes(
        'post_id,post\r\np1,those people are all lazy\r\np2,"a day, at the beach\r\nwith friends"\r\n'.encode(
            "utf-8-sig"
        )
    )
    rows = list(read_rows(project / "posts.csv", "post", "post_id"))
    assert [(r.id, r.text) for r in rows] == [
        ("p1", "those people are all lazy"),
        ("p2", "a day, at the beach\r\nwith friends"),
    ]
    assert list(rows[0].columns) == ["post_id", "post"]
    main(args("--no-handoff", "--input", "posts.csv", "--id-column", "post_id"))
    labelled = read_out(project / "out" / "labels.jsonl")
    assert [(r["id"], r["status"]) for r in labelled] == [("p1", "ok"), ("p2", "ok")]
    expected = baselines.predict(TASK, baselines.load(project / "model"), [r.model_row() for r in rows])
    assert [r["label"] for r in labelled] == [p["pred"] for p in expected]

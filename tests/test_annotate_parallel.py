"""annotate with several processes (torchrun / accelerate launch, gloo on the CPU): each labels its share
into its own part, process 0 merges them; the output and needs_human file are byte for byte those of one
process, a killed run resumes with the same process count, and another count is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from annotune.config import BaselinesParams
from annotune.errors import DataError
from annotune.runtime.processes import share_size
from annotune.systems import baselines
from annotune.workflows.annotate import annotate
from annotune.workflows.annotate_output import part_files, part_path
from tests.helpers import BIAS as TASK
from tests.helpers import (
    BIN,
    ROOT,
    env,
    fake_predict,
    fake_system,
    free_port,
    posts,
    run_unchecked,
    torchrun,
    write_jsonl,
)

pytestmark = pytest.mark.slow  # torchrun launches

TIMINGS = {"seconds_this_run", "rows_per_second", "processes", "output"}


WORDS = "those people are all lazy criminals over there beautiful day beach dog loves park my they".split()


def varied_posts(n: int) -> list[dict]:
    """Posts made of the training words, so that the TF-IDF model's confidence varies from post to post."""
    return [
        {
            "key": f"k{i:03d}",
            "post": " ".join(WORDS[(i * 7 + j * j * 3 + i * j) % len(WORDS)] for j in range(2 + i % 6)),
        }
        for i in range(n)
    ]


def input_with_bad_rows(path: Path, n: int = 200) -> Path:
    """``n`` posts with, among them, a line that is not JSON, an empty line, a JSON array, an empty text,
    a record without the text column and one with bytes that are not UTF-8."""
    records = [json.dumps(r) for r in varied_posts(n)]
    records[3] = "{not json"
    records[10] = ""
    records[57] = "[1, 2]"
    records[100] = json.dumps({"key": "k100", "post": "   "})
    records[151] = json.dumps({"key": "k151"})
    write_jsonl(path, records)
    with path.open("ab") as fh:
        fh.write(b'{"key": "latin", "post": "caf\xe9 people"}\n')
    return path


def split_dev(path: Path, predictions: list[dict]) -> Path:
    """A dev split the system gets right when it is sure (confidence over the median) and wrong otherwise:
    the hand-off threshold falls inside the range, so needs_human holds some ok rows, not all."""
    median = sorted(p["conf"] for p in predictions)[len(predictions) // 2]
    rows = []
    for p in predictions:
        other = next(label for label in TASK.labels if label != p["pred"])
        rows.append({"id": p["id"], "input": p["input"], "label": p["pred"] if p["conf"] >= median else other})
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_jsonl(path, rows)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """params.yaml, a tfidf_logreg model, a dev split and a 200-row input with bad rows."""
    root = tmp_path_factory.mktemp("parallel")
    shutil.copy(ROOT / "params.yaml", root / "params.yaml")
    texts = [
        ("those people are all lazy", "implied_bias"),
        ("they are all criminals over there", "implied_bias"),
        ("a beautiful day at the beach", "no_implied_bias"),
        ("my dog loves the park", "no_implied_bias"),
    ]
    train = [{"id": str(i), "input": f"{t} {i}", "label": label} for i, (t, label) in enumerate(texts * 5)]
    fitted = baselines.train("tfidf_logreg", TASK, train, BaselinesParams(), 0)
    baselines.save(fitted, root / "model")
    dev = [{"id": f"d{i}", "input": p["post"], "label": None} for i, p in enumerate(varied_posts(60)[::-1])]
    predicted = baselines.predict(TASK, fitted, dev)
    split_dev(
        root / "data" / "dev.jsonl",
        [p | {"input": d["input"], "conf": max(p["scores"].values())} for p, d in zip(predicted, dev, strict=True)],
    )
    input_with_bad_rows(root / "in.jsonl")
    return root


def cli_args(out: str, *extra: str) -> list[str]:
    return [
        "hasBiasedImplication",
        "tfidf_logreg",
        "--model",
        "model",
        "--data",
        "data",
        "--input",
        "in.jsonl",
        "--text-column",
        "post",
        "--id-column",
        "key",
        "--out",
        out,
        "--chunk-size",
        "16",
        "--target-accuracy",
        "0.9",
        "--no-progress",
        "--stats",
        out + ".stats.json",
        *extra,
    ]


def test_two_processes_write_what_one_process_writes(workspace):
    one = run_unchecked([sys.executable, "-m", "annotune.workflows.annotate", *cli_args("one/out.jsonl")], workspace)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_unchecked(torchrun(2, "-m", "annotune.workflows.annotate", *cli_args("two/out.jsonl")), workspace)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "process 0 of 2 labels input records 1-16, 33-48, ... (105 of 201)" in two.stderr
    assert "process 1 of 2 labels input records 17-32, 49-64, ... (96 of 201)" in two.stderr
    assert two.stderr.count("CPU threads:") == 2  # every process logs its thread share
    assert "(2 processes)" in two.stdout

    out1, out2 = workspace / "one" / "out.jsonl", workspace / "two" / "out.jsonl"
    assert out2.read_bytes() == out1.read_bytes()
    human1, human2 = (workspace / d / "out.needs_human.jsonl" for d in ("one", "two"))
    assert human2.read_bytes() == human1.read_bytes()
    assert (workspace / "two" / "out.handoff.json").read_bytes() == (
        workspace / "one" / "out.handoff.json"
    ).read_bytes()
    rows = [json.loads(line) for line in out1.read_text().splitlines()]
    assert [r["row"] for r in rows] == list(range(1, 202))
    assert sum(r["status"] == "error" for r in rows) == 6
    handed = len(human1.read_text().splitlines())
    assert 6 < handed < 201  # the threshold splits the ok rows
    stats1, stats2 = (json.loads((workspace / d / "out.jsonl.stats.json").read_text()) for d in ("one", "two"))
    assert (stats1["processes"], stats2["processes"]) == (1, 2)
    assert {k: v for k, v in stats2.items() if k not in TIMINGS} == {
        k: v for k, v in stats1.items() if k not in TIMINGS
    }
    assert part_files(out2) == {} and not (workspace / "two" / "out.jsonl.merging").exists()

    # accelerate launch (on a CPU: --multi_gpu starts the processes through torchrun; --cpu would start one)
    port = str(free_port())
    accelerate = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1"]
    launched = run_unchecked(
        [*accelerate, "--main_process_port", port, "-m", "annotune.workflows.annotate", *cli_args("acc/out.jsonl")],
        workspace,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "process 1 of 2" in launched.stderr
    assert (workspace / "acc" / "out.jsonl").read_bytes() == out1.read_bytes()
    assert (workspace / "acc" / "out.needs_human.jsonl").read_bytes() == human1.read_bytes()


def test_chunks_go_round_robin():
    # 201 records in chunks of 16: 12 full chunks and one of 9
    assert [share_size(201, 16, r, 2) for r in range(2)] == [6 * 16 + 9, 6 * 16]
    assert [share_size(201, 16, r, 3) for r in range(3)] == [4 * 16 + 9, 64, 64]
    assert [share_size(5, 16, r, 4) for r in range(4)] == [5, 0, 0, 0]
    assert sum(share_size(1000, 7, r, 8) for r in range(8)) == 1000
    assert share_size(0, 16, 0, 2) == 0


def test_another_process_count_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", posts(10))
    out = tmp_path / "labels.jsonl"
    assert part_path(out) == tmp_path / "labels.jsonl.part"
    assert part_path(out, 1, 4) == tmp_path / "labels.jsonl.part.1-of-4"
    shard = part_path(out, 0, 2)
    shard.write_text("")
    assert part_files(out) == {shard: 2}
    with pytest.raises(DataError, match=r"labels.jsonl.part.0-of-2: .* run with 2 process.* same number of processes"):
        annotate(path, out, fake_system(), "post", "key", progress=False)
    shard.unlink()
    part_path(out).write_text("")
    # refused before any process group is needed: every process sees the same files and stops
    with pytest.raises(DataError, match=r"run with 1 process\(es\), but this run has 3: .* delete the part files"):
        annotate(path, out, fake_system(), "post", "key", progress=False, rank=0, world=3)


DRIVER = textwrap.dedent(
    """
    # annotune annotate with the test's fake system, slowed down; as an LLM's scores depend on the rows
    # padded into the same batch, its scores depend on the rows predicted together
    import os, sys, time
    sys.path.insert(0, {tests!r})
    import annotune.workflows.annotate as command
    from annotune.runtime import cli
    from helpers import fake_predict, fake_system

    def slow(rows):
        time.sleep(float(os.environ.get("FAKE_DELAY", "0")))
        return fake_predict([r | {{"input": r["input"] + str(len(rows))}} for r in rows])

    command.load_system = lambda *args, **kwargs: fake_system(slow)
    sys.argv = ["annotune annotate", *sys.argv[1:]]
    cli.run(command.main)
    """
)


def fake_args(out: str) -> list[str]:
    return [
        *["hasBiasedImplication", "fake", "--data", "data", "--input", "in.jsonl", "--out", out],
        *["--text-column", "post", "--id-column", "key", "--chunk-size", "5", "--no-progress"],
    ]


def test_a_killed_two_process_run_resumes(tmp_path):
    import psutil

    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "driver.py").write_text(DRIVER.format(tests=str(ROOT / "tests")))
    input_with_bad_rows(tmp_path / "in.jsonl")
    dev = [{"id": f"d{i}", "input": p["post"], "label": None} for i, p in enumerate(posts(40))]
    split_dev(
        tmp_path / "data" / "dev.jsonl",
        [
            p | {"input": d["input"], "conf": max(p["scores"].values())}
            for p, d in zip(fake_predict(dev), dev, strict=True)
        ],
    )
    reference = run_unchecked([sys.executable, "driver.py", *fake_args("ref/out.jsonl")], tmp_path)
    assert reference.returncode == 0, reference.stderr[-3000:]

    out = tmp_path / "two" / "out.jsonl"
    shards = [part_path(out, rank, 2) for rank in range(2)]
    launcher = subprocess.Popen(
        torchrun(2, "driver.py", *fake_args("two/out.jsonl")),
        cwd=tmp_path,
        env=env() | {"FAKE_DELAY": "0.3"},  # 21 chunks of 5 rows per process: 6 s
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = []
    try:
        deadline = time.monotonic() + 240
        # two chunks of process 0 and one of process 1 are on disk (fsynced)
        while not all(
            s.exists() and len(s.read_bytes().splitlines()) >= n for s, n in zip(shards, (10, 5), strict=True)
        ):
            assert launcher.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run wrote nothing"
            time.sleep(0.05)
        workers = psutil.Process(launcher.pid).children(recursive=True)  # torchrun starts them in new sessions
    finally:
        launcher.kill()  # a node lost: the launcher and its processes, no clean-up
        for worker in workers:
            worker.kill()
        launcher.wait()
        psutil.wait_procs(workers, timeout=30)
    assert not out.exists()
    done = [len(s.read_bytes().splitlines()) for s in shards]
    assert 10 <= done[0] < 101 and 5 <= done[1] < 100, done
    # what a kill in the middle of a write leaves: a chunk with some lines written, and a partial line
    # (3 of the 5 rows of a chunk): the chunk is labelled again, whole, as in an uninterrupted run
    lines = shards[0].read_bytes().splitlines(keepends=True)[: done[0] // 5 * 5 - 2]
    shards[0].write_bytes(b"".join(lines) + b'{"row": 99, "id": "half a li')
    done = [len(lines) - 3, done[1] // 5 * 5]

    other = run_unchecked([sys.executable, "driver.py", *fake_args("two/out.jsonl")], tmp_path)
    assert other.returncode == 2
    assert "run with 2 process(es), but this run has 1" in other.stderr
    assert "same number of processes (2)" in other.stderr and "delete the part files" in other.stderr
    assert [s.exists() for s in shards] == [True, True] and not part_path(out).exists()

    resumed = run_unchecked(torchrun(2, "driver.py", *fake_args("two/out.jsonl")), tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "dropping a partial last line" in resumed.stderr
    assert "labelling again the 3 rows of a chunk an interruption cut" in resumed.stderr
    assert f"resuming two/out.jsonl.part.0-of-2 after {done[0]} of 101 rows" in resumed.stderr
    assert f"resuming two/out.jsonl.part.1-of-2 after {done[1]} of 100 rows" in resumed.stderr
    assert out.read_bytes() == (tmp_path / "ref" / "out.jsonl").read_bytes()
    human = tmp_path / "two" / "out.needs_human.jsonl"
    assert human.read_bytes() == (tmp_path / "ref" / "out.needs_human.jsonl").read_bytes()
    assert part_files(out) == {}

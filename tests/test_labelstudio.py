"""annotune labelstudio: tasks out, labels back (annotune/workflows/labelstudio.py), and a real round trip through a
Label
Studio server started here (skipped when its virtual environment, .venv-labelstudio, is absent)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune.config import read_params_file
from annotune.data.tasks import TASKS
from annotune.errors import DataError, ParamsError
from annotune.workflows import labelstudio, labelstudio_import

ROOT = Path(__file__).resolve().parents[1]
BIAS = TASKS["sbic"]["hasBiasedImplication"]
OFFENSIVE = TASKS["sbic"]["offensiveYN"]
GROUPS = TASKS["sbic"]["targetMinority"]
EMOTIONS = TASKS["goemotions"]["emotions"]
POSTS = {
    "p1": "Those people are all lazy, typical of them.",
    "p2": "What a beautiful day at the beach with friends.",
    "p3": "Go back to where you came from, nobody wants you here.",
    "p4": "I love my neighbours and their dogs.",
    "p5": "Women can't drive, everyone knows it.",
    "p6": "The match was postponed because of the rain.",
}


def write_items(path: Path, extra_columns: dict | None = None) -> Path:
    extra_columns = extra_columns or {}
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["post_id", "post", *extra_columns])
        for i, (post_id, text) in enumerate(POSTS.items()):
            writer.writerow([post_id, text, *(values[i] for values in extra_columns.values())])
    return path


def annotate_record(post_id: str, label: str, confidence: float, labels=BIAS.labels) -> dict:
    """A row as ``annotune annotate`` writes it."""
    other = [x for x in labels if x != label]
    scores = {label: confidence} | {x: round((1 - confidence) / len(other), 6) for x in other}
    return {"row": int(post_id[1:]), "id": post_id, "status": "ok", "error": None, "label": label,
            "confidence": confidence, "scores": scores, "system": "tfidf_logreg", "adapter_version": "ab" * 32,
            "columns": {"post_id": post_id, "post": POSTS.get(post_id)}}  # fmt: skip


def write_predictions(path: Path) -> Path:
    labels = ["implied_bias", "no_implied_bias", "implied_bias", "no_implied_bias", "implied_bias", "no_implied_bias"]
    confidence = [0.91, 0.55, 0.8, 0.97, 0.51, 0.6]
    rows = [annotate_record(p, label, c) for p, label, c in zip(POSTS, labels, confidence, strict=True)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_export(folder: Path, *extra: str) -> list[dict]:
    labelstudio.main(["export", "hasBiasedImplication", "--input", str(folder / "items.csv"), "--text-column",
                      "post", "--id-column", "post_id", "--out", str(folder / "tasks.json"), *extra])  # fmt: skip
    return json.loads((folder / "tasks.json").read_text())


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A folder with the repository's params, the items and an annotate output."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    write_items(tmp_path / "items.csv")
    write_predictions(tmp_path / "annotated.jsonl")
    return tmp_path


def set_params(folder: Path, **changes) -> None:
    params = read_params_file(folder / "params.yaml")
    for key, value in changes.items():
        section, _, name = key.partition(".")
        if name:
            params[section][name] = value
        else:
            params[section] = value
    with (folder / "params.yaml").open("w") as fh:
        YAML().dump(params, fh)


# ------------------------------------------------------------------------------------------ labeling config


def controls(config: str) -> dict[str, ET.Element]:
    return {element.get("name"): element for element in ET.fromstring(config).iter() if element.get("name")}


def test_label_config_follows_the_task_kind():
    binary = controls(labelstudio.label_config(BIAS))
    assert binary["label"].tag == "Choices" and binary["label"].get("choice") == "single"
    assert binary["label"].get("toName") == "text" and binary["text"].get("value") == "$text"
    assert [c.get("value") for c in binary["label"]] == ["implied_bias", "no_implied_bias"]
    three = controls(labelstudio.label_config(OFFENSIVE))
    assert [c.get("value") for c in three["label"]] == ["offensive", "maybe_offensive", "not_offensive"]
    multi = controls(labelstudio.label_config(EMOTIONS))
    assert multi["label"].get("choice") == "multiple" and len(multi["label"]) == 28
    assert multi["label"].get("required") is None  # ticking nothing says no label applies
    generation = controls(labelstudio.label_config(GROUPS))
    assert generation["label"].tag == "TextArea"
    header = ET.fromstring(labelstudio.label_config(BIAS)).find("Header").get("value")
    assert header.endswith("about a group of people?")  # the LLM's answer words are not shown


def test_label_config_shows_both_sentences_and_the_attributes():
    config = labelstudio.label_config(BIAS, pair=True, attributes=["platform", "age"])
    found = controls(config)
    assert found["text_pair"].get("value") == "$text_pair"
    assert found["attribute_platform"].get("value") == "$platform" and found["attribute_age"].get("value") == "$age"


def test_attributes_named_like_label_studio_keys_are_refused():
    with pytest.raises(ParamsError, match=r"prepare.attributes.annotator: Label Studio cannot show"):
        labelstudio.check_attribute_names({"annotator": "categorical"})
    with pytest.raises(ParamsError, match=r"prepare.attributes.user age"):
        labelstudio.check_attribute_names({"user age": "numeric"})


# ------------------------------------------------------------------------------------------------- export


def test_export_pre_annotates_with_the_model_and_keeps_gold_blind(project, capsys):
    (project / "gold.txt").write_text("p2\np4\n")
    tasks = run_export(project, "--predictions", str(project / "annotated.jsonl"), "--gold-sample", "gold.txt")
    assert [t["data"]["annotune_id"] for t in tasks] == list(POSTS)
    first = tasks[0]
    assert first["data"] == {"text": POSTS["p1"], "annotune_id": "p1", "annotune_gold": False}
    assert first["predictions"] == [
        {
            "model_version": "tfidf_logreg@abababababab",
            "score": 0.91,
            "result": [
                {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["implied_bias"]}}
            ],
        }
    ]
    gold = [t for t in tasks if t["data"]["annotune_gold"]]
    assert [t["data"]["annotune_id"] for t in gold] == ["p2", "p4"]
    assert all("predictions" not in t for t in gold)
    config = (project / "tasks.label_config.xml").read_text()
    assert controls(config)["label"].tag == "Choices"
    assert "6 tasks (2 blind gold, 4 with the model's suggestion)" in capsys.readouterr().out


def test_export_of_a_select_batch_sends_its_random_slice_blind_with_inclusion_probabilities(project):
    from annotune.workflows.select import main as select_main

    select_main(["--predictions", "annotated.jsonl", "--strategy", "mixture", "--batch", "4", "--random-share", "0.5",
                 "--seed", "1", "--out", "batch.jsonl"])  # fmt: skip
    tasks = run_export(project, "--predictions", "batch.jsonl")
    batch = [json.loads(line) for line in (project / "batch.jsonl").read_text().splitlines()]
    assert [t["data"]["annotune_id"] for t in tasks] == [r["id"] for r in batch]
    for task, record in zip(tasks, batch, strict=True):
        is_random = record["selection"]["selected_by"] == "random"
        assert task["data"]["annotune_gold"] is is_random
        assert ("predictions" in task) is not is_random
        assert task["data"].get("annotune_inclusion_probability") == (2 / 6 if is_random else None)


def test_export_without_predictions_sends_every_item_and_the_declared_attributes(project):
    set_params(project, **{"prepare.attributes": {"platform": "categorical", "age": "numeric"}})
    write_items(project / "items.csv", {"platform": ["x", "y", "x", "z", "y", "x"], "age": [20, 31, 42, 25, 33, 51]})
    tasks = run_export(project)
    assert len(tasks) == 6 and all("predictions" not in t for t in tasks)
    assert tasks[1]["data"] == {
        "text": POSTS["p2"], "annotune_id": "p2", "annotune_gold": False, "platform": "y", "age": "31"
    }  # fmt: skip
    assert controls((project / "tasks.label_config.xml").read_text())["attribute_age"].get("value") == "$age"


def test_export_of_a_sentence_pair_task(project):
    write_items(project / "items.csv", {"second": [f"second sentence {i}" for i in range(6)]})
    tasks = run_export(project, "--text-pair-column", "second", "--config", "pair.xml")
    assert tasks[0]["data"]["text_pair"] == "second sentence 0"
    assert "text_pair" in controls((project / "pair.xml").read_text())


def test_multilabel_and_generation_predictions_become_their_controls_results():
    record = annotate_record("p1", "anger, joy", 0.7, labels=["anger", "joy", "fear"])
    result = labelstudio.prediction(EMOTIONS, record, "here")["result"]
    assert result == [
        {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["anger", "joy"]}}
    ]
    assert labelstudio.prediction(EMOTIONS, record | {"label": "none"}, "here")["result"] == []
    groups = labelstudio.prediction(GROUPS, record | {"label": "women", "confidence": None}, "here")
    assert groups["result"][0]["type"] == "textarea" and groups["result"][0]["value"] == {"text": ["women"]}
    assert "score" not in groups
    with pytest.raises(DataError, match=r"here: label \['boredom'\] is not one of emotions's labels"):
        labelstudio.prediction(EMOTIONS, record | {"label": "boredom"}, "here")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda f: (f / "gold.txt").write_text("p9\n"), r"gold.txt: id 'p9' is not among the exported items"),
        (
            lambda f: (f / "annotated.jsonl").write_text(json.dumps(annotate_record("p9", "implied_bias", 0.9)) + "\n"),
            r"items.csv: no row with id 'p9' of annotated.jsonl",
        ),
        (
            lambda f: (f / "items.csv").write_text((f / "items.csv").read_text().replace(POSTS["p3"], "")),
            r"items.csv row 3: empty text in column 'post'",
        ),
    ],
)
def test_export_refuses_bad_input_in_one_line(project, setup, message):
    (project / "gold.txt").write_text("p1\n")
    setup(project)
    done = subprocess.run(
        [sys.executable, "-c", "from annotune.commands import main; main()", "labelstudio", "export",
         "hasBiasedImplication", "--input", "items.csv", "--text-column", "post", "--id-column", "post_id",
         "--predictions", "annotated.jsonl", "--gold-sample", "gold.txt", "--out", "tasks.json"],
        cwd=project, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "ANNOTUNE_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and re.search(message, last), last
    assert not (project / "tasks.json").exists()


# ------------------------------------------------------------------------------------------------- import


def labelstudio_json_export() -> list[dict]:
    """A JSON export as Label Studio 1.23 writes it (fields it adds beyond these are ignored)."""

    def annotation(annotation_id, user, label, lead_time, cancelled=False):
        result = [] if cancelled else [
            {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}
        ]  # fmt: skip
        return {"id": annotation_id, "completed_by": user, "result": result, "was_cancelled": cancelled,
                "lead_time": lead_time, "created_at": "2026-01-01T00:00:00Z"}  # fmt: skip

    return [
        {"id": 11, "data": {"text": POSTS["p1"], "annotune_id": "p1", "annotune_gold": False}, "predictions": [5],
         "annotations": [annotation(1, 1, "implied_bias", 4.0), annotation(2, 2, "no_implied_bias", 6.5),
                         annotation(3, 2, None, 1.0, cancelled=True)]},
        {"id": 12, "data": {"text": POSTS["p2"], "annotune_id": "p2", "annotune_gold": True,
                            "annotune_inclusion_probability": 0.25},
         "annotations": [annotation(4, 1, "no_implied_bias", 3.0)]},
        {"id": 13, "data": {"text": POSTS["p3"], "annotune_id": "p3", "annotune_gold": False}, "annotations": []},
    ]  # fmt: skip


def as_json_min(tasks: list[dict]) -> list[dict]:
    """Label Studio's JSON-MIN of the same annotations (label_studio_sdk.converter: cancelled ones left out)."""
    out = []
    for task in tasks:
        if not task["annotations"]:
            out.append(task["data"] | {"id": task["id"], "annotator": None, "annotation_id": None, "lead_time": None})
        for a in task["annotations"]:
            if not a["was_cancelled"]:
                out.append(task["data"] | {"id": task["id"], "label": a["result"][0]["value"]["choices"][0],
                                           "annotator": a["completed_by"], "annotation_id": a["id"],
                                           "created_at": a["created_at"], "updated_at": a["created_at"],
                                           "lead_time": a["lead_time"]})  # fmt: skip
    return out


def as_csv(path: Path, records: list[dict]) -> Path:
    """Label Studio's CSV export: sorted columns, non-numeric values quoted, True for a true boolean."""
    columns = sorted({k for r in records for k in r})
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, quoting=csv.QUOTE_NONNUMERIC)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in records)
    return path


EXPECTED = [
    ("p1", "1", "implied_bias", 4.0, False),
    ("p1", "2", "no_implied_bias", 6.5, False),
    ("p2", "1", "no_implied_bias", 3.0, True),
]


def imported(path: Path, task=BIAS) -> tuple[list[dict], dict]:
    rows, counts = labelstudio_import.import_rows(path, task)
    return sorted(rows, key=lambda r: (r["item_id"], r["annotator"])), counts


@pytest.mark.parametrize("export_format", ["JSON", "JSON-MIN", "CSV"])
def test_every_export_format_imports_to_the_same_long_rows(tmp_path, export_format):
    tasks = labelstudio_json_export()
    if export_format == "CSV":
        path = as_csv(tmp_path / "export.csv", as_json_min(tasks))
    else:
        path = tmp_path / "export.json"
        path.write_text(json.dumps(tasks if export_format == "JSON" else as_json_min(tasks)))
    rows, counts = imported(path)
    assert [(r["item_id"], r["annotator"], r["label"], r["lead_time"], r["gold"]) for r in rows] == EXPECTED
    assert [r["inclusion_probability"] for r in rows] == [None, None, 0.25]
    assert rows[0]["text"] == POSTS["p1"] and rows[0]["labelstudio_task"] in (11, "11")
    assert counts["format"] == export_format and counts["unlabelled_tasks"] == 1
    assert counts["cancelled"] == (1 if export_format == "JSON" else 0)


def test_a_csv_export_resaved_by_excel_reads_alike_and_a_bad_byte_is_named(tmp_path):
    """The CSV export goes through annotune's one reader: a byte order mark and CRLF line ends (a spreadsheet
    re-saving it) change nothing; a byte that is not UTF-8 is refused with the file and the line."""
    plain = as_csv(tmp_path / "export.csv", as_json_min(labelstudio_json_export()))
    resaved = tmp_path / "resaved.csv"
    resaved.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert imported(resaved) == imported(plain)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(plain.read_bytes().replace(b"p2", b"p\xe92", 1))
    with pytest.raises(DataError, match=r"broken.csv, line \d+: byte \d+ of the line \(0xe9.*is not UTF-8"):
        imported(broken)


def test_import_command_writes_a_long_csv_a_table_declaration_reads(project, capsys):
    (project / "export.json").write_text(json.dumps(labelstudio_json_export()))
    labelstudio.main(["import", "export.json", "--task", "hasBiasedImplication", "--out", "labels.csv"])
    out = capsys.readouterr().out
    assert "3 labels of 2 items by 2 annotators (JSON export); left out: 1 cancelled, 0 empty, 1 tasks" in out
    assert "median lead time: 4.0 s per human label (3 labels timed)" in out
    with (project / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:4] == ["item_id", "annotator", "label", "lead_time"]
    assert rows[2]["inclusion_probability"] == "0.25" and rows[2]["gold"] == "True"
    records = read_as_table(project / "labels.csv", ties="first_label")  # p1's two annotators disagree
    assert records["p1"]["annotations"] == {"hasBiasedImplication": ["implied_bias", "no_implied_bias"]}
    assert records["p1"]["annotators"] == ["1", "2"] and records["p2"]["labels"] == {
        "hasBiasedImplication": "no_implied_bias"
    }


def read_as_table(labels: Path, **options) -> dict[str, dict]:
    """The imported labels read by the ``table`` declaration docs/annotation-loop.md shows: item_id -> record."""
    from annotune.config import TableParams, build
    from annotune.data.datasets import adapter
    from annotune.data.tasks import declared_task

    declaration = {
        "files": {split: str(labels) for split in ("train", "dev", "test")},
        "text_column": "text",
        "id_column": "item_id",
        "item_column": "item_id",
        "annotator_column": "annotator",
        "tasks": {"hasBiasedImplication": {"column": "label", "kind": "binary", "labels": BIAS.labels}},
        **options,
    }
    table = build(TableParams, declaration, "table.")
    tasks = [declared_task(n, t.kind, t.label_names, t.instruction, t.answers, t.positive) for n, t in
             table.task_params().items()]  # fmt: skip
    table_adapter = adapter("table", table, tasks)
    table_adapter.fetch(labels.parent / "raw")
    records, _ = table_adapter.read_split(labels.parent / "raw", "train")
    return {r["id"]: r for r in records}


def test_multilabel_and_generation_answers_become_annotune_labels():
    assert labelstudio_import.label_of(EMOTIONS, ["joy", "anger"], "here") == "anger, joy"
    assert labelstudio_import.label_of(EMOTIONS, None, "here") == "none"  # nothing ticked: no label applies
    assert labelstudio_import.label_of(GROUPS, ["Women,  black folks"], "here") == "black folks, women"
    assert labelstudio_import.label_of(GROUPS, None, "here") is None
    assert labelstudio_import.label_of(BIAS, None, "here") is None
    assert labelstudio_import.answers_of('{"choices": ["joy", "anger"]}', from_csv=True) == ["joy", "anger"]
    assert labelstudio_import.answers_of("[not json", from_csv=True) == ["[not json"]
    with pytest.raises(DataError, match=r"here: \['implied_bias', 'no_implied_bias'\] is not one of"):
        labelstudio_import.label_of(BIAS, ["implied_bias", "no_implied_bias"], "here")


def test_import_refuses_tasks_annotune_did_not_export_and_unknown_labels(tmp_path):
    tasks = labelstudio_json_export()
    del tasks[1]["data"]["annotune_id"]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    with pytest.raises(DataError, match=r"export.json: Label Studio task 12, annotation 4: no data.annotune_id"):
        labelstudio_import.import_rows(tmp_path / "export.json", BIAS)
    tasks = labelstudio_json_export()
    tasks[0]["annotations"][0]["result"][0]["value"]["choices"] = ["biased"]
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    with pytest.raises(DataError, match=r"task 11, annotation 1: \['biased'\] is not one of"):
        labelstudio_import.import_rows(tmp_path / "export.json", BIAS)


# ------------------------------------------------------------------------------- a real Label Studio server

SERVER_VENV = ROOT / ".venv-labelstudio"
LABEL_STUDIO = SERVER_VENV / "bin" / "label-studio"
# Label Studio's migrations, applied once to an empty database kept beside its venv: they take about a minute on a
# busy 2-core CPU, the server's start a few seconds
MIGRATED = SERVER_VENV / "annotune-migrated.sqlite3"
ANNOTATORS = {
    "first": ("first@annotune.test", "first-password-1", "annotune-first-token"),
    "second": ("second@annotune.test", "second-password-2", "annotune-second-token"),
}
# no proxy: the server is on 127.0.0.1, and an http_proxy in the environment would catch the requests
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Server:
    url: str
    seconds_to_start: float

    def api(self, annotator: str, method: str, path: str, body=None) -> bytes:
        """One REST call as ``annotator`` (legacy token authentication), plain HTTP."""
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Token {ANNOTATORS[annotator][2]}", "Content-Type": "application/json"},
        )
        try:
            with OPENER.open(request, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from None

    def json(self, annotator: str, method: str, path: str, body=None):
        return json.loads(self.api(annotator, method, path, body))


def server_environment(folder: Path) -> dict[str, str]:
    """A clean environment: Label Studio reads LABEL_STUDIO_<NAME> and falls back to a plain <NAME> (HOST, PORT,
    USERNAME, PASSWORD, DEBUG ...), which a CI machine may well set. SQLite in ``folder``; no usage analytics, no
    Sentry, no check for a newer version."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "LANG": "C.UTF-8",
        "LABEL_STUDIO_BASE_DATA_DIR": str(folder / "data"),
        "LABEL_STUDIO_DATABASE_NAME": str(folder / "label_studio.sqlite3"),
        "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_SENTRY_DSN": "",
        "LABEL_STUDIO_FRONTEND_SENTRY_DSN": "",
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
    }


def user_options(annotator: str) -> list[str]:
    username, password, token = ANNOTATORS[annotator]
    return ["--username", username, "--password", password, "--user-token", token]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(server: Server, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Label Studio exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with OPENER.open(server.url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass  # not listening yet
        time.sleep(0.25)
    pytest.fail(f"Label Studio not up after {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """A Label Studio server on 127.0.0.1 with two annotators, for this module's tests."""
    if not LABEL_STUDIO.exists():
        pytest.skip(f"no Label Studio server at {LABEL_STUDIO}: .ci/run installs it (requirements-labelstudio.txt)")
    folder = tmp_path_factory.mktemp("label_studio")
    environment = server_environment(folder)
    if not MIGRATED.exists():
        part = MIGRATED.with_name(f"{MIGRATED.name}.{os.getpid()}.part")
        migrate = environment | {"LABEL_STUDIO_DATABASE_NAME": str(part)}
        # `version` applies the migrations first, like every label-studio command, and creates no user
        subprocess.run([LABEL_STUDIO, "version"], env=migrate, check=True, capture_output=True, timeout=400)
        os.replace(part, MIGRATED)
    shutil.copy(MIGRATED, environment["LABEL_STUDIO_DATABASE_NAME"])
    # the second annotator's `init` creates the organization, with legacy API tokens (Token <key>) enabled
    init = [LABEL_STUDIO, "init", "--quiet", "--no-browser", "--enable-legacy-api-token", *user_options("second")]
    subprocess.run(init, env=environment, check=True, capture_output=True, timeout=120)
    server = Server(f"http://127.0.0.1:{free_port()}", 0.0)
    start = [
        LABEL_STUDIO,
        "start",
        "--no-browser",
        "--internal-host",
        "127.0.0.1",
        "--port",
        server.url.rsplit(":")[-1],
    ]
    log = folder / "server.log"
    with log.open("w") as log_file:
        started = time.monotonic()
        process = subprocess.Popen(
            [*start, *user_options("first")], env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            wait_until_up(server, process, log, timeout=120)
            server.seconds_to_start = time.monotonic() - started
            print(f"\nLabel Studio up in {server.seconds_to_start:.1f} s")
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def new_project(server: Server, title: str, config: str, tasks: list[dict]) -> tuple[int, dict[str, dict]]:
    """A project with ``tasks`` imported through the REST API: its id and its tasks by annotune id."""
    project_id = server.json("first", "POST", "/api/projects/", {"title": title, "label_config": config})["id"]
    imported = server.json("first", "POST", f"/api/projects/{project_id}/import", tasks)
    assert imported["task_count"] == len(tasks)
    listed = server.json("first", "GET", f"/api/tasks/?project={project_id}&page_size=1000")["tasks"]
    return project_id, {t["data"]["annotune_id"]: t for t in listed}


def annotate(server: Server, annotator: str, task_id: int, result: list[dict], lead_time: float, cancelled=False):
    body = {"result": result, "lead_time": lead_time, "was_cancelled": cancelled}
    server.json(annotator, "POST", f"/api/tasks/{task_id}/annotations/", body)


def choice(label: str) -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


@pytest.mark.slow  # a real Label Studio server
def test_round_trip_through_label_studio(label_studio, project):
    from annotune.workflows.select import main as select_main

    server = label_studio
    select_main(["--predictions", "annotated.jsonl", "--strategy", "mixture", "--batch", "4", "--random-share", "0.5",
                 "--seed", "1", "--out", "batch.jsonl"])  # fmt: skip
    batch = {r["id"]: r["selection"] for r in map(json.loads, (project / "batch.jsonl").read_text().splitlines())}
    tasks = run_export(project, "--predictions", "batch.jsonl")
    config = (project / "tasks.label_config.xml").read_text()
    project_id, by_item = new_project(server, "annotune round trip", config, tasks)
    assert sorted(by_item) == sorted(batch)
    for item_id, task in by_item.items():  # the random slice reached the annotators blind
        blind = batch[item_id]["selected_by"] == "random"
        assert task["data"]["annotune_gold"] is blind and (task["total_predictions"] == 0) is blind
    users = {name: str(server.json(name, "GET", "/api/current-user/whoami")["id"]) for name in ANNOTATORS}
    assert users["first"] != users["second"]
    expected, cancelled = {}, sorted(by_item)[-1]
    for n, item_id in enumerate(sorted(by_item)):
        first, second = BIAS.labels[n % 2], BIAS.labels[(n + (n == 0)) % 2]  # the second disagrees on one item
        annotate(server, "first", by_item[item_id]["id"], choice(first), 2.0 + n)
        expected[item_id, users["first"]] = (first, 2.0 + n)
        if item_id == cancelled:  # the second annotator skips one
            annotate(server, "second", by_item[item_id]["id"], [], 1.0, cancelled=True)
        else:
            annotate(server, "second", by_item[item_id]["id"], choice(second), 10.0 + n)
            expected[item_id, users["second"]] = (second, 10.0 + n)
    for export_format, suffix in (("JSON", "json"), ("JSON_MIN", "json"), ("CSV", "csv")):
        export = project / f"export_{export_format}.{suffix}"
        export.write_bytes(server.api("first", "GET", f"/api/projects/{project_id}/export?exportType={export_format}"))
        labels = project / f"labels_{export_format}.csv"
        labelstudio.main(["import", str(export), "--task", "hasBiasedImplication", "--out", str(labels)])
        with labels.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert {(r["item_id"], r["annotator"]): (r["label"], float(r["lead_time"])) for r in rows} == expected
        for row in rows:
            selection = batch[row["item_id"]]
            assert row["gold"] == str(selection["selected_by"] == "random")
            assert row["inclusion_probability"] == str(selection["inclusion_probability"] or "")
            assert row["text"] == POSTS[row["item_id"]]
    records = read_as_table(project / "labels_JSON.csv", ties="first_label")
    assert {r["id"]: sorted(r["annotators"]) for r in records.values()} == {
        item_id: sorted(u for (i, u) in expected if i == item_id) for item_id in by_item
    }


@pytest.mark.parametrize(
    ("task", "answers", "label"),
    [
        (EMOTIONS, {"type": "choices", "value": {"choices": ["joy", "anger"]}}, "anger, joy"),
        (EMOTIONS, None, "none"),  # nothing ticked: no label applies
        (GROUPS, {"type": "textarea", "value": {"text": ["Women, black folks"]}}, "black folks, women"),
    ],
)
@pytest.mark.slow  # a real Label Studio server
def test_label_studio_takes_multilabel_and_generation_tasks(label_studio, tmp_path, task, answers, label):
    record = {"label": "joy" if task is EMOTIONS else "women", "confidence": 0.8, "system": "qlora"}
    tasks = [{"data": {"text": POSTS["p1"], "annotune_id": "p1", "annotune_gold": False},
              "predictions": [labelstudio.prediction(task, record, "here")]}]  # fmt: skip
    project_id, by_item = new_project(label_studio, f"annotune {task.kind}", labelstudio.label_config(task), tasks)
    assert by_item["p1"]["total_predictions"] == 1
    result = [] if answers is None else [{"from_name": "label", "to_name": "text", **answers}]
    annotate(label_studio, "second", by_item["p1"]["id"], result, 5.0)
    export = tmp_path / "export.json"
    export.write_bytes(label_studio.api("first", "GET", f"/api/projects/{project_id}/export?exportType=JSON"))
    rows, _ = labelstudio_import.import_rows(export, task)
    assert [(r["item_id"], r["label"], r["lead_time"]) for r in rows] == [("p1", label, 5.0)]


@pytest.mark.slow  # a real Label Studio server
def test_label_studio_takes_sentence_pairs_and_attributes(label_studio, tmp_path):
    config = labelstudio.label_config(BIAS, pair=True, attributes=["platform", "age"])
    data = {"text": POSTS["p1"], "text_pair": POSTS["p2"], "annotune_id": "p1", "annotune_gold": True}
    project_id, by_item = new_project(
        label_studio, "annotune pair", config, [{"data": data | {"platform": "x", "age": "31"}}]
    )
    annotate(label_studio, "first", by_item["p1"]["id"], choice("implied_bias"), 2.5)
    export = tmp_path / "export.json"
    export.write_bytes(label_studio.api("first", "GET", f"/api/projects/{project_id}/export?exportType=JSON"))
    rows, _ = labelstudio_import.import_rows(export, BIAS)
    assert [(r["text_pair"], r["platform"], r["age"], r["gold"]) for r in rows] == [(POSTS["p2"], "x", "31", True)]

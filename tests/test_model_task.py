"""Model folders know their task: annotune.json names the task, the labels and a fingerprint of the data trained on,
and the one loader (predict, annotate, distill, estimate) refuses a folder of another task or other labels."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from annotune.config import BaselinesParams
from annotune.data.io import read_json, records_fingerprint, write_jsonl
from annotune.data.tasks import get_task
from annotune.errors import DataError
from annotune.systems import baselines
from annotune.systems.predictors import load_system, refuse_model_of_another_task
from tests.helpers import TEST, TRAIN

ROOT = Path(__file__).resolve().parents[1]
TASK = get_task("sbic", "hasBiasedImplication")
GENERATION = get_task("sbic", "targetMinority")


@pytest.fixture
def tfidf(tmp_path) -> Path:
    folder = tmp_path / "tfidf"
    baselines.save(baselines.train("tfidf_logreg", TASK, TRAIN, BaselinesParams(), 0), folder)
    return folder


def record(folder: Path, **meta) -> None:
    (folder / "annotune.json").write_text(json.dumps(meta))


def test_a_folder_of_another_task_is_refused_by_the_loader(tfidf):
    record(tfidf, task="offensiveYN", method="tfidf_logreg")
    with pytest.raises(DataError) as caught:
        load_system(TASK, "tfidf_logreg", tfidf)
    message = str(caught.value)
    assert message.startswith(f"{tfidf}: a model of task 'offensiveYN' (annotune.json), not of 'hasBiasedImplication'")
    assert "\n" not in message


def test_a_folder_trained_on_other_labels_is_refused_by_the_loader(tfidf):
    record(tfidf, task=TASK.name, labels=TASK.labels[::-1])
    assert len(load_system(TASK, "tfidf_logreg", tfidf).predict(TEST)) == len(TEST)  # the same labels, any order
    record(tfidf, task=TASK.name, labels=["offensive", "not_offensive"])
    other_labels = rf"^{re.escape(str(tfidf))}: trained on labels \['offensive', 'not_offensive'\] \(annotune.json\)"
    with pytest.raises(DataError, match=other_labels):
        load_system(TASK, "tfidf_logreg", tfidf)


def test_a_classifier_s_own_labels_are_checked_where_annotune_json_has_none(tmp_path):
    refuse_model_of_another_task(tmp_path, TASK)  # records nothing (a base LLM, a model trained elsewhere): accepted
    record(tmp_path, task=TASK.name, method="encoder")
    (tmp_path / "annotune_classifier.json").write_text(json.dumps({"labels": ["offensive", "not_offensive"]}))
    with pytest.raises(DataError, match=r"trained on labels .* \(annotune_classifier.json\), but task .* has labels"):
        refuse_model_of_another_task(tmp_path, TASK)
    record(tmp_path, task=GENERATION.name, labels=[])
    refuse_model_of_another_task(tmp_path, GENERATION)  # an open vocabulary: no labels to compare


def test_records_fingerprint_covers_ids_texts_labels_and_their_order():
    fingerprint = records_fingerprint(TRAIN)
    assert fingerprint == records_fingerprint([dict(r, instruction="other words") for r in TRAIN])
    assert fingerprint != records_fingerprint(TRAIN[::-1])
    assert fingerprint != records_fingerprint([dict(TRAIN[0], id="r99"), *TRAIN[1:]])
    assert fingerprint != records_fingerprint([dict(TRAIN[0], input="women are fine"), *TRAIN[1:]])


def train_baseline(train: list[dict], out: Path) -> dict:
    """baseline_train's tfidf_logreg on ``train`` (dev: the test rows); the folder's annotune.json."""
    from stages import baseline_train

    write_jsonl(Path("data/train.jsonl"), train)
    write_jsonl(Path("data/dev.jsonl"), TEST)
    baseline_train.main(
        [TASK.name, "tfidf_logreg", "--data", "data", "--encoder", "none", "--llm", "none", "--out", str(out)]
    )
    return read_json(out / "annotune.json")


def test_a_trained_baseline_records_its_task_labels_and_training_data(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    meta = train_baseline(TRAIN, Path("model"))
    assert (meta["task"], meta["labels"]) == (TASK.name, TASK.labels)
    assert meta["training_data"] == {
        "train": {"rows": len(TRAIN), "sha256": records_fingerprint(TRAIN)},
        "dev": {"rows": len(TEST), "sha256": records_fingerprint(TEST)},
    }
    assert f"train `{records_fingerprint(TRAIN)}`" in Path("model/README.md").read_text()

    relabelled = [dict(TRAIN[0], label="no_implied_bias"), *TRAIN[1:]]
    again = train_baseline(relabelled, Path("relabelled"))["training_data"]
    assert again["train"]["sha256"] != meta["training_data"]["train"]["sha256"]
    assert again["dev"] == meta["training_data"]["dev"]

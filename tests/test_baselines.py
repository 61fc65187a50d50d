"""Baselines train, predict and survive a save / reload, on hand-written rows."""

import pytest

from annotune.config import BaselinesParams
from annotune.data.tasks import declared_task, get_task
from annotune.systems import baselines
from tests.helpers import BIASED, NEUTRAL, TEST, TRAIN

BIAS = get_task("sbic", "hasBiasedImplication")
TARGET = get_task("sbic", "targetMinority")
PARAMS = BaselinesParams(logreg_c=10.0)


@pytest.mark.parametrize("method", baselines.METHODS)
def test_every_method_predicts_valid_labels_with_probabilities(method, tmp_path):
    model = baselines.train(method, BIAS, TRAIN, PARAMS, seed=0)
    baselines.save(model, tmp_path)
    predictions = baselines.predict(BIAS, baselines.load(tmp_path), TEST)
    assert predictions == baselines.predict(BIAS, model, TEST)  # reload changes nothing
    assert [p["id"] for p in predictions] == [r["id"] for r in TEST]
    for p in predictions:
        assert p["pred"] in BIAS.labels and set(p["scores"]) == set(BIAS.labels)
        assert sum(p["scores"].values()) == pytest.approx(1.0, abs=1e-5)


def test_majority_and_tfidf_behave():
    majority = baselines.predict(BIAS, baselines.train("majority", BIAS, TRAIN, PARAMS, 0), TEST)
    assert {p["pred"] for p in majority} == {"no_implied_bias"}
    tfidf = baselines.predict(BIAS, baselines.train("tfidf_logreg", BIAS, TRAIN, PARAMS, 0), TEST)
    assert [p["pred"] for p in tfidf] == ["implied_bias", "implied_bias", "no_implied_bias"]


def test_stratified_is_seeded_per_row():
    model = baselines.train("stratified", BIAS, TRAIN, PARAMS, 3)
    alone = baselines.predict(BIAS, model, TEST[:1])
    assert alone == baselines.predict(BIAS, model, TEST)[:1]


def test_tfidf_one_vs_rest_for_target_groups():
    train = [
        {"id": str(i), "input": t, "label": g}
        for i, (t, g) in enumerate(
            [
                ("women belong in the kitchen", "women"),
                ("women are bad drivers", "women"),
                ("immigrants steal jobs", "immigrants"),
                ("immigrants and women ruin everything", "immigrants, women"),
                ("what a lovely day", "none"),
                ("my dog loves the park", "none"),
            ]
        )
    ]
    model = baselines.train("tfidf_logreg", TARGET, train, BaselinesParams(logreg_c=100.0), 0)
    assert model["groups"] == ["immigrants", "women"]
    test = [
        {"id": "t1", "input": "women drivers", "label": "women"},
        {"id": "t2", "input": "a lovely dog", "label": "none"},
    ]
    assert [p["pred"] for p in baselines.predict(TARGET, model, test)] == ["women", "none"]


@pytest.mark.parametrize("method", baselines.METHODS)
def test_multilabel_baselines_score_every_declared_label(method):
    from annotune.data.tasks import declared_task

    task = declared_task("topics", "multilabel", ["Food", "Pets", "Travel"], None, {}, None)
    labels = ["Food", "Food, Pets", "Pets", "Pets", "Food", "Food, Pets"]
    train = [
        {"id": str(i), "input": t, "label": g}
        for i, (t, g) in enumerate(zip(BIASED + NEUTRAL[:2], labels, strict=True))
    ]
    model = baselines.train(method, task, train, BaselinesParams(logreg_c=100.0), 0)
    predictions = baselines.predict(task, model, train[:3])
    for p in predictions:
        assert set(p["scores"]) == {"Food", "Pets", "Travel"} and task.as_set(p["pred"]) <= {"Food", "Pets"}
        assert p["scores"]["Travel"] == 0.0  # never seen in train
    if method != "tfidf_logreg":  # constant scores: each label's share of the training rows
        assert predictions[0]["scores"] == {"Food": 0.666667, "Pets": 0.666667, "Travel": 0.0}  # rounded to 6


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown method 'svm'"):
        baselines.train("svm", BIAS, TRAIN, PARAMS, 0)


class Tampered:
    """A type no baseline holds: a file carrying it stands for one crafted to run code on load."""


def test_baselines_are_saved_without_pickle_and_a_tampered_file_is_refused(tmp_path):
    import skops.io

    model = baselines.train("tfidf_logreg", BIAS, TRAIN, PARAMS, 0)
    baselines.save(model, tmp_path / "ok")
    assert (tmp_path / "ok" / baselines.MODEL_FILE).read_bytes()[:2] == b"PK"  # a zip of JSON, not a pickle
    reloaded = baselines.load(tmp_path / "ok")
    assert baselines.predict(BIAS, reloaded, TRAIN) == baselines.predict(BIAS, model, TRAIN)
    (tmp_path / "bad").mkdir()
    skops.io.dump({**model, "payload": Tampered()}, tmp_path / "bad" / baselines.MODEL_FILE)
    with pytest.raises(ValueError, match=r"bad/model.skops: refusing to load untrusted types \['tests.test_baselines"):
        baselines.load(tmp_path / "bad")


def test_dev_thresholds_maximize_each_labels_f1_and_fall_back_to_half():
    scores = [[0.1, 0.9, 0.3], [0.3, 0.8, 0.2], [0.2, 0.1, 0.1], [0.05, 0.7, 0.4]]
    targets = [[0, 1, 0], [1, 1, 0], [1, 0, 0], [0, 1, 0]]
    # first label: >= 0.2 catches both positives and nothing else; the third never positive on dev: 0.5
    assert baselines.dev_thresholds(scores, targets) == [0.2, 0.7, 0.5]


TOPICS = declared_task("topics", "multilabel", ["Food", "Pets", "Rare"], None, {}, None)
# "Rare" on one training post of eight: its one-vs-rest probability stays below 0.5
TOPICS_TRAIN = [
    {"id": str(i), "input": t, "label": g}
    for i, (t, g) in enumerate(
        zip(BIASED + NEUTRAL, ["Food", "Food", "Food, Rare", "Food", "Pets", "Pets", "Pets", "Pets"], strict=True)
    )
]


def test_tfidf_dev_thresholds_predict_a_rare_label_survive_reload_and_old_models_use_half(tmp_path):
    task, train = TOPICS, TOPICS_TRAIN
    dev = [{**train[2], "id": "d0"}, {**train[4], "id": "d1", "label": "Pets"}]
    fixed = baselines.train("tfidf_logreg", task, train, BaselinesParams(multilabel_thresholds="fixed"), 0, dev)
    assert fixed["thresholds"] == {"Food": 0.5, "Pets": 0.5, "Rare": 0.5}
    assert [p["pred"] for p in baselines.predict(task, fixed, dev)] == ["Food", "Pets"]

    tuned = baselines.train("tfidf_logreg", task, train, BaselinesParams(), 0, dev)
    predictions = baselines.predict(task, tuned, dev)
    assert predictions[0]["scores"]["Rare"] < 0.5 and [p["pred"] for p in predictions] == ["Food, Rare", "Pets"]
    baselines.save(tuned, tmp_path)
    assert baselines.predict(task, baselines.load(tmp_path), dev) == predictions

    old = {key: value for key, value in tuned.items() if key != "thresholds"}  # saved before thresholds existed
    assert [p["pred"] for p in baselines.predict(task, old, dev)] == ["Food", "Pets"]


def test_balanced_class_weight_balances_each_label_of_the_one_vs_rest():
    model = baselines.train("tfidf_logreg", TOPICS, TOPICS_TRAIN, BaselinesParams(class_weight="balanced"), 0)
    assert all(e.class_weight == "balanced" for e in model["pipeline"][-1].estimators_)


def test_dev_thresholds_fall_back_to_half_when_tuning_loses_set_f1():
    # one dev positive scored 0.1 among nineteen negatives at 0.2: catching it fires on every post
    targets = [[True]] + [[False]] * 19
    assert baselines.dev_thresholds([[0.1]] + [[0.2]] * 19, targets) == [0.5]
    # scored above every negative: the tuned threshold catches it alone and is kept
    assert baselines.dev_thresholds([[0.3]] + [[0.2]] * 19, targets) == [0.3]


def test_set_f1_scores_each_posts_label_set_and_empty_against_empty_as_one():
    predicted = [[True, False], [True, True], [False, False], [False, False]]
    targets = [[True, False], [True, False], [False, False], [True, False]]
    assert baselines.set_f1(predicted, targets) == pytest.approx((1 + 2 / 3 + 1 + 0) / 4)

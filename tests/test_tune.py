"""`annotune tune` on a tiny project in tmp_path: the search space's validation, trial 0 = the defaults, seeded
trials, two worker processes sharing one SQLite study, the expected-max curve against a Monte Carlo, the report, the
profile, and pruning through the trainers' callbacks."""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from ruamel.yaml import YAML

from annotune.config import PARAMS_FILE, Params, build, load_params
from annotune.errors import MissingInputError, ParamsError
from annotune.evaluation.metrics import expected_max
from annotune.workflows import tune, tune_space
from annotune.workflows.profiles import applied, load_profile
from tests.conftest import make_tiny_bert

BIASED = ["women", "immigrants", "lazy", "stupid", "typical", "criminals", "those", "people"]
NEUTRAL = ["beach", "friends", "dog", "park", "lovely", "day", "coffee", "music"]
TFIDF_SPACE = {
    "baselines.logreg_c": {"low": 0.01, "high": 100.0, "log": True},
    "baselines.class_weight": {"choices": [None, "balanced"]},
}


def posts(count: int, seed: int) -> list[dict]:
    """Posts whose words mostly, not always, follow their label: a C that fits the noise scores worse on dev."""
    rng, rows = random.Random(seed), []
    for i in range(count):
        biased = i % 2 == 0
        words = [rng.choice(BIASED if biased != (rng.random() < 0.3) else NEUTRAL) for _ in range(6)]
        label = "implied_bias" if biased else "no_implied_bias"
        rows.append({"id": f"{seed}-{i}", "instruction": "?", "input": " ".join(words), "output": "", "label": label})
    return rows


def params_raw(**tune_section) -> dict:
    section = {"trials": 4, "systems": ["tfidf_logreg"], "storage": "sqlite:///studies.db", "startup_trials": 2}
    section |= {"applied": {"trials": None, "metric": None, "studies": []}, "space": {"tfidf_logreg": TFIDF_SPACE}}
    return {
        "seed": 7,
        "dataset": "sbic",
        "tasks": ["hasBiasedImplication"],
        "models": {"llm": "unused", "encoder": "unused"},
        "baselines": {"logreg_c": 4.0, "class_weight": None},  # a profile sets keys params.yaml has
        "encoder": {"epochs": 2, "batch_size": 8, "patience": 2},
        "tune": section | tune_section,
    }


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder (params.yaml, one task's instruct splits) as the working directory."""
    for split, (count, seed) in {"train": (40, 1), "dev": (24, 2), "test": (24, 3)}.items():
        folder = tmp_path / "data" / "instruct" / "hasBiasedImplication"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in posts(count, seed)))
    (tmp_path / "params.yaml").write_text(json.dumps(params_raw()))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def trials_of(setup, system="tfidf_logreg"):
    study = optuna.load_study(study_name=tune.study_name(setup, system), storage=tune.storage(setup.tune.storage))
    return sorted(study.get_trials(), key=lambda t: t.number)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"tfidf_logreg": {"encoder.learning_rate": {"low": 1e-5, "high": 1e-3}}}, "reads baselines.* keys only"),
        ({"tfidf_logreg": {"baselines.logreg": {"low": 1.0, "high": 9.0}}}, "unknown key tune.space.tfidf_logreg."),
        ({"tfidf_logreg": {"baselines.tfidf_max_ngram": {"choices": [0, 2]}}}, "baselines.tfidf_max_ngram = 0"),
        ({"tfidf_logreg": {"baselines.logreg_c": {"low": 9.0, "high": 1.0}}}, "needs low < high"),
        ({"tfidf_logreg": {"baselines.logreg_c": {"lo": 1.0, "high": 9.0}}}, "baselines.logreg_c.lo"),
        ({"tfidf_logreg": {"baselines.logreg_c": {"low": 10.0, "high": 90.0}}}, "excludes baselines.logreg_c: 4.0"),
        ({"encoder": {"encoder.epochs": {"low": 1, "high": 9}}}, "encoder and soft_prompt both read it"),
        ({"majority": {"baselines.logreg_c": {"low": 1.0, "high": 9.0}}}, "tune.space.majority"),
        ({"tfidf_logreg": {}}, "tune.space.tfidf_logreg"),
        ({}, "tune.space has no entry for ['tfidf_logreg']"),
    ],
)
def test_a_wrong_space_is_one_line_naming_the_key(space, message):
    with pytest.raises(ParamsError, match="^params.yaml: ") as error:
        tune.setup(build(Params, params_raw(space=space)))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_tasks_must_be_classification_tasks_of_params():
    with pytest.raises(ParamsError, match="tune.tasks = \\['offensiveYN'\\]"):
        tune.setup(build(Params, params_raw(tasks=["offensiveYN"])))


def test_code_defaults_are_the_params_file_values_and_the_shipped_space_is_valid():
    params = load_params(Path(__file__).parents[1] / PARAMS_FILE)
    defaults, written = build(tune_space.TuneParams, {}, "tune."), params.tune
    assert {key: getattr(defaults, key) for key in written if key != "space"} == {
        key: value for key, value in written.items() if key != "space"
    }
    for system, raw in written["space"].items():
        assert tune_space.parse_space(params, system, raw)


def test_trial_0_runs_the_defaults_and_one_seed_gives_the_same_trials(project):
    setup = tune.setup(load_params())
    started = time.perf_counter()
    tune.work(setup, "tfidf_logreg")
    seconds_per_trial = (time.perf_counter() - started) / setup.tune.trials
    first = trials_of(setup)
    assert first[0].params == {"baselines.logreg_c": 4.0, "baselines.class_weight": None}
    assert first[0].user_attrs["default"] and [t.state.name for t in first] == ["COMPLETE"] * 4
    assert all(0 <= t.value <= 1 and 0 <= t.user_attrs["test"] <= 1 for t in first)
    again = tune.setup(load_params(), None, None, "sqlite:///again.db")
    tune.work(again, "tfidf_logreg")
    assert [t.params for t in trials_of(again)] == [t.params for t in first]
    assert [t.value for t in trials_of(again)] == [t.value for t in first]
    print(f"one tfidf_logreg trial: {seconds_per_trial:.3f} s")


def test_busy_time_counts_side_by_side_trials_once_and_gaps_not_at_all():
    from datetime import datetime, timedelta

    at = lambda minute: datetime(2026, 1, 1) + timedelta(minutes=minute)  # noqa: E731
    spans = [(at(0), at(6)), (at(10), at(20)), (at(12), at(18)), (at(15), at(25)), (at(40), at(41))]
    assert tune.busy_seconds(spans) == 60 * (6 + 15 + 1)
    assert tune.busy_seconds([]) == 0


@pytest.mark.slow  # two worker processes, each importing torch
def test_two_worker_processes_share_one_study(project):
    params = json.loads((project / "params.yaml").read_text())
    params["tune"]["trials"] = 6
    (project / "params.yaml").write_text(json.dumps(params))
    command = [str(Path(sys.executable).parent / "annotune"), "tune", "run", "--workers", "2"]  # the console script
    subprocess.run(command, check=True, timeout=120, env={**os.environ, "ANNOTUNE_THREADS": "2"})
    trials = trials_of(tune.setup(load_params()))
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert 6 <= len(done) <= 7 and len(done) == len(trials)  # two workers checking at one instant: one more
    assert len({t.number for t in done}) == len(done)
    assert len({json.dumps(t.params, sort_keys=True) for t in done}) == len(done)  # seeded apart: no repeat
    assert sum(bool(t.user_attrs.get("default")) for t in done) == 1


def test_report_and_profile(project):
    setup = tune.setup(load_params())
    tune.work(setup, "tfidf_logreg")
    text = tune.report(setup, project / "out")
    written = json.loads((project / "out" / "tune.json").read_text())["systems"]["tfidf_logreg"]
    assert [row["n"] for row in written["curve"]] == [1, 2, 3, 4] and written["complete"] == 4
    assert written["default"]["trial"] == 0 and written["tuned"][0] == pytest.approx(
        max(t.value for t in trials_of(setup))
    )
    assert "| 4 |" in text and (project / "out" / "expected_max.png").stat().st_size > 1000
    (project / "profiles").mkdir()
    path = tune.write_profile(setup, "tuned-sbic", project / "profiles")
    profile = load_profile("tuned-sbic", project / "profiles")
    assert profile.items() >= written["best"]["params"].items()
    assert profile["tune.applied.trials"] == 4 and profile["tune.applied.studies"] == [
        tune.study_name(setup, "tfidf_logreg")
    ]
    result = applied(YAML(typ="safe").load(Path("params.yaml").read_text()), profile, str(path))
    assert result["baselines"]["logreg_c"] == profile["baselines.logreg_c"]
    with pytest.raises(MissingInputError, match="4 of 5 trials finished; `annotune tune run`"):
        tune.write_profile(tune.setup(load_params(), None, 5), "more", project / "profiles")


def test_expected_max_matches_a_monte_carlo():
    dev = np.array([0.61, 0.55, 0.70, 0.70, 0.42, 0.66, 0.55])  # ties, on the best score too
    test = np.array([0.58, 0.50, 0.60, 0.72, 0.40, 0.69, 0.52])
    rng, draws = np.random.default_rng(0), 200_000
    for n in (1, 2, 3, 5, 10):
        picks = rng.integers(len(dev), size=(draws, n))
        # ties broken uniformly: a random jitter below the smallest gap between distinct scores
        chosen = np.take_along_axis(picks, np.argmax(dev[picks] + rng.random((draws, n)) * 1e-6, axis=1)[:, None], 1)
        best = dev[picks].max(axis=1)
        mean, sd = expected_max.expected_max(dev.tolist(), n)
        assert mean == pytest.approx(best.mean(), abs=4 * best.std() / np.sqrt(draws) + 1e-12)
        assert sd == pytest.approx(best.std(), abs=2e-3)
        selected = test[chosen[:, 0]]
        expected = expected_max.expected_selected(dev.tolist(), test.tolist(), n)
        assert expected == pytest.approx(selected.mean(), abs=4 * selected.std() / np.sqrt(draws) + 1e-12)


def test_expected_max_by_hand():
    assert expected_max.expected_max([0.1, 0.5, 0.9], 1) == pytest.approx((0.5, np.std([0.1, 0.5, 0.9])))
    assert expected_max.expected_max([0.1, 0.5, 0.9], 2)[0] == pytest.approx(0.1 / 9 + 0.5 * 3 / 9 + 0.9 * 5 / 9)
    assert expected_max.expected_selected([0.3, 0.3], [0.2, 0.6], 4) == pytest.approx(0.4)  # a tie: their mean
    rows = expected_max.curve([0.2, 0.4], [0.1, 0.3])
    assert [r["n"] for r in rows] == [1, 2] and rows[1]["dev"] == pytest.approx(0.2 / 4 + 0.4 * 3 / 4)


class FakeTrial:
    def __init__(self):
        self.reported = []

    def report(self, value, step):
        self.reported.append((step, value))

    def should_prune(self):
        return True


def test_the_callback_joins_every_trainer_of_a_trial_and_leaves_with_it(project):
    import transformers.trainer

    from annotune.systems.classifiers import train_classifier

    before = list(transformers.trainer.DEFAULT_CALLBACKS)
    base = make_tiny_bert(project / "bert", [r["input"] for r in posts(40, 1)])
    params, task = load_params(), load_params().task("hasBiasedImplication")
    trial, rows = FakeTrial(), posts(16, 1)
    with pytest.raises(optuna.TrialPruned), tune.reporting_dev_loss(trial, prune=True) as reporter:
        reporter.task_index = 2
        train_classifier("encoder", base, task, rows, rows[:8], params.encoder, 0, project / "model")
    assert [step for step, _ in trial.reported] == [2 * tune.STEPS_PER_TASK + 1] and trial.reported[0][1] < 0
    assert transformers.trainer.DEFAULT_CALLBACKS == before


def test_a_diverging_trial_is_pruned_after_its_first_epoch(project):
    make_tiny_bert(project / "models" / "base" / "encoder", [r["input"] for r in posts(40, 1)])
    space = {"encoder": {"encoder.learning_rate": {"low": 1e-5, "high": 1e4, "log": True}}}
    (project / "params.yaml").write_text(json.dumps(params_raw(systems=["encoder"], trials=3, space=space)))
    setup = tune.setup(load_params())
    study = tune.open_study(setup, "encoder")
    study.enqueue_trial({"encoder.learning_rate": 3e-4})
    study.enqueue_trial({"encoder.learning_rate": 1e4})  # the loss explodes after one epoch
    started = time.perf_counter()
    tune.work(setup, "encoder")
    trials = trials_of(setup, "encoder")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"] and trials[0].user_attrs["default"]
    assert list(trials[2].intermediate_values) == [1]  # stopped after its first epoch
    print(f"three tiny-BERT trials: {time.perf_counter() - started:.1f} s")

"""``annotune tune``: every system searched with the same number of trials, selected on the dev split only
(docs/tuning.md). Trials live in an Optuna storage, one study per system; only the chosen values become a profile.

    annotune tune run [--systems S ...] [--trials N] [--workers K]   # K local worker processes share each study
    annotune tune run --index I --storage postgresql://...            # one more worker, on another machine
    annotune tune report [--out metrics/tune]                         # expected-max curves, tuned vs default
    annotune tune profile [--name tuned-<dataset>]                    # the best values -> profiles/<name>.yaml
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from ruamel.yaml import YAML

from annotune.config import PARAMS_FILE, Params, build, load_params
from annotune.data import paths
from annotune.data.io import data_fingerprints, read_jsonl, write_json
from annotune.errors import MissingInputError, ParamsError
from annotune.evaluation.metrics import expected_max
from annotune.evaluation.metrics.formatting import plain_numbers
from annotune.runtime import cli
from annotune.runtime.threads import share_environment
from annotune.systems import spec
from annotune.workflows.profiles import PROFILES_DIR, applied
from annotune.workflows.tune_space import SECTIONS, Choices, Range, TuneParams, parse_space, section_with

COUNTED = ("COMPLETE", "PRUNED", "RUNNING")  # the budget: a failed trial is replaced, a waiting one not yet run
# task i's epoch e is reported as step i * STEPS_PER_TASK + e (more than any trial's epochs), so the pruner compares
# each trial's task i, epoch e with the other trials' task i, epoch e
STEPS_PER_TASK = 1000


@dataclasses.dataclass
class Setup:
    """What every trial reads: params, the validated search, the tasks' rows (train, dev, test) and the storage."""

    params: Params
    tune: TuneParams
    spaces: dict[str, dict[str, Range | Choices]]
    tasks: list
    rows: dict[str, tuple[list[dict], list[dict], list[dict]]]


def setup(params: Params, systems: list[str] | None = None, trials: int | None = None, url: str | None = None):
    """Validate the search and read the tasks' rows: every mistake is named here, before anything trains."""
    tune = build(TuneParams, params.tune, "tune.")
    spaces = {system: parse_space(params, system, raw) for system, raw in tune.space.items()}
    chosen = systems or tune.systems
    if [s for s in chosen if s not in spaces]:
        raise ParamsError(f"params.yaml: tune.space has no entry for {[s for s in chosen if s not in spaces]}")
    classifying = [n for n in params.tasks if params.task(n).is_classification]
    if not (tune.tasks or classifying) or set(tune.tasks or []) - set(classifying):
        raise ParamsError(f"params.yaml: tune.tasks = {tune.tasks}: give binary or multiclass tasks of {classifying}")
    tasks = [params.task(n) for n in tune.tasks or classifying]
    rows = {
        t.name: tuple(read_jsonl(paths.instruct_dir(t.name) / f"{s}.jsonl") for s in ("train", "dev", "test"))
        for t in tasks
    }
    for base, folder in sorted({(spec(s).base, spec(s).base_dir) for s in chosen if spec(s).base}):
        if not folder.is_dir():
            raise MissingInputError(f"{folder} not found; run `dvc repro base_model@{base}` first")
    tune = dataclasses.replace(tune, systems=chosen, trials=trials or tune.trials, storage=url or tune.storage)
    return Setup(params, tune, spaces, tasks, rows)


def study_name(setup: Setup, system: str) -> str:
    """<dataset>-<system>-<hash>: a changed space, section, base model, task, metric or data starts a new study."""
    identity = {
        "space": {key: dataclasses.asdict(dimension) for key, dimension in setup.spaces[system].items()},
        "section": dataclasses.asdict(getattr(setup.params, SECTIONS[system])),
        **{key: dataclasses.asdict(getattr(setup.params, key)) for key in ("models", "predict")},
        "seed": setup.params.seed,
        "metric": setup.tune.metric,
        "data": {name: data_fingerprints(train=t, dev=d, test=s) for name, (t, d, s) in setup.rows.items()},
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return f"{setup.params.dataset}-{system}-{digest[:8]}"


def storage(url: str):
    import optuna

    engine = {}
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = {"connect_args": {"timeout": 60}}  # workers wait for each other's writes rather than fail
    return optuna.storages.RDBStorage(url, engine_kwargs=engine)


def open_study(setup: Setup, system: str, worker_index: int = 0):
    """The system's study (created if new; params.yaml's values enqueued as its trial 0, again if that failed); the
    TPE sampler is seeded per worker, so two workers never propose the same first trials."""
    import optuna

    startup = setup.tune.startup_trials
    study = optuna.create_study(
        storage=storage(setup.tune.storage),
        study_name=study_name(setup, system),
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=setup.params.seed + worker_index, n_startup_trials=startup),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=startup),
        load_if_exists=True,
    )
    if not any(t.user_attrs.get("default") and t.state.name != "FAIL" for t in study.get_trials(deepcopy=False)):
        section = getattr(setup.params, SECTIONS[system])
        defaults = {key: getattr(section, key.partition(".")[2]) for key in setup.spaces[system]}
        study.enqueue_trial(defaults, user_attrs={"default": True})
    return study


def work(setup: Setup, system: str, worker_index: int = 0) -> None:
    """Run trials until the study holds ``trials`` (workers checking at the same instant can each add one more)."""
    import optuna

    study = open_study(setup, system, worker_index)
    counted = [optuna.trial.TrialState[state] for state in COUNTED]
    while len(study.get_trials(deepcopy=False, states=counted)) < setup.tune.trials:
        study.optimize(partial(objective, setup, system), n_trials=1)


def objective(setup: Setup, system: str, trial) -> float:
    """The mean dev score over the tasks; the mean test score is kept beside it, never selected on."""
    from annotune.evaluation.metrics.comparison import evaluate

    section = section_with(setup.params, {key: d.suggest(trial, key) for key, d in setup.spaces[system].items()})
    dev_scores, test_scores, reporting = {}, {}, contextlib.nullcontext()
    if spec(system).trains_in_epochs:  # the trainers evaluate on dev after each epoch; TF-IDF has no epochs
        prune = setup.tune.prune and not trial.user_attrs.get("default")  # the default always completes
        reporting = reporting_dev_loss(trial, prune)
    with reporting as reporter, tempfile.TemporaryDirectory(prefix="annotune-trial-") as folder:
        for index, task in enumerate(setup.tasks):
            if reporter is not None:
                reporter.task_index = index
            dev = setup.rows[task.name][1]
            predictions = train_and_predict(setup, system, task, section, Path(folder) / task.name)
            dev_scores[task.name] = evaluate(task, predictions[: len(dev)])[setup.tune.metric]
            test_scores[task.name] = evaluate(task, predictions[len(dev) :])[setup.tune.metric]
    trial.set_user_attr("by_task", {"dev": dev_scores, "test": test_scores})
    trial.set_user_attr("test", sum(test_scores.values()) / len(test_scores))
    return sum(dev_scores.values()) / len(dev_scores)


@contextlib.contextmanager
def reporting_dev_loss(trial, prune: bool):
    """Each trainer built inside reports its dev loss per epoch to ``trial``; with ``prune``, the pruner may stop it.
    classifiers.py and training.py build their trainers and take no callback from here (a tuning hook there would
    rerun their stages); every ``Trainer.__init__`` reads this module-level list, so the callback joins the trial's
    trainers and leaves with the trial."""
    import optuna
    import transformers.trainer
    from transformers import TrainerCallback

    class ReportDevLoss(TrainerCallback):
        task_index = 0

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            step = self.task_index * STEPS_PER_TASK + round(state.epoch)
            trial.report(-metrics["eval_loss"], step)  # the study maximizes: the pruner compares in its direction
            if prune and trial.should_prune():
                raise optuna.TrialPruned(f"dev loss {metrics['eval_loss']:.4g} at step {step}: worse than the median")

    reporter, saved = ReportDevLoss(), transformers.trainer.DEFAULT_CALLBACKS
    transformers.trainer.DEFAULT_CALLBACKS = [*saved, reporter]
    try:
        yield reporter
    finally:
        transformers.trainer.DEFAULT_CALLBACKS = saved


def train_and_predict(setup: Setup, system: str, task, section, folder: Path) -> list[dict]:
    """Train on the task's train split with the trial's section, as the system's stage does (its kind's ``train``,
    into ``folder``); its predictions for dev, then test, as predict makes them (``load_system``)."""
    from annotune.systems.kinds import kind_of
    from annotune.systems.predictors import load_system

    train, dev, test = setup.rows[task.name]
    chosen, predict, out = spec(system), setup.params.predict, folder / "model"
    if hasattr(section, "checkpoint_steps"):
        section = dataclasses.replace(section, checkpoint_steps=0)  # a trial is replaced, never resumed
    kind_of(system).train(
        chosen, task, train, dev, section, base_dir=chosen.base_dir, seed=setup.params.seed,
        dataset=setup.params.dataset, out=out, live=folder / "live",
    )  # fmt: skip
    sizes = {"batch_size": predict.batch_size, "max_new_tokens": predict.max_new_tokens}
    return load_system(task, system, out, **sizes).predict(dev + test)


def summary(setup: Setup, system: str) -> dict:
    """The study's first ``trials`` trials by number, failed ones left out (every system is judged on the same
    budget, whatever a worker's overshoot added): their counts, the default and the best trial, the curve."""
    import optuna

    name = study_name(setup, system)
    try:
        study = optuna.load_study(study_name=name, storage=storage(setup.tune.storage))
    except KeyError:
        raise MissingInputError(f"no study {name} in {setup.tune.storage}: run `annotune tune run`") from None
    trials = sorted((t for t in study.get_trials(deepcopy=False) if t.state.name in COUNTED), key=lambda t: t.number)
    trials = trials[: setup.tune.trials]
    done = [t for t in trials if t.state.name == "COMPLETE"]
    if not done:
        raise MissingInputError(f"{name}: no complete trial yet; run `annotune tune run`")
    best, default = max(done, key=lambda t: t.value), next((t for t in done if t.user_attrs.get("default")), None)
    finished = [t for t in trials if t.datetime_complete is not None]  # complete and pruned: the time spent
    seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in finished)
    # a pruned trial is one draw of the budget too: it counts as the worst complete trial (the pruner stopped it
    # for a dev loss worse than the median; what it would have reached is unknown, so it is never credited more)
    worst = min(done, key=lambda t: t.value)
    drawn = [t if t.state.name == "COMPLETE" else worst for t in trials if t.state.name != "RUNNING"]
    return {
        "study": name,
        **{state.lower(): sum(t.state.name == state for t in trials) for state in COUNTED},
        "seconds_per_trial": seconds / len(finished),
        "trials_per_hour": 3600
        * len(finished)
        / busy_seconds([(t.datetime_start, t.datetime_complete) for t in finished]),
        "default": default and {"trial": default.number, "dev": default.value, "test": default.user_attrs["test"]},
        "best": {"trial": best.number, "params": best.params},
        "tuned": [best.value, best.user_attrs["test"]],  # dev, test
        "curve": expected_max.curve([t.value for t in drawn], [t.user_attrs["test"] for t in drawn]),
    }


def busy_seconds(spans: list[tuple]) -> float:
    """Seconds during which at least one of the (start, end) spans ran: workers side by side count once, and a gap
    between runs of the study (a stopped worker, a later `tune run`) not at all."""
    busy, reached = 0.0, None
    for start, end in sorted(spans):
        if reached is None or start > reached:
            busy, reached = busy + (end - start).total_seconds(), end
        elif end > reached:
            busy, reached = busy + (end - reached).total_seconds(), end
    return busy


def report(setup: Setup, out: Path) -> str:
    """tune.json, tune.md and expected_max.png under ``out``; returns tune.md's text."""
    metric, results = setup.tune.metric, {system: summary(setup, system) for system in setup.tune.systems}
    write_json(out / "tune.json", plain_numbers({"metric": metric, "budget": setup.tune.trials, "systems": results}))
    lines = [
        f"# Tuning: each system's first {setup.tune.trials} trials, selected on dev {metric}\n",
        f"Mean over {', '.join(t.name for t in setup.tasks)}. Default: the study's first trial, params.yaml's "
        "values, on the same dev and test rows as the other trials. Tuned: the best trial by dev. Seconds / trial: "
        "the mean wall time of one trial (the first runs alone, the others side by side when there are several "
        "workers); trials / hour: finished trials over the hours when at least one of them ran, workers together.\n",
        "| system | complete / pruned | default dev | default test | tuned dev | tuned test | seconds / trial | "
        "trials / hour |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for system, r in results.items():
        default = r["default"] or dict.fromkeys(("dev", "test"), float("nan"))  # nan: trial 0 failed
        scores = " | ".join(f"{score:.3f}" for score in (default["dev"], default["test"], *r["tuned"]))
        timing = f"{r['seconds_per_trial']:.1f} | {r['trials_per_hour']:.1f}"
        lines.append(f"| {system} | {r['complete']} / {r['pruned']} | {scores} | {timing} |")
    lines.append("\n## Expected best dev score of n trials (Dodge et al. 2019), and the selected trial's test")
    for system, r in results.items():
        lines += [f"\n### {system}\n", *expected_max.markdown(r["curve"])]
    (out / "tune.md").write_text("\n".join(lines) + "\n")
    curves = {system: r["curve"] for system, r in results.items()}
    expected_max.plot(curves, f"expected best dev {metric} (± sd)", out / "expected_max.png")
    return "\n".join(lines)


def write_profile(setup: Setup, name: str, folder: Path = PROFILES_DIR) -> Path:
    """profiles/<name>.yaml: each system's best values among its first ``trials`` trials, and ``tune.applied``."""
    values, budget, metric = {}, setup.tune.trials, setup.tune.metric
    for system in setup.tune.systems:
        result = summary(setup, system)
        finished = result["complete"] + result["pruned"]
        if finished < budget:
            raise MissingInputError(f"{result['study']}: {finished} of {budget} trials finished; `annotune tune run`")
        values |= result["best"]["params"]
    studies = [study_name(setup, system) for system in setup.tune.systems]
    values |= {"tune.applied.trials": budget, "tune.applied.metric": metric, "tune.applied.studies": studies}
    path = folder / f"{name}.yaml"
    applied(YAML(typ="safe").load(PARAMS_FILE.read_text()), values, str(path))  # validated before it is written
    header = (
        f"# Written by `annotune tune profile`: each system's values from the best (on dev {metric}) of its first\n"
        f"# {budget} trials (docs/tuning.md). Run it: annotune profiles run {name}\n"
    )
    path.write_text(header + "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items()))
    return path


def launch(setup: Setup, workers: int, worker_index: int) -> int:
    """Search each system: in this process, or in ``workers`` processes side by side with a share of the cores."""
    for system in setup.tune.systems:
        study = open_study(setup, system, worker_index)  # created and trial 0 enqueued once, before workers start
        # trial 0 runs here first: SQLite cannot lock a row, so two workers could both pop the one waiting trial
        if workers > 1 and any(t.state.name == "WAITING" for t in study.get_trials(deepcopy=False)):
            study.optimize(partial(objective, setup, system), n_trials=1)
    if workers == 1:
        for system in setup.tune.systems:
            work(setup, system, worker_index)
        return 0
    command = [sys.executable, "-m", "annotune.workflows.tune", "run", "--systems", *setup.tune.systems]
    command += ["--trials", str(setup.tune.trials), "--storage", setup.tune.storage]
    environment = share_environment(workers)
    processes = [subprocess.Popen([*command, "--index", str(i)], env=environment) for i in range(workers)]
    return max([process.wait() for process in processes])  # a failed worker has printed why; a rerun resumes


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "report", "profile"])
    parser.add_argument("--systems", nargs="+", choices=list(SECTIONS), help="default: tune.systems")
    parser.add_argument("--trials", type=int, help="per system (default: tune.trials)")
    parser.add_argument("--storage", help="an Optuna RDB URL (default: tune.storage)")
    parser.add_argument("--workers", type=int, default=1, help="run: local worker processes, sharing the cores")
    parser.add_argument("--index", type=int, default=0, help="run: this worker's number, which seeds its sampler")
    parser.add_argument("--out", type=Path, default=Path("metrics/tune"), help="report: its folder")
    parser.add_argument("--name", help="profile: default tuned-<dataset>")
    args = parser.parse_args(argv)
    if min(args.trials or 1, args.workers) < 1:
        raise ParamsError("--trials and --workers: at least 1")
    search = setup(params := load_params(), args.systems, args.trials, args.storage)
    if args.command == "run":
        return launch(search, args.workers, args.index)
    if args.command == "report":
        args.out.mkdir(parents=True, exist_ok=True)
        print(report(search, args.out))
    else:
        print(write_profile(search, args.name or f"tuned-{params.dataset}"))
    return 0


if __name__ == "__main__":
    cli.run(main)

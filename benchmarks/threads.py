"""Cores shared, not fought over (``--only threads``): QLoRA training steps, one process alone and two side by
side, with every process taking all the cores (what torch does by default) and with annotune's share.

Each worker is ``python -m benchmarks.threads worker``: it applies annotune's thread choice
(``annotune.runtime.threads.use_cpu_threads``: ``ANNOTUNE_THREADS``, else cores / ``LOCAL_WORLD_SIZE``), builds the NF4
base + LoRA as the training stage does, runs a warm-up step, then times ``--steps`` packed training steps on
the task's instruct data and prints one JSON line. Scenarios:

- ``alone``: one process, all the cores;
- ``side by side, all cores each``: two processes, ``ANNOTUNE_THREADS`` = every core each (the default of a
  process that knows nothing of the other: how two queued experiments used to run);
- ``side by side, shared``: two processes launched as annotune's launchers launch them
  (``LOCAL_WORLD_SIZE=2``), so each takes half the cores.

Read it on a quiet machine: another job running at the same time is a third process fighting for the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from benchmarks.common import ROOT, summary

WORKER = [sys.executable, "-m", "benchmarks.threads", "worker"]


def worker(base: Path, task_dir: Path, steps: int, batch_size: int) -> dict:
    from annotune.runtime.threads import cpu_threads, use_cpu_threads

    use_cpu_threads()
    import torch

    from annotune.config import QloraParams
    from annotune.data.io import read_jsonl
    from annotune.systems.models import load_tokenizer
    from annotune.systems.packing import PackCollator, build_examples
    from benchmarks.training import Trainee

    examples = build_examples(load_tokenizer(base), read_jsonl(task_dir / "train.jsonl"), 128)[0].to_list()
    random.Random(0).shuffle(examples)
    batches = [examples[i * batch_size : (i + 1) * batch_size] for i in range(steps + 1)]
    trainee = Trainee(base, QloraParams(), "nf4")
    trainee.steps(batches[:1], PackCollator())  # warm-up: first-call allocations and kernel choices
    seconds = trainee.steps(batches[1:], PackCollator())
    return {"threads": torch.get_num_threads(), "why": cpu_threads()[1], "seconds_per_step": seconds / steps}


def _launch(count: int, env: dict, args: list[str]) -> list[dict]:
    processes = [
        subprocess.Popen(
            [*WORKER, *args], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]
    results = []
    for process in processes:
        out, _ = process.communicate()
        if process.returncode:
            raise SystemExit(f"benchmarks.threads: worker exit {process.returncode}; run it alone to see why")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def bench_threads(base: Path, task_dir: Path, steps: int, batch_size: int, repeats: int) -> dict:
    cores = len(os.sched_getaffinity(0))
    args = ["--base", str(base), "--data", str(task_dir), "--steps", str(steps), "--batch-size", str(batch_size)]
    scenarios = {
        "alone": (1, {"ANNOTUNE_THREADS": str(cores)}),
        "side by side, all cores each": (2, {"ANNOTUNE_THREADS": str(cores)}),
        "side by side, shared": (2, {"ANNOTUNE_THREADS": "", "LOCAL_WORLD_SIZE": "2"}),
    }
    runs: dict[str, list[dict]] = {name: [] for name in scenarios}
    for _ in range(repeats):
        for name, (count, env) in scenarios.items():
            runs[name].extend(_launch(count, env, args))
    alone = summary([r["seconds_per_step"] for r in runs["alone"]])["median"]
    out = {"cores": cores, "steps": steps, "batch_size": batch_size, "scenarios": {}}
    for name, results in runs.items():
        per_step = summary([r["seconds_per_step"] for r in results])
        out["scenarios"][name] = {
            "processes": scenarios[name][0],
            "threads_per_process": results[0]["threads"],
            "thread_choice": results[0]["why"],
            "seconds_per_step": per_step,
            "slowdown_vs_alone": per_step["median"] / alone,
            # two processes finish two runs' steps: throughput relative to running them one after the other
            "throughput_vs_one_at_a_time": scenarios[name][0] * alone / per_step["median"],
        }
    return out


def table_lines(result: dict, add, fmt) -> None:
    for name, scenario in result["scenarios"].items():
        add(
            f"QLoRA step, {name} ({scenario['threads_per_process']} thread(s) each), s/step",
            f"{fmt(scenario['seconds_per_step'])} ({scenario['slowdown_vs_alone']:.2f}x alone, "
            f"throughput {scenario['throughput_vs_one_at_a_time']:.2f}x one at a time)",
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["worker"])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    print(json.dumps(worker(args.base, args.data, args.steps, args.batch_size)), flush=True)


if __name__ == "__main__":
    main()

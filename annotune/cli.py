"""The ``annotune`` command (user tools) and what every stage script does around its main().

    annotune systems                         # every system: kind, the stage that trains it, its model folder
    annotune annotate <task> <system> ...    # label a file with a trained system (resumable, hand-off)
    annotune estimate <task> ...             # prevalences from model labels + a random human-labelled sample
    annotune export <task> --out DIR         # a task's adapter merged into a plain model folder
    annotune profiles run|apply|show NAME    # named parameter sets (the GPU study, the CPU default)
    annotune scaling run|report ...          # score vs model size, one DVC experiment per model
    annotune budget run|report ...           # how many labels each system needs, one experiment per size
    annotune plots ...                       # dvc plots rendered offline

Each subcommand imports its module only when it runs, so ``annotune --help`` is instant.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable

from annotune.errors import AnnotuneError, ParamsError

# subcommand -> (module holding its main(argv), one-line help)
COMMANDS = {
    "systems": ("annotune.systems", "list every system: kind, params group, training stage, model folder"),
    "annotate": ("annotune.annotate", "label a CSV / TSV / JSONL with a trained system"),
    "estimate": ("annotune.estimate", "prevalences with valid intervals from model labels + a few human labels"),
    "export": ("annotune.export", "merge a task's LoRA adapter into a plain model folder"),
    "profiles": ("annotune.profiles", "run, apply or show a named parameter set (profiles/<name>.yaml)"),
    "scaling": ("annotune.scaling", "score vs model size: run one experiment per model, then report"),
    "budget": ("annotune.budget", "label budget curve: one experiment per training-set size, then report"),
    "plots": ("annotune.offline_plots", "render dvc plots as an HTML page that works offline"),
}


def cpu_threads(environ=os.environ) -> tuple[int, str]:
    """The CPU threads this process should use, and why: ``ANNOTUNE_THREADS`` where set, else the cores this
    process may run on divided by the processes of its launch (``LOCAL_WORLD_SIZE`` under ``accelerate launch``
    or ``torchrun``). Two processes that each start one thread per core run several times slower each, not
    twice (measured: 7x on 2 cores), so side-by-side runs must split the cores."""
    if environ.get("ANNOTUNE_THREADS"):
        value = environ["ANNOTUNE_THREADS"]
        if not value.isdigit() or int(value) < 1:
            raise ParamsError(f"ANNOTUNE_THREADS={value!r}: must be a whole number of threads, at least 1")
        return int(value), "ANNOTUNE_THREADS"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    processes = int(environ.get("LOCAL_WORLD_SIZE") or 1)
    return max(1, cores // processes), f"{cores} cores / {processes} process(es)"


def use_cpu_threads() -> None:
    """Apply ``cpu_threads`` to torch (already imported by the stage, or on its first import) and BLAS."""
    threads, why = cpu_threads()
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, str(threads))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    logging.getLogger("annotune").info("CPU threads: %d (%s)", threads, why)


def run(main: Callable[[list[str]], object]) -> None:
    """Run ``main`` with the command line; annotune's own errors (what a user can fix) become one line and
    exit status 2. Any other exception is a bug and keeps its traceback."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        use_cpu_threads()
        status = main(sys.argv[1:])
    except AnnotuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if isinstance(status, int) and status:
        sys.exit(status)


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    header = "usage: annotune <command> [options]   (annotune <command> --help for its options)"
    return header + "\n\ncommands:\n" + "\n".join(lines)


def main() -> None:
    """Entry point of the ``annotune`` console script."""
    argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    if argv[0] not in COMMANDS:
        print(f"annotune: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(COMMANDS[argv[0]][0])
    sys.argv = [f"annotune {argv[0]}", *argv[1:]]
    run(module.main)

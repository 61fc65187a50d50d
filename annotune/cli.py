"""What every stage script and every ``annotune`` command does around its main(): one-line errors for what a
user can fix, and each process's share of the CPU cores. The ``annotune`` command's list of subcommands lives in
annotune/commands.py, so adding a command does not touch the code every stage depends on."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from annotune.errors import AnnotuneError, ParamsError


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

"""A process's CPU threads: how many it should use (``cpu_threads``), applied to torch and the BLAS / OpenMP
libraries (``use_cpu_threads``), handed to worker processes (``share_environment``), and the fixed count that
training runs under so that its weights do not depend on the machine (``fixed_threads``)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

from annotune.errors import ParamsError
from annotune.runtime.processes import local_world_size

VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Torch splits CPU float sums (matrix products, attention) by thread count, so another count rounds
# differently; the soft prompt's 1e-2 learning rate grew that rounding into other weights and flipped
# predictions (MiniLM, 1 vs 2 threads: 2 of 300 test rows). Classifier and seq2seq training run on this many.
TRAIN_THREADS = 1


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
    processes = local_world_size(environ)
    return max(1, cores // processes), f"{cores} cores / {processes} process(es)"


def use_cpu_threads(threads: int | None = None) -> None:
    """Apply ``threads`` (a command's own option), else ``cpu_threads``, to torch (already imported, or on its
    first import) and BLAS. An explicit count also overrides the inherited variables."""
    why = "the command's option"
    if threads is None:
        threads, why = cpu_threads()
        for variable in VARIABLES:
            os.environ.setdefault(variable, str(threads))
    else:
        os.environ.update(dict.fromkeys(VARIABLES, str(threads)))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    logging.getLogger("annotune").info("CPU threads: %d (%s)", threads, why)


def share_environment(workers: int, environ=os.environ) -> dict[str, str]:
    """The environment of one of ``workers`` processes side by side: its share of this process's cores, for
    annotune and for OpenMP / BLAS. This process may have set those variables to every core, and a worker would
    inherit them; torch, imported after ``use_cpu_threads`` ran, reads them. Measured (``annotune tune``): two
    QLoRA workers at 2 threads each on 2 cores took 20-35 s a step, against 1.4 s for one process alone."""
    share = str(max(1, cpu_threads(environ)[0] // workers))
    return {**environ, **dict.fromkeys(("ANNOTUNE_THREADS", *VARIABLES), share)}


@contextlib.contextmanager
def fixed_threads(threads: int = TRAIN_THREADS):
    """Torch's CPU thread count set to ``threads`` inside, restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)

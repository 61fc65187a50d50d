"""Several processes labelling one file (``torchrun`` / ``accelerate launch``: ``RANK`` and ``WORLD_SIZE`` in the
environment): this process's rank and the process count (:func:`processes`, with a gloo process group for the
end-of-shards barrier), how many rows each labels (:func:`share_size`: chunk ``k`` of ``chunk_size`` records goes
to process ``k % n``), and process 0 going on alone once the others are done (:func:`continue_alone`). Used by
annotate (annotune/workflows/annotate.py) and distill (stages/distill.py). Also the one reading of the launcher's
variables for training and model loading: :func:`world_size`, :func:`is_main_process`, :func:`local_rank`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import timedelta

from annotune.errors import DataError


def world_size(environ=os.environ) -> int:
    """The processes of this launch (1 without a launcher)."""
    return int(environ.get("WORLD_SIZE") or 1)


def local_world_size(environ=os.environ) -> int:
    """The processes of this launch on this machine, which share its cores."""
    return int(environ.get("LOCAL_WORLD_SIZE") or 1)


def local_rank(environ=os.environ) -> int:
    """This process's number on its machine: the GPU it owns under a launcher."""
    return int(environ.get("LOCAL_RANK") or 0)


def is_main_process(environ=os.environ) -> bool:
    """Process 0 of the launch (the one that writes a shared folder's files), or the only process."""
    return int(environ.get("RANK") or 0) == 0


@contextlib.contextmanager
def processes(environ=os.environ) -> Iterator[tuple[int, int]]:
    """This process's rank and the process count, from ``RANK`` / ``WORLD_SIZE`` (set by ``torchrun`` and
    ``accelerate launch``); with several, a gloo process group for the end-of-shards barrier (only small
    Python objects are exchanged, so gloo serves CPU and GPU runs alike). Without them: ``(0, 1)``."""
    world = world_size(environ)
    if world <= 1:
        yield 0, 1
        return
    if not environ.get("RANK"):
        raise DataError(f"WORLD_SIZE={world} but no RANK in the environment: launch with torchrun or accelerate")
    rank = int(environ["RANK"])
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        # the processes meet only once every shard is done: allow a long wait for the slowest one
        dist.init_process_group("gloo", timeout=timedelta(days=7))
    try:
        yield rank, world
    finally:
        if created:
            dist.destroy_process_group()


LAUNCHER_VARIABLES = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def continue_alone() -> None:
    """For process 0 once the others have ended (after :func:`processes`): forget the launcher's
    environment, so that what follows (a Trainer, accelerate) runs as one process instead of waiting for
    the others. Then ``threads.use_cpu_threads`` gives it every core again."""
    for variable in LAUNCHER_VARIABLES:
        os.environ.pop(variable, None)


def share_size(total: int, chunk_size: int, rank: int, world: int) -> int:
    """Rows of process ``rank``: chunk ``k`` (``chunk_size`` records, the last one shorter) goes to ``k % world``."""
    chunks, last = divmod(total, chunk_size)
    return chunk_size * len(range(rank, chunks, world)) + (last if chunks % world == rank else 0)

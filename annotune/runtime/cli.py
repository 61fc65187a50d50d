"""What every stage script and every ``annotune`` command does around its main(): one-line errors for what a
user can fix, and each process's share of the CPU cores (annotune/runtime/threads.py). The ``annotune``
command's list of subcommands lives in annotune/commands.py, so adding a command does not touch the code every
stage depends on."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from annotune.errors import AnnotuneError
from annotune.runtime.threads import use_cpu_threads


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

"""What every stage does around its main(): logging, and bad input reported as one clear line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from annotune.config import ParamsError
from annotune.datasets.sbic import SbicDataError
from annotune.fetch import FetchError
from annotune.models import ModelResolutionError
from annotune.preflight import PreflightError

USER_ERRORS = (
    ParamsError,
    FetchError,
    ModelResolutionError,
    PreflightError,
    SbicDataError,
    FileNotFoundError,
    KeyError,
    ValueError,
)


def run(main: Callable[[list[str]], None]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        main(sys.argv[1:])
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)

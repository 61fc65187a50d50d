"""Plain JSON numbers for the metrics files."""

from __future__ import annotations

import numpy as np


def plain_numbers(value):
    """Plain JSON numbers, rounded so metrics files diff cleanly; undefined values (NaN) become null."""
    if isinstance(value, dict):
        return {k: plain_numbers(v) for k, v in value.items()}
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    return value

"""Plain JSON numbers for the metrics files, and a number as the report writes it."""

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


def number(value, percent: bool) -> str:
    """A metric as the report writes it: a percentage with one decimal, or a fraction with three; – for none."""
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if percent else f"{value:.3f}"

"""Bootstrap uncertainty: seeded resample indices, percentile intervals, paired p-values."""

from __future__ import annotations

import numpy as np


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """[resamples, n] row indices drawn with replacement; the same seed gives the same draws, so two
    systems scored on the same test rows are compared on the same resamples (a paired bootstrap)."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap_interval(statistic, indices: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``statistic(rows)`` over the resamples; resamples where it is undefined
    (e.g. a single class for ROC-AUC) are skipped."""
    return percentile_interval([statistic(rows) for rows in indices], level)


def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of resampled values, the undefined ones (None, NaN) skipped."""
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(low), float(high)


def paired_bootstrap_p(statistic_a, statistic_b, indices: np.ndarray) -> float:
    """Two-sided p-value that systems a and b have the same score, from paired resamples: twice the
    share of resamples where the observed sign of the difference flips, counted as (flips + 1) /
    (resamples + 1) so that it is never reported as exactly 0 (capped at 1)."""
    full = np.arange(indices.shape[1])
    observed = statistic_a(full) - statistic_b(full)
    return sign_flip_p(observed, np.array([statistic_a(rows) - statistic_b(rows) for rows in indices]))


def sign_flip_p(observed: float, deltas: np.ndarray) -> float:
    """The p-value of ``paired_bootstrap_p`` from the observed difference and its resampled values (resamples
    where the difference is undefined, NaN, are skipped)."""
    deltas = deltas[~np.isnan(deltas)]
    if observed == 0 or not len(deltas):
        return 1.0
    flips = np.sum(deltas <= 0) if observed > 0 else np.sum(deltas >= 0)
    return float(min(1.0, 2 * (flips + 1) / (len(deltas) + 1)))


def intervals(statistics: dict, indices: np.ndarray, level: float) -> dict:
    out = {}
    for name, statistic in statistics.items():
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = bootstrap_interval(statistic, indices, level)
    return out

"""Bootstrap resamples, intervals and paired p-values against known values."""

import numpy as np
import pytest

from annotune.evaluation.metrics.bootstrap import bootstrap_indices, bootstrap_interval, paired_bootstrap_p


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    correct = np.array([1] * 70 + [0] * 30)
    indices = bootstrap_indices(len(correct), 500, seed=1)
    assert np.array_equal(indices, bootstrap_indices(len(correct), 500, seed=1))
    low, high = bootstrap_interval(lambda rows: correct[rows].mean(), indices)
    assert low < 0.7 < high and high - low == pytest.approx(2 * 1.96 * np.sqrt(0.21 / 100), abs=0.03)


def test_paired_bootstrap_separates_a_clear_winner():
    rng = np.random.default_rng(0)
    a = (rng.random(200) < 0.8).astype(float)
    b = (rng.random(200) < 0.5).astype(float)
    indices = bootstrap_indices(200, 1000, seed=2)
    assert paired_bootstrap_p(lambda r: a[r].mean(), lambda r: b[r].mean(), indices) < 0.01
    assert paired_bootstrap_p(lambda r: a[r].mean(), lambda r: a[r].mean(), indices) == 1.0

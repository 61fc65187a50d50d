"""Plain JSON numbers for the metrics files."""

import numpy as np

from annotune.evaluation.metrics.formatting import plain_numbers


def test_plain_numbers_round_nest_and_turn_nan_into_null():
    value = {"a": np.float64(0.123456789), "b": {"c": np.int64(3), "d": float("nan")}, "e": "text", "f": 2}
    result = plain_numbers(value)
    assert result == {"a": 0.123457, "b": {"c": 3, "d": None}, "e": "text", "f": 2}
    assert type(result["a"]) is float and type(result["b"]["c"]) is int

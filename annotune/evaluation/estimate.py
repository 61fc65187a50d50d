"""Estimates from model labels plus a few human labels: each label's prevalence with a valid interval.

A system labels every item of a pool; people label a random sample (the gold). Prediction-powered inference
(PPI++, Angelopoulos, Duchi & Zrnic 2023, arXiv 2311.01453) combines the two: the model's labels on the pool,
corrected by the model's error measured on the gold, give an interval that stays valid however wrong the model
is, and is as narrow as many more human labels alone when the model agrees with people. The intervals come from
``ppi_py`` (ppi-python, the authors' reference implementation); this module only arranges the data, adds the
humans-only interval beside it, the effective number of human labels, the cost, the planner and the guards, and
``coverage_simulation`` checks the nominal coverage on data with known truth.

This module holds the estimators only; the ``annotune estimate`` command (reading an annotate output and a gold
file) is annotune/workflows/estimate_cli.py, the estimates' report section annotune/evaluation/estimate_markdown.py.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from annotune.errors import DataError

SHIFT_P_VALUE = 0.01  # below it, the model's labels on the pool and on the gold differ beyond chance: warned


def normal_quantile(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def inclusion_weights(probabilities: np.ndarray) -> np.ndarray:
    """Inverse inclusion probabilities, scaled to mean 1 (ppi_py's convention for ``w``)."""
    probabilities = np.asarray(probabilities, dtype=float)
    if np.any(probabilities <= 0) or np.any(probabilities > 1):
        raise DataError("inclusion probabilities must lie in (0, 1]")
    weights = 1 / probabilities
    return weights / weights.mean()


def _interval(bounds) -> tuple[float, float]:
    low, high = bounds
    return float(np.ravel(low)[0]), float(np.ravel(high)[0])


def prevalence(y: np.ndarray, yhat: np.ndarray, yhat_pool: np.ndarray, level: float, w=None) -> dict:
    """The share of items with a label: humans only (the gold sample) and PPI++ (the gold sample plus the
    model's scores on the pool). ``y``: 0/1 human labels; ``yhat`` / ``yhat_pool``: the model's probability of
    the label on the gold items and on the pool; ``w``: the gold items' inclusion weights (None: uniform)."""
    from ppi_py import classical_mean_ci, ppi_mean_ci, ppi_mean_pointestimate

    y, yhat, yhat_pool = (np.asarray(a, dtype=float) for a in (y, yhat, yhat_pool))
    alpha = 1 - level
    weights = np.ones(len(y)) if w is None else np.asarray(w, dtype=float) / np.mean(w)
    classical = _interval(classical_mean_ci(y, w=weights, alpha=alpha))
    ppi = _interval(ppi_mean_ci(y, yhat, yhat_pool, alpha=alpha, w=weights))
    classical_width, ppi_width = classical[1] - classical[0], ppi[1] - ppi[0]
    # as precise as n * (classical width / PPI width)^2 human labels alone: the width shrinks as 1 / sqrt(n)
    effective = len(y) * (classical_width / ppi_width) ** 2 if ppi_width > 0 else math.inf
    return {
        "humans_only": {"estimate": float(np.average(y, weights=weights)), "low": classical[0], "high": classical[1]},
        "ppi": {
            "estimate": float(np.ravel(ppi_mean_pointestimate(y, yhat, yhat_pool, w=weights))[0]),
            "low": ppi[0],
            "high": ppi[1],
        },
        "gold_items": len(y),
        "pool_items": len(yhat_pool),
        "effective_human_labels": float(effective),
        "correlation": _correlation(y, yhat, weights),
    }


def _correlation(y: np.ndarray, yhat: np.ndarray, weights: np.ndarray) -> float | None:
    if np.ptp(y) == 0 or np.ptp(yhat) == 0:
        return None
    covariance = np.cov(np.vstack([y, yhat]), aweights=weights)
    return float(covariance[0, 1] / math.sqrt(covariance[0, 0] * covariance[1, 1]))


def plan(y: np.ndarray, yhat: np.ndarray, half_width: float, level: float, label_price: float, w=None) -> dict:
    """Human labels needed for an interval of +/- ``half_width``: alone (the normal interval's n), and with the
    model's labels on an unlimited pool (``ppi_py.ppi_mean_power`` with a free prediction: the smallest n whose
    PPI++ interval is as narrow)."""
    from ppi_py import ppi_mean_power

    y, yhat = np.asarray(y, dtype=float), np.asarray(yhat, dtype=float)
    weights = np.ones(len(y)) if w is None else np.asarray(w, dtype=float) / np.mean(w)
    mean = np.average(y, weights=weights)
    sigma = math.sqrt(np.average((y - mean) ** 2, weights=weights))
    alone = max(1, math.ceil((normal_quantile(level) * sigma / half_width) ** 2))
    result = {"half_width": half_width, "humans_only": {"labels": alone, "cost": alone * label_price}}
    if sigma == 0 or np.ptp(yhat) == 0:
        return result | {"with_model": None}
    # ppi_mean_power needs a positive prediction cost: a millionth of a label stands for "free"
    power = ppi_mean_power(
        y, yhat, cost_Y=label_price or 1.0, cost_Yhat=(label_price or 1.0) * 1e-6, effective_n=alone, w=weights
    )
    labels = int(power["n"])
    return result | {
        "with_model": {"labels": labels, "cost": labels * label_price, "ppi_correlation": float(power["ppi_corr"])}
    }


def shift_check(pred_gold: list[str], pred_pool: list[str]) -> dict:
    """Whether the model's labels are distributed alike on the gold sample and on the pool (chi-square test of
    homogeneity): if not, the pool may not be the population the gold was drawn from, and the estimate is of
    questionable use for it."""
    labels = sorted(set(pred_gold) | set(pred_pool))
    table = np.array([[pred_gold.count(label) for label in labels], [pred_pool.count(label) for label in labels]])
    if len(labels) < 2 or not len(pred_pool):
        return {"p_value": None, "shifted": False}
    p_value = float(stats.chi2_contingency(table)[1])
    return {"p_value": p_value, "shifted": p_value < SHIFT_P_VALUE}


def difference(
    y: np.ndarray,
    yhat: np.ndarray,
    in_b: np.ndarray,
    yhat_pool: np.ndarray,
    in_b_pool: np.ndarray,
    level: float,
    w=None,
) -> dict:
    """Prevalence in subgroup b minus subgroup a (rows of a or b only): the slope of a regression on the
    indicator of b, by PPI++ (``ppi_ols_ci``) and by humans only (``classical_ols_ci``)."""
    from ppi_py import classical_ols_ci, ppi_ols_ci, ppi_ols_pointestimate

    design = np.column_stack([np.ones(len(y)), np.asarray(in_b, dtype=float)])
    design_pool = np.column_stack([np.ones(len(yhat_pool)), np.asarray(in_b_pool, dtype=float)])
    y, yhat, yhat_pool = (np.asarray(a, dtype=float) for a in (y, yhat, yhat_pool))
    alpha = 1 - level
    low, high = ppi_ols_ci(design, y, yhat, design_pool, yhat_pool, alpha=alpha, w=w)
    classical_low, classical_high = classical_ols_ci(design, y, w=w, alpha=alpha)
    point = ppi_ols_pointestimate(design, y, yhat, design_pool, yhat_pool, w=w)
    return {
        "ppi": {"estimate": float(point[1]), "low": float(low[1]), "high": float(high[1])},
        "humans_only": {"low": float(classical_low[1]), "high": float(classical_high[1])},
    }


def estimate_task(
    labels: list[str],
    gold: list[str],
    gold_scores: list[dict],
    pool_scores: list[dict],
    *,
    level: float,
    half_width: float,
    label_price: float,
    inclusion: np.ndarray | None = None,
    pool_truth: list[str] | None = None,
    groups: tuple[list[str], list[str]] | None = None,
) -> dict:
    """Per label: the humans-only and PPI++ prevalences, the effective human labels and what they cost, the
    planner, and where known the true share on gold + pool. ``groups``: each gold and pool item's subgroup
    (an attribute's value) for per-subgroup estimates and their differences."""
    weights = None if inclusion is None else inclusion_weights(inclusion)
    pred_gold = [max(s, key=s.get) for s in gold_scores]
    pred_pool = [max(s, key=s.get) for s in pool_scores]
    out: dict = {"labels": {}, "shift": shift_check(pred_gold, pred_pool), "weighted": weights is not None}
    for label in labels:
        y = np.array([g == label for g in gold], dtype=float)
        yhat = np.array([s[label] for s in gold_scores])
        yhat_pool = np.array([s[label] for s in pool_scores])
        row = prevalence(y, yhat, yhat_pool, level, weights)
        row["labels_saved"] = max(0.0, row["effective_human_labels"] - len(y))
        row["cost_saved"] = row["labels_saved"] * label_price
        row["plan"] = plan(y, yhat, half_width, level, label_price, weights)
        if pool_truth is not None:
            every = [*gold, *pool_truth]
            row["true_share"] = sum(g == label for g in every) / len(every)
            row["covered"] = {k: row[k]["low"] <= row["true_share"] <= row[k]["high"] for k in ("humans_only", "ppi")}
        if groups is not None:
            row["subgroups"] = _subgroups(y, yhat, yhat_pool, groups, level, weights)
        out["labels"][label] = row
    return out


def _subgroups(y, yhat, yhat_pool, groups, level, weights) -> dict:
    gold_groups, pool_groups = np.asarray(groups[0]), np.asarray(groups[1])
    values = sorted(set(gold_groups), key=lambda v: (-np.sum(gold_groups == v), v))
    reference = values[0]  # the largest subgroup: every other one is compared with it
    out: dict = {"reference": reference, "values": {}}
    for value in values:
        gold_in, pool_in = gold_groups == value, pool_groups == value
        if gold_in.sum() < 2 or not pool_in.any():
            out["values"][value] = {"skipped": f"{int(gold_in.sum())} gold and {int(pool_in.sum())} pool items"}
            continue
        w = None if weights is None else weights[gold_in]
        row = prevalence(y[gold_in], yhat[gold_in], yhat_pool[pool_in], level, w)
        if value != reference:
            both, both_pool = gold_in | (gold_groups == reference), pool_in | (pool_groups == reference)
            row["minus_reference"] = difference(
                y[both],
                yhat[both],
                gold_in[both],
                yhat_pool[both_pool],
                pool_in[both_pool],
                level,
                None if weights is None else weights[both],
            )
        out["values"][value] = row
    return out


def coverage_simulation(y: np.ndarray, yhat: np.ndarray, n: int, draws: int, level: float, seed: int) -> dict:
    """Draw ``n`` gold items uniformly from items whose truth is known, treat the rest as the pool, and count how
    often each interval covers the true share of all items: the check that the nominal level holds here."""
    from ppi_py import classical_mean_ci, ppi_mean_ci

    y, yhat = np.asarray(y, dtype=float), np.asarray(yhat, dtype=float)
    rng, truth, alpha = np.random.default_rng(seed), float(np.mean(y)), 1 - level
    covered = {"humans_only": 0, "ppi": 0}
    widths: dict[str, list[float]] = {"humans_only": [], "ppi": []}
    for _ in range(draws):
        order = rng.permutation(len(y))
        gold, pool = order[:n], order[n:]
        for name, (low, high) in (
            ("humans_only", _interval(classical_mean_ci(y[gold], alpha=alpha))),
            ("ppi", _interval(ppi_mean_ci(y[gold], yhat[gold], yhat[pool], alpha=alpha))),
        ):
            covered[name] += low <= truth <= high
            widths[name].append(high - low)
    ratio = float(np.mean(widths["humans_only"]) / np.mean(widths["ppi"]))
    return {
        "n": n,
        "draws": draws,
        "level": level,
        "true_share": truth,
        "coverage": {k: v / draws for k, v in covered.items()},
        "mean_width": {k: float(np.mean(v)) for k, v in widths.items()},
        "width_ratio": ratio,
        "effective_human_labels": n * ratio**2,
    }

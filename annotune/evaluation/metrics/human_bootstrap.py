"""Bootstrap intervals on the human side, on the same resampled test rows as the systems, and the paired test of
a system's kappa against the annotators' leave-one-out kappa.

Each statistic is rebuilt from per-row counts that add up over rows (label counts, agreeing pairs, confusion
margins), so a resample is one matrix product of its row multiplicities with those counts. Hand-written for that
reason: calling the ``krippendorff`` package or scikit-learn once per resample and statistic costs seconds per
task and system at 1,000 resamples (the full-sample values are tested equal to the packages'):

- Krippendorff's alpha (nominal), from the coincidence counts of the items with two or more labels:
  ``alpha = 1 - (N - 1) (N - D) / (N^2 - sum_c n_c^2)``, ``n_c`` the pairable labels of value ``c``, ``N`` their
  sum and ``D`` the diagonal of the coincidence matrix, ``sum_u sum_c n_uc (n_uc - 1) / (m_u - 1)``;
- Gwet's AC1 as ``agreement.gwet_ac1``, its categories fixed to those of the full sample;
- Cohen's kappa, pooled: ``(p_o - p_e) / (1 - p_e)`` from the agreeing pairs and the two margins.
"""

from __future__ import annotations

import numpy as np

from annotune.evaluation.metrics.agreement import majority_label
from annotune.evaluation.metrics.bootstrap import percentile_interval, sign_flip_p


def resample_weights(indices: np.ndarray) -> np.ndarray:
    """[resamples, rows] how often each row is drawn in each resample, plus a last line of ones: the full sample."""
    resamples, rows = indices.shape
    weights = np.zeros((resamples + 1, rows))
    np.add.at(weights, (np.repeat(np.arange(resamples), rows), indices.ravel()), 1.0)
    weights[-1] = 1.0
    return weights


class LabelCodes:
    """Labels -> column numbers, over every label the annotators and the systems gave."""

    def __init__(self, annotations: list[list], predictions: list[list[dict]] = ()):
        seen = {v for labels in annotations for v in labels if v is not None}
        seen |= {p["pred"] for rows in predictions for p in rows}
        self.code = {label: i for i, label in enumerate(sorted(seen, key=str))}

    def counts(self, labels) -> np.ndarray:
        out = np.zeros(len(self.code))
        for label in labels:
            out[self.code[label]] += 1
        return out


def _kappa(agree: np.ndarray, total: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Cohen's kappa per line from pooled pair counts: agreeing pairs, pairs, and each rater's label margins."""
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = agree / total
        chance = (first * second).sum(axis=1) / total**2
        return np.where(chance < 1, (observed - chance) / (1 - chance), np.nan)


class PairCounts:
    """Per row, the (first, second) label pairs a pooled kappa counts: agreeing pairs, pairs, both margins."""

    def __init__(self, codes: LabelCodes, pairs_per_row: list[list[tuple]]):
        size = len(codes.code)
        self.agree, self.total = np.zeros(len(pairs_per_row)), np.zeros(len(pairs_per_row))
        self.first, self.second = np.zeros((len(pairs_per_row), size)), np.zeros((len(pairs_per_row), size))
        for r, pairs in enumerate(pairs_per_row):
            self.agree[r] = sum(a == b for a, b in pairs)
            self.total[r] = len(pairs)
            self.first[r], self.second[r] = codes.counts(a for a, _ in pairs), codes.counts(b for _, b in pairs)

    def kappa(self, weights: np.ndarray) -> np.ndarray:
        return _kappa(weights @ self.agree, weights @ self.total, weights @ self.first, weights @ self.second)


def loo_pairs(labels: list) -> list[tuple]:
    """One annotator's label against the majority of the others (ties skipped), as ``leave_one_out_kappa``."""
    pairs = []
    for i, label in enumerate(labels):
        rest = majority_label(labels[:i] + labels[i + 1 :])
        if label is not None and rest is not None:
            pairs.append((label, rest))
    return pairs


class HumanCounts:
    """The per-row counts behind alpha, AC1 and the leave-one-out kappa of the annotators."""

    def __init__(self, codes: LabelCodes, annotations: list[list]):
        rated = [[v for v in labels if v is not None] for labels in annotations]
        size, rows = len(codes.code), len(rated)
        # as agreement.human_agreement: every statistic over the rows with two or more labels
        self.pairable = np.array([len(v) >= 2 for v in rated], dtype=float)
        self.values = np.zeros((rows, size))  # n_uc
        self.diagonal = np.zeros(rows)
        self.pair_agreement = np.zeros(rows)  # AC1's p_a of the row
        self.shares = np.zeros((rows, size))  # AC1's r_ik / r_i
        for r, values in enumerate(rated):
            if len(values) >= 2:
                counts = codes.counts(values)
                self.values[r], self.shares[r] = counts, counts / len(values)
                self.diagonal[r] = (counts * (counts - 1)).sum() / (len(values) - 1)
                self.pair_agreement[r] = (counts * (counts - 1)).sum() / (len(values) * (len(values) - 1))
        self.categories = int((self.values.sum(axis=0) > 0).sum())  # AC1's Q: the labels seen on the full sample
        self.loo = PairCounts(codes, [loo_pairs(labels) for labels in annotations])

    def alpha(self, weights: np.ndarray) -> np.ndarray:
        values = weights @ self.values
        total, diagonal = values.sum(axis=1), weights @ self.diagonal
        expected = total**2 - (values**2).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = 1 - (total - 1) * (total - diagonal) / expected
        # one value in play: agreement is perfect (alpha undefined), as agreement.krippendorff_alpha says
        return np.where(expected > 0, alpha, np.where(total > 0, 1.0, np.nan))

    def ac1(self, weights: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            agreement = (weights @ self.pair_agreement) / (weights @ self.pairable)
            shares = (weights @ self.shares) / (weights @ self.pairable)[:, None]
            chance = (shares * (1 - shares)).sum(axis=1) / (self.categories - 1)
            return np.where(self.categories >= 2, (agreement - chance) / (1 - chance), np.nan)

    def loo_kappa(self, weights: np.ndarray) -> np.ndarray:
        return self.loo.kappa(weights)


def _interval(name: str, values: np.ndarray, level: float) -> dict:
    low, high = percentile_interval(values[:-1], level)
    return {f"{name}_ci_low": low, f"{name}_ci_high": high}


def human_intervals(annotations: list[list], indices: np.ndarray, level: float) -> dict:
    """Intervals of the annotators' alpha, AC1 and leave-one-out kappa over the resampled test rows ``indices``
    (the systems' resamples: a row without two labels still counts as drawn, it adds nothing)."""
    counts, weights = HumanCounts(LabelCodes(annotations), annotations), resample_weights(indices)
    return (
        _interval("krippendorff_alpha", counts.alpha(weights), level)
        | _interval("ac1", counts.ac1(weights), level)
        | _interval("loo_kappa", counts.loo_kappa(weights), level)
    )


def versus_human(
    predictions: dict[str, list[dict]], annotations: list[list], indices: np.ndarray, level: float
) -> dict[str, dict]:
    """Per system, the paired bootstrap of its kappa against the human majority minus the annotators'
    leave-one-out kappa, on the same resamples: the difference, its interval and two-sided p-value, and
    ``reaches_human_reference`` (1 when the system is not significantly below the annotators: the interval's
    upper end reaches 0; null when either kappa is undefined)."""
    codes, weights = LabelCodes(annotations, list(predictions.values())), resample_weights(indices)
    human = HumanCounts(codes, annotations).loo_kappa(weights)
    majorities = [majority_label(labels) for labels in annotations]
    out = {}
    for system, rows in predictions.items():
        pairs = [[(p["pred"], m)] if m is not None else [] for p, m in zip(rows, majorities, strict=True)]
        deltas = PairCounts(codes, pairs).kappa(weights) - human
        observed = float(deltas[-1])
        low, high = percentile_interval(deltas[:-1], level)
        undefined = np.isnan(observed) or np.isnan(high)
        out[system] = {
            "kappa_delta_vs_human": observed,
            "kappa_delta_vs_human_ci_low": low,
            "kappa_delta_vs_human_ci_high": high,
            "p_vs_human": float("nan") if undefined else sign_flip_p(observed, deltas[:-1]),
            "reaches_human_reference": None if undefined else float(high >= 0),
        }
    return out

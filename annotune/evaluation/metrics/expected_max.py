"""Expected validation performance (Dodge et al. 2019, "Show Your Work", arXiv 1909.03004): what a search of n
trials can be expected to find, from the N trials actually run.

n trials are taken as n draws with replacement from the N observed ones. With the dev scores sorted ascending,
v_(1) <= ... <= v_(N), the best of n draws is v_(i) with probability (i/N)^n - ((i-1)/N)^n, so

    E[max_n] = sum_i v_(i) ((i/N)^n - ((i-1)/N)^n)

and its standard deviation follows from E[max_n^2] the same way. The trial a search selects is the one with the
best dev score; its test score is expected with the same weights applied to the test scores ordered by dev. When
several trials tie on dev, the pick among them is a fair coin: each tied trial is as likely as the others, so the
tie's group contributes the mean of its test scores.
"""

from __future__ import annotations

import numpy as np


def _max_weights(sorted_scores: np.ndarray, n: int) -> np.ndarray:
    """Probability that the best of n draws is each position of the ascending scores (ties as distinct positions)."""
    positions = np.arange(1, len(sorted_scores) + 1) / len(sorted_scores)
    return positions**n - (positions - 1 / len(sorted_scores)) ** n


def expected_max(dev: list[float], n: int) -> tuple[float, float]:
    """The expected best dev score of n trials drawn with replacement from ``dev``, and its standard deviation."""
    if not dev:
        raise ValueError("expected_max needs at least one trial's score")
    scores = np.sort(np.asarray(dev, dtype=float))
    weights = _max_weights(scores, n)
    mean = float(weights @ scores)
    variance = float(weights @ scores**2) - mean**2
    return mean, float(np.sqrt(max(variance, 0.0)))  # rounding can leave a variance of -1e-17


def expected_selected(dev: list[float], test: list[float], n: int) -> float:
    """The expected test score of the trial with the best dev score among n drawn with replacement; a tie on dev
    is broken uniformly, so tied trials share the mean of their test scores."""
    if len(dev) != len(test) or not dev:
        raise ValueError(f"expected_selected needs one test score per dev score ({len(dev)} dev, {len(test)} test)")
    dev_scores, test_scores = np.asarray(dev, dtype=float), np.asarray(test, dtype=float)
    order = np.argsort(dev_scores, kind="stable")
    dev_sorted, test_sorted = dev_scores[order], test_scores[order]
    _, tie_group, group_sizes = np.unique(dev_sorted, return_inverse=True, return_counts=True)
    group_means = np.bincount(tie_group, weights=test_sorted) / group_sizes
    return float(_max_weights(dev_sorted, n) @ group_means[tie_group])


def curve(dev: list[float], test: list[float]) -> list[dict]:
    """One row per budget n = 1..N: the expected best dev score, its sd, and the selected trial's expected test."""
    rows = []
    for n in range(1, len(dev) + 1):
        mean, sd = expected_max(dev, n)
        rows.append({"n": n, "dev": mean, "dev_sd": sd, "test": expected_selected(dev, test, n)})
    return rows


def markdown(rows: list[dict]) -> list[str]:
    """``curve``'s rows as the lines of a markdown table."""
    lines = ["| n | expected best dev ± sd | expected test of the selected |", "|---|---|---|"]
    return lines + [f"| {r['n']} | {r['dev']:.3f} ± {r['dev_sd']:.3f} | {r['test']:.3f} |" for r in rows]


def plot(curves: dict[str, list[dict]], ylabel: str, path) -> None:
    """Each named ``curve`` on one chart, its expected best dev score shaded ± one sd."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(7, 4.5))
    axes = figure.add_subplot()
    for name, rows in curves.items():
        n, mean, sd = (np.array([row[key] for row in rows]) for key in ("n", "dev", "dev_sd"))
        (line,) = axes.plot(n, mean, marker="o", label=name)
        axes.fill_between(n, mean - sd, mean + sd, alpha=0.2, color=line.get_color())
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set(xlabel="trials (n)", ylabel=ylabel, title="Expected validation performance (Dodge et al. 2019)")
    axes.legend()
    figure.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})

"""Human hand-off: which predictions to trust, chosen on a labelled (dev) set.

A system gives each row a confidence (:func:`confidence`: the probability of its predicted label; annotate's
rows, its dev hand-off and evaluate's coverage all read it here). Keeping only the rows
whose confidence is at least a threshold trades coverage (the share of rows labelled automatically)
for accuracy on the kept rows. ``coverage_curve`` gives that trade-off for every possible threshold;
``threshold_for_accuracy`` picks the threshold that reaches a target accuracy while keeping the most
rows. Rows under the threshold go to a human.

Tie rule (both functions): rows with the same confidence are kept or handed off together — a threshold
``t`` keeps exactly the rows with ``confidence >= t``, so the curve has one point per distinct
confidence value, never a point that splits a tie.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from annotune.errors import ParamsError


def confidence(prediction: dict, multilabel: bool = False) -> float | None:
    """The system's confidence in the label it gave: the score of the predicted label, not the highest score (a
    generative LLM can write one label while its scores favour another). Multi-label: the probability of the
    predicted set, each label's independent probability (as the per-label heads give them) of being in or out.
    None without scores (generation); 0 for a single label the scores do not cover."""
    scores = prediction.get("scores")
    if not scores:
        return None
    if not multilabel:
        return float(scores.get(prediction["pred"], 0.0))
    chosen = {label.strip() for label in prediction["pred"].split(",")}
    return math.prod(p if label in chosen else 1.0 - p for label, p in scores.items())


def _checked(confidence: Sequence[float], correct: Sequence[bool]) -> list[tuple[float, bool]]:
    if len(confidence) != len(correct):
        raise ValueError(f"hand-off: {len(confidence)} confidences but {len(correct)} correctness flags")
    pairs = []
    for i, (c, ok) in enumerate(zip(confidence, correct, strict=True)):
        c = float(c)
        if math.isnan(c):
            raise ValueError(f"hand-off: confidence of row {i} is NaN")
        pairs.append((c, bool(ok)))
    return pairs


def coverage_curve(confidence: Sequence[float], correct: Sequence[bool]) -> list[dict]:
    """Coverage vs accuracy, one point per distinct confidence value, highest threshold first.

    ``confidence[i]``: the system's confidence in row i's prediction (e.g. its top label probability);
    ``correct[i]``: whether that prediction matches the gold label. Returns a list of
    ``{"threshold": t, "coverage": kept / n, "accuracy": correct among kept / kept, "kept": kept}``
    where the kept rows are those with ``confidence >= t``; thresholds strictly decrease and coverage
    increases to 1.0 at the last point. Empty input gives an empty list. This signature is stable
    (evaluate plots it).
    """
    pairs = sorted(_checked(confidence, correct), key=lambda p: -p[0])
    n, points, kept, right = len(pairs), [], 0, 0
    for i, (c, ok) in enumerate(pairs):
        kept, right = kept + 1, right + ok
        if i + 1 == n or pairs[i + 1][0] != c:  # last row of a tie group: a threshold can stop here
            points.append({"threshold": c, "coverage": kept / n, "accuracy": right / kept, "kept": kept})
    return points


def threshold_for_accuracy(confidence: Sequence[float], correct: Sequence[bool], target: float) -> float | None:
    """The lowest threshold whose kept rows (``confidence >= threshold``) reach ``target`` accuracy.

    The lowest such threshold keeps the most rows; accuracy need not fall monotonically as the
    threshold falls, so a higher threshold may miss the target while a lower one reaches it — the lower
    one is returned. Ties as in ``coverage_curve``. ``None`` when no threshold reaches the target (every
    row should go to a human); ``target <= 0`` returns the lowest confidence (keep everything).
    """
    if not 0.0 <= target <= 1.0:
        raise ParamsError(f"hand-off: target accuracy must be within [0, 1], got {target}")
    reached = [p["threshold"] for p in coverage_curve(confidence, correct) if p["accuracy"] >= target]
    return min(reached) if reached else None


def coverage_at(confidence: Sequence[float], correct: Sequence[bool], threshold: float | None) -> dict:
    """Coverage and accuracy of the rows kept by ``threshold`` (None keeps nothing)."""
    pairs = _checked(confidence, correct)
    kept = [ok for c, ok in pairs if threshold is not None and c >= threshold]
    return {
        "threshold": threshold,
        "coverage": len(kept) / len(pairs) if pairs else 0.0,
        "accuracy": sum(kept) / len(kept) if kept else None,
        "kept": len(kept),
        "rows": len(pairs),
    }

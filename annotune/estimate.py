"""Estimates from model labels plus a few human labels: each label's prevalence with a valid interval.

A system labels every item of a pool; people label a random sample (the gold). Prediction-powered inference
(PPI++, Angelopoulos, Duchi & Zrnic 2023, arXiv 2311.01453) combines the two: the model's labels on the pool,
corrected by the model's error measured on the gold, give an interval that stays valid however wrong the model
is, and is as narrow as many more human labels alone when the model agrees with people. The intervals come from
``ppi_py`` (ppi-python, the authors' reference implementation); this module only arranges the data, adds the
humans-only interval beside it, the effective number of human labels, the cost, the planner and the guards, and
``coverage_simulation`` checks the nominal coverage on data with known truth.

    annotune estimate <task> --predictions annotated.jsonl --gold gold.csv --gold-column label [--id-column id]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats

from annotune.errors import DataError, MissingInputError

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


def read_predictions(path: Path) -> dict[str, dict]:
    """annotune annotate's output (or a predictions file): id -> {"label", "scores"}; error rows left out."""
    if not path.exists():
        raise MissingInputError(f"{path}: predictions file not found")
    out = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: not JSON ({exc.msg})") from None
            if record.get("status") == "error":
                continue
            if "scores" not in record:
                raise DataError(f"{path}, line {number}: no 'scores' (a probability per label) to estimate from")
            out[str(record["id"])] = record["scores"]
    return out


def read_gold(path: Path, id_column: str, label_column: str, inclusion_column: str | None) -> list[dict]:
    """The human-labelled sample (CSV / TSV / JSONL): id, label and optionally its inclusion probability."""
    if not path.exists():
        raise MissingInputError(f"{path}: gold file not found")
    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    else:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))
    needed = [c for c in (id_column, label_column, inclusion_column) if c]
    for number, row in enumerate(rows, 2 if path.suffix != ".jsonl" else 1):
        missing = [c for c in needed if row.get(c) in (None, "")]
        if missing:
            raise DataError(f"{path}, row {number}: no value in column(s) {missing}; columns: {sorted(row)}")
    return rows


def estimate_files(task, predictions: dict[str, dict], gold_rows: list[dict], args) -> dict:
    """The command's estimate: gold items are the predictions' rows with a human label, the pool is the rest."""
    labels = list(task.labels)
    gold_ids = [str(r[args.id_column]) for r in gold_rows]
    missing = [i for i in gold_ids if i not in predictions]
    if missing:
        raise DataError(f"{args.gold}: {len(missing)} gold id(s) have no prediction, e.g. {missing[:3]}")
    unknown = sorted({str(r[args.gold_column]) for r in gold_rows} - set(labels))
    if unknown:
        raise DataError(f"{args.gold}, column {args.gold_column!r}: labels {unknown} are not the task's {labels}")
    if len(set(gold_ids)) != len(gold_ids):
        raise DataError(f"{args.gold}: an id occurs twice in column {args.id_column!r}")
    if args.training_ids:
        trained = _ids_of(args.training_ids)
        overlap = trained & (set(gold_ids) | set(predictions))
        if overlap:
            raise DataError(
                f"{len(overlap)} item(s) of the gold or the pool trained the model ({args.training_ids}), e.g. "
                f"{sorted(overlap)[:3]}: the estimate needs items the model never saw"
            )
    gold_set = set(gold_ids)
    pool = [scores for item, scores in predictions.items() if item not in gold_set]
    inclusion = np.array([float(r[args.inclusion_column]) for r in gold_rows]) if args.inclusion_column else None
    return estimate_task(
        labels,
        [str(r[args.gold_column]) for r in gold_rows],
        [predictions[i] for i in gold_ids],
        pool,
        level=args.confidence,
        half_width=args.target_half_width,
        label_price=args.label_price,
        inclusion=inclusion,
    )


def _ids_of(path: Path) -> set[str]:
    with path.open(encoding="utf-8") as fh:
        if path.suffix == ".jsonl":
            return {str(json.loads(line)["id"]) for line in fh if line.strip()}
        return {line.strip() for line in fh if line.strip()}


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def markdown(result: dict, currency: str) -> str:
    """The estimates as a report section: one table row per system and label."""
    if not result.get("systems"):
        return f"_No estimate: {result.get('why', 'no system to estimate with')}._"
    lines = [
        f"Gold sample: {result['gold_items']} items labelled by people; pool: {result['pool_items']} items only "
        f"the model labelled; {round(100 * result['level'])}% intervals. PPI++ corrects the model's labels on the "
        "pool with its errors on the gold sample; *as precise as* is the number of human labels alone that would "
        "give an interval as narrow.",
        "",
        "| system | label | humans only | model + humans (PPI++) | as precise as | saved | true share |",
        "|---|---|---|---|---|---|---|",
    ]
    for system, estimate in result["systems"].items():
        for label, row in estimate["labels"].items():
            alone, ppi = row["humans_only"], row["ppi"]
            truth = percent(row["true_share"]) if "true_share" in row else "–"
            lines.append(
                f"| {system} | {label} | {percent(alone['estimate'])} [{percent(alone['low'])}, "
                f"{percent(alone['high'])}] | {percent(ppi['estimate'])} [{percent(ppi['low'])}, "
                f"{percent(ppi['high'])}] | {row['effective_human_labels']:,.0f} labels | "
                f"{row['cost_saved']:,.2f} {currency} | {truth} |"
            )
        if estimate["shift"]["shifted"]:
            lines.append(
                f"\n**Warning ({system})**: its labels are distributed differently on the pool than on the gold "
                f"sample (p = {estimate['shift']['p_value']:.2g}): the pool may not be the population the gold "
                "sample was drawn from."
            )
    sentence = planner_sentence(result, currency)
    return "\n".join(lines) + ("\n\n" + sentence if sentence else "")


def planner_sentence(result: dict, currency: str) -> str | None:
    """One sentence: for the label whose share is hardest to measure (the most human labels alone), the human
    labels an interval of the target width needs, alone and with the system that saves the most."""
    plans = [
        (label, system, row["plan"])
        for system, estimate in result.get("systems", {}).items()
        for label, row in estimate["labels"].items()
        if row["plan"]["with_model"]
    ]
    if not plans:
        return None
    hardest = max(plans, key=lambda p: p[2]["humans_only"]["labels"])[0]
    label, system, planned = min((p for p in plans if p[0] == hardest), key=lambda p: p[2]["with_model"]["labels"])
    alone, with_model = planned["humans_only"], planned["with_model"]
    return (
        f"To measure the share of {label} to ±{100 * planned['half_width']:.0f} points takes {alone['labels']:,} "
        f"random human-labelled items alone ({alone['cost']:,.2f} {currency}), or {with_model['labels']:,} with "
        f"{system}'s labels on the rest ({with_model['cost']:,.2f} {currency})."
    )


def _between_0_and_1(text: str) -> float:
    """A level or a half-width given on the command line: a number strictly between 0 and 1 (argparse then names
    the option in a one-line usage error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not strictly between 0 and 1")
    return value


def main(argv: list[str]) -> None:
    from annotune.config import load_params

    parser = argparse.ArgumentParser(
        prog="annotune estimate",
        description="Each label's prevalence from a system's labels (annotune annotate's output over every item) "
        "plus human labels on a random sample of the same items, with the humans-only and PPI++ intervals.",
    )
    parser.add_argument("task")
    parser.add_argument("--predictions", type=Path, required=True, help="annotune annotate's output: every item")
    parser.add_argument("--gold", type=Path, required=True, help="CSV / TSV / JSONL: the human-labelled random sample")
    parser.add_argument("--gold-column", required=True, help="the gold file's label column")
    parser.add_argument("--id-column", default="id", help="the gold file's id column (the ids annotate wrote)")
    parser.add_argument("--inclusion-column", help="each gold item's probability of being sampled (not uniform)")
    parser.add_argument("--training-ids", type=Path, help="ids the model trained on (JSONL with id, or one per line)")
    parser.add_argument("--confidence", type=_between_0_and_1, help="default: params estimate.confidence_level")
    parser.add_argument("--target-half-width", type=_between_0_and_1, help="default: estimate.target_half_width")
    parser.add_argument("--out", type=Path, help="write the estimate as JSON here too")
    args = parser.parse_args(argv)
    params = load_params()
    task = params.task(args.task)
    if task.kind not in ("binary", "multiclass"):
        raise DataError(f"task {task.name!r} is {task.kind}: estimates are for binary and multiclass tasks")
    args.confidence = args.confidence or params.estimate.confidence_level
    args.target_half_width = args.target_half_width or params.estimate.target_half_width
    args.label_price = params.cost.human_label_price * params.cost.annotators_per_item
    predictions = read_predictions(args.predictions)
    result = estimate_files(
        task, predictions, read_gold(args.gold, args.id_column, args.gold_column, args.inclusion_column), args
    )
    first = next(iter(result["labels"].values()))
    report = {
        "task": task.name,
        "level": args.confidence,
        "gold_items": first["gold_items"],
        "pool_items": first["pool_items"],
        "systems": {args.predictions.name: result},
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report, params.cost.currency))

"""The ``annotune estimate`` command: each label's prevalence from annotune annotate's output (a system's labels
on every item) plus a human-labelled random sample of the same items, printed as Markdown.

    annotune estimate <task> --predictions annotated.jsonl --gold gold.csv --gold-column label [--id-column id]

``read_predictions`` and ``read_gold`` read the two files, ``estimate_files`` checks them against each other
(every gold id predicted, known labels, no item the model trained on) and runs the estimators of
annotune/evaluation/estimate.py; the table is annotune/evaluation/estimate_markdown.py's.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from annotune.errors import DataError, MissingInputError
from annotune.evaluation.estimate import estimate_task
from annotune.evaluation.estimate_markdown import markdown


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

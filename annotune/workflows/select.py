"""Choosing which items humans label next, from ``annotune annotate``'s output (docs/annotation-loop.md).

    annotune select --predictions annotated.jsonl --strategy mixture --batch 50 --random-share 0.2 --seed 0 \
        --out batch.jsonl [--exclude labels.csv] [--uncertainty margin] [--labels labels.csv]

The pool is every ``ok`` row of the predictions whose id ``--exclude`` does not list (error rows and excluded
ids are counted and printed). Strategies:

- ``random``: a simple random sample of ``--batch`` items; each one's inclusion probability (batch / pool) is
  recorded, so its human labels are a valid gold sample for ``annotune estimate --inclusion-column``.
- ``least_confidence``: the items whose most probable label is the least probable.
- ``margin`` ("breaking ties"): the smallest gap between the two most probable labels. For a binary task it
  ranks as ``least_confidence`` does; for a multi-label task (one independent probability per label) both rank
  by the label decision closest to 0.5.
- ``activelab``: cleanlab's ActiveLab (Goh & Mueller 2023) for items labelled by several annotators: it weighs
  the model's probabilities against each item's labels and their annotators' agreement, and may pick an item
  already labelled (for one more label) over a new one. Needs ``--labels`` (``annotune labelstudio import``'s
  long CSV), classification tasks only.
- ``mixture``: ``round(batch * random_share)`` items drawn first, uniformly from the whole pool, with their
  inclusion probabilities; the rest by ``--uncertainty`` among the others. The random slice alone backs
  estimates; the uncertainty picks are chosen by the model and carry no inclusion probability.

Ties in uncertainty are broken at random (seeded), so the same inputs and ``--seed`` give the same batch.
Each output line is the predictions' record plus ``selection``: ``strategy``, ``selected_by`` (``random`` or
the uncertainty), ``inclusion_probability`` (random picks; null otherwise), ``uncertainty`` (the score it was
ranked by; higher is picked first), ``rank``, ``pool_items`` and ``seed``.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np

from annotune.errors import DataError, MissingInputError

STRATEGIES = ("random", "least_confidence", "margin", "activelab", "mixture")
UNCERTAINTIES = ("least_confidence", "margin", "activelab")
ID_COLUMNS = ("item_id", "id")  # labelstudio import's CSV, then annotate's and select's JSONL


def read_ids(path: Path, column: str | None = None) -> list[str]:
    """Item ids from a file: one per line (.txt), or a column of a CSV / TSV / JSONL (``column``, else the first
    of ``item_id`` and ``id`` the file has)."""
    if not path.is_file():
        raise MissingInputError(f"{path}: id file not found")
    if path.suffix.lower() == ".txt":
        return [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if path.suffix.lower() == ".jsonl":
        rows = [
            (number, _json_object(path, number, line)) for number, line in enumerate(_lines(path), 1) if line.strip()
        ]
    elif path.suffix.lower() in (".csv", ".tsv"):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            rows = list(enumerate(reader, 2))
    else:
        raise DataError(f"{path}: ids come from a .txt (one per line), .csv, .tsv or .jsonl file")
    if not rows:
        return []
    names = [column] if column else list(ID_COLUMNS)
    found = next((name for name in names if name in rows[0][1]), None)
    if found is None:
        raise DataError(f"{path}: no column {' or '.join(map(repr, names))}; columns: {sorted(rows[0][1])}")
    ids = []
    for number, row in rows:
        value = row.get(found)
        if value is None or str(value).strip() == "":
            raise DataError(f"{path}, row {number}: empty id in column {found!r}")
        ids.append(str(value))
    return ids


def _json_object(path: Path, number: int, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}, line {number}: not JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise DataError(f"{path}, line {number}: not a JSON object")
    return record


def _lines(path: Path):
    with path.open(encoding="utf-8") as fh:
        yield from fh


def read_predictions(path: Path) -> tuple[list[dict], int]:
    """The ``ok`` records of an annotate output, in order, and the number of error rows left out."""
    if not path.is_file():
        raise MissingInputError(f"{path}: predictions file not found")
    records, errors, first_line_of = [], 0, {}
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        record = _json_object(path, number, line)
        if "id" not in record:
            raise DataError(f"{path}, line {number}: not an annotate output record (no 'id')")
        record_id = str(record["id"])
        first = first_line_of.setdefault(record_id, number)
        if first != number:
            raise DataError(f"{path}: lines {first} and {number} have the same id {record_id!r}")
        if record.get("status", "ok") != "ok":
            errors += 1
            continue
        records.append(record | {"id": record_id, "_line": number})
    return records, errors


def _scores(path: Path, records: list[dict]) -> tuple[list[str], np.ndarray]:
    """Each record's probability per label, as a matrix over the first record's labels."""
    first = records[0].get("scores")
    if not first:
        raise DataError(
            f"{path}, line {records[0]['_line']}: no 'scores' (a probability per label) to rank by; a generation "
            "task has none: use --strategy random"
        )
    labels = list(first)
    matrix = np.empty((len(records), len(labels)))
    for i, record in enumerate(records):
        scores = record.get("scores") or {}
        if set(scores) != set(labels):
            raise DataError(f"{path}, line {record['_line']}: scores for {sorted(scores)}, not {sorted(labels)}")
        matrix[i] = [scores[label] for label in labels]
    return labels, matrix


def _is_multilabel(matrix: np.ndarray) -> bool:
    """One independent probability per label (they need not sum to 1), as annotate writes for multi-label."""
    return not np.allclose(matrix.sum(axis=1), 1.0, atol=1e-3)


def least_confidence(matrix: np.ndarray) -> np.ndarray:
    if _is_multilabel(matrix):
        return 1 - np.maximum(matrix, 1 - matrix).min(axis=1)
    return 1 - matrix.max(axis=1)


def margin(matrix: np.ndarray) -> np.ndarray:
    """The negated gap between the two most probable labels: the closest call is picked first."""
    if _is_multilabel(matrix):
        return -np.abs(2 * matrix - 1).min(axis=1)
    top_two = np.sort(matrix, axis=1)[:, -2:]
    return -(top_two[:, 1] - top_two[:, 0])


def read_labels(path: Path, labels: list[str], ids: set[str]) -> dict[str, dict[str, str]]:
    """``annotune labelstudio import``'s long CSV: item id -> {annotator: label}."""
    if not path.is_file():
        raise MissingInputError(f"{path}: labels file not found")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_item: dict[str, dict[str, str]] = {}
    for number, row in enumerate(rows, 2):
        missing = [c for c in ("item_id", "annotator", "label") if not row.get(c)]
        if missing:
            raise DataError(f"{path}, row {number}: no value in column(s) {missing}; columns: {sorted(row)}")
        if row["label"] not in labels:
            raise DataError(f"{path}, row {number}, column 'label': {row['label']!r} is not one of {labels}")
        if row["item_id"] not in ids:
            raise DataError(f"{path}, row {number}, column 'item_id': {row['item_id']!r} is not in the predictions")
        by_item.setdefault(row["item_id"], {})[row["annotator"]] = row["label"]
    return by_item


def activelab(records: list[dict], matrix: np.ndarray, labels: list[str], by_item: dict) -> np.ndarray:
    """ActiveLab's scores, negated (its lowest score is the most worth a label): labelled items get them from
    their annotators' labels and the model's probabilities, unlabelled ones from the probabilities alone."""
    from cleanlab.multiannotator import get_active_learning_scores

    annotators = sorted({a for item in by_item.values() for a in item})
    if len(annotators) < 2:
        raise DataError(
            f"activelab weighs several annotators; the labels file has {len(annotators)}: use margin instead"
        )
    labelled = [i for i, r in enumerate(records) if r["id"] in by_item]
    unlabelled = [i for i, r in enumerate(records) if r["id"] not in by_item]
    votes = np.full((len(labelled), len(annotators)), np.nan)
    for row, i in enumerate(labelled):
        for annotator, label in by_item[records[i]["id"]].items():
            votes[row, annotators.index(annotator)] = labels.index(label)
    scores = np.empty(len(records))
    labelled_scores, unlabelled_scores = get_active_learning_scores(
        votes, matrix[labelled], matrix[unlabelled] if unlabelled else None
    )
    scores[labelled] = labelled_scores
    if unlabelled:
        scores[unlabelled] = unlabelled_scores
    return -scores


def select(
    records: list[dict],
    strategy: str,
    batch: int,
    seed: int,
    random_share: float = 0.2,
    uncertainty: np.ndarray | None = None,
    uncertainty_name: str | None = None,
) -> list[dict]:
    """The batch: the records chosen, each with its ``selection``. ``uncertainty``: one score per record (higher
    is picked first), needed by every strategy but ``random``."""
    rng = np.random.default_rng(seed)
    pool = len(records)
    size = min(batch, pool)
    random_count = size if strategy == "random" else round(size * random_share) if strategy == "mixture" else 0
    chosen = [int(i) for i in rng.choice(pool, size=random_count, replace=False)] if random_count else []
    picks = [(i, "random", random_count / pool) for i in chosen]
    if size > random_count:
        tiebreak = rng.random(pool)
        taken = set(chosen)
        order = sorted((i for i in range(pool) if i not in taken), key=lambda i: (-uncertainty[i], tiebreak[i]))
        picks += [(i, uncertainty_name, None) for i in order[: size - random_count]]
    out = []
    for rank, (i, selected_by, probability) in enumerate(picks, 1):
        record = {k: v for k, v in records[i].items() if k != "_line"}
        record["selection"] = {
            "strategy": strategy,
            "selected_by": selected_by,
            "inclusion_probability": probability,
            "uncertainty": None if uncertainty is None else float(uncertainty[i]),
            "rank": rank,
            "pool_items": pool,
            "seed": seed,
        }
        out.append(record)
    return out


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text}: a share between 0 and 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: at least 1")
    return value


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--predictions", type=Path, required=True, help="annotune annotate's output (JSONL)")
    parser.add_argument("--strategy", choices=STRATEGIES, required=True)
    parser.add_argument("--batch", type=_positive, required=True, help="items to choose")
    parser.add_argument("--random-share", type=_fraction, default=0.2, help="mixture: the random slice's share")
    parser.add_argument("--uncertainty", choices=UNCERTAINTIES, default="margin", help="mixture: the rest by this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exclude", type=Path, help="ids to leave out: .txt, or a CSV / JSONL with item_id or id")
    parser.add_argument("--labels", type=Path, help="activelab: labelstudio import's CSV (item_id, annotator, label)")
    parser.add_argument("--out", type=Path, required=True, help="the batch (JSONL)")
    args = parser.parse_args(argv)
    ranking = args.uncertainty if args.strategy == "mixture" else args.strategy
    if ranking == "activelab" and args.labels is None:
        raise DataError("--strategy activelab (or --uncertainty activelab) needs --labels, the humans' labels so far")
    if args.out.resolve() == args.predictions.resolve():
        raise DataError(f"--out {args.out} is the predictions file")
    records, errors = read_predictions(args.predictions)
    excluded = set(read_ids(args.exclude)) if args.exclude else set()
    pool = [r for r in records if r["id"] not in excluded]
    if not pool:
        raise DataError(f"{args.predictions}: no item left to choose ({errors} error rows, {len(excluded)} excluded)")
    uncertainty = None
    if args.strategy != "random":
        labels, matrix = _scores(args.predictions, pool)
        if ranking == "activelab":
            by_item = read_labels(args.labels, labels, {r["id"] for r in records})
            uncertainty = activelab(pool, matrix, labels, by_item)
        else:
            uncertainty = (least_confidence if ranking == "least_confidence" else margin)(matrix)
    batch = select(pool, args.strategy, args.batch, args.seed, args.random_share, uncertainty, ranking)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for record in batch:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    chosen = Counter(r["selection"]["selected_by"] for r in batch)
    random_part = chosen.pop("random", 0)
    parts = [f"{random_part} at random (inclusion probability {random_part}/{len(pool)})"] if random_part else []
    parts += [f"{count} by {name}" for name, count in chosen.items()]
    left_out = f"{errors} error rows and {len(records) - len(pool)} excluded ids left out"
    print(f"{args.out}: {len(batch)} items of a pool of {len(pool)}: {', '.join(parts)}; {left_out}")
    if args.strategy == "mixture" and args.random_share == 0:
        print("note: --random-share 0 keeps no random slice: none of these labels can back an estimate")

"""GoEmotions (Demszky et al., 2020) -> multi-label records: 27 emotions + neutral, one or more per comment.

The TSVs have no header: comment text, comma-separated label indices into ``emotions.txt``, comment id;
texts holding quotes are CSV-quoted (doubled quotes), so they are read with CSV quoting (every line of
the official files then has its three fields). Labels are written by name, sorted, joined with ", "
(the set-valued label format of annotune).
"""

from __future__ import annotations

import csv
from pathlib import Path

from annotune.data.datasets.common import DatasetError, Record, dedupe, record_id, refuse_attributes
from annotune.data.fetch import RawSource
from annotune.data.tasks import GOEMOTIONS_LABELS

_BASE = "https://raw.githubusercontent.com/google-research/google-research/master/goemotions/data"
SOURCE = RawSource(
    name="goemotions",
    url={name: f"{_BASE}/{name}" for name in ("train.tsv", "dev.tsv", "test.tsv", "emotions.txt")},
    sha256={
        "train.tsv": "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5",
        "dev.tsv": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
        "test.tsv": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
        "emotions.txt": "45c3ef86782d2a4d7fedcd6d8c111aa0d0e94720689bd164fac94fefb4495a89",
    },
)
TASK = "emotions"
FILES = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}


def read_emotions(path: Path) -> list[str]:
    names = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if names != GOEMOTIONS_LABELS:
        raise DatasetError(f"{path}: the emotion names differ from GoEmotions' 28 labels {GOEMOTIONS_LABELS}")
    return names


def read_split(path: Path, names: list[str]) -> tuple[list[Record], dict]:
    out, dropped = [], {"empty_text": 0}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    for number, row in enumerate(rows, start=1):
        if len(row) != 3:
            raise DatasetError(f"{path}, line {number}: {len(row)} tab-separated fields, expected 3")
        text, ids = row[0].strip(), row[1].split(",")
        try:
            labels = sorted({names[int(i)] for i in ids})
        except (ValueError, IndexError):
            raise DatasetError(f"{path}, line {number}: labels {row[1]!r} are not indices 0-{len(names) - 1}") from None
        if not text:
            dropped["empty_text"] += 1
            continue
        out.append({"id": record_id(text), "text": text, "labels": {TASK: ", ".join(labels)}})
    out, dropped["duplicate_text"] = dedupe(out)
    return out, {"source": path.name, "posts_read": len(rows), "dropped": dropped}


def load_splits(
    raw_dir: Path, attributes: dict[str, str] | None = None
) -> tuple[dict[str, tuple[list[Record], dict]], str]:
    refuse_attributes(attributes, "goemotions", "the comment, its emotion ids and its id")
    missing = [name for name in (*FILES.values(), "emotions.txt") if not (raw_dir / name).exists()]
    if missing:
        raise DatasetError(f"{raw_dir}: GoEmotions file(s) missing: {', '.join(missing)}")
    names = read_emotions(raw_dir / "emotions.txt")
    return {split: read_split(raw_dir / name, names) for split, name in FILES.items()}, "official"


def stratum(record: Record) -> str:
    """The first of a comment's labels: keeps rare emotions in every sample without a stratum per set."""
    return record["labels"][TASK].split(", ")[0]

"""GLUE MRPC (Dolan & Brockett, 2005; Wang et al., 2019) -> sentence-pair records.

Splits: GLUE's train.tsv and dev.tsv, and as test the original labeled ``msr_paraphrase_test.txt``
(GLUE's test.tsv has no labels). Without the GLUE TSVs (e.g. fetched from the official URLs), train
and dev are rebuilt as GLUE does: ``msr_paraphrase_train.txt`` split by GLUE's ``dev_ids.tsv``.
The files hold unbalanced double quotes inside sentences, so they are read as plain tab-separated
lines (no quoting) and a UTF-8 byte-order mark is removed. Label 1 is ``paraphrase``.
"""

from __future__ import annotations

from pathlib import Path

from annotune.data.datasets.common import DatasetError, Record, dedupe, record_id, refuse_attributes
from annotune.data.fetch import RawSource

SOURCE = RawSource(
    name="mrpc",
    url={  # the files GLUE's download script uses
        "msr_paraphrase_train.txt": "https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_train.txt",
        "msr_paraphrase_test.txt": "https://dl.fbaipublicfiles.com/senteval/senteval_data/msr_paraphrase_test.txt",
        "dev_ids.tsv": "https://dl.fbaipublicfiles.com/glue/data/mrpc_dev_ids.tsv",
    },
    sha256={
        "train.tsv": "122becc469405bc16f9defcb8715d2a4b7ce600e9d9381e6dc42bfdd1494c51d",
        "dev.tsv": "81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7",
        "msr_paraphrase_test.txt": "0360d0d3427a0ae14882e2b3a799df0fab6cb5203d5e8ee481949283da62acb6",
        "msr_paraphrase_train.txt": "61a88818ec384d8465297dda1883b469f1b22d442ab90183d13e06233b180591",
        "dev_ids.tsv": "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7",
    },
)
TASK = "paraphrase"
LABELS = {"1": "paraphrase", "0": "not_paraphrase"}
COLUMNS = ("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String")


def read_pairs(path: Path) -> list[dict]:
    """Rows of an MRPC file as dicts keyed by its header; every line must have the five fields."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not lines:
        raise DatasetError(f"{path}: empty file")
    header = lines[0].split("\t")
    if tuple(header) != COLUMNS:
        raise DatasetError(f"{path}: header {header} is not the MRPC header {list(COLUMNS)}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(COLUMNS):
            raise DatasetError(f"{path}, line {number}: {len(fields)} tab-separated fields, expected {len(COLUMNS)}")
        rows.append(dict(zip(COLUMNS, fields, strict=True)) | {"file": str(path), "line": number})
    return rows


def records(rows: list[dict], source: str) -> tuple[list[Record], dict]:
    out, dropped = [], {"empty_sentence": 0}
    for row in rows:
        if row["Quality"] not in LABELS:
            raise DatasetError(f"{row['file']}, line {row['line']}: Quality={row['Quality']!r}; expected 0 or 1")
        a, b = row["#1 String"].strip(), row["#2 String"].strip()
        if not a or not b:
            dropped["empty_sentence"] += 1
            continue
        out.append({"id": record_id(f"{a}\n{b}"), "text_a": a, "text_b": b, "labels": {TASK: LABELS[row["Quality"]]}})
    out, dropped["duplicate_pair"] = dedupe(out)
    return out, {"source": source, "posts_read": len(rows), "dropped": dropped}


def load_splits(
    raw_dir: Path, attributes: dict[str, str] | None = None
) -> tuple[dict[str, tuple[list[Record], dict]], str]:
    refuse_attributes(attributes, "mrpc", "the quality label, the two sentence ids and the two sentences")
    test_path = raw_dir / "msr_paraphrase_test.txt"
    if not test_path.exists():
        raise DatasetError(f"{raw_dir}: msr_paraphrase_test.txt (the labeled test split) is missing")
    test = records(read_pairs(test_path), test_path.name)
    if (raw_dir / "train.tsv").exists() and (raw_dir / "dev.tsv").exists():
        train = records(read_pairs(raw_dir / "train.tsv"), "train.tsv (GLUE)")
        dev = records(read_pairs(raw_dir / "dev.tsv"), "dev.tsv (GLUE)")
        return {"train": train, "dev": dev, "test": test}, "glue"
    original, ids = raw_dir / "msr_paraphrase_train.txt", raw_dir / "dev_ids.tsv"
    if not (original.exists() and ids.exists()):
        raise DatasetError(f"{raw_dir}: need train.tsv + dev.tsv (GLUE) or msr_paraphrase_train.txt + dev_ids.tsv")
    dev_pairs = {tuple(line.split("\t")) for line in ids.read_text(encoding="utf-8-sig").splitlines() if line.strip()}
    rows = read_pairs(original)
    in_dev = [(r["#1 ID"], r["#2 ID"]) in dev_pairs for r in rows]
    train = records([r for r, d in zip(rows, in_dev, strict=True) if not d], f"{original.name} minus GLUE dev ids")
    dev = records([r for r, d in zip(rows, in_dev, strict=True) if d], f"{original.name}, GLUE dev ids")
    return {"train": train, "dev": dev, "test": test}, "glue rebuilt from the original files"


def stratum(record: Record) -> str:
    return record["labels"][TASK]

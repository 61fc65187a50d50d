"""JSON Lines and JSON files, the formats every stage exchanges."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from annotune.errors import DataError, MissingInputError

SPLITS = ("train", "dev", "test")  # data/prepared/<split>.jsonl, data/instruct/<task>/<split>.jsonl


def write_jsonl(path: Path, records: Iterable[dict]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise MissingInputError(f"{path} not found; run the stage that produces it (`dvc repro`)")
    records = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
    return records


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: Path):
    if not path.exists():
        raise MissingInputError(f"{path} not found; run the stage that produces it (`dvc repro`)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None


def records_fingerprint(records: Iterable[dict]) -> str:
    """sha256 (hex) of the instruct records' ``id``, ``input``, ``input_pair`` (sentence pairs) and ``label``, in
    order: another row, text, label or order gives another fingerprint. The instruction, the verbalized answer and
    the attributes apart from the lines ``input`` shows are left out."""
    digest = hashlib.sha256()
    for record in records:
        fields = [record["id"], record["input"], record.get("input_pair"), record["label"]]
        digest.update(json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
    return digest.hexdigest()


def data_fingerprints(**splits: list[dict]) -> dict:
    """``{split: {"rows", "sha256"}}`` of the records a model was trained (and early-stopped) on, for the
    ``training_data`` of its ``annotune.json``."""
    return {name: {"rows": len(rows), "sha256": records_fingerprint(rows)} for name, rows in splits.items()}

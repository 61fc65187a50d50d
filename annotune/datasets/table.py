"""Any CSV / TSV / JSONL dataset declared in params.yaml (``dataset: table``, section ``table``).

The declaration names the files of the splits (or one file and a split column), the text column(s),
and per task the label column, kind and allowed labels. Every row read is either a record or counted
as dropped (empty text); a value the declaration does not allow is an error naming file, row, column.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from annotune.config import TableParams
from annotune.datasets.common import DatasetError, Record, dedupe, record_id
from annotune.tasks import NONE_TARGET, Task, normalize_groups

SPLITS = ("train", "dev", "test")
FORMATS = (".csv", ".tsv", ".jsonl")


def read_rows(path: Path) -> list[dict]:
    """Rows of a CSV / TSV (header line) or JSONL file, as dicts; the format comes from the extension."""
    if path.suffix not in FORMATS:
        raise DatasetError(f"{path}: unknown format {path.suffix!r}; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DatasetError(f"{path} not found")
    if path.suffix == ".jsonl":
        rows = []
        with path.open(encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as exc:
                        raise DatasetError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        return rows
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))


def _cell(value) -> str:
    return "" if value is None else str(value).strip()


def label_of(task: Task, value, separator: str, where: str) -> str:
    """The canonical label of one cell, or an error naming where it is."""
    if task.kind == "generation":
        parts = value if isinstance(value, list) else _cell(value).split(separator)
        return normalize_groups(", ".join(_cell(p) for p in parts))
    if task.kind == "multilabel":
        parts = value if isinstance(value, list) else _cell(value).split(separator)
        labels = {_cell(p) for p in parts} - {""}
        unknown = sorted(labels - set(task.labels))
        if unknown:
            raise DatasetError(f"{where}: {unknown} not among the declared labels {task.labels}")
        return ", ".join(sorted(labels)) or NONE_TARGET
    text = _cell(value)
    if text in task.labels:
        return text
    if not text:
        raise DatasetError(f"{where}: empty label; every row needs one of {task.labels}")
    parts = [_cell(p) for p in text.split(separator)]
    if len(parts) > 1 and all(p in task.labels for p in parts):
        raise DatasetError(f"{where}: {text!r} holds several labels; declare kind: multilabel for this task")
    raise DatasetError(f"{where}: {text!r} is not a declared label {task.labels}")


class TableAdapter:
    """The adapter interface (fetch into data/raw/table, load_splits, stratum) over a declaration."""

    def __init__(self, table: TableParams, tasks: list[Task]):
        missing = [s for s in SPLITS if s not in table.files]
        if missing or set(table.files) - set(SPLITS):
            raise DatasetError(f"params.yaml: table.files must map exactly {', '.join(SPLITS)} to files")
        self.table, self.tasks = table, tasks
        self.task_params = table.task_params()

    def fetch(self, out_dir: Path) -> dict[str, str]:
        """Copy the declared files into ``out_dir`` (DVC then tracks their content)."""
        sources = {Path(p).name: Path(p) for p in self.table.files.values()}
        if len(sources) != len(set(map(str, self.table.files.values()))):
            raise DatasetError("params.yaml: table.files: two different files share a name; rename one")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True)
        for name, path in sources.items():
            if not path.exists():
                raise DatasetError(f"params.yaml: table.files: {path} not found")
            shutil.copyfile(path, out_dir / name)
        return {name: str(path) for name, path in sources.items()}

    def _split_rows(self, raw_dir: Path, split: str) -> tuple[list[tuple[int, dict]], Path]:
        path = raw_dir / Path(self.table.files[split]).name
        rows = list(enumerate(read_rows(path), start=2 if path.suffix != ".jsonl" else 1))
        columns = [self.table.text_column, self.table.text_pair_column, self.table.id_column, self.table.split_column]
        columns += [t.column for t in self.task_params.values()]
        header = set(rows[0][1]) if rows else set()
        missing = [c for c in columns if c is not None and rows and c not in header]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(sorted(header))}")
        if self.table.split_column is not None:
            wanted = str(self.table.split_values.get(split, split))
            rows = [(n, r) for n, r in rows if _cell(r[self.table.split_column]) == wanted]
        return rows, path

    def read_split(self, raw_dir: Path, split: str) -> tuple[list[Record], dict]:
        rows, path = self._split_rows(raw_dir, split)
        table, out, dropped, seen = self.table, [], {"empty_text": 0}, {}
        for number, row in rows:
            where = f"{path}, {'line' if path.suffix == '.jsonl' else 'row'} {number}"
            text = _cell(row[table.text_column])
            pair = _cell(row[table.text_pair_column]) if table.text_pair_column else None
            if not text or pair == "":
                dropped["empty_text"] += 1
                continue
            content: Record = {"text": text} if pair is None else {"text_a": text, "text_b": pair}
            key = _cell(row[table.id_column]) if table.id_column else record_id("\n".join(content.values()))
            if table.id_column and key in seen:
                raise DatasetError(f"{where}: id {key!r} (column {table.id_column!r}) repeats row {seen[key]}")
            seen[key] = number
            record = {"id": key, **content, "labels": {}}
            for task in self.tasks:
                declared = self.task_params[task.name]
                record["labels"][task.name] = label_of(
                    task, row[declared.column], declared.separator, f"{where}, column {declared.column!r}"
                )
            out.append(record)
        out, dropped["duplicate_text"] = dedupe(out)
        return out, {"source": f"{path.name} ({split})", "posts_read": len(rows), "dropped": dropped}

    def load_splits(self, raw_dir: Path) -> tuple[dict[str, tuple[list[Record], dict]], str]:
        return {split: self.read_split(raw_dir, split) for split in SPLITS}, "declared"

    def stratum(self, record: Record) -> str:
        first = self.tasks[0]
        label = record["labels"][first.name]
        return label.split(", ")[0] if first.is_set_valued else label

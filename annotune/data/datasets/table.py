"""Any CSV / TSV / JSONL dataset declared in params.yaml (``dataset: table``, section ``table``).

The declaration names the files of the splits (one file per split, one file and a split column, or one file
that prepare carves into train / dev / test), the text column(s), and per task where its labels are, the kind
and the allowed labels (as written, or names mapped to the coded values of the column). Four shapes:

- *single*: one row per item, ``column`` holds its gold label;
- *long*: one row per item and annotator (``annotator_column``, and ``item_column`` or the text as the item);
- *wide*: one row per item, one label column per annotator (``annotator_columns``);
- *counts*: one row per item, one column per label holding how many annotators chose it (``count_columns``).

Instead of one label column, a task may have one checkbox column per label (``label_columns``; a cell among
``table.checked_values`` is ticked): one set per row in the single and long shapes, one set per annotator in the
wide shape (``{annotator}`` in the column names, replaced by each name of ``annotator_columns``).

In the three annotator shapes the gold is the annotators' majority (``ties`` says what a tie gives; for a
multilabel task per label: chosen by more than half of them) or Dawid-Skene's estimate (``gold: dawid_skene``,
crowd-kit), and the per-annotator labels go into the records as ``annotations`` {task: [label per annotator]}
with the annotators' ids in ``annotators`` (counts: no ids). ``id_column`` / ``item_column`` may list several
columns: their values joined by "/" (a "/" or "\\" inside a value escaped by "\\").

Declared attributes (``prepare.attributes``: column -> categorical | numeric) go into the records as
``attributes``; in the long shape an item's rows must agree on them (they describe the item, not the annotator).

Every row read is either part of a record or counted by reason in the stats; a file, row or value the
declaration cannot read as declared (not UTF-8, a column named twice, more cells than the header, a JSONL line
without a declared key, a value the declaration does not allow) is an error naming file, row, column.

The files are read by annotune/data/readers.py (annotate's reader too); the declaration's columns and shape are in
table_layout.py, the annotator shapes in table_annotators.py, labels and their aggregation in gold.py; the
single shape and the adapter interface here.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from annotune.config import TableParams
from annotune.data import paths
from annotune.data.datasets.common import DatasetError, Record, dedupe, read_attributes
from annotune.data.datasets.gold import cell
from annotune.data.datasets.table_annotators import AnnotatorShapes
from annotune.data.datasets.table_layout import TICK_REASONS, is_jsonl
from annotune.data.readers import ReadError, all_rows, file_format, show
from annotune.data.tasks import Task
from annotune.errors import ParamsError

SPLITS = ("train", "dev", "test")
POOL = "pool"  # the one file prepare carves into the three splits
log = logging.getLogger(__name__)


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(row number, row) of a CSV / TSV (header line) or JSONL file, read by :mod:`annotune.data.readers` (its module
    doc has the rules): numbers are a spreadsheet's rows or a JSONL file's lines, blank lines are no rows, and a
    row with fewer cells than the header reads the missing ones as None. Refused at the first, with one line naming
    the place: what the reader refuses, a byte that is not UTF-8, a row with more cells than the header, a JSONL
    line that is not one JSON object (or names a key twice)."""
    try:
        file_format(path)
        if not path.exists():
            raise DatasetError(f"{path} not found")
        return all_rows(path)
    except ReadError as exc:
        raise DatasetError(str(exc)) from None


def plain(name: str) -> str:
    """A column name as written, or its repr where it would break the line or run long."""
    return name if name.isprintable() and len(name) <= 60 else show(name, 60)


class TableAdapter(AnnotatorShapes):
    """The adapter interface (fetch into data/raw/table, load_splits, stratum) over a declaration; its columns and
    shape (:class:`~annotune.data.datasets.table_layout.TableLayout`), the annotator shapes
    (:class:`~annotune.data.datasets.table_annotators.AnnotatorShapes`) and the single shape (here)."""

    def __init__(self, table: TableParams, tasks: list[Task]):
        missing = [s for s in SPLITS if s not in table.files]
        if missing or set(table.files) - set(SPLITS):
            raise DatasetError(f"params.yaml: table.files must map exactly {', '.join(SPLITS)} to files")
        super().__init__(table, tasks)
        paths = [str(Path(table.files[s])) for s in SPLITS]
        self.carved = table.split_column is None and len(set(paths)) == 1
        self.shared = [s for s in SPLITS if paths.count(str(Path(table.files[s]))) > 1] if len(set(paths)) == 2 else []
        if table.group_column is not None and not self.carved:
            raise ParamsError(
                "params.yaml: table.group_column only applies when prepare carves the splits from one file "
                "(the same file for train, dev and test, no split_column); set it to null"
            )

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
            if not path.resolve().is_relative_to(paths.OWN_DATA.resolve()):
                log.warning(
                    "table.files: %s is outside %s/, which dvc.yaml declares as fetch_data's dependency: DVC will "
                    "not see its edits (move it there, or run `dvc repro -f fetch_data` after each edit)",
                    path,
                    paths.OWN_DATA,
                )
            shutil.copyfile(path, out_dir / name)
        return {name: str(path) for name, path in sources.items()}

    def _split_rows(self, raw_dir: Path, split: str) -> tuple[list[tuple[int, dict]], Path]:
        path = raw_dir / Path(self.table.files["train" if split == POOL else split]).name
        rows = read_rows(path)
        if is_jsonl(path):  # each line names its keys: each must name every declared one
            declared = self._columns(with_attributes=False)  # (an attribute's absence is named where it is read)
            for number, row in rows:
                missing = [c for c in declared if c not in row]
                if missing:
                    raise DatasetError(
                        f"{path}, line {number}: no key {', '.join(map(repr, missing))}; its keys: "
                        f"{', '.join(show(k, 40) for k in row) or 'none'} (write null for an empty value)"
                    )
        header = set(rows[0][1]) if rows else set()
        missing = [c for c in self._columns() if rows and c not in header]
        if missing:
            raise DatasetError(
                f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(plain, sorted(header)))}"
            )
        if self.table.split_column is not None:
            column = self.table.split_column
            wanted = str(self.table.split_values.get(split, split))
            found = sorted({cell(r[column]) for _, r in rows})
            rows = [(n, r) for n, r in rows if cell(r[column]) == wanted]
            if not rows:
                raise DatasetError(
                    f"prepare: the {split} split of table is empty: no row of {path.name} has {column} = {wanted!r} "
                    f"(values found: {show(found, 200)}); set table.split_values.{split} to the value marking its rows"
                )
        return rows, path

    def read_split(self, raw_dir: Path, split: str) -> tuple[list[Record], dict]:
        rows, path = self._split_rows(raw_dir, split)
        if self.shape == "single":
            return self._read_single(rows, path, split)
        return self._read_annotated(rows, path, split)

    def _read_single(self, rows, path: Path, split: str) -> tuple[list[Record], dict]:
        out, seen = [], {}
        dropped = {"empty_text": 0} | ({reason: 0 for reason in TICK_REASONS} if self._uses_ticks() else {})
        unit = "line" if is_jsonl(path) else "row"
        for number, row, where, content in self._with_text(rows, path, dropped):
            key = self._record_key(row, content, where, seen, f"{unit} {number}")
            record, why = {"id": key, **content, "labels": {}}, None
            for task in self.tasks:
                if self.task_params[task.name].label_columns is not None:
                    label, reason = self._ticked(row, task)
                    why = why or reason  # the row's other cells are still checked
                else:
                    column = self.task_params[task.name].column
                    label = self.labels[task.name].of(row[column], f"{where}, column {column!r}")
                record["labels"][task.name] = label
            if why:
                dropped[why] += 1
                continue
            if self.attributes:
                record["attributes"] = read_attributes(row, self.attributes, where)
            self._keep_group(record, row, where)
            out.append(record)
        out, dropped["duplicate_text"] = dedupe(out)
        return out, {"source": f"{path.name} ({split})", "posts_read": len(rows), "dropped": dropped}

    # -- the adapter interface -----------------------------------------------------------------------------------

    def load_splits(
        self, raw_dir: Path, attributes: dict[str, str] | None = None
    ) -> tuple[dict[str, tuple[list[Record], dict]], str]:
        """The three declared splits (layout ``declared``), or for one file and no split column the whole file
        as ``pool``, which prepare carves (layout ``carved``). ``attributes``: prepare.attributes."""
        self.attributes = dict(attributes or {})
        taken = [name for name in self.attributes if name in self._columns(with_attributes=False)]
        if taken:
            raise ParamsError(
                f"params.yaml: prepare.attributes declares {', '.join(taken)}, which the table section already "
                "reads as text, id, split, group, annotator or label column(s); an attribute is a column of its own"
            )
        if self.carved:
            return {POOL: self.read_split(raw_dir, POOL)}, "carved"
        if self.table.split_column is None and self.shared:
            raise ParamsError(
                f"params.yaml: table.files: {' and '.join(self.shared)} name the same file, so one would hold the "
                "other's rows; declare split_column (a column saying each row's split), give each split its own "
                "file, or give all three the same file for prepare to carve (table.split_fractions)"
            )
        return {split: self.read_split(raw_dir, split) for split in SPLITS}, "declared"

    def stratum(self, record: Record) -> str:
        first = self.tasks[0]
        label = record["labels"][first.name]
        return label.split(", ")[0] if first.is_set_valued else label

    def group_of(self, record: Record) -> str:
        """The record's group (``group_column``); a row with an empty group is a group of its own."""
        group = self.groups.get(record["id"], "")
        return group if group else f"\0{record['id']}"

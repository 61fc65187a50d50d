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
"""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import sys
from collections import Counter
from pathlib import Path

from annotune.config import TableParams, TableTaskParams, raw_key
from annotune.datasets.common import DatasetError, Record, dedupe, read_attributes, record_id
from annotune.errors import ParamsError
from annotune.tasks import NONE_TARGET, Task, normalize_groups

SPLITS = ("train", "dev", "test")
FORMATS = (".csv", ".tsv", ".jsonl")
POOL = "pool"  # the one file prepare carves into the three splits
TRACKED_FOLDER = Path("data/own")  # fetch_data's dependency in dvc.yaml: the declared files DVC sees edits of
log = logging.getLogger(__name__)


def read_rows(path: Path) -> list[tuple[int, dict]]:
    """(row number, row) of a CSV / TSV (header line) or JSONL file, the format from the extension. Numbers are
    a spreadsheet's rows (a blank line is a row, a quoted cell spanning lines is one row; the header is the first
    line that is not blank, row 1 in most files) or a JSONL file's lines. Refused with one line naming the place:
    a file that is not UTF-8, a header naming a column twice, a row with more cells than the header, a JSONL line
    that is not one JSON object (or names a key twice). A row with fewer cells than the header reads the missing
    ones as empty."""
    if path.suffix not in FORMATS:
        raise DatasetError(f"{path}: unknown format {path.suffix!r}; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise DatasetError(f"{path} not found")
    text = _decoded(path)
    if path.suffix == ".jsonl":
        return _jsonl_rows(path, text)
    return _delimited_rows(path, text)


def _decoded(path: Path) -> str:
    """The file's text (UTF-8, a byte order mark dropped), or an error naming the line and byte that are not."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DatasetError(
            f"{path}, line {line}: byte {column} of the line (0x{data[exc.start]:02x}, byte {exc.start + 1} of "
            "the file) is not UTF-8; the file is in another encoding (Latin-1 / Windows-1252?): "
            "re-save it as UTF-8 (Excel: CSV UTF-8; or iconv -f latin1 -t utf-8)"
        ) from None


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise _RepeatedKey(repeated[0])
    return dict(pairs)


class _RepeatedKey(Exception):
    pass


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        except _RepeatedKey as exc:
            raise DatasetError(
                f"{path}, line {number}: key {_show(exc.args[0])} appears twice in one object; keep one"
            ) from None
        except RecursionError:
            raise DatasetError(f"{path}, line {number}: JSON nested too deeply to read") from None
        if not isinstance(row, dict):
            raise DatasetError(
                f"{path}, line {number}: a JSON {type(row).__name__}, not an object; every line is one record "
                '{"key": value, ...}'
            )
        rows.append((number, row))
    return rows


def _delimited_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    csv.field_size_limit(sys.maxsize)  # a long cell (a whole document) is data, as annotate reads it
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if path.suffix == ".tsv" else ",")
    records = []
    try:
        for fields in reader:
            records.append(fields)
    except csv.Error as exc:
        raise DatasetError(f"{path}, line {reader.line_num}: unreadable {path.suffix[1:].upper()} ({exc})") from None
    first = next((i for i, fields in enumerate(records) if fields), None)
    if first is None:
        return []
    header, rows = records[first], []
    for name in header:
        if name and header.count(name) > 1:
            places = [str(i + 1) for i, n in enumerate(header) if n == name]
            raise DatasetError(
                f"{path}, row {first + 1}: the header names column {_show(name)} {len(places)} times (columns "
                f"{', '.join(places)}); which one holds the data is ambiguous: rename or remove the others"
            )
    for number, fields in enumerate(records[first + 1 :], start=first + 2):
        if not fields:
            continue  # a blank line: no row (it keeps its number, as a spreadsheet shows it)
        if len(fields) > len(header):
            raise DatasetError(
                f"{path}, row {number}: {len(fields)} cells, the header has {len(header)}; a cell holding the "
                f"delimiter ({'tab' if path.suffix == '.tsv' else 'comma'}) needs quotes, or the header lacks a "
                "column"
            )
        rows.append((number, dict(zip(header, fields + [None] * (len(header) - len(fields)), strict=True))))
    return rows


def _show(value, limit: int = 80) -> str:
    """A cell's value for a one-line message: repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...({len(str(value))} characters)"


def _plain(name: str) -> str:
    """A column name as written, or its repr where it would break the line or run long."""
    return name if name.isprintable() and len(name) <= 60 else _show(name, 60)


def _cell(value) -> str:
    return "" if value is None else str(value).strip()


def _empty(value) -> bool:
    return _cell(value) == "" or (isinstance(value, float) and value != value)  # NaN in JSONL


class Labels:
    """A task's label names and how the cells of its column(s) say them: as written (the list form), or by
    any of the raw values mapped to a name (the mapping form; numbers compare by value)."""

    def __init__(self, task: Task, declared: TableTaskParams):
        self.task, self.separator = task, declared.separator
        raw = declared.raw_values()
        self.by_raw = None if raw is None else {raw_key(v): name for name, values in raw.items() for v in values}
        self.declared = task.labels if raw is None else raw

    def name(self, value) -> str | None:
        if self.by_raw is None:
            text = _cell(value)
            return text if text in self.task.labels else None
        return self.by_raw.get(raw_key(value))

    def of(self, value, where: str) -> str:
        """The canonical label of one cell, or an error naming where it is. A multilabel cell lists its labels
        (empty, or ``none`` where that is no declared label: the empty set)."""
        task = self.task
        if task.kind == "generation":
            parts = value if isinstance(value, list) else _cell(value).split(self.separator)
            return normalize_groups(", ".join(_cell(p) for p in parts))
        if task.kind == "multilabel":
            parts = value if isinstance(value, list) else _cell(value).split(self.separator)
            parts = [p for p in parts if _cell(p) and not (self.name(p) is None and _cell(p).lower() == NONE_TARGET)]
            unknown = sorted({_cell(p) for p in parts if self.name(p) is None})
            if unknown:
                raise DatasetError(f"{where}: {_show(unknown)} not among the declared labels {self.declared}")
            return ", ".join(sorted({self.name(p) for p in parts})) or NONE_TARGET
        name = self.name(value)
        if name is not None:
            return name
        text = _cell(value)
        if not text:
            raise DatasetError(f"{where}: empty label; every row needs one of {self.declared}")
        parts = [_cell(p) for p in text.split(self.separator)]
        if len(parts) > 1 and all(self.name(p) is not None for p in parts):
            raise DatasetError(f"{where}: {_show(text)} holds several labels; declare kind: multilabel for this task")
        raise DatasetError(f"{where}: {_show(text)} is not a declared label {self.declared}")


def majority(labels: list, order: list[str], ties: str) -> str | None:
    """The most frequent label; a tie gives the tied label declared first / last, or None (``drop``)."""
    counts = Counter(v for v in labels if v is not None)
    if not counts:
        return None
    top = max(counts.values())
    tied = [label for label in order if counts.get(label) == top]
    if len(tied) == 1:
        return tied[0]
    return {"first_label": tied[0], "last_label": tied[-1]}.get(ties)


def set_majority(sets: list[frozenset | None], order: list[str], ties: str) -> list[str] | None:
    """A multilabel gold: the labels more than half of the annotators chose (in ``order``). A label chosen by
    exactly half is a tie between leaving it out and keeping it, read as a binary task [left out, chosen]:
    ``drop`` gives None (the item has no gold), ``first_label`` leaves it out, ``last_label`` keeps it."""
    given = [s for s in sets if s is not None]
    if not given:
        return None
    chosen = []
    for label in order:
        votes = 2 * sum(label in s for s in given)
        if votes == len(given):
            if ties == "drop":
                return None
            if ties == "last_label":
                chosen.append(label)
        elif votes > len(given):
            chosen.append(label)
    return chosen


def dawid_skene(items: list[tuple[str, list, list]]) -> dict[str, str]:
    """Dawid-Skene (crowd-kit) over (item key, labels, annotators): item key -> estimated label."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    triples = [
        (key, worker, label)
        for key, labels, workers in items
        for label, worker in zip(labels, workers, strict=True)
        if label is not None
    ]
    if not triples:
        return {}
    frame = pd.DataFrame(triples, columns=["task", "worker", "label"])
    return {str(k): str(v) for k, v in DawidSkene(n_iter=100).fit_predict(frame).items()}


ANNOTATOR = "{annotator}"  # in a checkbox column's name (wide shape): replaced by each annotator's name
TICK_REASONS = ("no_label_ticked", "several_labels_ticked")  # a single-label checkbox set with no / several ticks


def _id_part(value: str) -> str:
    return value.replace("\\", "\\\\").replace("/", "\\/")


def _columns_named(columns: str | list[str] | None) -> str:
    if columns is None or isinstance(columns, str):
        return f"column {columns!r}"
    return f"columns {', '.join(map(repr, columns))}"


class TableAdapter:
    """The adapter interface (fetch into data/raw/table, load_splits, stratum) over a declaration."""

    def __init__(self, table: TableParams, tasks: list[Task]):
        missing = [s for s in SPLITS if s not in table.files]
        if missing or set(table.files) - set(SPLITS):
            raise DatasetError(f"params.yaml: table.files must map exactly {', '.join(SPLITS)} to files")
        self.table, self.tasks = table, tasks
        declared = table.task_params()  # the tasks in use: a declared task params.yaml's tasks leave out is not read
        self.task_params = {t.name: declared[t.name] for t in tasks}
        self.labels = {t.name: Labels(t, self.task_params[t.name]) for t in tasks}
        self._ticks = {raw_key(v).lower() for v in table.checked_values}  # checkbox cells that mean "ticked"
        self.shape = self._shape()
        self.groups: dict[str, str] = {}  # record id -> group (group_column), for the carve
        self.attributes: dict[str, str] = {}  # prepare.attributes, set by load_splits
        paths = [str(Path(table.files[s])) for s in SPLITS]
        self.carved = table.split_column is None and len(set(paths)) == 1
        self.shared = [s for s in SPLITS if paths.count(str(Path(table.files[s]))) > 1] if len(set(paths)) == 2 else []
        if table.group_column is not None and not self.carved:
            raise ParamsError(
                "params.yaml: table.group_column only applies when prepare carves the splits from one file "
                "(the same file for train, dev and test, no split_column); set it to null"
            )

    def _shape(self) -> str:
        table, declared = self.table, self.task_params
        key = "params.yaml: table"
        if table.item_column is not None and table.annotator_column is None:
            raise ParamsError(f"{key}.item_column needs table.annotator_column (the long shape: item x annotator rows)")
        for name, task in declared.items():  # checkbox columns: one set, or one per annotator ({annotator})
            templated = [c for c in (task.label_columns or {}).values() if ANNOTATOR in c]
            if templated and len(templated) != len(task.label_columns):
                raise ParamsError(
                    f"{key}.tasks.{name}.label_columns: {ANNOTATOR} is in some column names, not all: one set of "
                    f"columns per annotator puts it in every name (wide shape), one set for the row in none"
                )
        wide = {n for n, t in declared.items() if t.annotator_columns is not None or self._per_annotator(n)}
        counts = {n for n, t in declared.items() if t.count_columns is not None}
        columns = {n for n, t in declared.items() if t.column is not None}
        if table.annotator_column is not None:
            shape = "long"
            if wide or counts or table.annotator_columns is not None:
                raise ParamsError(
                    f"{key}: the long shape (annotator_column) reads each task's column (or one set of "
                    f"label_columns, without {ANNOTATOR}); remove annotator_columns / count_columns"
                )
        elif counts:
            shape = "counts"
            if len(counts) != len(declared):
                raise ParamsError(
                    f"{key}.tasks: {sorted(set(declared) - counts)} declare no count_columns; in the "
                    "counts shape every task does"
                )
        elif wide or table.annotator_columns is not None:
            shape = "wide"
            if columns:
                raise ParamsError(
                    f"{key}.tasks: {sorted(columns)} declare a column but the table is wide "
                    "(annotator_columns); give every task annotator_columns"
                )
        else:
            shape = "single"
        for task in self.tasks:
            where = f"{key}.tasks.{task.name}"
            checkbox = declared[task.name].label_columns is not None
            if shape in ("single", "long") and declared[task.name].column is None and not checkbox:
                raise ParamsError(
                    f"{where}.column is missing: the column holding this task's labels (or label_columns: one "
                    "checkbox column per label)"
                )
            if shape != "single" and task.kind == "generation":
                raise ParamsError(
                    f"{where}: several annotators per item are aggregated for binary, multiclass and multilabel "
                    "tasks, not generation (free text has no majority)"
                )
            if shape == "counts" and task.kind == "multilabel":
                raise ParamsError(
                    f"{where}: a multilabel task cannot take count_columns: counts per label do not say how many "
                    "annotators chose none, so no label has a majority; use the long or wide shape"
                )
            if shape == "wide" and checkbox and not self._per_annotator(task.name):
                raise ParamsError(
                    f"{where}.label_columns: the table is wide (annotator_columns), so each annotator has their own "
                    f'checkbox columns: write {ANNOTATOR} in each column name (e.g. "{ANNOTATOR}_yes") and list the '
                    "annotators' names in table.annotator_columns"
                )
            if shape == "wide" and checkbox and not self._annotator_columns(task.name):
                raise ParamsError(
                    f"{where}.label_columns names one set of columns per annotator ({ANNOTATOR}); list the "
                    "annotators' names, which replace it, in table.annotator_columns"
                )
            if table.gold == "dawid_skene" and task.kind == "multilabel":
                raise ParamsError(
                    f"{key}.gold: dawid_skene estimates one label per item, not {task.name!r}'s set of labels; use "
                    "gold: majority (per label: chosen by more than half of the annotators)"
                )
        if shape == "wide":
            sizes = {len(self._annotator_columns(n)) for n in declared}
            if len(sizes) > 1:
                raise ParamsError(
                    f"{key}.tasks: every task's annotator_columns must list the same annotators "
                    "(the same number of columns, in the same annotator order)"
                )
        if table.gold == "dawid_skene" and shape not in ("long", "wide"):
            raise ParamsError(
                f"{key}.gold: dawid_skene needs annotator ids (the long or wide shape); "
                f"the {shape} shape has none: use majority"
            )
        return shape

    def _annotator_columns(self, task: str) -> list[str]:
        """Wide shape: the task's label column per annotator, or with checkbox columns the annotators' names."""
        return self.task_params[task].annotator_columns or self.table.annotator_columns or []

    def _per_annotator(self, task: str) -> bool:
        """Checkbox columns with one set per annotator (``{annotator}`` in their names)."""
        return any(ANNOTATOR in c for c in (self.task_params[task].label_columns or {}).values())

    def _checkbox_columns(self, task: str, annotator: str | None = None) -> dict[str, str]:
        """Label -> its checkbox column (of ``annotator``, in the wide shape)."""
        columns = self.task_params[task].label_columns or {}
        return {label: c.replace(ANNOTATOR, annotator or "") for label, c in columns.items()}

    def _ticked(self, row: dict, task: Task, annotator: str | None = None) -> tuple[str | None, str | None]:
        """(label, None) from a row's checkbox columns, or (None, why): a multilabel task's ticked set (none
        ticked: ``none``, the empty set); a single-label task's one ticked label (none or several: no label)."""
        ticked = [label for label, c in self._checkbox_columns(task.name, annotator).items() if self._checked(row[c])]
        if task.kind == "multilabel":
            return task.from_set(ticked), None
        if len(ticked) == 1:
            return ticked[0], None
        return None, TICK_REASONS[len(ticked) > 1]

    def _checked(self, value) -> bool:
        return not _empty(value) and raw_key(value).lower() in self._ticks

    def _annotator_cells(self, row: dict, index: int) -> list:
        """Wide shape: every cell of the ``index``-th annotator in ``row``, over the tasks."""
        cells = []
        for task in self.task_params:
            annotator = self._annotator_columns(task)[index]
            columns = self._checkbox_columns(task, annotator).values() if self._per_annotator(task) else [annotator]
            cells += [row[c] for c in columns]
        return cells

    def _uses_ticks(self) -> bool:
        """A single-label task reads checkbox columns: its rows may have no or several ticks (counted)."""
        return any(self.task_params[t.name].label_columns and t.is_classification for t in self.tasks)

    def _key(self, row: dict, columns: str | list[str], where: str, what: str) -> str:
        """The value of an id column, or of several joined by "/" (a "/" or "\\" inside a value escaped by
        "\\": unambiguous); an empty value is an error naming the column."""
        names = [columns] if isinstance(columns, str) else list(columns)
        parts = []
        for column in names:
            value = _cell(row[column])
            if not value:
                raise DatasetError(
                    f"{where}, column {column!r}: empty {what}; every row needs one"
                    + (" (or set table.id_column: null for ids from the text)" if what == "id" else "")
                )
            parts.append(value)
        return parts[0] if len(parts) == 1 else "/".join(_id_part(p) for p in parts)

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
            if not path.resolve().is_relative_to(TRACKED_FOLDER.resolve()):
                log.warning(
                    "table.files: %s is outside %s/, which dvc.yaml declares as fetch_data's dependency: DVC will "
                    "not see its edits (move it there, or run `dvc repro -f fetch_data` after each edit)",
                    path,
                    TRACKED_FOLDER,
                )
            shutil.copyfile(path, out_dir / name)
        return {name: str(path) for name, path in sources.items()}

    def _columns(self, with_attributes: bool = True) -> list[str]:
        table = self.table

        def listed(columns):
            return [columns] if columns is None or isinstance(columns, str) else list(columns)

        columns = [table.text_column, table.text_pair_column, *listed(table.id_column), table.split_column]
        columns += [table.group_column, table.annotator_column, *listed(table.item_column)]
        for name, declared in self.task_params.items():
            columns += [declared.column, *(declared.count_columns or {}).values()]
            if not self._per_annotator(name):
                columns += self._annotator_columns(name)
            for annotator in self._annotator_columns(name) if self._per_annotator(name) else [None]:
                columns += self._checkbox_columns(name, annotator).values()
        if with_attributes:
            columns += list(self.attributes)
        return [c for c in dict.fromkeys(columns) if c is not None]

    def _split_rows(self, raw_dir: Path, split: str) -> tuple[list[tuple[int, dict]], Path]:
        path = raw_dir / Path(self.table.files["train" if split == POOL else split]).name
        rows = read_rows(path)
        if path.suffix == ".jsonl":  # each line names its keys: each must name every declared one
            declared = self._columns(with_attributes=False)  # (an attribute's absence is named where it is read)
            for number, row in rows:
                missing = [c for c in declared if c not in row]
                if missing:
                    raise DatasetError(
                        f"{path}, line {number}: no key {', '.join(map(repr, missing))}; its keys: "
                        f"{', '.join(_show(k, 40) for k in row) or 'none'} (write null for an empty value)"
                    )
        header = set(rows[0][1]) if rows else set()
        missing = [c for c in self._columns() if rows and c not in header]
        if missing:
            raise DatasetError(
                f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(map(_plain, sorted(header)))}"
            )
        if self.table.split_column is not None:
            column = self.table.split_column
            wanted = str(self.table.split_values.get(split, split))
            found = sorted({_cell(r[column]) for _, r in rows})
            rows = [(n, r) for n, r in rows if _cell(r[column]) == wanted]
            if not rows:
                raise DatasetError(
                    f"prepare: the {split} split of table is empty: no row of {path.name} has {column} = {wanted!r} "
                    f"(values found: {_show(found, 200)}); set table.split_values.{split} to the value marking its rows"
                )
        return rows, path

    def _where(self, path: Path, number: int) -> str:
        return f"{path}, {'line' if path.suffix == '.jsonl' else 'row'} {number}"

    def _content(self, row: dict) -> Record | None:
        table = self.table
        text = _cell(row[table.text_column])
        pair = _cell(row[table.text_pair_column]) if table.text_pair_column else None
        if not text or pair == "":
            return None
        return {"text": text} if pair is None else {"text_a": text, "text_b": pair}

    def read_split(self, raw_dir: Path, split: str) -> tuple[list[Record], dict]:
        rows, path = self._split_rows(raw_dir, split)
        if self.shape == "single":
            return self._read_single(rows, path, split)
        return self._read_annotated(rows, path, split)

    def _read_single(self, rows, path: Path, split: str) -> tuple[list[Record], dict]:
        table, out, seen = self.table, [], {}
        dropped = {"empty_text": 0} | ({reason: 0 for reason in TICK_REASONS} if self._uses_ticks() else {})
        unit = "line" if path.suffix == ".jsonl" else "row"
        for number, row in rows:
            where = self._where(path, number)
            content = self._content(row)
            if content is None:
                dropped["empty_text"] += 1
                continue
            if table.id_column:
                key = self._key(row, table.id_column, where, "id")
                if key in seen:
                    raise DatasetError(
                        f"{where}: id {_show(key)} ({_columns_named(table.id_column)}) repeats {unit} {seen[key]}"
                    )
            else:
                key = record_id("\n".join(content.values()))
            seen[key] = number
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

    def _keep_group(self, record: Record, row: dict, where: str) -> None:
        column = self.table.group_column
        if column is None:
            return
        self.groups.setdefault(record["id"], _cell(row[column]))  # a repeated text keeps its first row's group

    # -- the annotator shapes ---------------------------------------------------------------------------------

    def _items(self, rows, path: Path, counts: Counter) -> list[dict]:
        """Rows -> items: {"where", "record", "row", "annotators": [ids] | None, "labels": {task: [label|None]}}."""
        if self.shape == "long":
            return self._long_items(rows, path, counts)
        items = []
        for number, row in rows:
            where = self._where(path, number)
            content = self._content(row)
            if content is None:
                counts["empty_text"] += 1
                continue
            item = {"where": where, "content": content, "row": row, "rows": [number]}
            if self.attributes:
                item["attributes"] = read_attributes(row, self.attributes, where)
            if self.shape == "wide":
                item["annotators"] = list(self._annotator_columns(self.tasks[0].name))
                # an annotator all of whose cells in the row are empty did not label the item
                blank = [all(map(_empty, self._annotator_cells(row, i))) for i in range(len(item["annotators"]))]
                item["labels"] = {}
                for task in self.tasks:
                    item["labels"][task.name] = [
                        None if blank[i] else self._wide_label(row, task, column, where, counts)
                        for i, column in enumerate(self._annotator_columns(task.name))
                    ]
            else:
                item["annotators"], item["labels"] = None, {}
                for task in self.tasks:
                    expanded = []
                    for label in task.labels:
                        column = self.task_params[task.name].count_columns[label]
                        expanded += [label] * self._count(row[column], f"{where}, column {column!r}")
                    item["labels"][task.name] = expanded
            items.append(item)
        return items

    def _wide_label(self, row: dict, task: Task, column: str, where: str, counts: Counter) -> str | None:
        """The label of an annotator who labelled the item (wide shape): their column (empty: no label for this
        task; for a multilabel task the empty set), or with checkbox columns (``column`` is then their name) the
        ticked one(s)."""
        if self.task_params[task.name].label_columns is not None:
            return self._counted(self._ticked(row, task, column), counts)
        if _empty(row[column]) and task.kind != "multilabel":
            return None
        return self.labels[task.name].of(row[column], f"{where}, column {column!r}")

    @staticmethod
    def _counted(ticked: tuple[str | None, str | None], counts: Counter) -> str | None:
        label, why = ticked
        if why:
            counts[why] += 1
        return label

    def _label_place(self, task: str) -> str:
        column = self.task_params[task].column
        return f"column {column!r}" if column is not None else f"label_columns of {task!r}"

    @staticmethod
    def _count(value, where: str) -> int:
        if _empty(value):
            return 0
        try:
            number = float(_cell(value))
        except ValueError:
            number = -1.0
        if number < 0 or number != int(number):
            raise DatasetError(f"{where}: {_cell(value)!r} is not a count of annotators (a whole number, 0 or more)")
        return int(number)

    def _long_items(self, rows, path: Path, counts: Counter) -> list[dict]:
        table = self.table
        items: dict[str, dict] = {}
        for number, row in rows:
            where = self._where(path, number)
            content = self._content(row)
            if content is None:
                counts["empty_text"] += 1
                continue
            if table.item_column:
                key = self._key(row, table.item_column, where, "item id")
            else:
                key = "\n".join(content.values())
            annotator = _cell(row[table.annotator_column])
            if not annotator:
                raise DatasetError(f"{where}, column {table.annotator_column!r}: empty annotator id")
            item = items.get(key)
            attributes = read_attributes(row, self.attributes, where) if self.attributes else None
            if item is None:
                item = items[key] = {"where": where, "content": content, "row": row, "rows": [], "by_annotator": {}}
                if attributes is not None:
                    item["attributes"] = attributes
            elif attributes is not None and attributes != item["attributes"]:
                name = next(n for n in self.attributes if attributes[n] != item["attributes"][n])
                raise DatasetError(
                    f"{where}, column {name!r}: item {_show(key)} has {attributes[name]!r} here but "
                    f"{item['attributes'][name]!r} at {item['where']}; an attribute describes the item, so its rows "
                    "must agree"
                )
            elif table.group_column and _cell(row[table.group_column]) != _cell(item["row"][table.group_column]):
                raise DatasetError(
                    f"{where}, column {table.group_column!r}: item {_show(key)} is in group "
                    f"{_show(_cell(row[table.group_column]))} here but "
                    f"{_show(_cell(item['row'][table.group_column]))} at {item['where']}; an item belongs to one group"
                )
            if item["content"] != content:
                raise DatasetError(
                    f"{where}: item {_show(key)} ({_columns_named(table.item_column)}) has text "
                    f"{_show(next(iter(content.values())))}, but its first row ({item['where']}) has "
                    f"{_show(next(iter(item['content'].values())))}"
                )
            item["rows"].append(number)
            labels = {}
            for task in self.tasks:
                column = self.task_params[task.name].column
                if column is None:  # checkbox columns: none ticked is the empty set (multilabel) or no label
                    labels[task.name] = self._counted(self._ticked(row, task), counts)
                elif task.kind == "multilabel":  # the row is the annotator's answer: an empty cell, the empty set
                    labels[task.name] = self.labels[task.name].of(row[column], f"{where}, column {column!r}")
                else:
                    value = row[column]
                    labels[task.name] = (
                        None if _empty(value) else self.labels[task.name].of(value, f"{where}, column {column!r}")
                    )
            given = item["by_annotator"].get(annotator)
            if given is None:
                item["by_annotator"][annotator] = {"labels": labels, "where": where, "all": {}}
                continue
            counts["repeated_annotator_rows"] += 1  # merged: the same annotator's labels, written again
            for task, label in labels.items():
                earlier = given["labels"][task]
                if table.repeats != "error":  # kept whole: the policy picks one, evaluate reports their agreement
                    given["all"].setdefault(task, [] if earlier is None else [earlier])
                    if label is not None:
                        given["all"][task].append(label)
                if earlier is None:
                    given["labels"][task] = label
                elif label is not None and label != earlier and table.repeats == "error":
                    raise DatasetError(
                        f"{where}, {self._label_place(task)}: annotator {_show(annotator)} labels item {_show(key)} "
                        f"{label!r} here but "
                        f"{earlier!r} at {given['where']}; keep one row per annotator and item, make them agree, or "
                        "set table.repeats to first, last or majority"
                    )
        for item in items.values():
            annotators = list(item.pop("by_annotator").items())
            item["annotators"] = [a for a, _ in annotators]
            item["labels"] = {t.name: [given["labels"][t.name] for _, given in annotators] for t in self.tasks}
            item["repeats"] = {}
            for t in self.tasks:
                repeated = {a: given["all"][t.name] for a, given in annotators if len(given["all"].get(t.name, [])) > 1}
                for i, (annotator, _) in enumerate(annotators):
                    if annotator in repeated:
                        item["labels"][t.name][i] = self._one_label(repeated[annotator], t, counts)
                if repeated:
                    item["repeats"][t.name] = repeated
        return list(items.values())

    def _one_label(self, labels: list[str], task: Task, counts: Counter) -> str | None:
        """One annotator's label for an item they labelled several times (``table.repeats``); a tied majority
        follows ``table.ties`` (``drop``: no label from them for this task)."""
        counts["repeated_annotator_items"] += 1
        counts["repeated_annotator_items_disagreeing"] += len(set(labels)) > 1
        if self.table.repeats == "first":
            return labels[0]
        if self.table.repeats == "last":
            return labels[-1]
        return self._gold(labels, task)

    def _gold(self, labels: list[str | None], task: Task) -> str | None:
        """The majority of ``labels`` (a tie follows ``table.ties``; None: no gold); for a multilabel task per
        label: the labels more than half of them chose (``set_majority``)."""
        if task.kind != "multilabel":
            return majority(labels, task.labels, self.table.ties)
        sets = [None if v is None else task.as_set(v) for v in labels]
        chosen = set_majority(sets, task.labels, self.table.ties)
        return None if chosen is None else task.from_set(chosen)

    def _read_annotated(self, rows, path: Path, split: str) -> tuple[list[Record], dict]:
        table = self.table
        rows_dropped: Counter = Counter(empty_text=0, repeated_annotator_rows=0)
        items = self._items(rows, path, rows_dropped)
        merged = rows_dropped.pop("repeated_annotator_rows")
        repeated = {
            "annotator_items": rows_dropped.pop("repeated_annotator_items", 0),
            "disagreeing": rows_dropped.pop("repeated_annotator_items_disagreeing", 0),
        }
        ticks = {reason: rows_dropped.pop(reason, 0) for reason in TICK_REASONS}
        dropped = Counter(no_annotator_label=0, tied_majority=0)
        annotation = Counter(empty_labels=0, annotators_without_label=0, single_annotator_items=0)
        kept = []
        for item in items:
            labels, annotators = item["labels"], item["annotators"]
            annotation["empty_labels"] += sum(v is None for task_labels in labels.values() for v in task_labels)
            if annotators is not None:  # an annotator with no label for any task is no annotator of the item
                keep = [i for i in range(len(annotators)) if any(labels[t][i] is not None for t in labels)]
                annotation["annotators_without_label"] += len(annotators) - len(keep)
                annotators = [annotators[i] for i in keep]
                labels = {t: [v[i] for i in keep] for t, v in labels.items()}
            if any(not any(v is not None for v in task_labels) for task_labels in labels.values()):
                dropped["no_annotator_label"] += 1
                continue
            item["labels"], item["annotators"] = labels, annotators
            kept.append(item)
        gold = {}
        if table.gold == "dawid_skene":
            for task in self.tasks:
                keyed = [(str(i), item["labels"][task.name], item["annotators"]) for i, item in enumerate(kept)]
                estimated = dawid_skene(keyed)
                for i in range(len(kept)):
                    gold.setdefault(i, {})[task.name] = estimated.get(str(i))
        out, seen = [], {}
        for i, item in enumerate(kept):
            record_labels = {}
            for task in self.tasks:
                if table.gold == "dawid_skene":
                    record_labels[task.name] = gold[i][task.name]
                else:
                    record_labels[task.name] = self._gold(item["labels"][task.name], task)
            if any(v is None for v in record_labels.values()):
                dropped["tied_majority"] += 1
                continue
            content, where = item["content"], item["where"]
            if table.id_column:
                key = self._key(item["row"], table.id_column, where, "id")
                if key in seen:
                    raise DatasetError(
                        f"{where}: id {_show(key)} ({_columns_named(table.id_column)}) repeats {seen[key]}"
                    )
            else:
                key = record_id("\n".join(content.values()))
            seen[key] = where
            record = {"id": key, **content, "labels": record_labels, "annotations": item["labels"]}
            if item["annotators"] is not None:
                record["annotators"] = item["annotators"]
            if item.get("repeats"):  # {task: {annotator: every label they gave}}, for the test-retest agreement
                record["repeats"] = item["repeats"]
            if self.attributes:
                record["attributes"] = item["attributes"]
            per_item = max(len(v) for v in item["labels"].values())
            annotation["single_annotator_items"] += per_item == 1
            self._keep_group(record, item["row"], where)
            out.append(record)
        out, dropped["duplicate_text"] = dedupe(out)
        annotation["annotators"] = len({a for r in out for a in r.get("annotators", [])})
        annotation["labels_per_item"] = (
            round(sum(max(len(v) for v in r["annotations"].values()) for r in out) / len(out), 4) if out else 0.0
        )
        if self._uses_ticks():  # (annotator, task) checkbox sets with no / several ticks: no label (empty_labels)
            annotation.update(ticks)
        stats = {
            "source": f"{path.name} ({split}, {self.shape} shape, gold: {table.gold})",
            "rows_read": len(rows),
            "rows_dropped": dict(rows_dropped),
            "posts_read": len(items),
            "dropped": dict(dropped),
            "annotation": dict(annotation),
        }
        if self.shape == "long":  # rows_read = empty_text + rows_merged + the items' (annotator, item) pairs
            stats["rows_merged"] = merged
            if table.repeats != "error":  # (annotator, item, task) labelled twice or more; kept by the policy
                stats["repeats"] = {"policy": table.repeats} | repeated
        return out, stats

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

"""A table declaration's columns (annotune/data/datasets/table.py): which of the four shapes it has (single, long,
wide, counts) and the checks that the declaration is one of them, which columns hold the text, the ids, the
annotators and each task's labels (one column, checkbox columns, a set per annotator), and reading those cells
in a row. :class:`TableLayout` is the base of the table adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from annotune.config import TableParams, raw_key
from annotune.data.datasets.common import DatasetError, Record, record_id
from annotune.data.datasets.gold import Labels, cell, empty
from annotune.data.readers import show
from annotune.data.tasks import Task
from annotune.errors import ParamsError

ANNOTATOR = "{annotator}"  # in a checkbox column's name (wide shape): replaced by each annotator's name
TICK_REASONS = ("no_label_ticked", "several_labels_ticked")  # a single-label checkbox set with no / several ticks


def id_part(value: str) -> str:
    """One value of an id joined from several columns, its "/" and "\\" escaped by "\\"."""
    return value.replace("\\", "\\\\").replace("/", "\\/")


def columns_named(columns: str | list[str] | None) -> str:
    """The id column(s) as a message names them."""
    if columns is None or isinstance(columns, str):
        return f"column {columns!r}"
    return f"columns {', '.join(map(repr, columns))}"


def is_jsonl(path: Path) -> bool:
    """Its rows are lines (JSONL), not a spreadsheet's rows."""
    return path.suffix.lower() == ".jsonl"


class TableLayout:
    """A declaration's columns and shape, checked against its tasks; how a row's cells read."""

    def __init__(self, table: TableParams, tasks: list[Task]):
        self.table, self.tasks = table, tasks
        declared = table.task_params()  # the tasks in use: a declared task params.yaml's tasks leave out is not read
        self.task_params = {t.name: declared[t.name] for t in tasks}
        self.labels = {t.name: Labels(t, self.task_params[t.name]) for t in tasks}
        self._ticks = {raw_key(v).lower() for v in table.checked_values}  # checkbox cells that mean "ticked"
        self.shape = self._shape()
        self.groups: dict[str, str] = {}  # record id -> group (group_column), for the carve
        self.attributes: dict[str, str] = {}  # prepare.attributes, set by load_splits

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
        return not empty(value) and raw_key(value).lower() in self._ticks

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
            value = cell(row[column])
            if not value:
                raise DatasetError(
                    f"{where}, column {column!r}: empty {what}; every row needs one"
                    + (" (or set table.id_column: null for ids from the text)" if what == "id" else "")
                )
            parts.append(value)
        return parts[0] if len(parts) == 1 else "/".join(id_part(p) for p in parts)

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

    def _where(self, path: Path, number: int) -> str:
        return f"{path}, {'line' if is_jsonl(path) else 'row'} {number}"

    def _content(self, row: dict) -> Record | None:
        table = self.table
        text = cell(row[table.text_column])
        pair = cell(row[table.text_pair_column]) if table.text_pair_column else None
        if not text or pair == "":
            return None
        return {"text": text} if pair is None else {"text_a": text, "text_b": pair}

    def _with_text(self, rows, path: Path, dropped) -> Iterator[tuple[int, dict, str, Record]]:
        """(number, row, where, content) of each row holding a text; a row without one is counted in
        ``dropped["empty_text"]``, never skipped silently."""
        for number, row in rows:
            where, content = self._where(path, number), self._content(row)
            if content is None:
                dropped["empty_text"] += 1
                continue
            yield number, row, where, content

    def _record_key(self, row: dict, content: Record, where: str, seen: dict[str, str], place: str) -> str:
        """The record's id: the id column's value, refused when an earlier row (``seen``: id -> its place) had it;
        without an id column, a hash of the text. ``place`` is this row's, as a later repeat names it."""
        table = self.table
        if not table.id_column:
            return record_id("\n".join(content.values()))
        key = self._key(row, table.id_column, where, "id")
        if key in seen:
            raise DatasetError(f"{where}: id {show(key)} ({columns_named(table.id_column)}) repeats {seen[key]}")
        seen[key] = place
        return key

    def _keep_group(self, record: Record, row: dict, where: str) -> None:
        column = self.table.group_column
        if column is None:
            return
        self.groups.setdefault(record["id"], cell(row[column]))  # a repeated text keeps its first row's group

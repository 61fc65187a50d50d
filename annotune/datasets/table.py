"""Any CSV / TSV / JSONL dataset declared in params.yaml (``dataset: table``, section ``table``).

The declaration names the files of the splits (one file per split, one file and a split column, or one file
that prepare carves into train / dev / test), the text column(s), and per task where its labels are, the kind
and the allowed labels (as written, or names mapped to the coded values of the column). Four shapes:

- *single*: one row per item, ``column`` holds its gold label;
- *long*: one row per item and annotator (``annotator_column``, and ``item_column`` or the text as the item);
- *wide*: one row per item, one label column per annotator (``annotator_columns``);
- *counts*: one row per item, one column per label holding how many annotators chose it (``count_columns``).

In the three annotator shapes the gold is the annotators' majority (``ties`` says what a tie gives) or
Dawid-Skene's estimate (``gold: dawid_skene``, crowd-kit), and the per-annotator labels go into the records as
``annotations`` {task: [label per annotator]} with the annotators' ids in ``annotators`` (counts: no ids).

Declared attributes (``prepare.attributes``: column -> categorical | numeric) go into the records as
``attributes``; in the long shape an item's rows must agree on them (they describe the item, not the annotator).

Every row read is either part of a record or counted by reason in the stats; a value the declaration does not
allow is an error naming file, row, column.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

from annotune.config import TableParams, TableTaskParams, raw_key
from annotune.datasets.common import DatasetError, Record, dedupe, read_attributes, record_id
from annotune.errors import ParamsError
from annotune.tasks import NONE_TARGET, Task, normalize_groups

SPLITS = ("train", "dev", "test")
FORMATS = (".csv", ".tsv", ".jsonl")
POOL = "pool"  # the one file prepare carves into the three splits


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
        """The canonical label of one cell, or an error naming where it is."""
        task = self.task
        if task.kind == "generation":
            parts = value if isinstance(value, list) else _cell(value).split(self.separator)
            return normalize_groups(", ".join(_cell(p) for p in parts))
        if task.kind == "multilabel":
            parts = value if isinstance(value, list) else _cell(value).split(self.separator)
            parts = [p for p in parts if _cell(p)]
            unknown = sorted({_cell(p) for p in parts if self.name(p) is None})
            if unknown:
                raise DatasetError(f"{where}: {unknown} not among the declared labels {self.declared}")
            return ", ".join(sorted({self.name(p) for p in parts})) or NONE_TARGET
        name = self.name(value)
        if name is not None:
            return name
        text = _cell(value)
        if not text:
            raise DatasetError(f"{where}: empty label; every row needs one of {self.declared}")
        parts = [_cell(p) for p in text.split(self.separator)]
        if len(parts) > 1 and all(self.name(p) is not None for p in parts):
            raise DatasetError(f"{where}: {text!r} holds several labels; declare kind: multilabel for this task")
        raise DatasetError(f"{where}: {text!r} is not a declared label {self.declared}")


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
        wide = {n for n, t in declared.items() if t.annotator_columns is not None}
        counts = {n for n, t in declared.items() if t.count_columns is not None}
        columns = {n for n, t in declared.items() if t.column is not None}
        if table.annotator_column is not None:
            shape = "long"
            if wide or counts or table.annotator_columns is not None:
                raise ParamsError(
                    f"{key}: the long shape (annotator_column) reads each task's column; remove "
                    "annotator_columns / count_columns"
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
            if shape in ("single", "long") and declared[task.name].column is None:
                raise ParamsError(f"{where}.column is missing: the column holding this task's labels")
            if shape != "single" and not task.is_classification:
                raise ParamsError(
                    f"{where}: several annotators per item are aggregated for binary and multiclass "
                    f"tasks, not {task.kind}"
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
        return self.task_params[task].annotator_columns or self.table.annotator_columns or []

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

    def _columns(self, with_attributes: bool = True) -> list[str]:
        table = self.table
        columns = [table.text_column, table.text_pair_column, table.id_column, table.split_column]
        columns += [table.group_column, table.annotator_column, table.item_column]
        for name, declared in self.task_params.items():
            columns += [declared.column, *self._annotator_columns(name), *(declared.count_columns or {}).values()]
        if with_attributes:
            columns += list(self.attributes)
        return [c for c in dict.fromkeys(columns) if c is not None]

    def _split_rows(self, raw_dir: Path, split: str) -> tuple[list[tuple[int, dict]], Path]:
        path = raw_dir / Path(self.table.files["train" if split == POOL else split]).name
        rows = list(enumerate(read_rows(path), start=2 if path.suffix != ".jsonl" else 1))
        header = set(rows[0][1]) if rows else set()
        missing = [c for c in self._columns() if rows and c not in header]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(sorted(header))}")
        if self.table.split_column is not None:
            column = self.table.split_column
            wanted = str(self.table.split_values.get(split, split))
            found = sorted({_cell(r[column]) for _, r in rows})
            rows = [(n, r) for n, r in rows if _cell(r[column]) == wanted]
            if not rows:
                raise DatasetError(
                    f"prepare: the {split} split of table is empty: no row of {path.name} has {column} = {wanted!r} "
                    f"(values found: {found}); set table.split_values.{split} to the value marking its rows"
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
        table, out, dropped, seen = self.table, [], {"empty_text": 0}, {}
        for number, row in rows:
            where = self._where(path, number)
            content = self._content(row)
            if content is None:
                dropped["empty_text"] += 1
                continue
            key = _cell(row[table.id_column]) if table.id_column else record_id("\n".join(content.values()))
            if table.id_column and key in seen:
                raise DatasetError(f"{where}: id {key!r} (column {table.id_column!r}) repeats row {seen[key]}")
            seen[key] = number
            record = {"id": key, **content, "labels": {}}
            for task in self.tasks:
                column = self.task_params[task.name].column
                record["labels"][task.name] = self.labels[task.name].of(row[column], f"{where}, column {column!r}")
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
                item["labels"] = {}
                for task in self.tasks:
                    columns = self._annotator_columns(task.name)
                    item["labels"][task.name] = [
                        None if _empty(row[c]) else self.labels[task.name].of(row[c], f"{where}, column {c!r}")
                        for c in columns
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
            key = _cell(row[table.item_column]) if table.item_column else "\n".join(content.values())
            if table.item_column and not key:
                raise DatasetError(f"{where}, column {table.item_column!r}: empty item id")
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
                    f"{where}, column {name!r}: item {key!r} has {attributes[name]!r} here but "
                    f"{item['attributes'][name]!r} at {item['where']}; an attribute describes the item, so its rows "
                    "must agree"
                )
            elif table.group_column and _cell(row[table.group_column]) != _cell(item["row"][table.group_column]):
                raise DatasetError(
                    f"{where}, column {table.group_column!r}: item {key!r} is in group "
                    f"{_cell(row[table.group_column])!r} here but {_cell(item['row'][table.group_column])!r} at "
                    f"{item['where']}; an item belongs to one group"
                )
            if item["content"] != content:
                raise DatasetError(
                    f"{where}: item {key!r} (column {table.item_column!r}) has text {next(iter(content.values()))!r}, "
                    f"but its first row ({item['where']}) has {next(iter(item['content'].values()))!r}"
                )
            item["rows"].append(number)
            labels = {}
            for task in self.tasks:
                column = self.task_params[task.name].column
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
                    column = self.task_params[task].column
                    raise DatasetError(
                        f"{where}, column {column!r}: annotator {annotator!r} labels item {key!r} {label!r} here but "
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
        return majority(labels, task.labels, self.table.ties)

    def _read_annotated(self, rows, path: Path, split: str) -> tuple[list[Record], dict]:
        table = self.table
        rows_dropped: Counter = Counter(empty_text=0, repeated_annotator_rows=0)
        items = self._items(rows, path, rows_dropped)
        merged = rows_dropped.pop("repeated_annotator_rows")
        repeated = {
            "annotator_items": rows_dropped.pop("repeated_annotator_items", 0),
            "disagreeing": rows_dropped.pop("repeated_annotator_items_disagreeing", 0),
        }
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
                    record_labels[task.name] = majority(item["labels"][task.name], task.labels, table.ties)
            if any(v is None for v in record_labels.values()):
                dropped["tied_majority"] += 1
                continue
            content, where = item["content"], item["where"]
            key = _cell(item["row"][table.id_column]) if table.id_column else record_id("\n".join(content.values()))
            if table.id_column and key in seen:
                raise DatasetError(f"{where}: id {key!r} (column {table.id_column!r}) repeats {seen[key]}")
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

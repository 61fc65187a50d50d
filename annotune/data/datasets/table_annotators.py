"""The three shapes of a declared table with several annotators per item (annotune/data/datasets/table.py): rows
-> items, each with every annotator's label per task (long: a row per item and annotator, repeated rows merged by
``table.repeats``; wide: a column per annotator, or a set of checkbox columns per annotator; counts: a column per
label counting the annotators who chose it), then the items -> records with their gold (the majority, or
Dawid-Skene's estimate) and the stats of what was dropped and why."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from annotune.data.datasets.common import DatasetError, Record, dedupe, read_attributes
from annotune.data.datasets.gold import cell, dawid_skene, empty, majority, set_majority
from annotune.data.datasets.table_layout import TICK_REASONS, TableLayout, columns_named
from annotune.data.readers import show
from annotune.data.tasks import Task


class AnnotatorShapes(TableLayout):
    """Reading a split of the long, wide or counts shape (``_read_annotated``)."""

    def _items(self, rows, path: Path, counts: Counter) -> list[dict]:
        """Rows -> items: {"where", "record", "row", "annotators": [ids] | None, "labels": {task: [label|None]}}."""
        if self.shape == "long":
            return self._long_items(rows, path, counts)
        items = []
        for number, row, where, content in self._with_text(rows, path, counts):
            item = {"where": where, "content": content, "row": row, "rows": [number]}
            if self.attributes:
                item["attributes"] = read_attributes(row, self.attributes, where)
            if self.shape == "wide":
                item["annotators"] = list(self._annotator_columns(self.tasks[0].name))
                # an annotator all of whose cells in the row are empty did not label the item
                blank = [all(map(empty, self._annotator_cells(row, i))) for i in range(len(item["annotators"]))]
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
        if empty(row[column]) and task.kind != "multilabel":
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
        if empty(value):
            return 0
        try:
            number = float(cell(value))
        except ValueError:
            number = -1.0
        if number < 0 or number != int(number):
            raise DatasetError(f"{where}: {cell(value)!r} is not a count of annotators (a whole number, 0 or more)")
        return int(number)

    def _long_items(self, rows, path: Path, counts: Counter) -> list[dict]:
        table = self.table
        items: dict[str, dict] = {}
        for number, row, where, content in self._with_text(rows, path, counts):
            if table.item_column:
                key = self._key(row, table.item_column, where, "item id")
            else:
                key = "\n".join(content.values())
            annotator = cell(row[table.annotator_column])
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
                    f"{where}, column {name!r}: item {show(key)} has {attributes[name]!r} here but "
                    f"{item['attributes'][name]!r} at {item['where']}; an attribute describes the item, so its rows "
                    "must agree"
                )
            elif table.group_column and cell(row[table.group_column]) != cell(item["row"][table.group_column]):
                raise DatasetError(
                    f"{where}, column {table.group_column!r}: item {show(key)} is in group "
                    f"{show(cell(row[table.group_column]))} here but "
                    f"{show(cell(item['row'][table.group_column]))} at {item['where']}; an item belongs to one group"
                )
            if item["content"] != content:
                raise DatasetError(
                    f"{where}: item {show(key)} ({columns_named(table.item_column)}) has text "
                    f"{show(next(iter(content.values())))}, but its first row ({item['where']}) has "
                    f"{show(next(iter(item['content'].values())))}"
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
                        None if empty(value) else self.labels[task.name].of(value, f"{where}, column {column!r}")
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
                        f"{where}, {self._label_place(task)}: annotator {show(annotator)} labels item {show(key)} "
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
            key = self._record_key(item["row"], content, where, seen, where)
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

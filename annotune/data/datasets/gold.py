"""The labels of a declared table (annotune/data/datasets/table.py): how its cells say a task's labels
(:class:`Labels`), and the gold of an item several annotators labelled: their majority (``majority``, per label
for a multilabel task: ``set_majority``) or Dawid-Skene's estimate (``dawid_skene``, crowd-kit)."""

from __future__ import annotations

from collections import Counter

from annotune.config import TableTaskParams, raw_key
from annotune.data.datasets.common import DatasetError
from annotune.data.readers import show
from annotune.data.tasks import NONE_TARGET, Task, normalize_groups


def cell(value) -> str:
    """A cell's text, stripped; an absent cell (None) is empty."""
    return "" if value is None else str(value).strip()


def empty(value) -> bool:
    """An empty cell: blank, absent, or NaN (JSONL)."""
    return cell(value) == "" or (isinstance(value, float) and value != value)  # NaN in JSONL


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
            text = cell(value)
            return text if text in self.task.labels else None
        return self.by_raw.get(raw_key(value))

    def of(self, value, where: str) -> str:
        """The canonical label of one cell, or an error naming where it is. A multilabel cell lists its labels
        (empty, or ``none`` where that is no declared label: the empty set)."""
        task = self.task
        if task.kind == "generation":
            parts = value if isinstance(value, list) else cell(value).split(self.separator)
            return normalize_groups(", ".join(cell(p) for p in parts))
        if task.kind == "multilabel":
            parts = value if isinstance(value, list) else cell(value).split(self.separator)
            parts = [p for p in parts if cell(p) and not (self.name(p) is None and cell(p).lower() == NONE_TARGET)]
            unknown = sorted({cell(p) for p in parts if self.name(p) is None})
            if unknown:
                raise DatasetError(f"{where}: {show(unknown)} not among the declared labels {self.declared}")
            return ", ".join(sorted({self.name(p) for p in parts})) or NONE_TARGET
        name = self.name(value)
        if name is not None:
            return name
        text = cell(value)
        if not text:
            raise DatasetError(f"{where}: empty label; every row needs one of {self.declared}")
        parts = [cell(p) for p in text.split(self.separator)]
        if len(parts) > 1 and all(self.name(p) is not None for p in parts):
            raise DatasetError(f"{where}: {show(text)} holds several labels; declare kind: multilabel for this task")
        raise DatasetError(f"{where}: {show(text)} is not a declared label {self.declared}")


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

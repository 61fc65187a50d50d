"""``dataset: table``'s declared schema and how its data cells are read: ``TableParams`` (files, splits, columns,
annotators, gold), ``TableTaskParams`` (one task: where its labels are and what they are), ``SplitFractions``, and
the cell parsing shared by prepare and annotate (``RawValue``, ``raw_key``, ``attribute_values``,
``EMPTY_CATEGORY``)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass

from annotune.config.types import SECTION, Bool, Float

RawValue = bool | int | float | str  # a label as a file writes it (JSONL keeps numbers and booleans typed)


def raw_key(value) -> str:
    """How a raw label value is compared: booleans and numbers by value (``0``, ``0.0`` and ``"0.0"`` are one
    value), other text stripped as written."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(float(value))
    text = "" if value is None else str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number) if text.lower() not in ("nan", "inf", "-inf", "infinity", "-infinity") else text


EMPTY_CATEGORY = "none"  # what an empty categorical attribute cell is: a value of its own, never a dropped row


def attribute_values(row: dict, attributes: dict[str, str]) -> dict[str, str | float]:
    """The declared attribute columns of a row as records carry them: categorical -> the cell's text (empty ->
    ``EMPTY_CATEGORY``), numeric -> a finite float. A cell that is neither raises ValueError naming the column
    (callers add file and row); prepare and annotate both read cells here, so a system sees the same values."""
    out = {}
    for name, kind in attributes.items():
        if name not in row:
            raise ValueError(f"no column {name!r} (a declared attribute, prepare.attributes)")
        try:
            out[name] = _attribute_value(kind, row[name])
        except ValueError as exc:
            raise ValueError(f"column {name!r}: {exc}") from None
    return out


def _attribute_value(kind: str, value) -> str | float:
    if isinstance(value, list | dict):
        raise ValueError(f"{value!r} is not a single value")
    if isinstance(value, bool):
        text = str(value).lower()
    else:
        text = "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()
    if kind == "categorical":
        return text or EMPTY_CATEGORY
    if not text:
        raise ValueError("empty value; a numeric attribute needs a number in every row")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number (declared numeric)") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite number (declared numeric)")
    return number


@dataclass(frozen=True, config=SECTION)
class TableTaskParams:
    """One task of a ``table`` dataset: where its labels are and what they are.

    The labels of a row come from exactly one of: ``column`` (one label per row: the gold, or in the long shape
    one annotator's label), ``annotator_columns`` (wide shape: one column per annotator) or ``count_columns``
    (counts shape: label -> column holding how many annotators chose it)."""

    kind: str  # binary | multiclass | multilabel | generation (checked with the labels, annotune/data/tasks.py)
    column: str | None = None
    # allowed labels as written in the file, or label name -> raw value(s) of the column ({no: [0, "0.0"], yes: 1})
    labels: list[str] | dict[str, RawValue | list[RawValue]] = dataclasses.field(default_factory=list)
    ordinal: Bool = False  # the labels are ordered (in the declared order): agreement at the ordinal level
    annotator_columns: list[str] | None = None  # wide shape: one label column per annotator
    count_columns: dict[str, str] | None = None  # counts shape: label -> column of annotator counts
    # checkbox shape: label -> its column, a ticked cell (table.checked_values) = the label chosen; in the single
    # and long shapes one set of columns, in the wide shape one set per annotator ("{annotator}" in the name)
    label_columns: dict[str, str] | None = None
    instruction: str | None = None  # what the LLM is asked; null: a generic one naming the answers
    answers: dict[str, str] = dataclasses.field(default_factory=dict)  # label -> the word the LLM answers
    positive: str | None = None  # binary: the label ROC-AUC treats as positive (default: the second)
    separator: str = ","  # multilabel / generation: between the labels of one cell

    @field_validator("labels", mode="before")
    @classmethod
    def _names_are_text(cls, labels):
        if isinstance(labels, list):
            raw = [label for label in labels if not isinstance(label, str)]
            if raw:
                raise ValueError(
                    f"lists {raw!r}, which are raw values, not label names: name each label and map it to its "
                    "values, e.g. labels: {negative: 0, positive: 1}"
                )
            repeated = sorted({label for label in labels if labels.count(label) > 1})
            if repeated:
                raise ValueError(f"lists {repeated} more than once; each label once")
        return labels

    @field_validator("labels")
    @classmethod
    def _raw_values_distinct(cls, labels):
        if isinstance(labels, dict):
            owner: dict[str, str] = {}
            for name, values in labels.items():
                for value in values if isinstance(values, list) else [values]:
                    key = raw_key(value)
                    if key in owner and owner[key] != name:
                        raise ValueError(f"raw value {value!r} is mapped to both {owner[key]!r} and {name!r}")
                    owner[key] = name
                if isinstance(values, list) and not values:
                    raise ValueError(f"label {name!r} maps to no raw value")
        return labels

    @field_validator("annotator_columns")
    @classmethod
    def _columns_distinct(cls, columns):
        if columns is not None and (not columns or len(set(columns)) != len(columns)):
            raise ValueError("must list one column per annotator, each once")
        return columns

    @field_validator("count_columns")
    @classmethod
    def _count_columns(cls, columns, info):
        if columns is None:
            return columns
        if len(columns) < 2 or len(set(columns.values())) != len(columns):
            raise ValueError("must map each label (at least two) to its own column")
        labels = info.data.get("labels")
        if isinstance(labels, dict):
            raise ValueError("counts columns are per label: declare labels as a list (or leave it out)")
        if labels and set(labels) != set(columns):
            raise ValueError(f"names labels {sorted(columns)}, but labels lists {labels}")
        sources = [k for k in ("column", "annotator_columns") if info.data.get(k) is not None]
        if sources:
            raise ValueError(f"declare one of column, annotator_columns, count_columns (also set: {sources[0]})")
        return columns

    @field_validator("annotator_columns", mode="after")
    @classmethod
    def _one_source(cls, columns, info):
        if columns is not None and info.data.get("column") is not None:
            raise ValueError("declare one of column, annotator_columns, count_columns (also set: column)")
        return columns

    @field_validator("label_columns")
    @classmethod
    def _checkbox_columns(cls, columns, info):
        if columns is None:
            return columns
        if len(columns) < 2 or len(set(columns.values())) != len(columns):
            raise ValueError("must map each label (at least two) to its own column")
        labels = info.data.get("labels")
        if isinstance(labels, dict):
            raise ValueError("checkbox columns are per label: declare labels as a list (or leave it out)")
        if labels and set(labels) != set(columns):
            raise ValueError(f"names labels {sorted(columns)}, but labels lists {labels}")
        sources = [k for k in ("column", "count_columns") if info.data.get(k) is not None]
        if sources:
            raise ValueError(f"declare one of column, count_columns, label_columns (also set: {sources[0]})")
        return columns

    @property
    def label_names(self) -> list[str]:
        """The task's label names, in the declared order."""
        if self.labels:
            return [str(name) for name in self.labels]
        return list(self.count_columns or self.label_columns or [])

    def raw_values(self) -> dict[str, list] | None:
        """Label name -> the raw values that mean it (the mapping form), or None (values are the names)."""
        if not isinstance(self.labels, dict):
            return None
        return {name: v if isinstance(v, list) else [v] for name, v in self.labels.items()}


@dataclass(frozen=True, config=SECTION)
class SplitFractions:
    """Shares of the items (of the groups, with ``group_column``) carved into dev and test from one file."""

    dev: Annotated[Float, Field(gt=0, lt=1)] = 0.1
    test: Annotated[Float, Field(gt=0, lt=1)] = 0.2

    @field_validator("test")
    @classmethod
    def _train_left(cls, test, info):
        if info.data.get("dev", 0) + test >= 1:
            raise ValueError(f"dev + test must stay below 1 (dev is {info.data.get('dev')}): train gets the rest")
        return test


@dataclass(frozen=True, config=SECTION)
class TableParams:
    """``dataset: table``: any CSV / TSV / JSONL files, declared here (docs/datasets.md, "Your own data")."""

    files: dict[str, str] = dataclasses.field(default_factory=dict)  # train / dev / test -> path (may repeat)
    split_column: str | None = None  # set: each split keeps the rows whose split_column is split_values[split]
    split_values: dict[str, str] = dataclasses.field(
        default_factory=lambda: {"train": "train", "dev": "dev", "test": "test"}
    )
    # one file for all three splits and no split_column: prepare carves dev and test (seeded, stratified on the
    # first task's label, whole groups of group_column) with these shares; train gets the rest
    split_fractions: SplitFractions = dataclasses.field(default_factory=SplitFractions)
    group_column: str | None = None  # carve: rows sharing a value (author, thread, document) stay in one split
    text_column: str = "text"
    text_pair_column: str | None = None  # set: a sentence-pair task (text_column is the first sentence)
    id_column: str | list[str] | None = None  # null: ids are hashes of the text; several columns: joined
    # long shape (one row per item x annotator): the annotator's id column, and the item's id column (null: the
    # item is its text)
    annotator_column: str | None = None
    item_column: str | list[str] | None = None  # several columns (conversation, turn): one item per combination
    annotator_columns: list[str] | None = None  # wide shape: the annotators' columns, for tasks naming none
    # checkbox columns (label_columns): the cells that mean "ticked" (compared as raw values, text case-blind);
    # empty or any other value means not ticked
    checked_values: list[RawValue] = dataclasses.field(default_factory=lambda: [1, True, "yes", "x"])
    gold: Literal["majority", "dawid_skene"] = "majority"  # several annotators: how their labels make the gold
    ties: Literal["drop", "first_label", "last_label"] = "drop"  # majority tie: drop the item, or the tied label
    # declared first / last
    # long shape, one annotator labelling one item twice (test-retest designs): error, or keep their first / last /
    # most frequent label (the repeats' own agreement is reported either way)
    repeats: Literal["error", "first", "last", "majority"] = "error"
    tasks: dict[str, TableTaskParams] = dataclasses.field(default_factory=dict)

    def task_params(self) -> dict[str, TableTaskParams]:
        return dict(self.tasks)

"""Label Studio's exports back into annotune (``annotune labelstudio import``, docs/annotation-loop.md): JSON,
JSON-MIN and CSV exports read into annotune's long shape, one row per item x annotator, with the cancelled and
empty annotations counted; the export side and the command are in annotune/workflows/labelstudio.py."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from annotune.data.readers import all_rows
from annotune.data.tasks import Task, normalize_groups
from annotune.errors import DataError, MissingInputError
from annotune.workflows.labelstudio import CONTROL, EXPORT_KEYS, GOLD_KEY, ID_KEY, INCLUSION_KEY, TEXT, TEXT_PAIR


@dataclass
class Annotation:
    task_id: object
    annotation_id: object
    data: dict
    annotator: str | None
    answers: list[str] | None  # None: no result for the label control
    lead_time: float | None


def answers_of(value, from_csv: bool = False) -> list[str] | None:
    """The answers in a label value as Label Studio writes it: a result's ``value`` ({"choices": [...]} or
    {"text": [...]}), or JSON-MIN's short form (one choice or text as a string, else the value or a list of them;
    CSV writes those as JSON text)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        if from_csv and value[:1] in "[{":
            try:
                return answers_of(json.loads(value))
            except json.JSONDecodeError:
                pass  # a typed answer that merely starts with a bracket
        return [value]
    if isinstance(value, dict):
        return [str(v) for v in value.get("choices", value.get("text", []))]
    return [answer for item in value for answer in answers_of(item) or []]


def _annotator(completed_by) -> str | None:
    # as Label Studio's own JSON-MIN / CSV converter names annotators: the user id, or the email of a user object
    if isinstance(completed_by, dict):
        return completed_by.get("email")
    return None if completed_by is None else str(completed_by)


def _lead_time(value) -> float | None:
    return None if value in (None, "") else float(value)


def _full_json(tasks: list[dict], counts: dict) -> list[Annotation]:
    out = []
    for task in tasks:
        annotations = task.get("annotations") or []
        if not annotations:
            counts["unlabelled_tasks"] += 1
        for annotation in annotations:
            if annotation.get("was_cancelled"):
                counts["cancelled"] += 1
                continue
            values = [r.get("value") for r in annotation.get("result") or [] if r.get("from_name") == CONTROL]
            out.append(
                Annotation(
                    task.get("id"),
                    annotation.get("id"),
                    task.get("data") or {},
                    _annotator(annotation.get("completed_by")),
                    answers_of(values) if values else None,
                    _lead_time(annotation.get("lead_time")),
                )
            )
    return out


def _flat(records: list[dict], counts: dict, from_csv: bool) -> list[Annotation]:
    """JSON-MIN and CSV: one record per annotation, the task's data keys beside the export's own."""
    out = []
    for record in records:
        if record.get("annotation_id") in (None, ""):
            counts["unlabelled_tasks"] += 1
            continue
        data = {k: v for k, v in record.items() if k not in EXPORT_KEYS}
        out.append(
            Annotation(
                record.get("id"),
                record["annotation_id"],
                data,
                _annotator(record.get("annotator")),
                answers_of(record.get(CONTROL), from_csv),
                _lead_time(record.get("lead_time")),
            )
        )
    return out


def read_export(path: Path) -> tuple[str, list[Annotation], dict]:
    """A Label Studio export's annotations (JSON, JSON-MIN or CSV, told apart by content), its format and counts."""
    if not path.is_file():
        raise MissingInputError(f"{path}: Label Studio export not found")
    counts = {"cancelled": 0, "unlabelled_tasks": 0}
    if path.suffix.lower() in (".csv", ".tsv"):
        records = [values for _, values in all_rows(path)]  # the one CSV reader: BOM, line ends, bad bytes named
        return "CSV", _flat(records, counts, from_csv=True), counts
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise DataError(f"{path}: not a Label Studio export (a JSON list of tasks)")
    if tasks and "annotations" in tasks[0]:
        return "JSON", _full_json(tasks, counts), counts
    return "JSON-MIN", _flat(tasks, counts, from_csv=False), counts


def label_of(task: Task, answers: list[str] | None, where: str) -> str | None:
    """The annotune label of one annotation's answers; None for an empty annotation."""
    if task.kind == "generation":
        return None if not answers else normalize_groups(", ".join(answers))
    if answers is None:
        # a multi-label annotator who ticks nothing says no label applies; a single choice is required
        return task.from_set([]) if task.kind == "multilabel" else None
    unknown = [a for a in answers if a not in task.labels]
    if unknown or (task.is_classification and len(answers) != 1):
        raise DataError(f"{where}: {answers} is not {'one' if task.is_classification else 'a set'} of {task.labels}")
    return answers[0] if task.is_classification else task.from_set(answers)


def _is_true(value) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1")


def import_rows(path: Path, task: Task) -> tuple[list[dict], dict]:
    export_format, annotations, counts = read_export(path)
    counts |= {"format": export_format, "empty": 0}
    rows = []
    for a in annotations:
        where = f"{path}: Label Studio task {a.task_id}, annotation {a.annotation_id}"
        if a.data.get(ID_KEY) in (None, ""):
            raise DataError(f"{where}: no data.{ID_KEY}; import tasks made by `annotune labelstudio export`")
        if a.annotator in (None, ""):
            raise DataError(f"{where}: no annotator (completed_by)")
        label = label_of(task, a.answers, where)
        if label is None:
            counts["empty"] += 1
            continue
        inclusion = a.data.get(INCLUSION_KEY)
        extra = {k: v for k, v in a.data.items() if k not in (TEXT, TEXT_PAIR, ID_KEY, GOLD_KEY, INCLUSION_KEY)}
        rows.append(
            {
                "item_id": str(a.data[ID_KEY]),
                "annotator": a.annotator,
                "label": label,
                "lead_time": a.lead_time,
                "gold": _is_true(a.data.get(GOLD_KEY)),
                "inclusion_probability": None if inclusion in (None, "") else float(inclusion),
                "labelstudio_task": a.task_id,
                "annotation_id": a.annotation_id,
                TEXT: a.data.get(TEXT),
                **({TEXT_PAIR: a.data[TEXT_PAIR]} if TEXT_PAIR in a.data else {}),
                **extra,
            }
        )
    return rows, counts


def write_rows(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def import_main(args) -> None:
    from annotune.config import load_params

    task = load_params().task(args.task)
    if args.out.resolve() == args.export.resolve():
        raise DataError(f"--out {args.out} is the export file")
    rows, counts = import_rows(args.export, task)
    write_rows(args.out, rows)
    items, annotators = len({r["item_id"] for r in rows}), len({r["annotator"] for r in rows})
    cancelled = (
        f"{counts['cancelled']} cancelled"
        if counts["format"] == "JSON"
        else "cancelled ones not counted (Label Studio leaves them out of JSON-MIN and CSV exports; use JSON)"
    )
    print(
        f"{args.out}: {len(rows)} labels of {items} items by {annotators} annotators ({counts['format']} export); "
        f"left out: {cancelled}, {counts['empty']} empty, {counts['unlabelled_tasks']} tasks without annotation"
    )
    timed = [r["lead_time"] for r in rows if r["lead_time"] is not None]
    if timed:
        print(f"median lead time: {statistics.median(timed):.1f} s per human label ({len(timed)} labels timed)")

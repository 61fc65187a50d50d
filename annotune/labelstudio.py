"""The annotation loop's round trip with Label Studio (docs/annotation-loop.md): tasks out, human labels back.

    annotune labelstudio export <task> --input items.csv --text-column post --id-column post_id \
        [--predictions annotated.jsonl | batch.jsonl] [--gold-sample gold_ids.txt] --out tasks.json [--config x.xml]
    annotune labelstudio import export.json --task <task> --out labels.csv

- **Export** writes Label Studio's import format: one task per item, ``data`` holding the text (``text``, and
  ``text_pair`` with ``--text-pair-column``), the declared attributes (prepare.attributes) under their names,
  the annotune id (``annotune_id``) and ``annotune_gold``; ``predictions`` holding the model's label as a
  pre-annotation (``model_version`` = system@adapter hash, ``score`` = its confidence, a ``result`` for the
  ``label`` control). Items of a gold sample (``--gold-sample`` ids, and the random picks of an
  ``annotune select`` batch, with their ``annotune_inclusion_probability``) go out blind: without predictions
  (annotators shown a suggestion tend to adopt it, which would bias the gold) and with ``annotune_gold: true``.
  The labeling config is generated from the task: single ``Choices`` (binary, multiclass), ``Choices
  choice="multiple"`` (multi-label), ``TextArea`` (generation), one ``Text`` per sentence of a pair.
- **Import** reads Label Studio's JSON, JSON-MIN or CSV export into annotune's long shape, one row per item x
  annotator: ``item_id``, ``annotator`` (``completed_by``: the Label Studio user id), ``label``, ``lead_time``
  (seconds), ``gold``, ``inclusion_probability``, the Label Studio task and annotation ids, and the item's text
  (and pair, attributes), so a ``table`` declaration with ``item_column`` / ``annotator_column`` reads it as it
  is. Cancelled (skipped) annotations, empty ones and tasks nobody labelled are counted and left out; the
  median lead time is printed as the measured seconds per human label.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from annotune.errors import DataError, MissingInputError, ParamsError
from annotune.select import read_ids, read_predictions
from annotune.tasks import Task, normalize_groups

CONTROL = "label"  # the control tag: the from_name of every result
TEXT, TEXT_PAIR = "text", "text_pair"
ID_KEY, GOLD_KEY, INCLUSION_KEY = "annotune_id", "annotune_gold", "annotune_inclusion_probability"
# JSON-MIN and CSV exports put these beside the task's data keys (label_studio_sdk.converter)
EXPORT_KEYS = {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement", CONTROL}
RESERVED_KEYS = {TEXT, TEXT_PAIR, ID_KEY, GOLD_KEY, INCLUSION_KEY} | EXPORT_KEYS
VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what a $variable of a labeling config can name


# ----------------------------------------------------------------------------------------------------- export


def check_attribute_names(attributes: dict) -> None:
    for name in attributes:
        if not VARIABLE.fullmatch(name) or name in RESERVED_KEYS:
            raise ParamsError(
                f"params.yaml: prepare.attributes.{name}: Label Studio cannot show an attribute named {name!r} "
                f"(letters, digits and _ only, and none of {sorted(RESERVED_KEYS)}); rename the column"
            )


def question(task: Task) -> str:
    """What annotators are asked. The instruction's "Answer with ..." sentence lists the LLM's answer words, not
    the choices people see, so it goes; a generation task keeps it (it says how to write the answer)."""
    if task.kind == "generation":
        return task.instruction
    return task.instruction.split(" Answer with")[0]


def label_config(task: Task, pair: bool = False, attributes: list[str] = ()) -> str:
    """The labeling config (XML) for ``task``: the text (two for a sentence pair), the attributes, one control."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value=question(task))
    ET.SubElement(view, "Text", name=TEXT, value=f"${TEXT}")
    if pair:
        ET.SubElement(view, "Text", name=TEXT_PAIR, value=f"${TEXT_PAIR}")
    for name in attributes:
        ET.SubElement(view, "Header", value=name, size="6")
        ET.SubElement(view, "Text", name=f"attribute_{name}", value=f"${name}")
    if task.kind == "generation":
        ET.SubElement(view, "TextArea", name=CONTROL, toName=TEXT, required="true", maxSubmissions="1")
    else:
        multiple = task.kind == "multilabel"
        choices = ET.SubElement(
            view, "Choices", name=CONTROL, toName=TEXT, choice="multiple" if multiple else "single", showInline="true"
        )
        if not multiple:  # a multi-label item may have no label: submitting no choice says so
            choices.set("required", "true")
        for label in task.labels:
            ET.SubElement(choices, "Choice", value=label)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def prediction(task: Task, record: dict, where: str) -> dict:
    """annotate's label for one item as a Label Studio prediction (pre-annotation)."""
    label = record["label"]
    if task.kind == "generation":
        result = [{"type": "textarea", "value": {"text": [label]}}]
    else:
        choices = [label] if task.is_classification else sorted(task.as_set(label))
        unknown = [c for c in choices if c not in task.labels]
        if unknown:
            raise DataError(f"{where}: label {unknown} is not one of {task.name}'s labels {task.labels}")
        result = [{"type": "choices", "value": {"choices": choices}}] if choices else []
    version = record.get("adapter_version")
    out = {
        "model_version": f"{record.get('system')}@{version[:12]}" if version else str(record.get("system")),
        "result": [{"from_name": CONTROL, "to_name": TEXT, **item} for item in result],
    }
    if record.get("confidence") is not None:
        out["score"] = record["confidence"]
    return out


def export_tasks(args, task: Task, attributes: dict, text_column: str, id_column: str | None) -> dict:
    from annotune.annotate_input import check_input, read_rows  # the same reader as annotate: same ids, same checks

    check_input(args.input, text_column, id_column, attributes)
    predicted, error_rows = read_predictions(args.predictions) if args.predictions else (None, 0)
    wanted = None if predicted is None else {r["id"]: r for r in predicted}
    gold = set(read_ids(args.gold_sample)) if args.gold_sample else set()
    rows = {}
    for row in read_rows(args.input, text_column, id_column, attributes):
        if wanted is not None and row.id not in wanted:
            continue
        if row.error:
            raise DataError(row.error)
        if row.id in rows:
            raise DataError(f"{args.input}: rows {rows[row.id].row} and {row.row} have the same id {row.id!r}")
        pair = row.columns.get(args.text_pair_column) if args.text_pair_column else None
        if args.text_pair_column and not (isinstance(pair, str) and pair.strip()):
            raise DataError(
                f"{args.input.name} row {row.row}: empty or missing text in column {args.text_pair_column!r}"
            )
        rows[row.id] = row
    missing = [i for i in (wanted or {}) if i not in rows]
    if missing:
        raise DataError(
            f"{args.input}: no row with id {missing[0]!r} of {args.predictions} ({len(missing)} ids missing; the "
            "same --id-column as annotate?)"
        )
    outside = sorted(gold - set(rows))
    if outside:
        raise DataError(
            f"{args.gold_sample}: id {outside[0]!r} is not among the exported items ({len(outside)} ids are not)"
        )
    tasks, blind = [], 0
    for item_id in wanted or rows:
        row, record = rows[item_id], (wanted or {}).get(item_id)
        selection = (record or {}).get("selection") or {}
        is_gold = item_id in gold or selection.get("selected_by") == "random"
        data = {TEXT: row.text, ID_KEY: item_id, GOLD_KEY: is_gold}
        if args.text_pair_column:
            data[TEXT_PAIR] = row.columns[args.text_pair_column]
        data |= {name: str(row.columns[name]) for name in attributes}  # shown as text, as read
        if is_gold and selection.get("inclusion_probability") is not None:
            data[INCLUSION_KEY] = selection["inclusion_probability"]
        labelstudio_task = {"data": data}
        if record is not None and not is_gold:
            labelstudio_task["predictions"] = [prediction(task, record, f"{args.predictions}, id {item_id!r}")]
        blind += is_gold
        tasks.append(labelstudio_task)
    return {"tasks": tasks, "blind": blind, "error_rows": error_rows}


def export_main(args) -> None:
    from annotune.config import load_params

    params = load_params()
    task = params.task(args.task)
    attributes = params.prepare.attributes
    check_attribute_names(attributes)
    text_column = args.text_column or params.annotate.text_column
    id_column = args.id_column or params.annotate.id_column
    config_path = args.config or args.out.with_name(args.out.stem + ".label_config.xml")
    for option, path in (("--out", args.out), ("--config", config_path)):
        if any(path.resolve() == p.resolve() for p in (args.input, args.predictions, args.gold_sample) if p):
            raise DataError(f"{option} {path} is one of the input files")
    exported = export_tasks(args, task, attributes, text_column, id_column)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(exported["tasks"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(label_config(task, bool(args.text_pair_column), list(attributes)), encoding="utf-8")
    count, blind = len(exported["tasks"]), exported["blind"]
    with_suggestion = f"{count - blind} with the model's suggestion" if args.predictions else "no suggestions"
    left_out = f"; {exported['error_rows']} error rows of the predictions left out" if exported["error_rows"] else ""
    print(
        f"{args.out}: {count} tasks ({blind} blind gold, {with_suggestion}){left_out}; labeling config: {config_path}"
    )


# ----------------------------------------------------------------------------------------------------- import


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
        with path.open(encoding="utf-8-sig", newline="") as fh:
            records = list(csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
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


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="annotune labelstudio", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="items (and the model's labels) as Label Studio tasks + config")
    export.add_argument("task")
    export.add_argument("--input", type=Path, required=True, help="the items: CSV / TSV / JSONL, as for annotate")
    export.add_argument("--text-column", help="default: params annotate.text_column")
    export.add_argument("--text-pair-column", help="the second sentence of a sentence pair")
    export.add_argument("--id-column", help="default: params annotate.id_column (else the row number)")
    export.add_argument(
        "--predictions",
        type=Path,
        help="annotate's output or a select batch: which items, and "
        "the suggestion shown (without it: every input item, no suggestion)",
    )
    export.add_argument("--gold-sample", type=Path, help="ids to export blind as gold: .txt, or CSV / JSONL with id")
    export.add_argument("--out", type=Path, required=True, help="Label Studio tasks (JSON)")
    export.add_argument("--config", type=Path, help="labeling config to write (default: <out stem>.label_config.xml)")
    back = commands.add_parser("import", help="a Label Studio export (JSON, JSON-MIN, CSV) as annotune's long CSV")
    back.add_argument("export", type=Path)
    back.add_argument("--task", required=True)
    back.add_argument("--out", type=Path, required=True, help="the labels, one row per item x annotator (CSV)")
    args = parser.parse_args(argv)
    if args.command == "export":
        export_main(args)
    else:
        import_main(args)

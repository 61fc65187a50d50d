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
  median lead time is printed as the measured seconds per human label (annotune/workflows/labelstudio_import.py).
"""

from __future__ import annotations

import argparse
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from annotune.data.tasks import Task
from annotune.errors import DataError, ParamsError
from annotune.workflows.select import read_ids, read_predictions

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
    from annotune.workflows.annotate_input import (  # the same reader as annotate: same ids, same checks
        check_input,
        read_rows,
    )

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
        from annotune.workflows.labelstudio_import import import_main

        import_main(args)

"""Annotate new data with a trained system: streaming, resumable, one output row per input row.

- **Input**: CSV, TSV or JSONL of any size, read lazily record by record (memory stays flat). Each
  record becomes an :class:`InputRow`: its 1-based row number (the data record's index; for JSONL the
  line number), its id (the ``id_column`` value, else the row number), its columns, and the text to
  label, or an error (empty text, missing column, a line that is not JSON, bytes that are not UTF-8, a
  CSV record with the wrong number of fields). Error rows are never skipped: they get
  ``"status": "error"`` and the reason in the output, at their place.
- **Output** (JSONL, input order): ``row``, ``id``, ``status`` (``ok`` | ``error``), ``error``,
  ``label``, ``confidence`` (probability of the label; null for generation), ``scores`` (a probability
  per label) or ``text`` (the raw generation), ``system``, ``adapter_version`` (a hash of the files
  of the system's model folder: the adapter for ``qlora``) and ``columns`` (the input record as read).
- **Resume**: rows are appended to ``<out>.part`` one chunk at a time, flushed and fsynced; a rerun
  checks the part row by row against the input (row, id, columns, system, adapter version), drops a
  partial last line left by a kill, and continues after the last complete row. When every row is done
  the part is renamed to ``<out>`` (atomic), so ``<out>`` only ever exists complete.
- **Hand-off**: with a confidence threshold (chosen on dev, :mod:`annotune.handoff`), the rows under it
  and the error rows are also written to a ``needs_human`` file (same row format).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from annotune.config import load_params
from annotune.errors import DataError, MissingInputError
from annotune.handoff import coverage_at, coverage_curve, threshold_for_accuracy
from annotune.io import read_jsonl, write_json, write_jsonl
from annotune.predictors import System, load_system

log = logging.getLogger(__name__)

DELIMITERS = {".csv": ",", ".tsv": "\t"}
FORMATS = (".csv", ".tsv", ".jsonl")


@dataclass(frozen=True)
class InputRow:
    row: int
    id: str
    columns: dict
    text: str | None
    error: str | None = None


def _clean(value):
    """Strings read with ``surrogateescape`` back to valid Unicode (bad bytes become U+FFFD)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def _has_bad_bytes(value) -> bool:
    return isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value)


def input_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unsupported input format {suffix!r}; use one of {', '.join(FORMATS)}")
    return suffix


def _row(path: Path, number: int, columns: dict, text_column: str, id_column: str | None, error: str | None):
    where = f"{path.name} row {number}"
    row_id = str(number)
    if id_column is not None:
        value = columns.get(id_column)
        if value is None or str(value).strip() == "":
            error = error or f"{where}: empty or missing id in column {id_column!r}"
        else:
            row_id = str(_clean(value))
    text = columns.get(text_column)
    if error is None:
        if text_column not in columns:
            error = f"{where}: no column {text_column!r}"
        elif not isinstance(text, str):
            error = f"{where}: column {text_column!r} is not text ({type(text).__name__})"
        elif not text.strip():
            error = f"{where}: empty text in column {text_column!r}"
        elif any(_has_bad_bytes(v) for v in columns.values()):
            error = f"{where}: not valid UTF-8"
    cleaned = {_clean(k): _clean(v) for k, v in columns.items()}
    return InputRow(number, row_id, cleaned, None if error else text, error)


def _read_jsonl(path: Path, text_column: str, id_column: str | None) -> Iterator[InputRow]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            line = raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
            if not line.strip():
                yield InputRow(number, str(number), {}, None, f"{path.name} row {number}: empty line")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield InputRow(
                    number, str(number), {"raw": _clean(line)}, None, f"{path.name} row {number}: not JSON ({exc.msg})"
                )
                continue
            if not isinstance(record, dict):
                yield InputRow(
                    number, str(number), {"raw": _clean(line)}, None, f"{path.name} row {number}: not a JSON object"
                )
                continue
            yield _row(path, number, record, text_column, id_column, None)


def _read_delimited(path: Path, text_column: str, id_column: str | None) -> Iterator[InputRow]:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as fh:
        reader = csv.reader(fh, delimiter=DELIMITERS[path.suffix.lower()])
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file (no header row)") from None
        for column in (text_column, id_column):
            if column is not None and column not in header:
                raise DataError(f"{path}: no column {column!r} in the header; columns: {', '.join(map(repr, header))}")
        number = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise DataError(f"{path}: unreadable CSV at line {reader.line_num}: {exc}") from None
            number += 1
            error = None
            if not fields:
                error = f"{path.name} row {number}: empty line"
            elif len(fields) != len(header):
                error = f"{path.name} row {number}: {len(fields)} fields, the header has {len(header)}"
            columns = dict(zip(header, fields, strict=False))
            yield _row(path, number, columns, text_column, id_column, error)


def read_rows(path: Path, text_column: str, id_column: str | None = None) -> Iterator[InputRow]:
    """Every record of ``path`` in order, lazily; bad records come back as rows with an error."""
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: input file not found")
    if input_format(path) == ".jsonl":
        return _read_jsonl(path, text_column, id_column)
    return _read_delimited(path, text_column, id_column)


def count_rows(path: Path, text_column: str, id_column: str | None = None) -> int:
    """Number of records (a streaming pass; used for the progress bar's total)."""
    if input_format(Path(path)) == ".jsonl":
        with Path(path).open("rb") as fh:
            return sum(1 for _ in fh)
    return sum(1 for _ in read_rows(path, text_column, id_column))


# --------------------------------------------------------------------------------------------- hand-off


def confidence_of(prediction: dict) -> float | None:
    scores = prediction.get("scores")
    return max(scores.values()) if scores else None


def dev_handoff(predictions: list[dict], target: float) -> dict:
    """Threshold reaching ``target`` accuracy on labelled ``predictions`` (records with ``gold``,
    ``pred`` and ``scores``), with the dev coverage at it and the whole curve."""
    confidence = [confidence_of(p) for p in predictions]
    if not predictions or any(c is None for c in confidence):
        raise DataError("hand-off needs classification predictions with scores (generation has no confidence)")
    correct = [p["pred"] == p["gold"] for p in predictions]
    threshold = threshold_for_accuracy(confidence, correct, target)
    at = coverage_at(confidence, correct, threshold)
    return {
        "target_accuracy": target,
        "threshold": threshold,
        "dev_coverage": at["coverage"],
        "dev_accuracy": at["accuracy"],
        "dev_rows": at["rows"],
        "dev_accuracy_all": sum(correct) / len(correct),
        "curve": coverage_curve(confidence, correct),
    }


def needs_human(record: dict, threshold: float | None) -> bool:
    """Error rows, and rows whose confidence is under the threshold (None: no threshold reaches the
    target, every row goes to a human)."""
    if record["status"] != "ok":
        return True
    if record["confidence"] is None:
        return False  # generation: no confidence, no hand-off
    return threshold is None or record["confidence"] < threshold


# ------------------------------------------------------------------------------------------- annotation


def output_record(row: InputRow, system: System, prediction: dict | None) -> dict:
    record = {"row": row.row, "id": row.id, "status": "error" if row.error else "ok", "error": row.error}
    if prediction is None:
        record.update(label=None, confidence=None)
    else:
        record["label"] = prediction["pred"]
        record["confidence"] = confidence_of(prediction)
        if "scores" in prediction:
            record["scores"] = prediction["scores"]
        if "text" in prediction:
            record["text"] = prediction["text"]
    record.update(system=system.name, adapter_version=system.version, columns=row.columns)
    return record


def part_path(out: Path) -> Path:
    return out.with_name(out.name + ".part")


def _complete_length(part: Path) -> int:
    """Bytes up to and including the last newline (a kill can leave a partial last line), read from the end."""
    size = part.stat().st_size
    with part.open("rb") as fh:
        position = size
        while position > 0:
            step = min(1 << 16, position)
            fh.seek(position - step)
            block = fh.read(step)
            newline = block.rfind(b"\n")
            if newline >= 0:
                return position - step + newline + 1
            position -= step
    return 0


def _resume(part: Path, rows: Iterator[InputRow], system: System) -> int:
    """Validate the rows already in ``part`` against the input (consuming them from ``rows``), streaming,
    and drop a partial last line; returns how many rows are done."""
    complete = _complete_length(part)
    if complete < part.stat().st_size:
        log.warning("%s: dropping a partial last line left by an interrupted run", part)
        with part.open("r+b") as fh:
            fh.truncate(complete)
            fh.flush()
            os.fsync(fh.fileno())
    done = 0
    with part.open("rb") as fh:
        for line in fh:
            done += 1
            where = f"{part} line {done}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not JSON ({exc.msg}); delete the part file to start over") from None
            row = next(rows, None)
            if row is None:
                raise DataError(f"{where}: the part file has more rows than the input; delete it to start over")
            mine = (row.row, row.id, row.columns, system.name, system.version)
            theirs = tuple(record.get(k) for k in ("row", "id", "columns", "system", "adapter_version"))
            if mine != theirs:
                raise DataError(
                    f"{where} does not match input row {row.row} (id {row.id!r}) with system {system.name} "
                    f"version {system.version}: the input, the system or its weights changed since the interrupted "
                    "run; delete the part file to start over"
                )
    return done


def annotate(
    input_path: Path,
    out: Path,
    system: System,
    text_column: str,
    id_column: str | None = None,
    chunk_size: int = 256,
    threshold: float | None = None,
    needs_human_path: Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Label every row of ``input_path`` into ``out`` (see the module doc); returns the run's stats.

    ``threshold`` and ``needs_human_path`` go together: rows that ``needs_human`` selects are copied
    to that file once the output is complete.
    """
    input_path, out = Path(input_path), Path(out)
    if chunk_size < 1:
        raise DataError(f"annotate: chunk_size must be at least 1, got {chunk_size}")
    part = part_path(out)
    if out.exists() and not part.exists():
        if not overwrite:
            raise DataError(f"{out} already exists (a finished run); delete it or pass --overwrite")
        out.unlink()
    total = count_rows(input_path, text_column, id_column)
    rows = read_rows(input_path, text_column, id_column)
    out.parent.mkdir(parents=True, exist_ok=True)
    resumed = _resume(part, rows, system) if part.exists() else 0
    if resumed:
        log.info("resuming %s after %d of %d rows", part, resumed, total)
    started, predicted, errors = time.perf_counter(), 0, 0
    with (
        part.open("a", encoding="utf-8") as fh,
        tqdm(
            total=total,
            initial=resumed,
            desc=f"annotate {system.task.name} {system.name}",
            unit="row",
            disable=not progress,
        ) as bar,
    ):
        while chunk := list(islice(rows, chunk_size)):
            good = [r for r in chunk if r.error is None]
            predictions = system.predict([{"id": r.id, "input": r.text, "label": None} for r in good]) if good else []
            by_row = {r.row: p for r, p in zip(good, predictions, strict=True)}
            lines = [json.dumps(output_record(r, system, by_row.get(r.row)), ensure_ascii=False) + "\n" for r in chunk]
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
            predicted += len(chunk)
            errors += len(chunk) - len(good)
            bar.update(len(chunk))
    seconds = time.perf_counter() - started
    os.replace(part, out)
    stats = {
        "input": str(input_path),
        "output": str(out),
        "system": system.name,
        "adapter_version": system.version,
        "rows": resumed + predicted,
        "resumed_after_rows": resumed,
        "rows_this_run": predicted,
        "error_rows_this_run": errors,
        "seconds_this_run": round(seconds, 3),
        "rows_per_second": round(predicted / seconds, 3) if seconds > 0 and predicted else None,
    }
    log.info("annotated %d rows in %.1f s: %s rows/s", predicted, seconds, stats["rows_per_second"])
    if needs_human_path is not None:
        stats.update(write_needs_human(out, Path(needs_human_path), threshold))
    return stats


def write_needs_human(out: Path, path: Path, threshold: float | None) -> dict:
    """Copy the rows of the finished ``out`` that need a human to ``path`` (streaming); counts."""
    rows = handed = errors = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with out.open(encoding="utf-8") as src, tmp.open("w", encoding="utf-8") as dst:
        for line in src:
            record = json.loads(line)
            rows += 1
            errors += record["status"] != "ok"
            if needs_human(record, threshold):
                handed += 1
                dst.write(line)
    os.replace(tmp, path)
    return {
        "threshold": threshold,
        "error_rows": errors,
        "needs_human_rows": handed,
        "auto_coverage": round((rows - handed) / rows, 6) if rows else 0.0,
    }


# ------------------------------------------------------------------------------------------ the command

COMMAND_HELP = """annotate: label a CSV / TSV / JSONL with a trained system, streaming and resumable.

    annotune annotate <task> <system> --input posts.csv --out out/posts.jsonl [--text-column post]

Options left out come from params.yaml's ``annotate`` section (the DVC stage ``annotate@<task>`` passes
only the task, the system and where to write). A rerun after an interruption resumes from
``<out>.part``. With a target accuracy, the threshold reaching it on the dev split is chosen and the
rows under it (and error rows) are also written to ``<out stem>.needs_human.jsonl``; the dev
predictions and the coverage curve are saved beside the output (``<stem>.dev_predictions.jsonl``,
``<stem>.handoff.json``).
"""


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=COMMAND_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task")
    parser.add_argument("system", help="any system of `annotune systems`")
    parser.add_argument("--input", type=Path, help="file to label (default: params annotate.input)")
    parser.add_argument("--out", type=Path, required=True, help="output JSONL")
    parser.add_argument("--text-column", help="column (or JSON key) holding the text (default: params)")
    parser.add_argument("--id-column", help="column holding the row id (default: params; else the row number)")
    parser.add_argument("--model", type=Path, help="system's model folder (default: where the pipeline puts it)")
    parser.add_argument("--base", type=Path, default=Path("models/base/llm"), help="base LLM folder")
    parser.add_argument("--data", type=Path, help="instruct folder of the task (dev split for the hand-off)")
    parser.add_argument("--target-accuracy", type=float, help="default: params annotate.target_accuracy")
    parser.add_argument("--no-handoff", action="store_true", help="no threshold, no needs_human file")
    parser.add_argument("--chunk-size", type=int, help="rows per write (default: params annotate.chunk_size)")
    parser.add_argument("--stats", type=Path, help="write the run's stats (JSON) here too")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished output")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads; 1 is much faster on a CPU other processes keep busy"
    )
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    params = load_params()
    settings = params.annotate
    task = params.task(args.task)
    data = args.data or Path("data/instruct") / args.task
    input_path = args.input or Path(settings.input)
    text_column = args.text_column or settings.text_column
    id_column = args.id_column or settings.id_column
    target = (
        None
        if args.no_handoff
        else (args.target_accuracy if args.target_accuracy is not None else settings.target_accuracy)
    )
    train = data / "train.jsonl"
    system = load_system(
        task,
        args.system,
        args.model,
        base_dir=args.base,
        batch_size=params.predict.batch_size,
        max_new_tokens=params.predict.max_new_tokens,
        prompting=params.prompting,
        train_rows=read_jsonl(train) if args.system == "few_shot" else None,
        seed=params.seed,
    )
    stem = args.out.with_suffix("") if args.out.suffix == ".jsonl" else args.out
    handoff, needs_human_path = None, None
    if target is not None and task.is_classification:
        dev = read_jsonl(data / "dev.jsonl")
        dev_predictions = system.predict(dev)
        write_jsonl(stem.with_name(stem.name + ".dev_predictions.jsonl"), dev_predictions)
        handoff = dev_handoff(dev_predictions, target)
        write_json(stem.with_name(stem.name + ".handoff.json"), handoff)
        needs_human_path = stem.with_name(stem.name + ".needs_human.jsonl")
        log.info(
            "hand-off: threshold %s reaches %.3f accuracy on dev (%d rows) at coverage %.3f",
            handoff["threshold"],
            target,
            handoff["dev_rows"],
            handoff["dev_coverage"],
        )
    elif target is not None:
        log.info("hand-off skipped: %s is a generation task (no confidence per row)", task.name)
    stats = annotate(
        input_path,
        args.out,
        system,
        text_column,
        id_column,
        chunk_size=args.chunk_size or settings.chunk_size,
        threshold=handoff["threshold"] if handoff else None,
        needs_human_path=needs_human_path,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    if handoff:
        stats.update({k: v for k, v in handoff.items() if k != "curve"})
    print(f"{stats['rows_this_run']} rows in {stats['seconds_this_run']:.1f} s: {stats['rows_per_second']} rows/s")
    if args.stats:
        write_json(args.stats, stats)

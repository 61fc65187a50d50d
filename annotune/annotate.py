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

import csv
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from tqdm import tqdm

from annotune.handoff import coverage_at, coverage_curve, threshold_for_accuracy
from annotune.tasks import Task

log = logging.getLogger(__name__)

DELIMITERS = {".csv": ",", ".tsv": "\t"}
FORMATS = (".csv", ".tsv", ".jsonl")
LLM_SYSTEMS = ("qlora", "zero_shot", "few_shot")


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
        raise ValueError(f"{path}: unsupported input format {suffix!r}; use one of {', '.join(FORMATS)}")
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
            raise ValueError(f"{path}: empty file (no header row)") from None
        for column in (text_column, id_column):
            if column is not None and column not in header:
                raise ValueError(f"{path}: no column {column!r} in the header; columns: {', '.join(map(repr, header))}")
        number = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ValueError(f"{path}: unreadable CSV at line {reader.line_num}: {exc}") from None
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
        raise FileNotFoundError(f"{path}: input file not found")
    if input_format(path) == ".jsonl":
        return _read_jsonl(path, text_column, id_column)
    return _read_delimited(path, text_column, id_column)


def count_rows(path: Path, text_column: str, id_column: str | None = None) -> int:
    """Number of records (a streaming pass; used for the progress bar's total)."""
    if input_format(Path(path)) == ".jsonl":
        with Path(path).open("rb") as fh:
            return sum(1 for _ in fh)
    return sum(1 for _ in read_rows(path, text_column, id_column))


# ----------------------------------------------------------------------------------------------- systems


@dataclass
class System:
    """A loaded system: ``predict`` takes instruct-like rows ``{"id", "input", "label"}`` and returns
    prediction records (``pred``, ``scores`` for classification, ``text`` where it generated)."""

    name: str
    task: Task
    version: str
    predict: Callable[[list[dict]], list[dict]]


def folder_version(folder: Path) -> str:
    """sha256 (16 hex digits) over the names and bytes of every file in ``folder``: changes when the
    weights or the saved params change."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not files:
        raise FileNotFoundError(f"{folder}: model folder is empty or missing")
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def default_model_dir(task: str, system: str) -> Path:
    if system == "qlora":
        return Path("models/qlora") / task
    if system in ("zero_shot", "few_shot"):
        return Path("models/base/llm")
    if system.endswith("_distilled"):
        return Path("models/distilled") / task / system.removesuffix("_distilled")
    return Path("models/baselines") / task / system


def load_system(
    task: Task,
    system: str,
    model_dir: Path,
    *,
    base_dir: Path = Path("models/base/llm"),
    batch_size: int = 16,
    max_new_tokens: int = 24,
    prompting=None,
    train_rows: list[dict] | None = None,
    seed: int = 0,
) -> System:
    """Load ``system`` once; its ``predict`` calls the same prediction code as the pipeline's stages."""
    from annotune import baselines, classifiers

    model_dir = Path(model_dir)
    if system in LLM_SYSTEMS:
        predict = _llm_predict(
            task, system, model_dir, base_dir, batch_size, max_new_tokens, prompting, train_rows, seed
        )
    else:
        meta_file = model_dir / classifiers.META_FILE
        if meta_file.exists():
            model, tokenizer, meta = classifiers.load_classifier(model_dir)

            def predict(rows):
                return classifiers.loaded_classifier_predictions(model, tokenizer, meta, rows, batch_size)

        elif (model_dir / baselines.MODEL_FILE).exists():
            fitted = baselines.load(model_dir)

            def predict(rows):
                return baselines.predict(task, fitted, rows)

        else:
            raise FileNotFoundError(
                f"{model_dir}: no trained model for system {system!r} (neither {classifiers.META_FILE} nor "
                f"{baselines.MODEL_FILE}); train it first (`dvc repro baseline_train`)"
            )
    return System(system, task, folder_version(model_dir), predict)


def _llm_predict(task, system, model_dir, base_dir, batch_size, max_new_tokens, prompting, train_rows, seed):
    from annotune.io import read_json
    from annotune.models import Runtime, load_causal_lm, load_tokenizer, resolve_runtime
    from annotune.prompts import prompt_ids, stratified_exemplars
    from annotune.scoring import llm_predictions

    if system == "qlora":
        from annotune.training import load_adapter

        trained = read_json(model_dir / "annotune.json")
        runtime = Runtime(**trained["runtime"])  # predict exactly as the adapter was trained
        model = load_adapter(base_dir, model_dir, runtime, trained["qlora"]["double_quant"])
        tokenizer = load_tokenizer(model_dir)
        max_input, shots = trained["qlora"]["max_input_tokens"], []
    else:
        if prompting is None:
            raise ValueError(f"system {system!r} needs the prompting params")
        runtime = resolve_runtime(prompting.device, prompting.compute_dtype, prompting.quantization)
        model, tokenizer = load_causal_lm(model_dir, runtime).eval(), load_tokenizer(model_dir)
        max_input, shots = prompting.max_input_tokens, []
        if system == "few_shot" and prompting.shots:
            if prompting.selection != "stratified" or not train_rows:
                raise ValueError("annotate supports few_shot with prompting.selection: stratified and a train file")
            shots = stratified_exemplars(train_rows, prompting.shots, seed)

    def predict(rows):
        prompts = [prompt_ids(tokenizer, task.instruction, r["input"], max_input, shots)[0] for r in rows]
        return llm_predictions(task, model, tokenizer, rows, prompts, batch_size, max_new_tokens)

    return predict


# --------------------------------------------------------------------------------------------- hand-off


def confidence_of(prediction: dict) -> float | None:
    scores = prediction.get("scores")
    return max(scores.values()) if scores else None


def dev_handoff(predictions: list[dict], target: float) -> dict:
    """Threshold reaching ``target`` accuracy on labelled ``predictions`` (records with ``gold``,
    ``pred`` and ``scores``), with the dev coverage at it and the whole curve."""
    confidence = [confidence_of(p) for p in predictions]
    if not predictions or any(c is None for c in confidence):
        raise ValueError("hand-off needs classification predictions with scores (generation has no confidence)")
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
                raise ValueError(f"{where}: not JSON ({exc.msg}); delete the part file to start over") from None
            row = next(rows, None)
            if row is None:
                raise ValueError(f"{where}: the part file has more rows than the input; delete it to start over")
            mine = (row.row, row.id, row.columns, system.name, system.version)
            theirs = tuple(record.get(k) for k in ("row", "id", "columns", "system", "adapter_version"))
            if mine != theirs:
                raise ValueError(
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
        raise ValueError(f"annotate: chunk_size must be at least 1, got {chunk_size}")
    part = part_path(out)
    if out.exists() and not part.exists():
        if not overwrite:
            raise ValueError(f"{out} already exists (a finished run); delete it or pass --overwrite")
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

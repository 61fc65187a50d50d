"""Annotate new data with a trained system: streaming, resumable, one output row per input row.

- **Input**: CSV, TSV or JSONL of any size, read lazily record by record (memory stays flat). Each
  record becomes an :class:`InputRow`: its 1-based row number (the data record's index; for JSONL the
  line number), its id (the ``id_column`` value, else the row number), its columns, and the text to
  label, or an error (empty text, missing column, a line that is not JSON, bytes that are not UTF-8, a
  CSV record with the wrong number of fields). Error rows are never skipped: they get
  ``"status": "error"`` and the reason in the output, at their place. Declared attributes
  (prepare.attributes) are read from their columns as prepare reads them (a CSV / TSV without one of
  them is refused; a row with a bad value is an error row) and reach the system as in training.
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
- **Several processes** (``torchrun`` / ``accelerate launch``: ``RANK`` and ``WORLD_SIZE`` in the
  environment): the input is cut in chunks of ``chunk_size`` records, chunk ``k`` goes to process
  ``k % n``, which appends it to its own part, ``<out>.part.<r>-of-<n>``, with the resume rules above
  (and the rows of a chunk cut by a kill are labelled again).
  Once every process is done (a gloo all-gather, which is the barrier), process 0 interleaves the parts
  back into input order and removes them. Each chunk is predicted as one process would predict it (same
  rows, same batches: an LLM's scores depend on the batch they are padded in), so ``<out>`` and the
  ``needs_human`` file (written by process 0 from ``<out>``) are byte for byte what one process writes.
  Part files of a run with another process count are refused.
- **Refusals** (one line each, before any model loads and before any file is written; docs/annotate.md):
  an output (or one of its side files: part, needs_human, hand-off, stats, lock) that is the input or a
  folder, or cannot be created; an input that is missing, has no text / id column (CSV / TSV header, first
  JSONL record) or repeats an id; an unknown system; a model folder whose ``annotune.json`` names another
  task (or other labels); a damaged ``model.skops``; a finished ``<out>`` without
  ``overwrite`` (which replaces it only once the new one is complete).
- **One writer per output**: the command's process 0 holds ``<out>.lock`` for the whole run (removed at
  the end); a second run on the same ``--out`` stops at once, all its processes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import logging
import os
import re
import sys
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tqdm import tqdm

from annotune import predictors
from annotune.config import attribute_values, load_params
from annotune.errors import DataError, MissingInputError, ParamsError
from annotune.files import check_can_create, created_folders, exclusive_lock, same_file
from annotune.handoff import coverage_at, coverage_curve, threshold_for_accuracy
from annotune.io import read_jsonl, write_json, write_jsonl
from annotune.predictors import System
from annotune.prompts import input_fields
from annotune.systems import spec
from annotune.tasks import Task

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
    attributes: dict | None = None  # the declared attributes' values; None: none declared (or an error row)

    def model_row(self) -> dict:
        """The row as systems read it (as instruct_format writes a record, without a label)."""
        return {"id": self.id, **input_fields(self.text, self.attributes), "label": None}


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


def _row(
    path: Path,
    number: int,
    columns: dict,
    text_column: str,
    id_column: str | None,
    error: str | None,
    attributes: dict[str, str],
):
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
    values = None
    if error is None and attributes:
        try:
            values = attribute_values(columns, attributes)
        except ValueError as exc:
            error = f"{where}: {exc}"
    cleaned = {_clean(k): _clean(v) for k, v in columns.items()}
    return InputRow(number, row_id, cleaned, None if error else text, error, values)


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The lines of a JSONL file with their numbers; bytes that are not UTF-8 kept as surrogates (see _clean),
    and a byte order mark before the first line dropped (editors on Windows write one)."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8", "surrogateescape").rstrip("\r\n")


def _read_jsonl(path: Path, text_column: str, id_column: str | None, attributes: dict) -> Iterator[InputRow]:
    for number, line in _decoded_lines(path):
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
        yield _row(path, number, record, text_column, id_column, None, attributes)


def _open_delimited(path: Path):
    # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte order mark, which would stick to the first
    # column's name
    return path.open(newline="", encoding="utf-8-sig", errors="surrogateescape")


def _delimited_reader(path: Path, fh):
    csv.field_size_limit(sys.maxsize)
    return csv.reader(fh, delimiter=DELIMITERS[path.suffix.lower()])


def _checked_header(path: Path, reader, text_column: str, id_column: str | None, attributes: dict) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: empty file (no header row)") from None
    for column in (text_column, id_column, *attributes):
        if column is not None and column not in header:
            declared = " (a declared attribute, prepare.attributes)" if column in attributes else ""
            raise DataError(
                f"{path}: no column {column!r}{declared} in the header; columns: {', '.join(map(repr, header))}"
            )
    return header


def _read_delimited(path: Path, text_column: str, id_column: str | None, attributes: dict) -> Iterator[InputRow]:
    with _open_delimited(path) as fh:
        reader = _delimited_reader(path, fh)
        header = _checked_header(path, reader, text_column, id_column, attributes)
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
            yield _row(path, number, columns, text_column, id_column, error, attributes)


def _refuse_missing(path: Path) -> None:
    if not path.is_file():
        raise MissingInputError(f"{path}: input file not found" if not path.exists() else f"{path}: not a file")


def read_rows(
    path: Path, text_column: str, id_column: str | None = None, attributes: dict[str, str] | None = None
) -> Iterator[InputRow]:
    """Every record of ``path`` in order, lazily; bad records come back as rows with an error.
    ``attributes``: the declared attribute columns (prepare.attributes) -> kind."""
    path = Path(path)
    _refuse_missing(path)
    if input_format(path) == ".jsonl":
        return _read_jsonl(path, text_column, id_column, attributes or {})
    return _read_delimited(path, text_column, id_column, attributes or {})


def _first_record(path: Path) -> tuple[int, dict] | None:
    """The first line of a JSONL file that holds a JSON object, with its line number; None if no line does."""
    for number, line in _decoded_lines(path):
        with contextlib.suppress(json.JSONDecodeError):
            record = json.loads(line)
            if isinstance(record, dict):
                return number, record
    return None


def check_input(
    path: Path, text_column: str, id_column: str | None = None, attributes: dict[str, str] | None = None
) -> None:
    """Refuse at once an input that cannot be labelled: missing, of another format, or without the text or id
    column in its header (CSV / TSV, declared attributes too) or its first record (JSONL: a wrong key would
    otherwise give an error row per record)."""
    path = Path(path)
    _refuse_missing(path)
    if input_format(path) != ".jsonl":
        with _open_delimited(path) as fh:
            _checked_header(path, _delimited_reader(path, fh), text_column, id_column, attributes or {})
        return
    first = _first_record(path)
    if first is None:
        return  # no record to label: every line becomes an error row
    number, record = first
    for column in (text_column, id_column):
        if column is not None and column not in record:
            keys = ", ".join(map(repr, record)) or "none"
            raise DataError(f"{path}: no key {column!r} in the first record (line {number}); its keys: {keys}")


def count_rows(path: Path, text_column: str, id_column: str | None = None) -> int:
    """Number of records (a streaming pass; used for the progress bar's total). With an ``id_column``, ids
    must be unique: a JSON ``1`` and ``"1"`` are the same id, as both are written ``"1"``. The pass keeps
    every id in memory (about 100 bytes per row) to name the first row holding a repeated one."""
    path = Path(path)
    if id_column is None and input_format(path) == ".jsonl":
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    first_row_of: dict[str, int] = {}
    total = 0
    for row in read_rows(path, text_column, id_column):
        total += 1
        value = row.columns.get(id_column) if id_column is not None else None
        if value is None or str(value).strip() == "":
            continue  # no id of its own: the row number, unique (an empty id is an error row)
        first = first_row_of.setdefault(row.id, row.row)
        if first != row.row:
            raise DataError(
                f"{path}: rows {first} and {row.row} have the same id {row.id!r} (column {id_column!r}); "
                "ids must be unique"
            )
    return total


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


def part_path(out: Path, rank: int = 0, world: int = 1) -> Path:
    """Where process ``rank`` of ``world`` appends its rows: ``<out>.part`` for one process."""
    if world == 1:
        return out.with_name(out.name + ".part")
    return out.with_name(f"{out.name}.part.{rank}-of-{world}")


def part_files(out: Path) -> dict[Path, int]:
    """The part files of ``out`` on disk, each with the process count of the run that wrote it."""
    if not out.parent.is_dir():
        return {}
    pattern = re.compile(re.escape(out.name) + r"\.part(?:\.(\d+)-of-(\d+))?")
    found = {}
    for path in out.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            found[path] = int(match.group(2) or 1)
    return found


def _refuse_other_process_counts(parts: dict[Path, int], world: int) -> None:
    other = sorted(path for path, count in parts.items() if count != world)
    if other:
        counts = sorted({parts[path] for path in other})
        was = " or ".join(map(str, counts))
        raise DataError(
            f"{', '.join(map(str, other))}: part files of an interrupted run with {was} process(es), but this run "
            f"has {world}: relaunch with the same number of processes ({was}) to resume, or delete the part files "
            "to start over"
        )


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


def output_files(out: Path, world: int = 1, needs_human_path: Path | None = None) -> list[tuple[str, Path]]:
    """What a run writes (what each file is, its path), ``--out`` first."""
    files = [("--out", out), *[("part file", part_path(out, rank, world)) for rank in range(world)]]
    if world > 1:
        files.append(("merge file", out.with_name(out.name + ".merging")))
    if needs_human_path is not None:
        files += [("needs_human file", needs_human_path), ("needs_human file", _temporary(needs_human_path))]
    return files


def check_outputs(input_path: Path, outputs: list[tuple[str, Path]]) -> None:
    """Refuse outputs that cannot be written, or that would write over the input (through a symlink or a
    hard link too): ``outputs`` as :func:`output_files` gives them, ``--out`` first."""
    out = outputs[0][1]
    folders = set()
    for what, path in outputs:
        where = "--out" if path == out else f"--out {out}: its {what}"
        if path.is_dir():
            raise DataError(f"{where} {path} is a folder; give the path of a file")
        if same_file(path, input_path):
            raise DataError(f"{where} {path} is the input file {input_path}; write somewhere else")
        if path.parent not in folders:
            folders.add(path.parent)
            check_can_create(path, where)


def refuse_finished_output(out: Path, world: int, overwrite: bool) -> None:
    """A finished ``out`` is replaced only with ``overwrite``; part files of a run with another process count
    are refused (see :func:`_refuse_other_process_counts`)."""
    parts = part_files(out)
    _refuse_other_process_counts(parts, world)
    if out.exists() and not parts and not overwrite:
        raise DataError(f"{out} already exists (a finished run); delete it or pass --overwrite")


@contextlib.contextmanager
def output_lock(out: Path, rank: int = 0, world: int = 1) -> Iterator[None]:
    """One run per output: process 0 holds ``<out>.lock`` for the whole run, and a second run on the same
    ``out`` stops at once. With several processes, process 0 tells the others whether it got the lock before
    any of them writes (a lock per part file would not stop a run with another process count)."""
    path = lock_path(out)
    with contextlib.ExitStack() as stack:
        refusal = None
        if rank == 0:
            try:
                stack.enter_context(
                    exclusive_lock(path, f"{path} is held: another annotate is writing {out}; wait for it to end")
                )
            except DataError as exc:
                refusal = str(exc)
        if world > 1:
            import torch.distributed as dist

            decision = [refusal]
            dist.broadcast_object_list(decision, src=0)
            refusal = decision[0]
        if refusal is not None:
            raise DataError(refusal)
        yield


@contextlib.contextmanager
def processes(environ=os.environ) -> Iterator[tuple[int, int]]:
    """This process's rank and the process count, from ``RANK`` / ``WORLD_SIZE`` (set by ``torchrun`` and
    ``accelerate launch``); with several, a gloo process group for the end-of-shards barrier (only small
    Python objects are exchanged, so gloo serves CPU and GPU runs alike). Without them: ``(0, 1)``."""
    world = int(environ.get("WORLD_SIZE") or 1)
    if world <= 1:
        yield 0, 1
        return
    if not environ.get("RANK"):
        raise DataError(f"WORLD_SIZE={world} but no RANK in the environment: launch with torchrun or accelerate")
    rank = int(environ["RANK"])
    import torch.distributed as dist

    created = not dist.is_initialized()
    if created:
        # the processes meet only once every shard is done: allow a long wait for the slowest one
        dist.init_process_group("gloo", timeout=timedelta(days=7))
    try:
        yield rank, world
    finally:
        if created:
            dist.destroy_process_group()


LAUNCHER_VARIABLES = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
)


def continue_alone() -> None:
    """For process 0 once the others have ended (after :func:`processes`): forget the launcher's
    environment, so that what follows (a Trainer, accelerate) runs as one process instead of waiting for
    the others, and takes every core again."""
    from annotune.cli import use_cpu_threads

    for variable in LAUNCHER_VARIABLES:
        os.environ.pop(variable, None)
    use_cpu_threads()


def share_size(total: int, chunk_size: int, rank: int, world: int) -> int:
    """Rows of process ``rank``: chunk ``k`` (``chunk_size`` records, the last one shorter) goes to ``k % world``."""
    chunks, last = divmod(total, chunk_size)
    return chunk_size * len(range(rank, chunks, world)) + (last if chunks % world == rank else 0)


def _merge(out: Path, world: int, total: int, chunk_size: int) -> None:
    """Interleave the parts of the ``world`` processes, chunk ``k`` from part ``k % world``, into ``out``
    (atomic), then remove the parts."""
    parts = [part_path(out, rank, world) for rank in range(world)]
    tmp = out.with_name(out.name + ".merging")
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(path.open("rb")) for path in parts]
        with tmp.open("wb") as dst:
            for index in range(total):
                line = sources[index // chunk_size % world].readline()
                if not line.endswith(b"\n"):
                    raise DataError(f"{parts[index // chunk_size % world]}: no line for input record {index + 1}")
                dst.write(line)
            for path, source in zip(parts, sources, strict=True):
                if source.read(1):
                    raise DataError(f"{path}: more rows than its share of the input; delete the part files")
            dst.flush()
            os.fsync(dst.fileno())
    os.replace(tmp, out)
    for path in parts:
        path.unlink(missing_ok=True)


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


def _resume(
    part: Path, rows: Iterator[InputRow], system: System, chunk_size: int | None = None
) -> tuple[int, list[InputRow]]:
    """Validate the rows already in ``part`` against the input (consuming them from ``rows``), streaming,
    and drop a partial last line; returns how many rows are done, and the rows to label again. The part is
    cut only once every row in it matched: a refused resume leaves it as it was.

    With ``chunk_size`` (a process of several), the rows of an unfinished chunk (a kill in the middle of
    its write) are dropped too, and come back to be labelled again: every chunk is predicted whole, in the
    batches of an uninterrupted run."""
    sharded = chunk_size is not None
    changed = (
        "the input, the system, its weights or the --chunk-size" if sharded else "the input, the system or its weights"
    )
    size, complete = part.stat().st_size, _complete_length(part)
    done, read, boundary, tail = 0, 0, 0, []
    with part.open("rb") as fh:
        while read < complete:  # what follows is a partial line: never read it whole (it can be long)
            line = fh.readline()
            done += 1
            read += len(line)
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
                    f"version {system.version}: {changed} changed since the interrupted run; "
                    + ("relaunch as it was or delete the part files" if sharded else "delete the part file")
                    + " to start over"
                )
            tail.append((row, len(line)))
            if not sharded or done % chunk_size == 0:
                boundary += sum(length for _, length in tail)
                tail = []
    if complete < size:
        log.warning("%s: dropping a partial last line left by an interrupted run", part)
    if tail:
        log.warning("%s: labelling again the %d rows of a chunk an interruption cut", part, len(tail))
    if boundary < size:
        with part.open("r+b") as fh:
            fh.truncate(boundary)
            fh.flush()
            os.fsync(fh.fileno())
    return done - len(tail), [row for row, _ in tail]


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
    rank: int = 0,
    world: int = 1,
    attributes: dict[str, str] | None = None,
) -> dict:
    """Label every row of ``input_path`` into ``out`` (see the module doc); returns the run's stats.
    ``attributes``: the declared attribute columns (prepare.attributes) -> kind, inputs beside the text.

    ``threshold`` and ``needs_human_path`` go together: rows that ``needs_human`` selects are copied
    to that file once the output is complete. With ``world`` > 1 (every process calls this, inside
    :func:`processes`), this process labels its share; process 0 merges the shares, writes the
    ``needs_human`` file and returns the stats of the whole run, the others return their share's.
    """
    input_path, out = Path(input_path), Path(out)
    if chunk_size < 1:
        raise DataError(f"annotate: chunk_size must be at least 1, got {chunk_size}")
    if not 0 <= rank < world:
        raise DataError(f"annotate: rank {rank} is not one of the {world} process(es)")
    # every check before the first write: a refused run changes no file
    check_input(input_path, text_column, id_column, attributes)
    check_outputs(input_path, output_files(out, world, needs_human_path))
    refuse_finished_output(out, world, overwrite)
    total = count_rows(input_path, text_column, id_column)
    part = part_path(out, rank, world)
    rows = read_rows(input_path, text_column, id_column, attributes)
    share = share_size(total, chunk_size, rank, world)
    if world > 1:
        rows = (row for index, row in enumerate(rows) if index // chunk_size % world == rank)
        firsts = [(rank + k * world) * chunk_size for k in range(2)]
        ranges = ", ".join(f"{a + 1}-{min(a + chunk_size, total)}" for a in firsts if a < total)
        log.info("process %d of %d labels input records %s, ... (%d of %d)", rank, world, ranges, share, total)
    out.parent.mkdir(parents=True, exist_ok=True)
    resumed, again = _resume(part, rows, system, chunk_size if world > 1 else None) if part.exists() else (0, [])
    if resumed:
        log.info("resuming %s after %d of %d rows", part, resumed, share)
    rows = itertools.chain(again, rows)
    started, predicted, errors = time.perf_counter(), 0, 0
    with (
        part.open("a", encoding="utf-8") as fh,
        tqdm(
            total=share,
            initial=resumed,
            desc=f"annotate {system.task.name} {system.name}" + (f" [process 0 of {world}]" if world > 1 else ""),
            unit="row",
            disable=not progress or rank != 0,
        ) as bar,
    ):
        while chunk := list(itertools.islice(rows, chunk_size)):
            good = [r for r in chunk if r.error is None]
            predictions = system.predict([r.model_row() for r in good]) if good else []
            by_row = {r.row: p for r, p in zip(good, predictions, strict=True)}
            lines = [json.dumps(output_record(r, system, by_row.get(r.row)), ensure_ascii=False) + "\n" for r in chunk]
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
            predicted += len(chunk)
            errors += len(chunk) - len(good)
            bar.update(len(chunk))
    seconds = time.perf_counter() - started
    counts = {"rows": resumed + predicted, "resumed": resumed, "predicted": predicted, "errors": errors}
    log.info(
        "annotated %d rows in %.1f s: %s rows/s%s",
        predicted,
        seconds,
        round(predicted / seconds, 3) if seconds > 0 and predicted else None,
        f" (process {rank} of {world})" if world > 1 else "",
    )
    if world == 1:
        os.replace(part, out)
        shares = [counts | {"seconds": seconds}]
    else:
        import torch.distributed as dist

        shares = [None] * world
        dist.all_gather_object(shares, counts | {"seconds": seconds})  # the barrier: every share is on disk
        expected = [share_size(total, chunk_size, r, world) for r in range(world)]
        if [s["rows"] for s in shares] != expected:
            raise DataError(f"{out}: the processes labelled {[s['rows'] for s in shares]} rows, not {expected}")
        if rank != 0:
            return _stats(input_path, out, system, shares[rank : rank + 1], world) | {"process": rank}
        _merge(out, world, total, chunk_size)
    stats = _stats(input_path, out, system, shares, world)
    if needs_human_path is not None:
        stats.update(write_needs_human(out, Path(needs_human_path), threshold))
    return stats


def _stats(input_path: Path, out: Path, system: System, shares: list[dict], world: int) -> dict:
    """The run's stats from each process's counts; the time is the slowest process's."""
    predicted = sum(s["predicted"] for s in shares)
    seconds = max(s["seconds"] for s in shares)
    return {
        "input": str(input_path),
        "output": str(out),
        "system": system.name,
        "adapter_version": system.version,
        "rows": sum(s["rows"] for s in shares),
        "resumed_after_rows": sum(s["resumed"] for s in shares),
        "rows_this_run": predicted,
        "error_rows_this_run": sum(s["errors"] for s in shares),
        "processes": world,
        "seconds_this_run": round(seconds, 3),
        "rows_per_second": round(predicted / seconds, 3) if seconds > 0 and predicted else None,
    }


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def write_needs_human(out: Path, path: Path, threshold: float | None) -> dict:
    """Copy the rows of the finished ``out`` that need a human to ``path`` (streaming); counts."""
    rows = handed = errors = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
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


# ------------------------------------------------------------------------------------------- the system


def load_system(task: Task, name: str, model_dir: Path | None = None, **options) -> System:
    """:func:`annotune.predictors.load_system` (which refuses a model folder of another task), once the system's
    name is known; a damaged baseline file is a one-line error naming it, not a traceback."""
    try:
        kind = spec(name).kind
    except ValueError as exc:  # its message lists the known systems
        raise ParamsError(str(exc)) from None
    model_dir = Path(model_dir or spec(name).model_dir(task.name))
    try:
        return predictors.load_system(task, name, model_dir, **options)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # a truncated or altered model.skops
        if kind != "sklearn":
            raise
        from annotune.baselines import MODEL_FILE

        raise DataError(
            f"{model_dir / MODEL_FILE}: damaged or truncated ({exc}); retrain it (`dvc repro baseline_train`)"
        ) from None


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


def positive_int(text: str) -> int:
    """argparse type of counts that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    parser.add_argument("--chunk-size", type=positive_int, help="rows per write (default: params annotate.chunk_size)")
    parser.add_argument("--stats", type=Path, help="write the run's stats (JSON) here too")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished output")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--threads", type=positive_int, help="torch CPU threads; 1 is much faster on a CPU other processes keep busy"
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
    attributes = params.prepare.attributes
    out = args.out
    target = (
        None
        if args.no_handoff
        else (args.target_accuracy if args.target_accuracy is not None else settings.target_accuracy)
    )
    stem = out.with_suffix("") if out.suffix == ".jsonl" else out
    dev_predictions_path = stem.with_name(stem.name + ".dev_predictions.jsonl")
    handoff_path = stem.with_name(stem.name + ".handoff.json")
    with processes() as (rank, world):
        needs_dev = target is not None and task.is_classification
        handing_off = needs_dev and rank == 0  # process 0 writes the needs_human file from the merged output
        needs_human_path = stem.with_name(stem.name + ".needs_human.jsonl") if handing_off else None
        outputs = [*output_files(out, world, needs_human_path), ("lock file", lock_path(out))]
        if handing_off:
            outputs += [("dev predictions file", dev_predictions_path), ("hand-off file", handoff_path)]
        if args.stats:
            outputs.append(("--stats file", args.stats))
        # what can be refused is refused here, before any model loads and before any file is written
        check_input(input_path, text_column, id_column, attributes)
        check_outputs(input_path, outputs)
        if needs_dev and not (data / "dev.jsonl").is_file():
            raise MissingInputError(f"{data / 'dev.jsonl'}: dev split not found (the hand-off needs it; --data)")
        count_rows(input_path, text_column, id_column)  # refuses duplicate ids
        with created_folders(out.parent), output_lock(out, rank, world):
            refuse_finished_output(out, world, args.overwrite)
            system = load_system(
                task,
                args.system,
                args.model,
                base_dir=args.base,
                batch_size=params.predict.batch_size,
                max_new_tokens=params.predict.max_new_tokens,
                prompting=params.prompting,
                data_dir=data,
                seed=params.seed,
            )
            handoff = None
            if handing_off:
                dev_predictions = system.predict(read_jsonl(data / "dev.jsonl"))
                handoff = dev_handoff(dev_predictions, target)
                log.info(
                    "hand-off: threshold %s reaches %.3f accuracy on dev (%d rows) at coverage %.3f",
                    handoff["threshold"],
                    target,
                    handoff["dev_rows"],
                    handoff["dev_coverage"],
                )
            elif target is not None and not task.is_classification:
                log.info("hand-off skipped: %s is a generation task (no confidence per row)", task.name)
            stats = annotate(
                input_path,
                out,
                system,
                text_column,
                id_column,
                chunk_size=args.chunk_size or settings.chunk_size,
                threshold=handoff["threshold"] if handoff else None,
                needs_human_path=needs_human_path,
                overwrite=args.overwrite,
                progress=not args.no_progress,
                rank=rank,
                world=world,
                attributes=attributes,
            )
            if handoff:  # written with the output, so that a refused run writes nothing
                write_jsonl(dev_predictions_path, dev_predictions)
                write_json(handoff_path, handoff)
    if rank != 0:
        return  # its share is in the output; process 0 prints and saves the run's stats
    if handoff:
        stats.update({k: v for k, v in handoff.items() if k != "curve"})
    processes_note = f" ({world} processes)" if world > 1 else ""
    print(
        f"{stats['rows_this_run']} rows in {stats['seconds_this_run']:.1f} s: {stats['rows_per_second']} rows/s"
        + processes_note
    )
    if args.stats:
        write_json(args.stats, stats)


if __name__ == "__main__":  # python -m annotune.annotate (also: torchrun / accelerate launch -m annotune.annotate)
    from annotune.cli import run

    sys.argv[0] = "annotune annotate"
    run(main)

"""What annotate writes (annotune/workflows/annotate.py), and what keeps it safe.

- **The output row** (:func:`output_record`, JSONL, input order): ``row``, ``id``, ``status`` (``ok`` |
  ``error``), ``error``, ``label``, ``confidence`` (:func:`annotune.evaluation.handoff.confidence`; null for
  generation),
  ``scores`` (a probability per label) or ``text`` (the raw generation), ``system``, ``adapter_version`` (a hash
  of the files of the system's model folder: the adapter for ``qlora``) and ``columns`` (the input record as read).
- **Part files and resume**: rows are appended to ``<out>.part`` (``<out>.part.<r>-of-<n>`` for process ``r`` of
  ``n``) one chunk at a time, flushed and fsynced; a rerun checks the part row by row against the input (row, id,
  columns, system, adapter version), drops a partial last line left by a kill (with several processes: the rows of
  a chunk a kill cut, labelled again) and continues after the last complete row (:func:`resume`). Process 0
  interleaves the parts of several processes back into input order (:func:`merge`). Part files of a run with
  another process count are refused.
- **Refusals before any write**: an output (or one of its side files: part, merge, needs_human, hand-off, stats,
  lock) that is the input or a folder, or cannot be created (:func:`check_outputs`); a finished ``<out>`` without
  ``overwrite`` (:func:`refuse_finished_output`).
- **One writer per output**: process 0 holds ``<out>.lock`` for the whole run (:func:`output_lock`).
- **Hand-off**: the threshold reaching a target accuracy on dev (:func:`dev_handoff`,
:mod:`annotune.evaluation.handoff`);
  the error rows and the rows under it are copied to a ``needs_human`` file (:func:`write_needs_human`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

from annotune.data.files import check_can_create, exclusive_lock, same_file
from annotune.errors import DataError
from annotune.evaluation.handoff import confidence, coverage_at, coverage_curve, threshold_for_accuracy
from annotune.systems.predictors import System
from annotune.workflows.annotate_input import InputRow

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------- hand-off


def dev_handoff(predictions: list[dict], target: float) -> dict:
    """Threshold reaching ``target`` accuracy on labelled ``predictions`` (records with ``gold``,
    ``pred`` and ``scores``), with the dev coverage at it and the whole curve."""
    confidences = [confidence(p) for p in predictions]
    if not predictions or any(c is None for c in confidences):
        raise DataError("hand-off needs classification predictions with scores (generation has no confidence)")
    correct = [p["pred"] == p["gold"] for p in predictions]
    threshold = threshold_for_accuracy(confidences, correct, target)
    at = coverage_at(confidences, correct, threshold)
    return {
        "target_accuracy": target,
        "threshold": threshold,
        "dev_coverage": at["coverage"],
        "dev_accuracy": at["accuracy"],
        "dev_rows": at["rows"],
        "dev_accuracy_all": sum(correct) / len(correct),
        "curve": coverage_curve(confidences, correct),
    }


def needs_human(record: dict, threshold: float | None) -> bool:
    """Error rows, and rows whose confidence is under the threshold (None: no threshold reaches the
    target, every row goes to a human)."""
    if record["status"] != "ok":
        return True
    if record["confidence"] is None:
        return False  # generation: no confidence, no hand-off
    return threshold is None or record["confidence"] < threshold


# ------------------------------------------------------------------------------------------ the files


def output_record(row: InputRow, system: System, prediction: dict | None) -> dict:
    record = {"row": row.row, "id": row.id, "status": "error" if row.error else "ok", "error": row.error}
    if prediction is None:
        record.update(label=None, confidence=None)
    else:
        record["label"] = prediction["pred"]
        record["confidence"] = confidence(prediction, system.task.kind == "multilabel")
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


def merge(out: Path, world: int, total: int, chunk_size: int) -> None:
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


def resume(
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

"""Annotate new data with a trained system: streaming, resumable, one output row per input row. The command
``annotune annotate`` (:func:`main`) and its loop (:func:`annotate`); the rest lives beside it:

- **Input** (annotune/workflows/annotate_input.py): CSV, TSV or JSONL of any size, read lazily record by record (memory
  stays flat) by prepare's reader (annotune/data/readers.py). Each record becomes a row to label, or an error row
  (empty text, missing column, a line that is not a JSON object, bytes that are not UTF-8, a CSV record with the
  wrong number of cells): error rows are never skipped, they get ``"status": "error"`` and the reason in the
  output, at their place. Declared attributes (prepare.attributes) reach the system as in training.
- **Output** (annotune/workflows/annotate_output.py, its doc has the row format): JSONL in input order, appended to
  ``<out>.part`` one chunk at a time; a rerun resumes after the last complete row. When every row is done the
  part is renamed to ``<out>`` (atomic), so ``<out>`` only ever exists complete.
- **Hand-off**: with a confidence threshold (chosen on dev, :mod:`annotune.evaluation.handoff`), the rows under it and
the
  error rows are also written to a ``needs_human`` file (same row format).
- **Several processes** (annotune/runtime/processes.py; ``torchrun`` / ``accelerate launch``): the input is cut in
chunks
  of ``chunk_size`` records, chunk ``k`` goes to process ``k % n``, which appends it to its own part. Once every
  process is done (a gloo all-gather, which is the barrier), process 0 interleaves the parts back into input
  order and removes them. Each chunk is predicted as one process would predict it (same rows, same batches: an
  LLM's scores depend on the batch they are padded in), so ``<out>`` and the ``needs_human`` file (written by
  process 0 from ``<out>``) are byte for byte what one process writes.
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
import itertools
import json
import logging
import os
import sys
import time
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from annotune.config import load_params
from annotune.data import paths
from annotune.data.files import created_folders
from annotune.data.io import read_jsonl, write_json, write_jsonl
from annotune.data.tasks import Task
from annotune.errors import DataError, MissingInputError, ParamsError
from annotune.runtime.processes import processes, share_size
from annotune.runtime.threads import use_cpu_threads
from annotune.systems import predictors, spec
from annotune.systems.predictors import System
from annotune.workflows.annotate_input import check_input, count_rows, read_rows
from annotune.workflows.annotate_output import (
    check_outputs,
    dev_handoff,
    lock_path,
    merge,
    output_files,
    output_lock,
    output_record,
    part_path,
    refuse_finished_output,
    resume,
    write_needs_human,
)

log = logging.getLogger(__name__)


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
    resumed, again = resume(part, rows, system, chunk_size if world > 1 else None) if part.exists() else (0, [])
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
        merge(out, world, total, chunk_size)
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


# ------------------------------------------------------------------------------------------- the system


def load_system(task: Task, name: str, model_dir: Path | None = None, **options) -> System:
    """:func:`annotune.systems.predictors.load_system` (which refuses a model folder of another task), once the system's
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
        from annotune.systems.baselines import MODEL_FILE

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
    parser.add_argument("--base", type=Path, default=paths.LLM_BASE, help="base LLM folder")
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
        use_cpu_threads(args.threads)
    params = load_params()
    settings = params.annotate
    task = params.task(args.task)
    data = args.data or paths.instruct_dir(args.task)
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


if (
    __name__ == "__main__"
):  # python -m annotune.workflows.annotate (also: torchrun / accelerate launch -m annotune.workflows.annotate)
    from annotune.runtime.cli import run

    sys.argv[0] = "annotune annotate"
    run(main)

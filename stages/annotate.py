"""annotate: label a CSV / TSV / JSONL with a trained system, streaming and resumable.

    python -m stages.annotate <task> <system> --input posts.csv --out out/posts.jsonl [--text-column post]

Options left out come from params.yaml's ``annotate`` section (the DVC stage ``annotate@<task>`` passes
only the task, the system and where to write). A rerun after an interruption resumes from
``<out>.part``. With a target accuracy, the threshold reaching it on the dev split is chosen and the
rows under it (and error rows) are also written to ``<out stem>.needs_human.jsonl``; the dev
predictions and the coverage curve are saved beside the output (``<stem>.dev_predictions.jsonl``,
``<stem>.handoff.json``).
"""

import argparse
import logging
from pathlib import Path

from annotune import cli
from annotune.annotate import annotate, default_model_dir, dev_handoff, load_system
from annotune.config import load_params
from annotune.io import read_jsonl, write_json, write_jsonl

log = logging.getLogger("annotate")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task")
    parser.add_argument("system", help="qlora, zero_shot, few_shot, a baseline method, or encoder_distilled")
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
        args.model or default_model_dir(args.task, args.system),
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


if __name__ == "__main__":
    cli.run(main)

"""distill@<task>: LLM as data labeller. The labeller (the QLoRA model by default) labels the training
posts with their gold labels hidden, the encoder baseline is trained on those labels (gold dev kept for
early stopping, as for every system), and its test predictions become the system ``encoder_distilled``.

The pool is labelled with annotate (chunked, resumable: an interrupted run keeps its labelled rows), by
several processes where launched so (``torchrun --nproc-per-node N -m stages.distill ...``, or
``accelerate launch``: each labels its share of the chunks, the output is the one-process output); process
0 then trains the encoder alone. The stats give the labeller's agreement with the hidden gold on the pool
and each step's rows/second.
"""

import argparse
import json
from pathlib import Path

from annotune.config import load_params
from annotune.data.io import read_jsonl, write_json, write_jsonl
from annotune.errors import DataError
from annotune.runtime import cli
from annotune.runtime.processes import continue_alone, processes
from annotune.runtime.threads import use_cpu_threads
from annotune.systems import trained_by
from annotune.systems.encoder_variant import train_and_predict
from annotune.systems.predictors import load_system
from annotune.systems.prompts import post_text
from annotune.workflows.annotate import annotate


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--base", type=Path, default=Path("models/base/llm"), help="base LLM folder")
    parser.add_argument("--encoder", type=Path, default=Path("models/base/encoder"), help="base encoder folder")
    parser.add_argument("--labeller-model", type=Path, help="default: the labeller system's pipeline folder")
    parser.add_argument("--labels", type=Path, required=True, help="the pool as labelled (JSONL)")
    parser.add_argument("--out", type=Path, required=True, help="the distilled encoder's folder")
    parser.add_argument("--predictions", type=Path, required=True, help="its test predictions")
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task, labeller = params.task(args.task), params.distill.labeller
    records = read_jsonl(args.data / "train.jsonl")
    by_id = {r["id"]: r for r in records}
    pool = args.labels.with_name("pool.jsonl")  # the training posts (and their attributes), gold labels left out
    with processes() as (rank, world):
        system = load_system(
            task,
            labeller,
            args.labeller_model,
            base_dir=args.base,
            batch_size=params.predict.batch_size,
            max_new_tokens=params.predict.max_new_tokens,
            prompting=params.prompting,
            data_dir=args.data,
            seed=params.seed,
        )
        if rank == 0:
            write_jsonl(pool, [{"id": r["id"], "input": post_text(r), **r.get("attributes", {})} for r in records])
        if world > 1:
            import torch.distributed as dist

            dist.barrier()  # the pool is written before any process reads it
        labelling = annotate(
            pool,
            args.labels,
            system,
            "input",
            "id",
            chunk_size=params.annotate.chunk_size,
            overwrite=True,
            rank=rank,
            world=world,
            attributes=params.prepare.attributes,
        )
    if rank != 0:
        return  # its share is in the labels; process 0 trains and scores the encoder
    continue_alone()
    use_cpu_threads()
    labelled = [json.loads(line) for line in args.labels.open(encoding="utf-8")]
    failed = [r["row"] for r in labelled if r["status"] != "ok"]
    if failed:
        raise DataError(f"{pool}: rows {failed[:10]} could not be labelled by {labeller}; see {args.labels}")
    # the post as instruct_format wrote it (attribute lines, sentence pairs), under the labeller's label
    inputs = ("id", "input", "input_pair", "attributes")
    train = [{k: v for k, v in by_id[r["id"]].items() if k in inputs} | {"label": r["label"]} for r in labelled]
    agreement = sum(r["label"] == by_id[r["id"]]["label"] for r in train) / len(train)

    dev, test = read_jsonl(args.data / "dev.jsonl"), read_jsonl(args.data / "test.jsonl")
    # train: the pool under the labeller's labels
    (variant,) = trained_by("distill")  # the encoder variant this stage trains
    trained = train_and_predict(
        variant, task, args.encoder, (train, dev, test), params.encoder, params.seed, params.predict.batch_size,
        args.out, args.predictions, labeller=labeller,
    )  # fmt: skip
    write_json(
        args.stats,
        {
            "labeller": labeller,
            "labeller_version": system.version,
            "pool_rows": len(train),
            "pool_label_agreement_with_hidden_gold": round(agreement, 6),
            "labeller_rows_per_second": labelling["rows_per_second"],
            "labeller_processes": labelling["processes"],
            "encoder_train_seconds": round(trained["train_seconds"], 3),
            "encoder_epochs_run": trained["epochs_run"],
            "encoder_test_rows_per_second": round(len(test) / trained["predict_seconds"], 3),
        },
    )


if __name__ == "__main__":
    cli.run(main)

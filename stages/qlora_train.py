"""qlora_train@<task>: one LoRA adapter per task on the quantized base LLM.

Runs as one process (``python -m stages.qlora_train``) or data parallel under ``accelerate launch``
(params qlora.launcher); an interrupted run resumes from its last checkpoint when rerun.
"""

import argparse
import shutil
from pathlib import Path

from annotune import cli, model_card
from annotune.config import load_params, save_resolved
from annotune.io import data_fingerprints, read_jsonl
from annotune.models import point_adapter_at_base, read_source, resolve_runtime
from annotune.training import is_main_process, train_qlora


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--live", type=Path, required=True, help="dvclive folder (training curves)")
    args = parser.parse_args(argv)
    params = load_params()
    task, qlora = params.task(args.task), params.qlora
    runtime = resolve_runtime(qlora.device, qlora.compute_dtype, qlora.quantization)
    if is_main_process():
        shutil.rmtree(args.out, ignore_errors=True)
    train, dev = read_jsonl(args.data / "train.jsonl"), read_jsonl(args.data / "dev.jsonl")
    _, stats = train_qlora(args.base, train, dev, qlora, runtime, params.seed, args.out, args.live)
    if is_main_process():
        point_adapter_at_base(args.out, args.base)
        training_data = data_fingerprints(train=train, dev=dev)
        save_resolved(
            args.out / "annotune.json",
            task=args.task,
            labels=task.labels,
            dataset=params.dataset,
            base=read_source(args.base),
            seed=params.seed,
            qlora=qlora,
            runtime=runtime,
            stats=stats,
            training_data=training_data,
        )
        write_card(args.out, args.base, task, params.dataset, qlora, runtime.__dict__, stats, training_data)


def write_card(
    out: Path, base: Path, task, dataset: str, qlora, runtime: dict, stats: dict, training_data: dict
) -> None:
    model_card.write(
        out,
        kind="causal_adapter",
        system="qlora",
        task=task,
        dataset=dataset,
        base_dir=base,
        params={"qlora": qlora, "runtime": runtime},
        sizes={"train": stats["train_examples"], "dev": stats["dev_examples"]},
        metrics={k: stats[k] for k in ("train_loss", "dev_loss_per_epoch", "optimizer_steps")},
        notes=model_card.quantized_base_note(runtime, qlora.double_quant),
        training_data=training_data,
    )


if __name__ == "__main__":
    cli.run(main)

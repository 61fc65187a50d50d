"""baseline_train@<task>-<method>: fit a baseline on the task's training split (dev: early stopping, thresholds)."""

import argparse
import time
from pathlib import Path

from annotune import baselines, classifiers, cli, model_card, seq2seq
from annotune.config import load_params, save_resolved
from annotune.errors import ParamsError
from annotune.io import data_fingerprints, read_jsonl
from annotune.models import point_adapter_at_base, read_source, resolve_runtime

# classifier method -> the kind of folder it saves (annotune.model_card.KINDS)
CARD_KINDS = {"encoder": "seq_cls_model", "soft_prompt": "seq_cls_adapter", "llm_head": "seq_cls_adapter"}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("method")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--encoder", type=Path, required=True, help="base encoder folder")
    parser.add_argument("--llm", type=Path, required=True, help="base LLM folder")
    parser.add_argument("--seq2seq", type=Path, default=seq2seq.BASE_DIR, help="base encoder-decoder folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task = params.task(args.task)
    train = read_jsonl(args.data / "train.jsonl")
    dev = read_jsonl(args.data / "dev.jsonl")
    training_data = data_fingerprints(train=train, dev=dev)
    card = {"system": args.method, "task": task, "dataset": params.dataset, "training_data": training_data}
    started = time.perf_counter()  # the training time goes into the cost per 1,000 items (evaluate)
    if args.method == "seq2seq_lora":
        if params.models.seq2seq is None:
            raise ParamsError("params.yaml: system seq2seq_lora needs a T5-family model: set models.seq2seq")
        _, stats = seq2seq.train(task, args.seq2seq, train, dev, params.seq2seq, params.seed, args.out)
        model_card.write(
            args.out,
            **card,
            kind="seq2seq_adapter",
            base_dir=args.seq2seq,
            params=params.seq2seq,
            sizes={"train": len(train), "dev": len(dev)},
            metrics={k: stats[k] for k in ("train_loss", "dev_loss_per_epoch")},
        )
    elif args.method in classifiers.METHODS:
        llm = args.method == "llm_head"
        section = params.llm_head if llm else params.encoder
        base = args.llm if llm else args.encoder
        _, stats = classifiers.train_classifier(args.method, base, task, train, dev, section, params.seed, args.out)
        stats["train_seconds"] = round(time.perf_counter() - started, 3)
        save_resolved(
            args.out / "annotune.json",
            task=args.task,
            labels=task.labels,
            method=args.method,
            base=read_source(base),
            params=section,
            stats=stats,
            training_data=training_data,
        )
        kind = CARD_KINDS[args.method]
        if kind == "seq_cls_adapter":
            point_adapter_at_base(args.out, base)
        notes = []
        if llm:
            runtime = resolve_runtime(section.device, section.compute_dtype, section.quantization)
            notes = model_card.quantized_base_note(runtime.__dict__, double_quant=True)
        model_card.write(
            args.out,
            **card,
            kind=kind,
            base_dir=base,
            params=section,
            sizes={"train": len(train), "dev": len(dev)},
            metrics={k: stats[k] for k in ("dev_loss_per_epoch", "epochs_run")},
            notes=notes,
        )
    else:
        baselines.save(baselines.train(args.method, task, train, params.baselines, params.seed, dev), args.out)
        stats = {"train_seconds": round(time.perf_counter() - started, 3), "train_rows": len(train)}
        save_resolved(
            args.out / "annotune.json",
            task=args.task,
            labels=task.labels,
            method=args.method,
            params=params.baselines,
            stats=stats,
            training_data=training_data,
        )
        model_card.write(
            args.out,
            **card,
            kind="sklearn",
            base_dir=None,
            params=params.baselines,
            sizes={"train": len(train)},
            metrics={},
        )


if __name__ == "__main__":
    cli.run(main)

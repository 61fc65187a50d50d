"""baseline_train@<task>-<method>: fit a baseline on the task's training split (dev for early stopping)."""

import argparse
import time
from pathlib import Path

from annotune import baselines, classifiers, cli
from annotune.config import load_params, save_resolved
from annotune.io import read_jsonl


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("method")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--encoder", type=Path, required=True, help="base encoder folder")
    parser.add_argument("--llm", type=Path, required=True, help="base LLM folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task = params.task(args.task)
    train = read_jsonl(args.data / "train.jsonl")
    started = time.perf_counter()  # the training time goes into the cost per 1,000 items (evaluate)
    if args.method in classifiers.METHODS:
        llm = args.method == "llm_head"
        section = params.llm_head if llm else params.encoder
        _, stats = classifiers.train_classifier(
            args.method,
            args.llm if llm else args.encoder,
            task,
            train,
            read_jsonl(args.data / "dev.jsonl"),
            section,
            params.seed,
            args.out,
        )
        stats["train_seconds"] = round(time.perf_counter() - started, 3)
        save_resolved(args.out / "annotune.json", task=args.task, method=args.method, params=section, stats=stats)
    else:
        baselines.save(baselines.train(args.method, task, train, params.baselines, params.seed), args.out)
        stats = {"train_seconds": round(time.perf_counter() - started, 3), "train_rows": len(train)}
        save_resolved(
            args.out / "annotune.json", task=args.task, method=args.method, params=params.baselines, stats=stats
        )


if __name__ == "__main__":
    cli.run(main)

"""baseline_train@<task>-<method>: fit a baseline on the task's training split."""

import argparse
from pathlib import Path

from annotune import baselines, cli
from annotune.config import load_params
from annotune.io import read_jsonl, write_json
from annotune.tasks import get_task


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("method")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    task = get_task(load_params().dataset, args.task)
    write_json(args.out / "model.json", baselines.train(args.method, task, read_jsonl(args.data / "train.jsonl")))


if __name__ == "__main__":
    cli.run(main)

"""predict_baseline@<task>-<method>: a baseline's predictions on the test split."""

import argparse
from pathlib import Path

from annotune import baselines, cli
from annotune.config import load_params
from annotune.io import read_json, read_jsonl, write_jsonl
from annotune.tasks import get_task


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--data", type=Path, required=True, help="instruct test file")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    task = get_task(load_params().dataset, args.task)
    write_jsonl(args.out, baselines.predict(task, read_json(args.model / "model.json"), read_jsonl(args.data)))


if __name__ == "__main__":
    cli.run(main)

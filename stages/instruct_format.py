"""instruct_format@<task>: canonical records -> Alpaca-style instruction records per split."""

import argparse
from pathlib import Path

from annotune.config import load_params
from annotune.data.io import SPLITS, read_jsonl, write_jsonl
from annotune.runtime import cli
from annotune.systems.prompts import instruct_record


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--prepared", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task = params.task(args.task)
    for split in SPLITS:
        records = read_jsonl(args.prepared / f"{split}.jsonl")
        write_jsonl(args.out / f"{split}.jsonl", (instruct_record(task, r) for r in records))


if __name__ == "__main__":
    cli.run(main)

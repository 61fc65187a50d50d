"""evaluate@<task>: every system's predictions vs gold -> metrics/<task>.json and plot data."""

import argparse
from pathlib import Path

from annotune import cli
from annotune.config import load_params
from annotune.io import read_jsonl, write_json
from annotune.metrics import confusion_rows, evaluate
from annotune.tasks import get_task


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--predictions", type=Path, required=True, help="folder of <system>.jsonl files")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--plots", type=Path, required=True)
    args = parser.parse_args(argv)
    task = get_task(load_params().dataset, args.task)
    files = sorted(args.predictions.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"{args.predictions}: no <system>.jsonl predictions; run the predict stages first")
    metrics = {}
    for path in files:
        predictions = read_jsonl(path)
        metrics[path.stem] = evaluate(task, predictions)
        write_json(args.plots / f"confusion_{path.stem}.json", confusion_rows(task, predictions))
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    cli.run(main)

"""predict_baseline@<task>-<method>: a baseline's predictions on the test split."""

import argparse
from pathlib import Path

from annotune import baselines, classifiers, cli
from annotune.config import load_params
from annotune.io import read_jsonl, write_jsonl


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("method")
    parser.add_argument("--data", type=Path, required=True, help="instruct test file")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task = params.task(args.task)
    rows = read_jsonl(args.data)
    if args.method in classifiers.METHODS:
        predictions = classifiers.classifier_predictions(task, args.model, rows, params.predict.batch_size)
    else:
        predictions = baselines.predict(task, baselines.load(args.model), rows)
    write_jsonl(args.out, predictions)


if __name__ == "__main__":
    cli.run(main)

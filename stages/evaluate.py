"""evaluate@<task>: every system's predictions vs gold -> metrics/<task>.json and plot data.

The systems are those params.yaml asks for (qlora, the prompting settings, the baseline methods), so a
method removed from params leaves the metrics even if its old predictions file is still on disk.
"""

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
    params = load_params()
    task = get_task(params.dataset, args.task)
    systems = ["qlora", *params.prompting.settings, *params.baselines.methods]
    metrics = {}
    for system in systems:
        predictions = read_jsonl(args.predictions / f"{system}.jsonl")
        metrics[system] = evaluate(task, predictions)
        write_json(args.plots / f"confusion_{system}.json", confusion_rows(task, predictions))
    write_json(args.metrics, metrics)


if __name__ == "__main__":
    cli.run(main)

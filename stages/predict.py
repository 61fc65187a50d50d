"""predict@<task>-<system>: a system's predictions on the test split (any system of annotune/systems.py).

Classification: a probability for every allowed label (LLMs score the label verbalizers, never parse them).
Generation: greedy decoding, normalized like the gold. Beside an LLM system's predictions,
``<system>.runtime.json``: the resolved device / precision and the run's memory footprint.
"""

import argparse
from pathlib import Path

from annotune import cli
from annotune.config import load_params
from annotune.io import read_jsonl, write_json, write_jsonl
from annotune.predictors import load_system


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("system")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--base", type=Path, required=True, help="base LLM folder")
    parser.add_argument("--model", type=Path, help="the system's model folder (default: the registry's)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task = params.task(args.task)
    system = load_system(
        task,
        args.system,
        args.model,
        base_dir=args.base,
        batch_size=params.predict.batch_size,
        max_new_tokens=params.predict.max_new_tokens,
        prompting=params.prompting,
        train_rows=read_jsonl(args.data / "train.jsonl") if args.system == "few_shot" else None,
        seed=params.seed,
    )
    write_jsonl(args.out, system.predict(read_jsonl(args.data / "test.jsonl")))
    if system.model is not None:
        from annotune.models import inference_footprint

        footprint = inference_footprint(system.model, system.runtime)
        write_json(args.out.with_suffix(".runtime.json"), {"runtime": vars(system.runtime), "footprint": footprint})


if __name__ == "__main__":
    cli.run(main)

"""predict@<task>-<system>: a system's predictions on the test split (any system of annotune/systems/registry.py).

Classification: a probability for every allowed label (LLMs score the label verbalizers, never parse them).
Generation: greedy decoding, normalized like the gold. Beside the predictions, ``<system>.runtime.json``: the
seconds it took to load and to predict, the training time its model folder recorded (both feed the cost per 1,000
items), and for an LLM the resolved device / precision and the run's memory footprint.
"""

import argparse
import time
from pathlib import Path

from annotune.config import load_params
from annotune.data.io import read_jsonl, write_json, write_jsonl
from annotune.runtime import cli
from annotune.systems import spec
from annotune.systems.meta import ModelMeta
from annotune.systems.predictors import load_system


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
    started = time.perf_counter()
    prompted = spec(args.system).kind == "prompted"  # only prompted systems read prompting and the seed (dvc.yaml)
    system = load_system(
        task,
        args.system,
        args.model,
        base_dir=args.base,
        batch_size=params.predict.batch_size,
        max_new_tokens=params.predict.max_new_tokens,
        prompting=params.prompting if prompted else None,
        data_dir=args.data,
        seed=params.seed if prompted else 0,
    )
    loaded = time.perf_counter()
    rows = read_jsonl(args.data / "test.jsonl")
    write_jsonl(args.out, system.predict(rows))
    timing = {
        "load_seconds": round(loaded - started, 3),
        "predict_seconds": round(time.perf_counter() - loaded, 3),
        "predict_rows": len(rows),
        "train_seconds": training_seconds(args.model or spec(args.system).model_dir(args.task)),
    }
    record = {"timing": timing}
    if system.model is not None:
        from annotune.systems.models import inference_footprint, read_source

        record |= {
            "base": read_source(args.base),  # the base LLM's id and resolved revision
            "runtime": vars(system.runtime),
            "footprint": inference_footprint(system.model, system.runtime),
        }
    write_json(args.out.with_suffix(".runtime.json"), record)


def training_seconds(model_dir: Path) -> float:
    """The training time the system's model folder recorded (0 for a system that needs no training)."""
    return ModelMeta.read(model_dir).train_seconds


if __name__ == "__main__":
    cli.run(main)

"""qlora_train@<task>: one LoRA adapter per task on the quantized base LLM (the system the registry says this stage
trains; its kind, annotune/systems/adapter.py, trains it and writes its annotune.json and model card).

Runs as one process (``python -m stages.qlora_train``) or data parallel under ``accelerate launch``
(params qlora.launcher); an interrupted run resumes from its last checkpoint when rerun.
"""

import argparse
from pathlib import Path

from annotune.config import load_params
from annotune.data.io import read_jsonl
from annotune.runtime import cli
from annotune.systems import trained_by
from annotune.systems.adapter import Adapter


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--live", type=Path, required=True, help="dvclive folder (training curves)")
    args = parser.parse_args(argv)
    params = load_params()
    (system,) = trained_by("qlora_train")
    train, dev = read_jsonl(args.data / "train.jsonl"), read_jsonl(args.data / "dev.jsonl")
    Adapter().train(
        system, params.task(args.task), train, dev, params.qlora,
        base_dir=args.base, seed=params.seed, dataset=params.dataset, out=args.out, live=args.live,
    )  # fmt: skip


if __name__ == "__main__":
    cli.run(main)

"""baseline_train@<task>-<method>: fit a baseline on the task's training split (dev: early stopping, thresholds).

``method`` is any system the registry says this stage trains (``trained_by: baseline_train``); its kind
(annotune/systems/kinds.py) trains it and writes the folder's annotune.json and model card.
"""

import argparse
from pathlib import Path

from annotune.config import load_params
from annotune.data import paths
from annotune.data.io import read_jsonl
from annotune.errors import ParamsError
from annotune.runtime import cli
from annotune.systems import spec
from annotune.systems.kinds import kind_of


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("method")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--encoder", type=Path, required=True, help="base encoder folder")
    parser.add_argument("--llm", type=Path, required=True, help="base LLM folder")
    parser.add_argument("--seq2seq", type=Path, default=paths.base_dir("seq2seq"), help="base encoder-decoder folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task, system = params.task(args.task), spec(args.method)
    if system.trained_by != "baseline_train":
        raise ParamsError(f"system {args.method!r} is trained by {system.trained_by or 'no stage'}, not baseline_train")
    # the params sections and base folders of the systems this stage trains (the registry's section and base)
    sections = {"baselines": params.baselines, "encoder": params.encoder, "llm_head": params.llm_head}
    sections["seq2seq"] = params.seq2seq
    bases = {None: None, "encoder": args.encoder, "llm": args.llm, "seq2seq": args.seq2seq}
    if system.base == "seq2seq" and params.models.seq2seq is None:  # an opt-in base: null by default
        raise ParamsError(f"params.yaml: system {args.method} needs a T5-family model: set models.seq2seq")
    train = read_jsonl(args.data / "train.jsonl")
    dev = read_jsonl(args.data / "dev.jsonl")
    kind_of(args.method).train(
        system, task, train, dev, sections[system.section],
        base_dir=bases[system.base], seed=params.seed, dataset=params.dataset, out=args.out,
    )  # fmt: skip


if __name__ == "__main__":
    cli.run(main)

"""Does LLM augmentation help the encoder when labels are few? (issue 31; docs/augmentation.md)

    python -m benchmarks.augment --sizes 50 100 300 --tasks hasBiasedImplication offensiveYN \\
        --methods none generate rewrite --out benchmarks/augment.json

For each task and label budget N the encoder trains on the budget curve's nested, stratified subset of N training
posts (``prepare.train_budget``'s subset: same seed, same strata), alone (``none``) and with the posts that the
augment params' generator wrote and the filters kept (``generate``, ``rewrite``); the generator sees only those N
posts. Same seed everywhere; dev and test are the default pipeline's. Reads the pipeline's prepared data and base
models (run ``dvc repro`` first); one process at a time, ``ANNOTUNE_THREADS`` threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from annotune.config import load_params
from annotune.data.datasets import sbic
from annotune.data.datasets.common import stratified_split
from annotune.data.io import read_jsonl
from annotune.evaluation.metrics.comparison import evaluate
from annotune.systems.augment import build_requests, diversity, filter_candidates, generate
from annotune.systems.classifiers import classifier_predictions, train_classifier
from annotune.systems.models import load_causal_lm, load_tokenizer, resolve_runtime
from annotune.systems.prompts import post_text


def budget_subset(train: list[dict], size: int, seed: int) -> list[dict]:
    """The instruct rows of the budget curve's subset of ``size`` posts (prepare's stratified, nested cut)."""
    prepared = read_jsonl(Path("data/prepared/train.jsonl"))
    kept, _ = stratified_split(prepared, size, sbic.stratum, seed)
    ids = {r["id"] for r in kept}
    return [r for r in train if r["id"] in ids]


def run(task_name: str, size: int, method: str, generator, params) -> dict:
    task = params.task(task_name)
    data = Path("data/instruct") / task_name
    train, dev, test = (read_jsonl(data / f"{split}.jsonl") for split in ("train", "dev", "test"))
    gold = budget_subset(train, size, params.seed)
    row = {"task": task_name, "gold": len(gold), "method": method}
    kept, generation_seconds = [], 0.0
    if method != "none":
        settings = dataclasses.replace(params.augment, method=method)
        model, tokenizer = generator
        started = time.perf_counter()
        requests = build_requests(task, gold, settings, params.seed)
        candidates = generate(model, tokenizer, requests, settings, params.seed)
        generation_seconds = time.perf_counter() - started
        held_out = [post_text(r) for r in dev + test]
        kept, _, counts = filter_candidates(candidates, gold, held_out, settings, task)
        row |= {"candidates": counts["candidates"], "kept": counts["kept"], "dropped": counts["dropped"]}
        row["distinct_2_kept"] = diversity([post_text(r) for r in kept])["distinct_2"]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        train_classifier("encoder", Path("models/base/encoder"), task, gold + kept, dev, params.encoder, params.seed,
                         Path(folder))  # fmt: skip
        train_seconds = time.perf_counter() - started
        metrics = evaluate(task, classifier_predictions(task, Path(folder), test, params.predict.batch_size))
    return row | {
        "macro_f1": metrics["macro_f1"],
        "accuracy": metrics["accuracy"],
        "generation_seconds": round(generation_seconds, 1),
        "train_seconds": round(train_seconds, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 300])
    parser.add_argument("--tasks", nargs="+", default=["hasBiasedImplication", "offensiveYN"])
    parser.add_argument("--methods", nargs="+", default=["none", "generate", "rewrite"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/augment.json"))
    args = parser.parse_args(argv)
    params = load_params()
    generator = None
    if set(args.methods) - {"none"}:  # the base LLM, prompted: augment.generator zero_shot
        prompting = params.prompting
        runtime = resolve_runtime(prompting.device, prompting.compute_dtype, prompting.quantization)
        base = Path("models/base/llm")
        generator = (load_causal_lm(base, runtime).eval(), load_tokenizer(base))
    rows = []
    for task_name in args.tasks:
        for size in args.sizes:
            for method in args.methods:
                rows.append(run(task_name, size, method, generator, params))
                print(json.dumps(rows[-1]), flush=True)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({"augment": dataclasses.asdict(params.augment), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()

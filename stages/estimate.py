"""estimate@<task>: each label's prevalence from the systems' labels on the pool plus the human labels of the test
split (annotune/evaluation/estimate.py), with the true share of gold + pool beside each interval where the pool's gold
is known.

The pool is what prepare's ``max_test`` left out of the test split's file (data/pool): the same population the test
sample was drawn from, its labels hidden from the systems. The test items are weighted by their inclusion
probabilities (the sample is stratified). The systems' predictions on the pool are saved under ``--pool-predictions``.
"""

import argparse
import random
from pathlib import Path

import numpy as np

from annotune.config import load_params, save_resolved
from annotune.data.io import read_json, read_jsonl, write_json, write_jsonl
from annotune.evaluation.estimate import estimate_task
from annotune.runtime import cli
from annotune.systems import enabled, spec
from annotune.systems.predictors import load_system
from annotune.systems.prompts import instruct_record


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--pool", type=Path, required=True, help="prepare's pool folder (pool.jsonl, design.json)")
    parser.add_argument("--test", type=Path, required=True, help="the prepared test split (the gold sample)")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--predictions", type=Path, required=True, help="the systems' test predictions folder")
    parser.add_argument("--base", type=Path, required=True, help="base LLM folder")
    parser.add_argument("--pool-predictions", type=Path, required=True, help="folder for the pool predictions")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task, settings = params.task(args.task), params.estimate
    args.pool_predictions.mkdir(parents=True, exist_ok=True)
    save_resolved(args.pool_predictions / "params.json", estimate=settings, seed=params.seed)
    result = {"task": task.name, "level": settings.confidence_level, "systems": {}, "skipped": {}}
    pool = read_jsonl(args.pool / "pool.jsonl")
    if task.kind not in ("binary", "multiclass"):
        write_json(
            args.out, result | {"why": f"estimates are for binary and multiclass tasks; {task.name} is {task.kind}"}
        )
        return
    if not pool:
        write_json(args.out, result | {"why": "no pool: prepare's max_test kept the whole test file"})
        return
    if settings.max_pool is not None and settings.max_pool < len(pool):
        pool = sorted(random.Random(params.seed).sample(pool, settings.max_pool), key=lambda r: r["id"])
    design = read_json(args.pool / "design.json")
    if not design["probability_sample"]:
        why = "the test split is no random sample (prepare.test_sampling: annotators), so it cannot serve as the gold"
        write_json(args.out, result | {"why": why})
        return
    test = read_jsonl(args.test)
    inclusion = design["test_inclusion_probability"]
    running = enabled(params.systems, task.name, params.distill.tasks, params.augment.tasks)
    by = settings.by
    groups = None
    if by is not None:
        groups = ([str(r["attributes"][by]) for r in test], [str(r["attributes"][by]) for r in pool])
    for name in settings.systems:
        if name not in running:
            result["skipped"][name] = "not run by params' systems section"
            continue
        gold_scores = {p["id"]: p["scores"] for p in read_jsonl(args.predictions / f"{name}.jsonl")}
        pool_scores = pool_predictions(task, name, pool, args, params.predict, params.prompting, params.seed)
        result["systems"][name] = estimate_task(
            list(task.labels),
            [r["labels"][task.name] for r in test],
            [gold_scores[r["id"]] for r in test],
            [pool_scores[r["id"]] for r in pool],
            level=settings.confidence_level,
            half_width=settings.target_half_width,
            label_price=params.cost.human_label_price * params.cost.annotators_per_item,
            inclusion=np.array([inclusion[r["id"]] for r in test]),
            pool_truth=[r["labels"][task.name] for r in pool],
            groups=groups,
        )
    write_json(args.out, result | {"gold_items": len(test), "pool_items": len(pool), "by": by})


def pool_predictions(task, name: str, pool: list[dict], args, predict, prompting, seed: int) -> dict[str, dict]:
    """The system's probabilities on the pool, through the loader every prediction uses
    (annotune/systems/predictors.py)."""
    prompted = spec(name).kind == "prompted"
    model_dir = spec(name).model_dir(task.name)
    system = load_system(
        task,
        name,
        model_dir,
        base_dir=args.base,
        batch_size=predict.batch_size,
        max_new_tokens=predict.max_new_tokens,
        prompting=prompting if prompted else None,
        data_dir=args.data,
        seed=seed if prompted else 0,
    )
    predictions = system.predict([instruct_record(task, r) for r in pool])
    write_jsonl(args.pool_predictions / f"{name}.jsonl", predictions)
    return {p["id"]: p["scores"] for p in predictions}


if __name__ == "__main__":
    cli.run(main)

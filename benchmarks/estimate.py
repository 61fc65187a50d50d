"""Estimates (annotune/evaluation/estimate.py): coverage on SBIC with the real systems' labels, and speed at a million
rows.

    python -m benchmarks.estimate coverage [--draws 1000] [--sizes 50 100 300]   # needs the estimate stage's outputs
    python -m benchmarks.estimate scale [--rows 1000000]

coverage: the SBIC test file's posts that prepare kept (the test split) and left out (the pool) all have known
gold, and the estimate stage saved each system's probabilities on both. Each draw takes n posts uniformly as the
gold sample and the rest as the pool, and checks whether the humans-only and the PPI++ intervals cover the true
share of all posts. scale: a synthetic annotate output of ``--rows`` rows read and estimated, timed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from annotune.config import load_params
from annotune.data.io import read_jsonl
from annotune.evaluation.estimate import coverage_simulation, estimate_task
from annotune.workflows.estimate_cli import read_predictions


def coverage(task_name: str, system: str, sizes: list[int], draws: int, level: float, seed: int) -> list[dict]:
    params = load_params()
    task = params.task(task_name)
    records = read_jsonl(Path("data/prepared/test.jsonl")) + read_jsonl(Path("data/pool/pool.jsonl"))
    scores = {p["id"]: p["scores"] for p in read_jsonl(Path(f"data/predictions/{task.name}/{system}.jsonl"))}
    scores |= {p["id"]: p["scores"] for p in read_jsonl(Path(f"data/estimate/{task.name}/{system}.jsonl"))}
    rows = []
    for label in task.labels:
        truth = np.array([r["labels"][task.name] == label for r in records], dtype=float)
        predicted = np.array([scores[r["id"]][label] for r in records])
        for n in sizes:
            result = coverage_simulation(truth, predicted, n, draws, level, seed)
            rows.append({"task": task.name, "system": system, "label": label} | result)
    return rows


def scale(rows: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    truth = rng.random(rows) < 0.3
    probability = np.clip(0.7 * truth + rng.normal(0.15, 0.15, rows), 0, 1)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "annotated.jsonl"
        with path.open("w") as fh:
            for i, p in enumerate(probability):
                scores = {"yes": round(float(p), 6), "no": round(1 - float(p), 6)}
                fh.write(json.dumps({"row": i, "id": str(i), "status": "ok", "scores": scores}) + "\n")
        started = time.perf_counter()
        predictions = read_predictions(path)
        read = time.perf_counter()
    gold = list(predictions)[: rows // 1000]
    gold_set = set(gold)
    result = estimate_task(
        ["yes", "no"],
        ["yes" if truth[int(i)] else "no" for i in gold],
        [predictions[i] for i in gold],
        [s for i, s in predictions.items() if i not in gold_set],
        level=0.95,
        half_width=0.02,
        label_price=0.3,
    )
    done = time.perf_counter()
    return {
        "rows": rows,
        "gold": len(gold),
        "read_seconds": round(read - started, 2),
        "estimate_seconds": round(done - read, 2),
        "ppi_yes": result["labels"]["yes"]["ppi"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["coverage", "scale"])
    parser.add_argument("--tasks", nargs="+", default=["hasBiasedImplication", "offensiveYN"])
    parser.add_argument("--systems", nargs="+", default=["encoder", "tfidf_logreg"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[50, 100, 300])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.what == "scale":
        result = scale(args.rows, args.seed)
        print(json.dumps(result, indent=2))
    else:
        result = [
            row
            for task in args.tasks
            for system in args.systems
            for row in coverage(task, system, args.sizes, args.draws, args.level, args.seed)
        ]
        print("| task | system | label | n | humans-only coverage | PPI++ coverage | width ratio | as precise as |")
        print("|---|---|---|---|---|---|---|---|")
        for row in result:
            print(
                f"| {row['task']} | {row['system']} | {row['label']} | {row['n']} | "
                f"{100 * row['coverage']['humans_only']:.1f}% | {100 * row['coverage']['ppi']:.1f}% | "
                f"{row['width_ratio']:.2f} | {row['effective_human_labels']:.0f} |"
            )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

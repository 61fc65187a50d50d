"""prepare: raw files -> canonical records, one JSONL per split, and counts as DVC metrics."""

import argparse
import dataclasses
import logging
from pathlib import Path

from annotune.config import load_params, save_resolved
from annotune.data import datasets
from annotune.data.io import write_json, write_jsonl
from annotune.runtime import cli

log = logging.getLogger("prepare")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--pool", type=Path, required=True, help="folder for the test records max_test left out")
    args = parser.parse_args(argv)
    params = load_params()
    tasks = [params.task(name) for name in params.tasks]
    splits, stats = datasets.prepare(params.dataset, params.prepare, params.seed, tasks, params.table, args.raw)
    stratum = datasets.adapter(params.dataset, params.table, tasks).stratum
    write_pool(args.pool, splits.pop("pool", []), splits["test"], stats["splits"]["test"].get("design"), stratum)
    if "fallback" in stats:
        log.warning("FALLBACK SPLIT: %s", stats["fallback"])
    for split, records in splits.items():
        write_jsonl(args.out / f"{split}.jsonl", records)
        log.info("%s: %d records", split, len(records))
    declared = {"table": params.table} if params.dataset == "table" else {}
    resolved = dataclasses.asdict(params.prepare)
    if not resolved["attributes"]:  # a run without attributes records none (its params.json unchanged by them)
        del resolved["attributes"]
    save_resolved(args.out / "params.json", dataset=params.dataset, seed=params.seed, prepare=resolved, **declared)
    write_json(args.stats, stats)


def write_pool(folder: Path, pool: list[dict], test: list[dict], design: list[dict] | None, stratum) -> None:
    """The estimates' pool: the test records max_test left out (their gold known, so an estimate can be checked)
    and every test record's inclusion probability (an empty pool when max_test kept everything)."""
    write_jsonl(folder / "pool.jsonl", pool)
    if design is None and pool:  # prepare.test_sampling: annotators chose the test items, not a random draw
        write_json(
            folder / "design.json", {"probability_sample": False, "strata": [], "test_inclusion_probability": {}}
        )
    else:
        probabilities = (
            datasets.inclusion_probabilities(test, design, stratum) if design else {r["id"]: 1.0 for r in test}
        )
        write_json(
            folder / "design.json",
            {"probability_sample": True, "strata": design or [], "test_inclusion_probability": probabilities},
        )
    log.info("pool: %d records", len(pool))


if __name__ == "__main__":
    cli.run(main)

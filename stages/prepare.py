"""prepare: raw files -> canonical records, one JSONL per split, and counts as DVC metrics."""

import argparse
import logging
from pathlib import Path

from annotune import cli, datasets
from annotune.config import load_params, save_resolved
from annotune.io import write_json, write_jsonl

log = logging.getLogger("prepare")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    tasks = [params.task(name) for name in params.tasks]
    splits, stats = datasets.prepare(params.dataset, params.prepare, params.seed, tasks, params.table, args.raw)
    if "fallback" in stats:
        log.warning("FALLBACK SPLIT: %s", stats["fallback"])
    for split, records in splits.items():
        write_jsonl(args.out / f"{split}.jsonl", records)
        log.info("%s: %d records", split, len(records))
    declared = {"table": params.table} if params.dataset == "table" else {}
    save_resolved(
        args.out / "params.json", dataset=params.dataset, seed=params.seed, prepare=params.prepare, **declared
    )
    write_json(args.stats, stats)


if __name__ == "__main__":
    cli.run(main)

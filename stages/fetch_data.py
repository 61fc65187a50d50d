"""fetch_data: the dataset's raw files, checksum-verified, into data/raw/<dataset>/."""

import argparse
from pathlib import Path

from annotune.config import load_params
from annotune.data.datasets import adapter
from annotune.data.fetch import fetch
from annotune.runtime import cli


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    dataset = adapter(params.dataset, params.table, [params.task(name) for name in params.tasks])
    if hasattr(dataset, "SOURCE"):
        fetch(dataset.SOURCE, args.out)
    else:  # a declared table: the user's own files
        dataset.fetch(args.out)


if __name__ == "__main__":
    cli.run(main)

"""base_model@<key>: resolve params.yaml models.<key> to a plain model folder, with where it came from
(hub commit, package version or folder) in its annotune_source.json."""

import argparse
import logging
from pathlib import Path

from annotune import cli
from annotune.config import load_params
from annotune.models import resolve

log = logging.getLogger(__name__)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("key", choices=["llm", "encoder"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    source = resolve(getattr(load_params().models, args.key), args.out)
    log.info("%s: %s resolved from %s -> %s", args.key, source["spec"], source["resolved_from"], args.out)


if __name__ == "__main__":
    cli.run(main)

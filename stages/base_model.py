"""base_model@<key>: resolve params.yaml models.<key> to a plain model folder, with where it came from
(hub commit, package version or folder) in its annotune_source.json."""

import argparse
import json
import logging
import shutil
from pathlib import Path

from annotune.config import load_params
from annotune.runtime import cli
from annotune.systems.models import SOURCE_FILE, resolve

log = logging.getLogger(__name__)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("key", choices=["llm", "encoder", "seq2seq"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    spec = getattr(load_params().models, args.key)
    if spec is None:
        declare_no_model(args.key, args.out)
        return
    source = resolve(spec, args.out)
    log.info("%s: %s resolved from %s -> %s", args.key, source["spec"], source["resolved_from"], args.out)


def declare_no_model(key: str, out: Path) -> None:
    """An optional model left null (models.seq2seq: its system is opt-in): the stage still runs for every key of
    ``models``, so it leaves a folder that says so instead of failing the default pipeline."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    note = f"params.yaml models.{key} is null: no model is declared"
    (out / SOURCE_FILE).write_text(json.dumps({"spec": None, "note": note}, indent=2, sort_keys=True) + "\n")
    log.info("%s: %s", key, note)


if __name__ == "__main__":
    cli.run(main)

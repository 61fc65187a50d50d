"""base_model@<key>: resolve params.yaml models.<key> to a plain model folder."""

import argparse
import json
from pathlib import Path

from annotune import cli
from annotune.config import load_params
from annotune.models import resolve


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("key", choices=["llm", "encoder"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    spec = getattr(params.models, args.key)
    how = resolve(spec, args.out)
    (args.out / "annotune_source.json").write_text(json.dumps({"spec": spec, "resolved_from": how}) + "\n")


if __name__ == "__main__":
    cli.run(main)

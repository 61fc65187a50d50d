"""Named parameter sets in ``profiles/<name>.yaml`` (params.yaml keys -> values): the reference GPU study
and the CPU default, each one command.

    annotune profiles run reference-gpu [--queue | --temp]   # a DVC experiment named after it
    annotune profiles apply cpu                               # write the values into params.yaml
    annotune profiles show reference-gpu                      # the command it stands for
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq

from annotune.config import PARAMS_FILE, Params, ParamsError, build
from annotune.runtime import cli

PROFILES_DIR = Path("profiles")


def load_profile(name: str, folder: Path = PROFILES_DIR) -> dict:
    if Path(name).name != name or name.startswith("."):  # a name, not a path: nothing outside profiles/ is read
        raise ParamsError(f"profile {name!r}: give a profile's name (a file profiles/<name>.yaml), not a path")
    path = folder / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
        raise ParamsError(f"profile {name!r}: {path} not found (profiles: {known})")
    values = YAML(typ="safe").load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ParamsError(f"{path}: expected a mapping of params.yaml keys to values")
    return values


def _set_values(document: dict, profile: dict, source: str) -> None:
    """Set the profile's dotted keys in ``document``; every key must already exist in params.yaml."""
    for key, value in profile.items():
        *parents, leaf = key.split(".")
        node = document
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ParamsError(f"{source}: {key} is not a params.yaml key")
        node[leaf] = value


def applied(params: dict, profile: dict, source: str = "profile") -> dict:
    """``params`` (params.yaml as a mapping) with the profile's values set; the result must validate,
    so a typo fails here and not in a stage."""
    result = json.loads(json.dumps(params))
    _set_values(result, profile, source)
    build(Params, result)
    return result


def override(key: str, value) -> str:
    """One ``dvc exp run -S`` argument (Hydra override syntax: strings with spaces are quoted)."""
    if isinstance(value, str):
        text = json.dumps(value) if any(c in value for c in " ,[]{}'\"=") else value
    else:
        text = json.dumps(value, separators=(",", ":"))  # compact, but the spaces inside strings kept
    return f"{key}={text}"


def exp_run_command(name: str, profile: dict, mode: str | None) -> list[str]:
    command = ["dvc", "exp", "run", "-n", name, *([f"--{mode}"] if mode else [])]
    for key, value in profile.items():
        command += ["-S", override(key, value)]
    return command


def _flow_lists(value):
    """Lists of scalars in flow style (``[a, b]``), as params.yaml writes them."""
    if isinstance(value, dict):
        return {key: _flow_lists(item) for key, item in value.items()}
    if isinstance(value, list) and all(not isinstance(item, (dict, list)) for item in value):
        flow = CommentedSeq(value)
        flow.fa.set_flow_style()
        return flow
    return value


def apply_to_params_file(profile: dict, path: Path = PARAMS_FILE) -> None:
    """Set the values in params.yaml in place, keeping its comments and order."""
    yaml = YAML()
    # round-trip YAML writes None as an empty value and new lists as blocks: keep params.yaml's own style
    yaml.representer.add_representer(
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    document = yaml.load(path)
    _set_values(document, {key: _flow_lists(value) for key, value in profile.items()}, str(path))
    build(Params, json.loads(json.dumps(document)))  # validate before writing
    with path.open("w") as fh:
        yaml.dump(document, fh)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "apply", "show"])
    parser.add_argument("profile", help="a file name in profiles/ without .yaml")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--queue", action="store_const", const="queue", dest="mode", help="queue the experiment")
    mode.add_argument("--temp", action="store_const", const="temp", dest="mode", help="run it in a temporary folder")
    parser.add_argument("--name", help="experiment name (default: the profile's)")
    args = parser.parse_args(argv)
    profile = load_profile(args.profile)
    if args.command == "apply":
        apply_to_params_file(profile)
        print(f"params.yaml: {len(profile)} values from profiles/{args.profile}.yaml; run `dvc repro`")
        return
    applied(YAML(typ="safe").load(PARAMS_FILE.read_text()), profile, f"profiles/{args.profile}.yaml")
    command = exp_run_command(args.name or args.profile, profile, args.mode)
    print(shlex.join(command), flush=True)
    if args.command == "run":
        subprocess.run(command, check=True)


if __name__ == "__main__":
    cli.run(main)

"""The library's one list of the pipeline's paths (annotune/data/paths.py) matches dvc.yaml: each names a path a
stage declares, so a folder renamed in dvc.yaml fails here instead of leaving a command reading nothing. The
registry's model folders, the other place that knows paths, are checked by tests/test_artifacts.py."""

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune.data import paths

ROOT = Path(__file__).resolve().parents[1]


def declared_paths() -> set[str]:
    """Every deps / outs / metrics / plots path of dvc.yaml's stages, templates (``${item}``) as written."""
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    found = set()
    for stage in stages.values():
        body = stage.get("do", stage)
        for key in ("deps", "outs", "metrics", "plots"):
            for entry in body.get(key) or []:
                found |= set(entry) if isinstance(entry, dict) else {entry}
    return found


DECLARED = declared_paths()


PIPELINE_PATHS = [
    value for name, value in vars(paths).items() if name.isupper() and isinstance(value, type(paths.BASES))
]


def test_every_path_constant_is_checked():
    assert {paths.INSTRUCT, paths.BASES, paths.EVAL, paths.SUMMARY} <= set(PIPELINE_PATHS)


@pytest.mark.parametrize("path", PIPELINE_PATHS, ids=str)
def test_each_path_is_one_dvc_yaml_declares(path):
    assert any(d == str(path) or d.startswith(f"{path}/") for d in DECLARED), f"{path}: no stage declares it"

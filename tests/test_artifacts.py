"""dvc.yaml's `artifacts:` (annotune/evaluation/dvc_sections.py): it follows params.yaml, and DVC's model registry
reads it."""

from __future__ import annotations

import json
from pathlib import Path

from ruamel.yaml import YAML

from annotune.config import load_params
from annotune.evaluation.dvc_sections import declared_artifacts

ROOT = Path(__file__).resolve().parents[1]


def test_dvc_yaml_declares_the_artifacts_params_yaml_trains():
    declared = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["artifacts"]
    expected = declared_artifacts(load_params(ROOT / "params.yaml"))
    assert declared == json.loads(json.dumps(expected)), "dvc.yaml's artifacts: differ; run `annotune artifacts`"


def test_every_artifact_is_a_stage_output_dvc_accepts():
    """DVC validates the names and reads the section; each path is what a stage of the pipeline writes."""
    from dvc.repo import Repo
    from dvc.repo.artifacts import check_name_format

    with Repo(str(ROOT)) as repo:
        read = repo.artifacts.read()["dvc.yaml"]
        outs = {str(out.def_path) for stage in repo.index.stages for out in stage.outs}
    assert set(read) == set(declared_artifacts(load_params(ROOT / "params.yaml")))
    for name, artifact in read.items():
        check_name_format(name)
        assert artifact.type == "model"
        assert artifact.path in outs, f"{name}: {artifact.path} is no stage's output"


def test_only_trained_folders_are_artifacts():
    params = load_params(ROOT / "params.yaml")
    names = declared_artifacts(params)
    task = params.tasks[0]
    assert f"qlora-{task}" in names and f"encoder-{task}" in names
    assert not any(name.startswith(("zero_shot-", "few_shot-")) for name in names)

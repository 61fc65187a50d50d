"""Profiles: named parameter sets (profiles/<name>.yaml) validate against params.yaml, resolve per machine, and
apply as `dvc exp run -S` overrides or in place."""

import shutil
from pathlib import Path
from unittest import mock

import pytest
from ruamel.yaml import YAML

from annotune.config import Params, ParamsError, build
from annotune.systems.models import resolve_runtime
from annotune.systems.preflight import PreflightError
from annotune.workflows.profiles import applied, apply_to_params_file, load_profile, override
from tests.conftest import on_gpu

ROOT = Path(__file__).resolve().parents[1]


def repo_params() -> dict:
    return YAML(typ="safe").load((ROOT / "params.yaml").read_text())


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml")))
def test_every_profile_validates_against_params(name):
    build(Params, applied(repo_params(), load_profile(name, ROOT / "profiles")))


def test_reference_gpu_profile_resolves_per_gpu_and_refuses_the_cpu():
    profile = load_profile("reference-gpu", ROOT / "profiles")
    params = build(Params, applied(repo_params(), profile))
    assert (params.qlora.r, params.qlora.alpha, params.qlora.dropout, params.qlora.learning_rate) == (16, 64, 0.1, 2e-4)
    assert params.qlora.double_quant and params.qlora.optimizer == "paged_adamw_8bit"
    qlora = params.qlora
    with on_gpu(bf16=False, name="Tesla T4"):
        assert resolve_runtime(qlora.device, qlora.compute_dtype, qlora.quantization).compute_dtype == "float16"
    with on_gpu(bf16=True):
        assert resolve_runtime(qlora.device, qlora.compute_dtype, qlora.quantization).compute_dtype == "bfloat16"
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.raises(PreflightError, match="device 'cuda'"):
            resolve_runtime(qlora.device, qlora.compute_dtype, qlora.quantization)


def test_a_profile_key_params_do_not_have_fails():
    with pytest.raises(ParamsError, match="qlora.rank is not a params.yaml key"):
        applied(repo_params(), {"qlora.rank": 16})
    with pytest.raises(ParamsError, match="qlora.r = 'sixteen': Input should be a valid integer"):
        applied(repo_params(), {"qlora.r": "sixteen"})


def test_overrides_are_dvc_set_param_syntax():
    assert override("qlora.r", 16) == "qlora.r=16"
    assert override("prepare.max_train", None) == "prepare.max_train=null"
    assert override("tasks", ["a", "b"]) == 'tasks=["a","b"]'
    assert override("models.llm", "meta-llama/Llama-2-7b-hf") == "models.llm=meta-llama/Llama-2-7b-hf"
    launcher = "accelerate launch --num_processes 2 -m"
    assert override("qlora.launcher", launcher) == f'qlora.launcher="{launcher}"'
    # a whole section: compact, with the spaces inside its strings kept
    assert (
        override("annotate", {"launcher": "python -m", "tasks": []}) == 'annotate={"launcher":"python -m","tasks":[]}'
    )


@pytest.mark.parametrize("name", ["../params", "/etc/passwd", ".hidden", "sub/cpu"])
def test_a_profile_is_named_not_a_path(name):
    with pytest.raises(ParamsError, match="give a profile's name"):
        load_profile(name)


def test_apply_writes_params_yaml_in_place_and_back(tmp_path):
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    apply_to_params_file(load_profile("reference-gpu", ROOT / "profiles"), params_file)
    text = params_file.read_text()
    assert "models:\n  llm: meta-llama/Llama-2-7b-hf" in text and "# annotune defaults" in text  # comments kept
    apply_to_params_file(load_profile("cpu", ROOT / "profiles"), params_file)
    assert YAML(typ="safe").load(params_file.read_text()) == repo_params()

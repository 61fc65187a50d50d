"""Device / precision profiles: what resolves where, what fails early (CUDA mocked: no GPU here), the
memory and time estimates printed before training, and the profile files."""

import contextlib
import importlib.util
import json
import shutil
from pathlib import Path
from unittest import mock

import pytest
import torch
from ruamel.yaml import YAML

from annotune import preflight
from annotune.config import Params, ParamsError, build
from annotune.models import bitsandbytes_problem, resolve_runtime
from annotune.preflight import PreflightError
from annotune.profiles import applied, apply_to_params_file, load_profile, override

ROOT = Path(__file__).resolve().parents[1]
LLAMA_2_7B = {  # meta-llama/Llama-2-7b-hf config.json, the fields that size it
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
}
LLAMA_3_70B = LLAMA_2_7B | {
    "hidden_size": 8192,
    "intermediate_size": 28672,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
}


@contextlib.contextmanager
def on_gpu(bf16: bool, name: str = "NVIDIA A100-SXM4-80GB", free_gb: float = 80.0):
    """A machine with one CUDA GPU (bitsandbytes assumed working on it)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch("torch.cuda.is_available", return_value=True))
        stack.enter_context(mock.patch("torch.cuda.is_bf16_supported", return_value=bf16))
        stack.enter_context(mock.patch("torch.cuda.get_device_name", return_value=name))
        stack.enter_context(mock.patch("torch.cuda.mem_get_info", return_value=(free_gb * 1e9, free_gb * 1e9)))
        stack.enter_context(mock.patch("annotune.models.bitsandbytes_problem", return_value=None))
        yield


def test_auto_resolves_to_cpu_float32_here():
    with mock.patch("torch.cuda.is_available", return_value=False):
        runtime = resolve_runtime("auto", "auto", "nf4")
    assert (runtime.device, runtime.compute_dtype, runtime.quantization) == ("cpu", "float32", "nf4")


def test_auto_resolves_to_bf16_where_the_gpu_has_it_else_fp16():
    with on_gpu(bf16=True):
        assert resolve_runtime("auto", "auto", "nf4").compute_dtype == "bfloat16"
    with on_gpu(bf16=False, name="Tesla T4"):
        runtime = resolve_runtime("auto", "auto", "nf4")
    assert (runtime.device, runtime.compute_dtype) == ("cuda", "float16")


def test_bf16_on_a_gpu_without_it_fails_early_naming_the_gpu():
    with on_gpu(bf16=False, name="Tesla T4"):
        with pytest.raises(PreflightError, match=r"bfloat16 is not supported by this GPU \(Tesla T4\)"):
            resolve_runtime("cuda", "bfloat16", "nf4")


def test_cuda_asked_for_without_a_gpu_fails_early():
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.raises(PreflightError, match="device 'cuda' was asked for but torch sees no CUDA device"):
            resolve_runtime("cuda", "auto", "none")


def test_float16_on_the_cpu_fails_instead_of_changing_precision():
    with pytest.raises(PreflightError, match="float16 needs a GPU"):
        resolve_runtime("cpu", "float16", "none")


def test_4bit_without_bitsandbytes_fails_early():
    real_find_spec = importlib.util.find_spec
    missing = lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a)  # noqa: E731
    with mock.patch("importlib.util.find_spec", side_effect=missing):
        with pytest.raises(PreflightError, match="quantization 'nf4' on cpu: bitsandbytes is not installed"):
            resolve_runtime("cpu", "float32", "nf4")
    assert resolve_runtime("cpu", "float32", "none").quantization == "none"  # unquantized needs no bitsandbytes


def test_4bit_with_a_bitsandbytes_build_lacking_the_device_fails_early():
    assert bitsandbytes_problem("cpu") is None  # the real probe: this build quantizes on the CPU
    with mock.patch("bitsandbytes.functional.quantize_4bit", side_effect=RuntimeError("no kernel for cpu")):
        with pytest.raises(PreflightError, match="no working 4-bit backend for cpu .*no kernel for cpu"):
            resolve_runtime("cpu", "float32", "nf4")


def test_paged_optimizer_needs_cuda():
    with pytest.raises(PreflightError, match="paged_adamw_8bit.*needs CUDA"):
        preflight.check_optimizer("paged_adamw_8bit", "cpu")
    preflight.check_optimizer("paged_adamw_8bit", "cuda")
    preflight.check_optimizer("adamw_torch", "cpu")


def write_config(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_model_size_from_config_alone(tmp_path):
    size = preflight.model_size(write_config(tmp_path / "llama2", LLAMA_2_7B), lora_r=16)
    assert size.parameters == 6_738_415_616  # Llama-2-7B, as published
    assert size.lora_parameters == 39_976_960  # r=16 on all 7 linear layers of 32 blocks
    assert size.linear_parameters == size.parameters - 2 * 32000 * 4096 - 65 * 4096  # not embeddings, head, norms


def test_estimating_leaves_the_training_seed_alone(tiny_llama):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    preflight.measured_matmul_gflops("cpu", torch.float32, size=64)
    preflight.model_size(tiny_llama, lora_r=4)
    assert torch.equal(torch.rand(3), expected)


def test_a_tied_output_head_counts_once(tmp_path):
    from transformers import LlamaConfig

    tied = LlamaConfig(**LLAMA_2_7B, tie_word_embeddings=True).to_dict()
    size = preflight.model_size(write_config(tmp_path / "tied", tied), lora_r=16)
    assert size.parameters == 6_738_415_616 - 32000 * 4096


def estimate(size, quantization, dtype="bfloat16", checkpointing=True):
    return preflight.training_estimate(size, quantization, dtype, 4, 256, 10_000_000, checkpointing, 100_000.0)


def test_7b_fits_a_16gb_t4_in_4bit_but_not_in_float16(tmp_path):
    size = preflight.model_size(write_config(tmp_path / "llama2", LLAMA_2_7B), lora_r=16)
    nf4, fp16 = estimate(size, "nf4-double", "float16"), estimate(size, "none", "float16", checkpointing=False)
    assert 3.5 < nf4.weights_gb < 4 < estimate(size, "nf4", "float16").weights_gb and 13 < fp16.weights_gb < 14
    with on_gpu(bf16=False, name="Tesla T4", free_gb=15.6):
        preflight.check_fits(nf4, "cuda")
        with pytest.raises(PreflightError, match=r"needs about 2\d\.\d GB to train, this GPU has 15\.6 GB free"):
            preflight.check_fits(fp16, "cuda")


def test_70b_needs_4bit_on_an_80gb_gpu(tmp_path):
    size = preflight.model_size(write_config(tmp_path / "llama3", LLAMA_3_70B), lora_r=16)
    assert 70.0e9 < size.parameters < 71.0e9
    with on_gpu(bf16=True, free_gb=80.0):
        preflight.check_fits(estimate(size, "nf4-double"), "cuda")
        with pytest.raises(PreflightError, match="use quantization nf4"):
            preflight.check_fits(estimate(size, "none"), "cuda")


def test_estimate_lines_name_what_a_user_needs(tmp_path):
    size = preflight.model_size(write_config(tmp_path / "llama2", LLAMA_2_7B), lora_r=16)
    lines = "\n".join(estimate(size, "nf4").lines())
    for expected in (
        "parameters 6,738.4M",
        "trainable 39.98M (0.59%)",
        "expected peak memory",
        "tokens to process 10,000,000",
    ):
        assert expected in lines


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
    with pytest.raises(ParamsError, match="qlora.r = 'sixteen' has the wrong type"):
        applied(repo_params(), {"qlora.r": "sixteen"})


def test_overrides_are_dvc_set_param_syntax():
    assert override("qlora.r", 16) == "qlora.r=16"
    assert override("prepare.max_train", None) == "prepare.max_train=null"
    assert override("tasks", ["a", "b"]) == 'tasks=["a","b"]'
    assert override("models.llm", "meta-llama/Llama-2-7b-hf") == "models.llm=meta-llama/Llama-2-7b-hf"
    launcher = "accelerate launch --num_processes 2 -m"
    assert override("qlora.launcher", launcher) == f'qlora.launcher="{launcher}"'


def test_apply_writes_params_yaml_in_place_and_back(tmp_path):
    params_file = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params_file)
    apply_to_params_file(load_profile("reference-gpu", ROOT / "profiles"), params_file)
    text = params_file.read_text()
    assert "models:\n  llm: meta-llama/Llama-2-7b-hf" in text and "# annotune defaults" in text  # comments kept
    apply_to_params_file(load_profile("cpu", ROOT / "profiles"), params_file)
    assert YAML(typ="safe").load(params_file.read_text()) == repo_params()

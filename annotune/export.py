"""Export a LoRA adapter merged into a non-quantized base: one plain model folder, no peft needed.

``merge_adapter`` loads the base in float32 (never quantized), applies the adapter, folds the LoRA
product into the base weights (``W + scale * B @ A``) and saves the result with the adapter's
tokenizer. The merged model then computes the same logits as the unmerged float32 base + adapter, up
to float rounding (the test checks ``max |diff| <= MERGE_ATOL`` on a tiny Llama).

Warning, QLoRA: an adapter trained on a 4-bit (NF4) or 8-bit base learned corrections to the
*quantized* weights. Merged into the float32 weights it computes ``W_float + BA`` instead of
``dequant(W_4bit) + BA``: close, but not the model that was trained and evaluated — the difference is
the quantization error of the base. ``merge_adapter`` warns when the adapter's ``annotune.json`` says
the base was quantized, and ``logit_difference`` measures the gap on real prompts; re-evaluate the
merged model before trusting its metrics.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import torch

log = logging.getLogger(__name__)

MERGE_ATOL = 1e-4  # float32 merge vs base + adapter, max absolute logit difference
QUANTIZED_BASE_WARNING = (
    "{adapter}: this adapter was trained on a {quantization} base; merging it into the float32 base "
    "is approximate (the adapter corrected the quantized weights, the merged model adds it to the "
    "unquantized ones). Re-evaluate the merged model before using its metrics."
)


class QuantizedBaseWarning(UserWarning):
    pass


def trained_quantization(adapter_dir: Path) -> str:
    """The quantization the adapter was trained with (annotune.json's runtime), 'unknown' without it."""
    meta = Path(adapter_dir) / "annotune.json"
    if not meta.exists():
        return "unknown"
    return json.loads(meta.read_text()).get("runtime", {}).get("quantization", "unknown")


def merge_adapter(base_dir: Path, adapter_dir: Path, out_dir: Path, dtype: torch.dtype = torch.float32):
    """Save base + adapter, merged, as a plain model folder at ``out_dir``; returns the merged model."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir, adapter_dir, out_dir = Path(base_dir), Path(adapter_dir), Path(out_dir)
    for folder, marker in ((base_dir, "config.json"), (adapter_dir, "adapter_config.json")):
        if not (folder / marker).exists():
            raise FileNotFoundError(f"{folder}: {marker} not found")
    quantization = trained_quantization(adapter_dir)
    if quantization not in ("none", "unknown"):
        message = QUANTIZED_BASE_WARNING.format(adapter=adapter_dir, quantization=quantization)
        warnings.warn(message, QuantizedBaseWarning, stacklevel=2)
        log.warning(message)
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    merged.save_pretrained(out_dir)
    tokenizer_source = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base_dir
    AutoTokenizer.from_pretrained(tokenizer_source).save_pretrained(out_dir)
    (out_dir / "annotune_merged.json").write_text(
        json.dumps(
            {
                "base": str(base_dir),
                "adapter": str(adapter_dir),
                "dtype": str(dtype).removeprefix("torch."),
                "adapter_trained_on": quantization,
                "approximate": quantization not in ("none", "unknown"),
            },
            indent=2,
        )
        + "\n"
    )
    return merged.eval()


@torch.inference_mode()
def logit_difference(model_a, model_b, input_ids: torch.Tensor) -> float:
    """Largest absolute difference of the two models' logits on ``input_ids``."""
    a = model_a(input_ids=input_ids.to(next(model_a.parameters()).device)).logits.float().cpu()
    b = model_b(input_ids=input_ids.to(next(model_b.parameters()).device)).logits.float().cpu()
    return float((a - b).abs().max())

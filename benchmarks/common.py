"""Timing helpers, a FLOP model of LoRA training on a Llama-style decoder, and the machine's matmul rate."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def summary(values: list[float]) -> dict:
    """Median with its spread (min, max, and (max - min) / median) of repeated measurements."""
    if not values:
        raise ValueError("summary of no measurements")
    median = statistics.median(values)
    return {
        "median": median,
        "min": min(values),
        "max": max(values),
        "spread": (max(values) - min(values)) / median if median else 0.0,
        "n": len(values),
        "values": values,
    }


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "loadavg": list(os.getloadavg()),
    }


def matmul_rate(seconds: float = 0.5) -> dict:
    """fp32 GFLOP/s of ``torch.mm`` at the shapes of SmolLM2-135M's projections (tokens x 576 x 1536 and
    back) and one large square product; ``best`` is the highest, the reference for model-FLOPs
    utilization (so MFU is never flattered by a slow reference shape)."""
    shapes = {"1024x576x1536": (1024, 576, 1536), "1024x1536x576": (1024, 1536, 576), "2048^3": (2048, 2048, 2048)}
    rates = {}
    with torch.inference_mode():
        for name, (m, k, n) in shapes.items():
            a, b, out = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
            torch.mm(a, b, out=out)  # warm-up
            calls, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                torch.mm(a, b, out=out)
                calls += 1
            rates[name] = 2 * m * k * n * calls / elapsed / 1e9
    return {"gflops": rates, "best": max(rates.values())}


def llama_dims(config) -> dict:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim
    d, inter = config.hidden_size, config.intermediate_size
    # in/out features of q, k, v, o, gate, up, down
    linears = [(d, d), (d, kv), (d, kv), (d, d), (d, inter), (d, inter), (inter, d)]
    tied = getattr(config, "tie_word_embeddings", False)
    return {
        "layers": config.num_hidden_layers,
        "hidden": d,
        "vocab": config.vocab_size,
        # every weight, the embedding counted once when the output head shares it (it is a matmul per token)
        "parameters": config.num_hidden_layers * (sum(i * o for i, o in linears) + 2 * d)
        + (1 if tied else 2) * config.vocab_size * d
        + d,
        "linear_params_per_layer": sum(i * o for i, o in linears),
        "lora_in_plus_out_per_layer": sum(i + o for i, o in linears),
    }


def lora_train_flops(dims: dict, lengths: list[int], answer_tokens: list[int], lora_r: int) -> float:
    """FLOPs of one LoRA training pass over sequences of ``lengths`` real tokens (padding excluded).

    Forward: 2 x frozen projection weights per token, causal attention (QK^T and AV over the tokens
    before each one), the vocabulary head only where an answer token is predicted, and LoRA's two small
    products. Backward: the input gradient of every frozen product (1x forward: frozen weights get no
    weight gradient), 2x forward for attention and LoRA (input and LoRA weight gradients). The
    conventional 6N x tokens would count weight gradients that LoRA never computes (1.5x more).
    """
    layers, d = dims["layers"], dims["hidden"]
    total = 0.0
    for n, k in zip(lengths, answer_tokens, strict=True):
        linear = 2 * layers * dims["linear_params_per_layer"] * n
        attention = 2 * 2 * d * layers * n * (n + 1) / 2
        head = 2 * d * dims["vocab"] * k
        lora = 2 * layers * lora_r * dims["lora_in_plus_out_per_layer"] * n
        total += 2 * linear + 3 * attention + 2 * head + 3 * lora
    return total


def conventional_train_flops(dims: dict, lengths: list[int]) -> float:
    """Model FLOPs of one training pass as PaLM defines MFU (Chowdhery et al. 2022, app. B): 6N per
    token plus 12 x layers x hidden x sequence length for attention, whatever the method skips. The
    issue's "a bare LoRA step already reaches about 60%" holds only under this count; against the work
    LoRA actually does (:func:`lora_train_flops`) the same step is at about 30%. Both are reported."""
    return sum(n * (6 * dims["parameters"] + 12 * dims["layers"] * dims["hidden"] * n) for n in lengths)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def hwm_mb() -> float:
    """The kernel's resident high-water mark (VmHWM), resettable with :func:`reset_hwm`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux: ``5 > /proc/self/clear_refs``); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True

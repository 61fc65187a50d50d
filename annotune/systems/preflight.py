"""Before a model is loaded: what the run will cost (parameters, trainable share, peak memory for the
chosen quantization, tokens, a time range) and whether this machine can do what params ask. A request
the machine cannot honour fails here with the reason, never half-way through a run or by silently
changing precision."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from annotune.errors import PreflightError

log = logging.getLogger(__name__)

# Bytes per parameter of a quantized linear weight. NF4: 4 bits and one float32 absmax per 64 weights;
# double quantization stores the absmax in 8 bits with one float32 per 256 of them.
QUANTIZED_BYTES = {"nf4": 0.5 + 4 / 64, "nf4-double": 0.5 + 1 / 64 + 4 / (64 * 256), "int8": 1.0 + 4 / 4096}
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
LORA_BYTES_PER_PARAMETER = 16  # float32 weight, its gradient and two Adam moments
# Saved activations per token, layer and hidden unit in float32, without checkpointing: attention and
# MLP intermediates of a Llama-style block (about 34 values, cf. Korthikanti et al. 2022).
ACTIVATION_VALUES_PER_HIDDEN = 34
# Share of the measured matmul rate a LoRA training step reaches (28.8% measured on this 2-core CPU,
# README "Benchmarks"); the time estimate is given as a range around it.
EXPECTED_UTILIZATION = 0.3
MEMORY_MARGIN = 1.2  # estimates are approximate: refuse only when clearly over


@dataclass(frozen=True)
class ModelSize:
    parameters: int
    linear_parameters: int  # in linear layers bitsandbytes quantizes (not the output head)
    lora_parameters: int  # trainable LoRA parameters for the requested rank on all linear layers
    hidden_size: int
    layers: int
    vocab_size: int


def model_size(folder: Path, lora_r: int, target_modules="all-linear") -> ModelSize:
    """Exact parameter counts from the model's config, built on the meta device (no weights loaded)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    model.tie_weights()  # not done on the meta device: a tied head would count twice
    output_head = model.get_output_embeddings()
    linear = lora = 0
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or module is output_head:
            continue
        linear += module.weight.numel()
        targeted = target_modules == "all-linear" or name.split(".")[-1] in target_modules
        if targeted:
            lora += lora_r * (module.in_features + module.out_features)
    text = config.get_text_config()
    return ModelSize(
        parameters=sum(p.numel() for p in model.parameters()),
        linear_parameters=linear,
        lora_parameters=lora,
        hidden_size=text.hidden_size,
        layers=text.num_hidden_layers,
        vocab_size=text.vocab_size,
    )


@dataclass(frozen=True)
class TrainingEstimate:
    parameters: int
    trainable_parameters: int
    trainable_share: float
    weights_gb: float
    peak_memory_gb: float
    tokens: int  # training tokens over all epochs (real tokens: batches are packed)
    matmul_gflops: float
    seconds_low: float
    seconds_high: float

    def lines(self) -> list[str]:
        return [
            f"parameters {self.parameters / 1e6:,.1f}M, trainable {self.trainable_parameters / 1e6:,.2f}M "
            f"({100 * self.trainable_share:.2f}%)",
            f"expected peak memory {self.peak_memory_gb:.2f} GB (weights {self.weights_gb:.2f} GB)",
            f"tokens to process {self.tokens:,}; at a measured {self.matmul_gflops:,.0f} GFLOP/s matmul rate, "
            f"about {_duration(self.seconds_low)} to {_duration(self.seconds_high)}",
        ]


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def training_estimate(
    size: ModelSize,
    quantization: str,
    compute_dtype: str,
    batch_size: int,
    tokens_per_example: float,
    tokens: int,
    gradient_checkpointing: bool,
    matmul_gflops: float,
) -> TrainingEstimate:
    """``quantization``: none, int8, nf4 or nf4-double (NF4 with double quantization)."""
    dtype_bytes = DTYPE_BYTES[compute_dtype]
    other = size.parameters - size.linear_parameters  # embeddings, output head, norms: not quantized
    linear_bytes = QUANTIZED_BYTES.get(quantization, dtype_bytes) * size.linear_parameters
    weights = linear_bytes + other * dtype_bytes
    batch_tokens = batch_size * tokens_per_example
    layers_kept = 1 if gradient_checkpointing else size.layers
    activations = batch_tokens * size.hidden_size * ACTIVATION_VALUES_PER_HIDDEN * layers_kept * dtype_bytes
    if gradient_checkpointing:
        activations += batch_tokens * size.hidden_size * size.layers * dtype_bytes
    peak = weights + size.lora_parameters * LORA_BYTES_PER_PARAMETER + activations
    # forward 2N and backward through the activations 2N FLOPs per token; the frozen base needs no
    # weight gradients. The embedding lookup is no matmul.
    flops = 4 * (size.linear_parameters + size.lora_parameters) * tokens
    seconds = flops / (matmul_gflops * 1e9 * EXPECTED_UTILIZATION)
    return TrainingEstimate(
        parameters=size.parameters,
        trainable_parameters=size.lora_parameters,
        trainable_share=size.lora_parameters / size.parameters,
        weights_gb=weights / 1e9,
        peak_memory_gb=peak / 1e9,
        tokens=tokens,
        matmul_gflops=matmul_gflops,
        seconds_low=seconds / 2,
        seconds_high=seconds * 2,
    )


def measured_matmul_gflops(device: str, dtype: torch.dtype, size: int = 1024, repeats: int = 5) -> float:
    """This machine's matmul rate, measured in a fraction of a second (best of ``repeats``). Its own
    random generator: the global one, seeded for training, is left as it was."""
    import time

    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def available_memory_gb(device: str) -> float:
    if device == "cuda":
        free, _ = torch.cuda.mem_get_info()
        return free / 1e9
    import psutil

    return psutil.virtual_memory().available / 1e9


def check_fits(estimate: TrainingEstimate, device: str) -> None:
    available = available_memory_gb(device)
    if estimate.peak_memory_gb > MEMORY_MARGIN * available:
        where = "GPU" if device == "cuda" else "machine"
        raise PreflightError(
            f"the model needs about {estimate.peak_memory_gb:.1f} GB to train, this {where} has "
            f"{available:.1f} GB free: use quantization nf4, a smaller qlora.batch_size or max_input_tokens, "
            "gradient_checkpointing: true, or a smaller model"
        )


def check_optimizer(optimizer: str, device: str) -> None:
    if device != "cuda" and optimizer.startswith("paged_"):
        raise PreflightError(
            f"params: qlora.optimizer {optimizer!r} pages optimizer state between GPU and CPU memory and needs "
            "CUDA; on the CPU use adamw_torch"
        )


def as_dict(estimate: TrainingEstimate) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(estimate).items()}

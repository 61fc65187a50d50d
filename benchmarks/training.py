"""LoRA training throughput (real tokens/s) fp32 vs 4-bit NF4, padded vs packed batches, and the
training stage end to end (``train_qlora``: tokenization, model load, training, evaluation, save)."""

from __future__ import annotations

import dataclasses
import random
import tempfile
import time
from pathlib import Path

import torch

from annotune.config import QloraParams
from annotune.io import read_jsonl
from annotune.models import load_causal_lm, load_tokenizer, resolve_runtime
from annotune.training import IGNORE_INDEX, PackCollator, PadCollator, build_examples, lora_model, train_qlora
from benchmarks.common import llama_dims, lora_train_flops, matmul_rate, summary


def answer_counts(examples: list[dict]) -> list[int]:
    return [sum(label != IGNORE_INDEX for label in e["labels"]) for e in examples]


def padded_tokens(examples: list[dict], batch_size: int) -> int:
    return sum(
        max(len(e["input_ids"]) for e in examples[s : s + batch_size]) * len(examples[s : s + batch_size])
        for s in range(0, len(examples), batch_size)
    )


class Trainee:
    """A LoRA model with its optimizer, as the training stage builds it."""

    def __init__(self, base: Path, qlora: QloraParams, quantization: str):
        runtime = resolve_runtime("cpu", "float32", quantization)
        torch.manual_seed(0)
        self.model = lora_model(load_causal_lm(base, runtime, qlora.double_quant), qlora, runtime).train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=qlora.learning_rate)

    def steps(self, batches: list[list[dict]], collator) -> float:
        start = time.perf_counter()
        for batch in batches:
            loss = self.model(**collator(batch)).loss
            loss.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - start


def bench_train_steps(
    base: Path, task_dir: Path, qlora: QloraParams, steps: int, batch_size: int, repeats: int
) -> dict:
    """Interleaved per repeat: the matmul rate, then every (precision, batching) variant on the same batches."""
    tokenizer = load_tokenizer(base)
    examples, _ = build_examples(tokenizer, read_jsonl(task_dir / "train.jsonl"), qlora.max_input_tokens)
    random.Random(0).shuffle(examples)
    chosen = examples[: steps * batch_size]
    batches = [chosen[s : s + batch_size] for s in range(0, len(chosen), batch_size)]
    warmup = [examples[-batch_size:]]
    real = sum(len(e["input_ids"]) for e in chosen)
    padded = padded_tokens(chosen, batch_size)
    from transformers import AutoConfig

    dims = llama_dims(AutoConfig.from_pretrained(base))
    flops = lora_train_flops(dims, [len(e["input_ids"]) for e in chosen], answer_counts(chosen), qlora.r)
    collators = {"padded": PadCollator(tokenizer.pad_token_id), "packed": PackCollator()}
    models = {"fp32": Trainee(base, qlora, "none"), "nf4": Trainee(base, qlora, "nf4")}
    variants = [(p, b) for p in models for b in collators]
    for precision, batching in variants:
        models[precision].steps(warmup, collators[batching])
    seconds: dict[str, list[float]] = {f"{p}/{b}": [] for p, b in variants}
    rates: list[float] = []
    for repeat in range(repeats):
        rates.append(matmul_rate()["best"])
        order = variants if repeat % 2 == 0 else variants[::-1]
        for precision, batching in order:
            seconds[f"{precision}/{batching}"].append(models[precision].steps(batches, collators[batching]))
    rate = summary(rates)
    out = {
        "steps": steps,
        "batch_size": batch_size,
        "real_tokens": real,
        "padded_tokens": padded,
        "padding_fraction": 1 - real / padded,
        "flops_per_pass": flops,
        "matmul_gflops": rate,
        "variants": {},
    }
    for name, times in seconds.items():
        tokens_per_s = [real / t for t in times]
        out["variants"][name] = {
            "seconds": summary(times),
            "real_tokens_per_s": summary(tokens_per_s),
            "mfu": summary([flops / t / 1e9 / r for t, r in zip(times, rates, strict=True)]),
        }
    return out


def bench_train_stage(
    base: Path, task_dir: Path, qlora: QloraParams, n_train: int, n_dev: int, epochs: int, repeats: int
) -> dict:
    """``train_qlora`` end to end on a subset, packed vs padded interleaved; MFU counts only the real
    training tokens' FLOPs against the wall time of the whole call (load, tokenize, train, evaluate, save)."""
    qlora = dataclasses.replace(qlora, epochs=epochs)
    train, dev = read_jsonl(task_dir / "train.jsonl")[:n_train], read_jsonl(task_dir / "dev.jsonl")[:n_dev]
    tokenizer = load_tokenizer(base)
    examples, _ = build_examples(tokenizer, train, qlora.max_input_tokens)
    from transformers import AutoConfig

    dims = llama_dims(AutoConfig.from_pretrained(base))
    flops = epochs * lora_train_flops(dims, [len(e["input_ids"]) for e in examples], answer_counts(examples), qlora.r)
    runtime = resolve_runtime(qlora.device, qlora.compute_dtype, qlora.quantization)
    walls: dict[str, list[float]] = {"packed": [], "padded": []}
    trainer_seconds: dict[str, list[float]] = {"packed": [], "padded": []}
    losses: dict[str, list[float]] = {"packed": [], "padded": []}
    rates: list[float] = []
    for repeat in range(repeats):
        rates.append(matmul_rate()["best"])
        order = ["packed", "padded"] if repeat % 2 == 0 else ["padded", "packed"]
        for name in order:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                _, stats = train_qlora(
                    base,
                    train,
                    dev,
                    qlora,
                    runtime,
                    42,
                    Path(tmp) / "adapter",
                    Path(tmp) / "live",
                    packing=name == "packed",
                )
                walls[name].append(time.perf_counter() - start)
            trainer_seconds[name].append(stats["train_seconds"])
            losses[name].append(stats["train_loss"])
    rate = summary(rates)["median"]
    return {
        "train_examples": len(train),
        "dev_examples": len(dev),
        "epochs": epochs,
        "quantization": qlora.quantization,
        "train_flops": flops,
        "variants": {
            name: {
                "wall_seconds": summary(walls[name]),
                "trainer_seconds": summary(trainer_seconds[name]),
                "train_loss": losses[name],
                "mfu_end_to_end": summary([flops / w / 1e9 / rate for w in walls[name]]),
                "mfu_trainer": summary([flops / w / 1e9 / rate for w in trainer_seconds[name]]),
            }
            for name in walls
        },
    }

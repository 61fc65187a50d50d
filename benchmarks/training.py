"""LoRA training throughput (real tokens/s) fp32 vs 4-bit NF4, padded vs packed batches, the cost of
LoRA dropout, and the training stage end to end (``train_qlora``: tokenization, model load, training,
evaluation, checkpoints, save) at the default size."""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
import time
from pathlib import Path
from unittest import mock

import torch

from annotune.config import QloraParams
from annotune.data.io import read_jsonl
from annotune.systems.models import load_causal_lm, load_tokenizer, resolve_runtime
from annotune.systems.packing import IGNORE_INDEX, PackCollator, PadCollator, build_examples
from annotune.systems.training import lora_model, train_qlora
from benchmarks.common import conventional_train_flops, llama_dims, lora_train_flops, matmul_rate, summary


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


DROPOUT = 0.05  # the QLoRA paper's LoRA dropout for small models: what dropout costs is measured with it


def mfu(flops: float, seconds: list[float], rates: list[float]) -> dict:
    return summary([flops / t / 1e9 / r for t, r in zip(seconds, rates, strict=True)])


def bench_train_steps(
    base: Path, task_dir: Path, qlora: QloraParams, steps: int, batch_size: int, repeats: int
) -> dict:
    """Interleaved per repeat: the matmul rate, then every variant on the same batches: (fp32 | NF4) x
    (padded | packed), NF4 packed with each batch's shared prompt prefix computed once (the training
    stage's default), and NF4 packed with LoRA dropout (what its random masks cost; no shared prefix)."""
    tokenizer = load_tokenizer(base)
    examples = build_examples(tokenizer, read_jsonl(task_dir / "train.jsonl"), qlora.max_input_tokens)[0].to_list()
    random.Random(0).shuffle(examples)
    chosen = examples[: steps * batch_size]
    batches = [chosen[s : s + batch_size] for s in range(0, len(chosen), batch_size)]
    warmup = [examples[-batch_size:]]
    lengths = [len(e["input_ids"]) for e in chosen]
    from transformers import AutoConfig

    dims = llama_dims(AutoConfig.from_pretrained(base))
    flops = lora_train_flops(dims, lengths, answer_counts(chosen), qlora.r)
    conventional = conventional_train_flops(dims, lengths)
    collators = {
        "padded": PadCollator(tokenizer.pad_token_id),
        "packed": PackCollator(share_prefix=False),
        "shared-prefix": PackCollator(share_prefix=True),
    }
    without_dropout = dataclasses.replace(qlora, dropout=0.0)
    models = {
        "fp32": Trainee(base, without_dropout, "none"),
        "nf4": Trainee(base, without_dropout, "nf4"),
        "nf4-dropout": Trainee(base, dataclasses.replace(qlora, dropout=qlora.dropout or DROPOUT), "nf4"),
    }
    variants = [(p, b) for p in ("fp32", "nf4") for b in ("padded", "packed")]
    variants += [("nf4", "shared-prefix"), ("nf4-dropout", "packed")]
    for model, batching in variants:
        models[model].steps(warmup, collators[batching])
    seconds: dict[str, list[float]] = {f"{m}/{b}": [] for m, b in variants}
    rates: list[float] = []
    for repeat in range(repeats):
        rates.append(matmul_rate()["best"])
        order = variants if repeat % 2 == 0 else variants[::-1]
        for model, batching in order:
            seconds[f"{model}/{batching}"].append(models[model].steps(batches, collators[batching]))
    real = sum(lengths)
    padded = padded_tokens(chosen, batch_size)
    return {
        "steps": steps,
        "batch_size": batch_size,
        "lora_dropout": qlora.dropout or DROPOUT,
        "computed_tokens_shared_prefix": sum(len(PackCollator()(b)["input_ids"][0]) for b in batches),
        "real_tokens": real,
        "padded_tokens": padded,
        "padding_fraction": 1 - real / padded,
        "flops_per_pass": flops,
        "conventional_flops_per_pass": conventional,
        "matmul_gflops": summary(rates),
        "variants": {
            name: {
                "seconds": summary(times),
                "real_tokens_per_s": summary([real / t for t in times]),
                "mfu": mfu(flops, times, rates),
                "mfu_conventional": mfu(conventional, times, rates),
            }
            for name, times in seconds.items()
        },
    }


def bench_train_stage(base: Path, task_dir: Path, qlora: QloraParams, n_train: int | None, repeats: int) -> dict:
    """``train_qlora`` end to end as the stage runs it (packed batches, evaluation every epoch,
    checkpoints): on the default training and dev sets, or the first ``n_train`` posts (quick). MFU counts
    the real training tokens' FLOPs against the wall time of the whole call (tokenize, estimate, load,
    train, evaluate, checkpoint, save), and against ``Trainer.train()`` without its evaluations."""
    train, dev = read_jsonl(task_dir / "train.jsonl"), read_jsonl(task_dir / "dev.jsonl")
    if n_train is not None:
        train, dev, qlora = train[:n_train], dev[: max(1, n_train // 4)], dataclasses.replace(qlora, epochs=1)
    tokenizer = load_tokenizer(base)
    examples, _ = build_examples(tokenizer, train, qlora.max_input_tokens)
    from transformers import AutoConfig

    dims = llama_dims(AutoConfig.from_pretrained(base))
    lengths = [len(e["input_ids"]) for e in examples]
    flops = qlora.epochs * lora_train_flops(dims, lengths, answer_counts(examples), qlora.r)
    conventional = qlora.epochs * conventional_train_flops(dims, lengths)
    runtime = resolve_runtime(qlora.device, qlora.compute_dtype, qlora.quantization)
    walls, steps_only, eval_seconds, losses, rates = [], [], [], [], []
    for _ in range(repeats):
        rates.append(matmul_rate()["best"])
        # checkpoints of its own: the same data, params and seed as the real stage would otherwise resume
        # (and at the end delete) an interrupted `dvc repro`'s checkpoints
        with tempfile.TemporaryDirectory() as tmp, mock.patch.dict(os.environ, {"ANNOTUNE_CHECKPOINTS": tmp}):
            start = time.perf_counter()
            model, stats = train_qlora(base, train, dev, qlora, runtime, 42, Path(tmp) / "adapter", Path(tmp) / "live")
            walls.append(time.perf_counter() - start)
        evaluation = stats["eval_seconds"]
        eval_seconds.append(evaluation)
        steps_only.append(stats["trainer_seconds"] - evaluation)  # steps, checkpoint saves, logging
        losses.append(stats["train_loss"])
        del model
    return {
        "train_examples": len(train),
        "dev_examples": len(dev),
        "epochs": qlora.epochs,
        "quantization": qlora.quantization,
        "train_tokens": qlora.epochs * sum(lengths),
        "train_flops": flops,
        "conventional_train_flops": conventional,
        "matmul_gflops": summary(rates),
        "wall_seconds": summary(walls),
        "training_without_evaluation_seconds": summary(steps_only),
        "evaluation_seconds": summary(eval_seconds),
        "train_loss": losses,
        "mfu_end_to_end": mfu(flops, walls, rates),
        "mfu_end_to_end_conventional": mfu(conventional, walls, rates),
        "mfu_without_evaluation": mfu(flops, steps_only, rates),
        "mfu_without_evaluation_conventional": mfu(conventional, steps_only, rates),
    }

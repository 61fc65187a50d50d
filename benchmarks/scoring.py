"""Label-scoring prediction (``llm_predictions``) vs the naive Hugging Face way: ``generate()`` one row at a
time and parse the answer, on the same model (the task's QLoRA adapter on its 4-bit base) and rows."""

from __future__ import annotations

import re
import time
from pathlib import Path

import torch

from annotune.data.io import read_json, read_jsonl
from annotune.data.tasks import Task
from annotune.systems.models import load_tokenizer
from annotune.systems.predictors import load_system
from annotune.systems.prompts import prompt_ids
from annotune.systems.scoring import llm_predictions
from benchmarks.common import summary


def parse_answer(task: Task, text: str) -> str | None:
    """What a user would write: the first word of the answer, lower-cased, matched to a verbalizer."""
    words = re.findall(r"[a-z_]+", text.lower())
    by_answer = {task.verbalize(label).lower(): label for label in task.labels}
    return by_answer.get(words[0]) if words else None


@torch.inference_mode()
def naive_predictions(task: Task, model, tokenizer, prompts: list[list[int]], max_new_tokens: int) -> list[str | None]:
    labels = []
    for prompt in prompts:
        ids = torch.tensor([prompt])
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        labels.append(parse_answer(task, tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)))
    return labels


def load_qlora(task: Task, base: Path, adapter: Path):
    """The qlora system as the pipeline loads it (annotune/systems/predictors.py), with what the naive path needs."""
    system = load_system(task, "qlora", adapter, base_dir=base)
    max_input = read_json(adapter / "annotune.json")["qlora"]["max_input_tokens"]
    return system.model, load_tokenizer(adapter), max_input, system.runtime


def bench_scoring(
    task: Task,
    base: Path,
    adapter: Path,
    task_dir: Path,
    rows: int | None,
    batch_size: int,
    max_new_tokens: int,
    repeats: int,
) -> dict:
    if not task.is_classification:
        raise ValueError(f"label scoring needs a classification task, not {task.name!r}")
    model, tokenizer, max_input, runtime = load_qlora(task, base, adapter)
    records = read_jsonl(task_dir / "test.jsonl")[:rows]
    prompts = [prompt_ids(tokenizer, r["instruction"], r["input"], max_input)[0] for r in records]
    llm_predictions(task, model, tokenizer, records[:2], prompts[:2], batch_size, max_new_tokens)  # warm-up
    naive_predictions(task, model, tokenizer, prompts[:1], max_new_tokens)
    scored_s, naive_s = [], []
    scored = naive = None
    for repeat in range(repeats):
        for side in ("scored", "naive") if repeat % 2 == 0 else ("naive", "scored"):
            start = time.perf_counter()
            if side == "scored":
                scored = llm_predictions(task, model, tokenizer, records, prompts, batch_size, max_new_tokens)
                scored_s.append(time.perf_counter() - start)
            else:
                naive = naive_predictions(task, model, tokenizer, prompts, max_new_tokens)
                naive_s.append(time.perf_counter() - start)
    parsed = [(s["pred"], n) for s, n in zip(scored, naive, strict=True) if n is not None]
    ratio = [n / s for s, n in zip(scored_s, naive_s, strict=True)]
    return {
        "task": task.name,
        "model": f"QLoRA adapter on the {runtime.quantization} base ({runtime.compute_dtype})",
        "rows": len(records),
        "batch_size": batch_size,
        "prompt_tokens_mean": sum(map(len, prompts)) / len(prompts),
        "scored_rows_per_s": summary([len(records) / t for t in scored_s]),
        "naive_rows_per_s": summary([len(records) / t for t in naive_s]),
        "speedup": summary(ratio),
        "naive_parsed": len(parsed),
        "label_agreement_where_parsed": sum(a == b for a, b in parsed) / len(parsed) if parsed else None,
    }

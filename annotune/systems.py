"""The one registry of systems: every way annotune labels a task, what it is and where it lives.

A system belongs to one group of params.yaml's ``systems`` section (``finetuned``, ``prompted``,
``baselines``) or is switched on by another section (``distilled``: ``distill.tasks``; ``augmented``:
``augment.tasks``). Its ``kind`` says how
it loads and predicts (``annotune/predictors.py``); ``trained_by`` names the DVC stage that trains it. Adding a
system is one entry here plus its training code (a baseline method in baselines.py or classifiers.py).

This module is pure data on purpose: evaluate and report read it without importing torch or any model code.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

GROUPS = ("finetuned", "prompted", "baselines")


@dataclass(frozen=True)
class SystemSpec:
    name: str
    group: str  # params.yaml systems.<group> lists it; distilled / augmented: on for distill / augment.tasks
    kind: str  # how it loads and predicts: adapter | prompted | sklearn | classifier | seq2seq
    display: str  # the report's name
    trained_by: str | None  # the DVC stage that trains it; None: no training
    model_path: str  # its model folder, "{task}" filled in
    opt_in: bool = False  # left out of its group's default (a params file that omits the group): needs a model declared

    def model_dir(self, task: str) -> Path:
        return Path(self.model_path.format(task=task))


REGISTRY: dict[str, SystemSpec] = {
    spec.name: spec
    for spec in (
        SystemSpec("qlora", "finetuned", "adapter", "QLoRA fine-tuned LLM", "qlora_train", "models/qlora/{task}"),
        SystemSpec("zero_shot", "prompted", "prompted", "LLM zero-shot", None, "models/base/llm"),
        SystemSpec("few_shot", "prompted", "prompted", "LLM few-shot", None, "models/base/llm"),
        SystemSpec(
            "majority", "baselines", "sklearn", "majority class", "baseline_train", "models/baselines/{task}/majority"
        ),
        SystemSpec(
            "stratified",
            "baselines",
            "sklearn",
            "stratified random",
            "baseline_train",
            "models/baselines/{task}/stratified",
        ),
        SystemSpec(
            "tfidf_logreg",
            "baselines",
            "sklearn",
            "TF-IDF + logistic regression",
            "baseline_train",
            "models/baselines/{task}/tfidf_logreg",
        ),
        SystemSpec(
            "encoder",
            "baselines",
            "classifier",
            "encoder fine-tuned",
            "baseline_train",
            "models/baselines/{task}/encoder",
        ),
        SystemSpec(
            "soft_prompt",
            "baselines",
            "classifier",
            "encoder soft prompt",
            "baseline_train",
            "models/baselines/{task}/soft_prompt",
        ),
        SystemSpec(
            "llm_head",
            "baselines",
            "classifier",
            "LLM + classification head (LoRA)",
            "baseline_train",
            "models/baselines/{task}/llm_head",
        ),
        SystemSpec(
            "seq2seq_lora",
            "baselines",
            "seq2seq",
            "encoder-decoder (T5) + LoRA",
            "baseline_train",
            "models/baselines/{task}/seq2seq_lora",
            opt_in=True,  # models.seq2seq is null by default
        ),
        SystemSpec(
            "encoder_augmented",
            "augmented",
            "classifier",
            "encoder trained on gold + LLM-written posts (augmented)",
            "augment",
            "models/augmented/{task}/encoder",
        ),
        SystemSpec(
            "encoder_distilled",
            "distilled",
            "classifier",
            "encoder trained on QLoRA's labels (distilled)",
            "distill",
            "models/distilled/{task}/encoder",
        ),
    )
}


def spec(name: str) -> SystemSpec:
    if name not in REGISTRY:
        # ValueError, not AnnotuneError: params validation wraps it with the key that named the system
        raise ValueError(f"unknown system {name!r}; known systems: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def in_group(group: str) -> list[str]:
    return [name for name, s in REGISTRY.items() if s.group == group]


def defaults(group: str) -> list[str]:
    """The systems a group runs when params.yaml leaves it out: every one of the group but the opt-in ones."""
    return [name for name in in_group(group) if not REGISTRY[name].opt_in]


def display_name(name: str) -> str:
    return REGISTRY[name].display if name in REGISTRY else name


def enabled(systems, task: str, distill_tasks: list[str], augment_tasks: list[str]) -> list[str]:
    """The systems that run for ``task``: params' systems groups in order, then the distilled and augmented
    encoders where distill.tasks and augment.tasks ask for them."""
    names = [*systems.finetuned, *systems.prompted, *systems.baselines]
    names += ["encoder_distilled"] if task in distill_tasks else []
    return names + (["encoder_augmented"] if task in augment_tasks else [])


def paired_with(name: str) -> str | None:
    """The system a variant is tested against, paired on the same test rows: the same model without the
    variant's extra training data (the augmented encoder against the encoder)."""
    return {"encoder_augmented": "encoder"}.get(name)


def text_writers() -> list[str]:
    """The systems that can write free text: the LLMs (the base model prompted, or a task's adapter)."""
    return [name for name, s in REGISTRY.items() if s.kind in ("adapter", "prompted")]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="annotune systems", description="List every system annotune knows.")
    parser.parse_args(argv)
    rows = [("system", "params group", "kind", "trained by", "model folder", "report name")]
    rows += [(s.name, s.group, s.kind, s.trained_by or "-", s.model_path, s.display) for s in REGISTRY.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

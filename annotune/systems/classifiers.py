"""Sequence classifiers, one Trainer path for three methods:

- ``encoder``: fine-tune a BERT-family model, optionally only its last N layers (+ pooler and head),
  optionally with a class-weighted loss, early stopping on the dev loss;
- ``soft_prompt``: peft prompt tuning of the same encoder (virtual tokens and head trained, base frozen);
- ``llm_head``: the base LLM with a classification head, trained with LoRA; the head is in
  ``modules_to_save`` so it is saved with the adapter (a head re-initialized on reload would give
  random predictions: the tests reload and compare logits).

Set-valued tasks get a multi-label (sigmoid) head: over the task's labels (multilabel), or over the
groups seen in train (target-group generation). Its per-label decision thresholds are chosen on dev
(``multilabel_thresholds: dev``: each label's F1-maximizing dev score, ``baselines.dev_thresholds``) or 0.5
(``fixed``), stored in META_FILE and applied wherever the model predicts; a model saved before thresholds
existed predicts with 0.5. ``class_weight: balanced`` weighs classes by inverse frequency (single-label) or each
label's positives by its negatives / positives (multi-label, BCE ``pos_weight``).
Sentence pairs are encoded as pairs (``input_pair``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from annotune.config import LlmHeadParams
from annotune.data.tasks import Task, normalize_groups
from annotune.errors import ParamsError
from annotune.runtime.threads import fixed_threads
from annotune.systems.models import (
    adapter_base,
    keep_4bit_numerics_stable,
    load_tokenizer,
    quantization_config,
    resolve_runtime,
)

METHODS = ("encoder", "soft_prompt", "llm_head")
META_FILE = "annotune_classifier.json"


def label_space(task: Task, train: list[dict]) -> list[str]:
    if task.kind != "generation":
        return task.labels
    return sorted({group for r in train for group in task.as_set(r["label"])})


def _targets(task: Task, rows: list[dict], labels: list[str]):
    if task.is_classification:
        return [labels.index(r["label"]) for r in rows]
    return [[float(label in task.as_set(r["label"])) for label in labels] for r in rows]


def freeze_layers(model, trainable_layers: int | None) -> None:
    """None: train everything. N: train only the last N encoder layers, the pooler and the head."""
    if trainable_layers is None:
        return
    base = model.base_model
    layers = base.encoder.layer
    if not 0 <= trainable_layers <= len(layers):
        raise ValueError(f"params.yaml: encoder.trainable_layers={trainable_layers}; this model has {len(layers)}")
    for parameter in base.parameters():
        parameter.requires_grad = False
    trainable = list(layers)[len(layers) - trainable_layers :]
    if getattr(base, "pooler", None) is not None:
        trainable.append(base.pooler)
    for module in trainable:
        for parameter in module.parameters():
            parameter.requires_grad = True


def encode(tokenizer, rows: list[dict], max_length: int, **kwargs):
    """Token ids of the rows' inputs: one text, or a sentence pair where the rows hold one."""
    if rows and "input_pair" in rows[0]:
        first, second = zip(*(r["input_pair"] for r in rows), strict=True)
        return tokenizer(list(first), list(second), truncation=True, max_length=max_length, **kwargs)
    return tokenizer([r["input"] for r in rows], truncation=True, max_length=max_length, **kwargs)


def _tokenizer(folder: Path):
    """Right padding: BERT's absolute positions would shift under left padding."""
    tokenizer = load_tokenizer(folder)
    tokenizer.padding_side = "right"
    return tokenizer


def _classifier(base_dir: Path, labels: list[str], multi_label: bool, **kwargs):
    """A sequence classifier on ``base_dir`` and the modules the checkpoint lacked (newly initialized:
    the head, and e.g. a pooler or DistilBERT's pre_classifier). Adapters must save those modules, or
    they come back with fresh random weights on every reload."""
    from transformers import AutoModelForSequenceClassification

    model, loading = AutoModelForSequenceClassification.from_pretrained(
        base_dir,
        num_labels=len(labels),
        problem_type="multi_label_classification" if multi_label else "single_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        output_loading_info=True,
        **kwargs,
    )
    return model, sorted({key.rsplit(".", 1)[0] for key in loading["missing_keys"]})


def _llm_classifier(base_dir: Path, labels: list[str], multi_label: bool, params: LlmHeadParams):
    runtime = resolve_runtime(params.device, params.compute_dtype, params.quantization)
    model, new_modules = _classifier(
        base_dir,
        labels,
        multi_label,
        dtype=runtime.torch_dtype,
        device_map={"": runtime.device},
        quantization_config=quantization_config(runtime),
        pad_token_id=load_tokenizer(base_dir).pad_token_id,
    )
    if runtime.quantization == "nf4":
        keep_4bit_numerics_stable(model)
    return model, new_modules, runtime


def build_model(method: str, base_dir: Path, task: Task, labels: list[str], params):
    """The model to train and its learning rate."""
    multi_label = not task.is_classification
    if method == "encoder":
        model, _ = _classifier(base_dir, labels, multi_label)  # saved whole: nothing to single out
        freeze_layers(model, params.trainable_layers)
        return model, params.learning_rate
    if method == "soft_prompt":
        from peft import PromptTuningConfig, PromptTuningInit, TaskType, get_peft_model

        model, new_modules = _classifier(base_dir, labels, multi_label)
        text_init = params.prompt_init == "text"
        config = PromptTuningConfig(
            task_type=TaskType.SEQ_CLS,
            num_virtual_tokens=params.virtual_tokens,
            prompt_tuning_init=PromptTuningInit.TEXT if text_init else PromptTuningInit.RANDOM,
            prompt_tuning_init_text=task.instruction if text_init else None,
            tokenizer_name_or_path=str(base_dir),
            modules_to_save=new_modules,
        )
        return get_peft_model(model, config), params.prompt_learning_rate
    if method == "llm_head":
        from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

        model, new_modules, runtime = _llm_classifier(base_dir, labels, multi_label, params)
        if runtime.quantization != "none":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        config = LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=params.r,
            lora_alpha=params.alpha,
            lora_dropout=params.dropout,
            target_modules="all-linear",
            modules_to_save=sorted({"score", *new_modules}),
        )
        return get_peft_model(model, config), params.learning_rate
    raise ParamsError(f"params.yaml: unknown classifier method {method!r}; known: {', '.join(METHODS)}")


def _weighted_trainer(class_weights: torch.Tensor, multi_label: bool):
    """A Trainer whose loss weighs classes (cross-entropy ``weight``) or, multi-label, each label's positives
    (binary cross-entropy ``pos_weight``)."""
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs.logits.float()
            weights = class_weights.to(logits.device)
            if multi_label:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weights)
            else:
                loss = torch.nn.functional.cross_entropy(logits, labels, weight=weights)
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer


def _class_weights(task: Task, train: list[dict], labels: list[str]) -> torch.Tensor:
    """``balanced`` weights: n / (classes x count) per class; multi-label, negatives / positives per label (a label
    without a positive in train weighs nothing: it has no positive term)."""
    targets = np.asarray(_targets(task, train, labels))
    if task.is_classification:
        counts = np.bincount(targets, minlength=len(labels))
        return torch.tensor(len(train) / (len(labels) * np.maximum(counts, 1)), dtype=torch.float32)
    positives = targets.sum(axis=0)
    return torch.tensor((len(train) - positives) / np.maximum(positives, 1), dtype=torch.float32)


def train_classifier(
    method: str, base_dir: Path, task: Task, train: list[dict], dev: list[dict], params, seed: int, out_dir: Path
) -> tuple[object, dict]:
    """Train and save to ``out_dir``; ``params`` is EncoderParams (encoder, soft_prompt) or LlmHeadParams.
    Returns the trained model and the run's stats. Same inputs, same weights: seeded, and on
    ``threads.TRAIN_THREADS`` CPU threads whatever the machine or ``OMP_NUM_THREADS``."""
    with fixed_threads():
        return _train_classifier(method, base_dir, task, train, dev, params, seed, out_dir)


def _train_classifier(method, base_dir, task, train, dev, params, seed, out_dir):
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments, set_seed

    set_seed(seed)
    labels = label_space(task, train)
    if not labels:
        raise ValueError(f"{task.name}: no labels in the training split for the {method} baseline")
    tokenizer = _tokenizer(base_dir)
    model, learning_rate = build_model(method, base_dir, task, labels, params)

    def rows_dataset(rows):
        from datasets import Dataset

        # tokenized in one batched call (a fast tokenizer is faster on a list than row by row in Dataset.map)
        return Dataset.from_dict({**encode(tokenizer, rows, params.max_length), "labels": _targets(task, rows, labels)})

    trainer_class = Trainer
    if getattr(params, "class_weight", None) == "balanced":  # llm_head has no class_weight
        trainer_class = _weighted_trainer(_class_weights(task, train, labels), not task.is_classification)
    args = TrainingArguments(
        output_dir=str(out_dir / "checkpoints"),
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.batch_size,
        num_train_epochs=params.epochs,
        learning_rate=learning_rate,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        seed=seed,
        data_seed=seed,
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        logging_steps=10,
        dataloader_num_workers=0,
    )
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=rows_dataset(train),
        eval_dataset=rows_dataset(dev),
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=getattr(params, "patience", params.epochs))],
    )
    trainer.train()  # ends with the best epoch's weights (load_best_model_at_end)
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    meta = {
        "method": method,
        "labels": labels,
        "multi_label": not task.is_classification,
        "base": str(base_dir),
        "max_length": params.max_length,
        "params": params.__dict__,
    }
    if meta["multi_label"]:
        meta["thresholds"] = dict(zip(labels, label_thresholds(model, tokenizer, meta, task, dev, params), strict=True))
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2))
    dev_losses = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    return model, {"dev_loss_per_epoch": dev_losses, "epochs_run": len(dev_losses), "labels": labels}


def label_thresholds(model, tokenizer, meta: dict, task: Task, dev: list[dict], params) -> list[float]:
    """A multi-label model's decision threshold per label: chosen on ``dev`` (``multilabel_thresholds: dev``)
    or 0.5 (``fixed``, or an empty dev split)."""
    from annotune.systems.baselines import dev_thresholds

    if params.multilabel_thresholds == "fixed" or not dev:
        return [0.5] * len(meta["labels"])
    model.eval()  # no dropout: the scores the saved model will give
    probabilities = torch.sigmoid(_logits(model, tokenizer, meta, dev, params.batch_size)).numpy()
    return dev_thresholds(probabilities, _targets(task, dev, meta["labels"]))


def load_classifier(model_dir: Path):
    """(model in eval mode, tokenizer, metadata) as saved by train_classifier."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    path = model_dir / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; run `dvc repro baseline_train` first")
    meta = json.loads(path.read_text())
    labels, multi_label = meta["labels"], meta["multi_label"]
    if meta["method"] == "encoder":
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    elif meta["method"] == "soft_prompt":
        model = PeftModel.from_pretrained(_classifier(adapter_base(model_dir), labels, multi_label)[0], model_dir)
    else:
        params = LlmHeadParams(**meta["params"])
        model = PeftModel.from_pretrained(
            _llm_classifier(adapter_base(model_dir), labels, multi_label, params)[0], model_dir
        )
    return model.eval(), _tokenizer(model_dir), meta


def classifier_predictions(task: Task, model_dir: Path, rows: list[dict], batch_size: int) -> list[dict]:
    model, tokenizer, meta = load_classifier(model_dir)
    return loaded_classifier_predictions(model, tokenizer, meta, rows, batch_size, task)


@torch.inference_mode()
def _logits(model, tokenizer, meta: dict, rows: list[dict], batch_size: int) -> torch.Tensor:
    """The model's float logits for ``rows`` (rows x labels, on the CPU), ``batch_size`` rows at a time."""
    device, batches = next(model.parameters()).device, []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        encoded = encode(tokenizer, batch, meta["max_length"], padding=True, return_tensors="pt")
        batches.append(model(**encoded.to(device)).logits.float().cpu())
    return torch.cat(batches) if batches else torch.empty(0, len(meta["labels"]))


@torch.inference_mode()
def loaded_classifier_predictions(
    model, tokenizer, meta: dict, rows: list[dict], batch_size: int, task: Task | None = None
) -> list[dict]:
    """Prediction records for ``rows`` from a classifier already loaded by ``load_classifier`` (callers
    that predict batch after batch, like annotate, load it once). For a multi-label ``task`` the rows
    also get each label's probability."""
    labels, out = meta["labels"], []
    # a model saved before thresholds existed: 0.5 for every label
    thresholds = [meta.get("thresholds", {}).get(label, 0.5) for label in labels]
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        logits = _logits(model, tokenizer, meta, batch, batch_size)
        if meta["multi_label"]:
            for row, probs in zip(batch, torch.sigmoid(logits), strict=True):
                groups = [label for label, p, t in zip(labels, probs, thresholds, strict=True) if p >= t]
                pred = task.from_set(groups) if task is not None else normalize_groups(", ".join(groups))
                out.append({"id": row["id"], "gold": row["label"], "pred": pred})
                if task is not None and task.kind == "multilabel":  # one independent probability per label
                    out[-1]["scores"] = {label: round(float(p), 6) for label, p in zip(labels, probs, strict=True)}
        else:
            for row, probs in zip(batch, logits.softmax(-1), strict=True):
                scores = {label: round(float(p), 6) for label, p in zip(labels, probs, strict=True)}
                out.append(
                    {"id": row["id"], "gold": row["label"], "pred": max(labels, key=scores.get), "scores": scores}
                )
    return out

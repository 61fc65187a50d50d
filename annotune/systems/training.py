"""QLoRA instruction tuning: a quantized base, a LoRA adapter, loss on the answer tokens only.

The training loop (``train_qlora``) and its run estimate, the LoRA adapter on the base (``lora_model``), and the
resumable checkpoints (``checkpoint_root``, ``run_fingerprint``, ``KeepCurvesWithCheckpoints``). How records become
batches (examples, the padded and packed collators, the packed attention kernel) lives in packing.py.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from transformers import TrainerCallback

from annotune.config import QloraParams
from annotune.runtime.processes import world_size
from annotune.systems import preflight
from annotune.systems.models import Runtime, load_causal_lm, load_tokenizer
from annotune.systems.packing import PackCollator, PadCollator, build_examples, computed_tokens, use_packed_attention

log = logging.getLogger(__name__)


def lora_model(model, params: QloraParams, runtime: Runtime):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    use_packed_attention(model)
    if runtime.quantization != "none":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=params.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    config = LoraConfig(
        r=params.r,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=params.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def checkpoint_root() -> Path:
    """Where interrupted runs keep their checkpoints: outside the project (never in git, and kept when
    DVC clears a stage's outputs or runs an experiment in a temporary folder)."""
    if "ANNOTUNE_CHECKPOINTS" in os.environ:
        return Path(os.environ["ANNOTUNE_CHECKPOINTS"])
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "annotune" / "checkpoints"


def run_fingerprint(base_dir: Path, train_records: list[dict], dev_records: list[dict], params, seed: int) -> str:
    """Identifies a training run: a checkpoint is resumed only by the run that wrote it (same base
    model, data, params and seed), never by a changed configuration."""
    digest = hashlib.sha256()
    for path in sorted(Path(base_dir).glob("*.json")):  # config, tokenizer and source: not the weights
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(json.dumps([train_records, dev_records, asdict(params), seed], sort_keys=True).encode())
    return digest.hexdigest()[:16]


class KeepCurvesWithCheckpoints(TrainerCallback):
    """Copies the dvclive folder into every checkpoint, so a resumed run restores the training curve
    up to its checkpoint (DVC clears the stage's outputs, the folder included, before a rerun)."""

    folder = "dvclive"

    def __init__(self, live_dir: Path):
        self.live_dir = Path(live_dir)

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero and self.live_dir.is_dir():
            target = Path(args.output_dir) / f"checkpoint-{state.global_step}" / self.folder
            shutil.copytree(self.live_dir, target, dirs_exist_ok=True)

    def restore(self, checkpoint: str) -> None:
        saved = Path(checkpoint) / self.folder
        if saved.is_dir():
            shutil.rmtree(self.live_dir, ignore_errors=True)
            shutil.copytree(saved, self.live_dir)


def estimate_run(base_dir: Path, params: QloraParams, runtime: Runtime, examples, tokens_per_epoch: int) -> dict:
    """Printed (and saved) before the model is loaded, so a run that cannot fit fails at once."""
    size = preflight.model_size(base_dir, params.r, params.target_modules)
    lengths = [len(e["input_ids"]) for e in examples] or [0]
    estimate = preflight.training_estimate(
        size,
        "nf4-double" if runtime.quantization == "nf4" and params.double_quant else runtime.quantization,
        runtime.compute_dtype,
        params.batch_size,
        max(lengths),
        tokens_per_epoch * params.epochs,
        params.gradient_checkpointing,
        preflight.measured_matmul_gflops(runtime.device, runtime.torch_dtype),
    )
    for line in estimate.lines():
        log.info("estimate: %s", line)
    preflight.check_fits(estimate, runtime.device)
    return preflight.as_dict(estimate)


def train_qlora(
    base_dir: Path,
    train_records: list[dict],
    dev_records: list[dict],
    params: QloraParams,
    runtime: Runtime,
    seed: int,
    out_dir: Path,
    live_dir: Path,
    packing: bool = True,
    callbacks: list = (),
) -> tuple[object, dict]:
    """Train one adapter; saves adapter (safetensors) + tokenizer to ``out_dir``; returns the trained
    model and the run's stats. ``packing`` (padding-free batches, :class:`PackCollator`; with
    ``params.dropout`` 0, each batch's shared prompt prefix computed once) changes only speed: ``False``
    pads every batch to its longest example (:class:`PadCollator`).

    Every ``params.checkpoint_steps`` optimizer steps a checkpoint (adapter, optimizer, scheduler, RNG
    states) goes to ``checkpoint_root()/<run fingerprint>``; a rerun of the same run resumes from the
    last one and ends with the adapter an uninterrupted run gives. They are deleted once the run ends.
    Works unchanged under ``accelerate launch`` (data parallel): rank 0 saves."""
    from dvclive import Live
    from transformers import Trainer, TrainingArguments, set_seed
    from transformers.integrations import DVCLiveCallback
    from transformers.trainer_utils import get_last_checkpoint

    preflight.check_optimizer(params.optimizer, runtime.device)
    set_seed(seed)
    tokenizer = load_tokenizer(base_dir)
    train_set, truncated_train = build_examples(tokenizer, train_records, params.max_input_tokens)
    dev_set, truncated_dev = build_examples(tokenizer, dev_records, params.max_input_tokens)
    share_prefix = packing and params.dropout == 0  # with dropout, each example's prefix differs: see PackCollator
    tokens_per_epoch = computed_tokens(train_set, params.batch_size, share_prefix)
    estimate = estimate_run(base_dir, params, runtime, train_set, tokens_per_epoch)
    model = lora_model(load_causal_lm(base_dir, runtime, params.double_quant), params, runtime)
    trainable, total = model.get_nb_trainable_parameters()
    log.info("trainable parameters: %d of %d (%.2f%%)", trainable, total, 100 * trainable / total)

    checkpoints = checkpoint_root() / run_fingerprint(base_dir, train_records, dev_records, params, seed)
    resume_from = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if resume_from:
        log.info("resuming from %s", resume_from)
    steps_per_epoch = math.ceil(len(train_set) / (params.batch_size * params.grad_accum))
    distributed = world_size() > 1  # under accelerate launch / torchrun
    args = TrainingArguments(
        output_dir=str(checkpoints),
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.batch_size,
        gradient_accumulation_steps=params.grad_accum,
        num_train_epochs=params.epochs,
        learning_rate=params.learning_rate,
        lr_scheduler_type=params.lr_scheduler,
        warmup_steps=params.warmup_ratio,
        optim=params.optimizer,
        eval_strategy="epoch",
        save_strategy="steps" if params.checkpoint_steps else "no",
        save_steps=params.checkpoint_steps or 500,
        save_total_limit=1,
        logging_steps=max(1, steps_per_epoch // 5),
        seed=seed,
        data_seed=seed,
        report_to="none",
        use_cpu=runtime.device == "cpu",
        ddp_backend="gloo" if runtime.device == "cpu" and distributed else None,
        bf16=runtime.device == "cuda" and runtime.compute_dtype == "bfloat16",
        fp16=runtime.device == "cuda" and runtime.compute_dtype == "float16",
        remove_unused_columns=False,
        prediction_loss_only=True,  # evaluation needs the dev loss only, not every logit gathered
        dataloader_num_workers=0,
    )
    curves = KeepCurvesWithCheckpoints(live_dir)
    if resume_from:
        curves.restore(resume_from)
    live = Live(dir=str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None, resume=bool(resume_from))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=dev_set,
        data_collator=PackCollator(share_prefix) if packing else PadCollator(tokenizer.pad_token_id),
        callbacks=[DVCLiveCallback(live=live), curves, *callbacks],
    )
    log.info(
        "process %d of %d trains on %d examples", trainer.args.process_index, trainer.args.world_size, len(train_set)
    )
    result = trainer.train(resume_from_checkpoint=resume_from)
    dev_losses = [entry["eval_loss"] for entry in trainer.state.log_history if "eval_loss" in entry]
    if trainer.is_world_process_zero():
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        shutil.rmtree(checkpoints, ignore_errors=True)
    return model, {
        "train_examples": len(train_set),
        "dev_examples": len(dev_set),
        "truncated_inputs": {"train": truncated_train, "dev": truncated_dev},
        "trainable_parameters": trainable,
        "total_parameters": total,
        "train_loss": result.training_loss,
        "dev_loss_per_epoch": dev_losses,
        "trainer_seconds": result.metrics["train_runtime"],  # the loop and its evaluations, as the Trainer counts
        "eval_seconds": sum(entry.get("eval_runtime", 0.0) for entry in trainer.state.log_history),
        "train_tokens": sum(len(e["input_ids"]) for e in train_set) * params.epochs,
        "train_tokens_computed": tokens_per_epoch * params.epochs,  # the shared prefixes once per batch
        "optimizer_steps": trainer.state.global_step,
        "processes": trainer.args.world_size,
        "resumed_from_step": int(resume_from.rsplit("-", 1)[1]) if resume_from else None,
        "estimate": estimate,
    }

"""QLoRA instruction tuning: a quantized base, a LoRA adapter, loss on the answer tokens only."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import torch
from transformers import TrainerCallback

from annotune.config import QloraParams
from annotune.runtime.processes import world_size
from annotune.systems import preflight
from annotune.systems.models import Runtime, load_causal_lm, load_tokenizer
from annotune.systems.prompts import answer_ids, prompt_ids

log = logging.getLogger(__name__)
IGNORE_INDEX = -100


def build_examples(tokenizer, records: list[dict], max_input_tokens: int):
    """Instruct records -> a ``datasets.Dataset`` of {input_ids, labels} (labels mask the prompt so only the
    answer is learned), and how many inputs were cut to ``max_input_tokens``.

    The records are the small instruct JSONL DVC already caches per stage, so the dataset stays in memory:
    ``map`` writes no Arrow cache files into ~/.cache (a second, unmanaged cache of the same data)."""
    from datasets import Dataset

    def tokenize(record: dict) -> dict:
        prompt, cut = prompt_ids(tokenizer, record["instruction"], record["input"], max_input_tokens)
        answer = answer_ids(tokenizer, record["output"])
        return {"input_ids": prompt + answer, "labels": [IGNORE_INDEX] * len(prompt) + answer, "truncated": cut}

    columns = sorted({key for record in records for key in record})
    examples = Dataset.from_list(records).map(tokenize, remove_columns=columns, desc="tokenizing")
    return examples.remove_columns("truncated"), sum(examples["truncated"])


class PadCollator:
    """Dynamic left padding to the longest example of the batch.

    Answers then end every row, so the model computes vocabulary logits only for the last
    ``logits_to_keep`` positions -- the answer tokens and the one before them -- instead of for the
    whole prompt: with a 49k vocabulary that head is a large share of the work. Position ids follow
    the attention mask, exactly as at inference time.
    """

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch: list[dict]) -> dict:
        width = max(len(e["input_ids"]) for e in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, example in enumerate(batch):
            n = len(example["input_ids"])
            ids[row, width - n :] = torch.tensor(example["input_ids"])
            labels[row, width - n :] = torch.tensor(example["labels"])
            mask[row, width - n :] = 1
        answer_width = max(sum(label != IGNORE_INDEX for label in e["labels"]) for e in batch)
        keep = min(width, answer_width + 1)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "position_ids": (mask.cumsum(-1) - 1).clamp(min=0),
            "labels": labels[:, -keep:],
            "logits_to_keep": keep,
        }


class PackCollator:
    """Padding-free batches: the batch's examples concatenated into one row, no padding at all, and the
    tokens every example of the batch starts with (the chat template's system turn and the instruction:
    57% of an SBIC training example) placed once, at the row's start, for all of them.

    Position ids restart at 0 for every example, or continue after the shared prefix, exactly as in the
    example alone; ``cu_seq_lens_q`` / ``max_length_q`` (the boundaries transformers' flash-attention
    kwargs use; the first segment is the prefix when ``shared_prefix_length`` is set) let
    :func:`packed_sdpa_attention` attend within each example, the prefix included, instead of over the
    whole row (so a shared prefix needs that attention, which :func:`lora_model` switches to:
    transformers' own would keep each example from seeing it). The prefix's hidden states are those of
    every example's own prefix (same tokens, same positions, causal attention), and autograd sums the
    examples' gradients through it: loss and gradients are those of the unshared batch, within float
    rounding. Only without LoRA dropout (``train_qlora`` shares the prefix when ``qlora.dropout`` is 0):
    with dropout, every example's copy of the prefix has its own dropout mask, so its hidden states are
    its own. Vocabulary logits are computed only at the positions that predict an answer token
    (``logits_to_keep`` as indices), and ``shift_labels`` holds those answer tokens, so the loss is the
    mean over the same answer tokens.
    Worth it on the CPU, where compute scales with tokens: about a fifth of a padded batch of SBIC posts
    is padding, and half of the rest is the repeated prefix. Without a key/value cache only
    (``use_cache=False``).
    """

    def __init__(self, share_prefix: bool = True):
        self.share_prefix = share_prefix

    @staticmethod
    def shared_prefix_length(batch: list[dict]) -> int:
        """The tokens every example starts with, stopping before the position that predicts an example's
        first answer token (its logit must be the example's own)."""
        if len(batch) < 2:
            return 0
        first = batch[0]["input_ids"]
        limit = min(
            next(p for p, label in enumerate(e["labels"]) if label != IGNORE_INDEX) - 1
            if any(label != IGNORE_INDEX for label in e["labels"])
            else len(e["input_ids"])
            for e in batch
        )
        length = 0
        while length < limit and all(e["input_ids"][length] == first[length] for e in batch):
            length += 1
        return length

    def __call__(self, batch: list[dict]) -> dict:
        shared = self.shared_prefix_length(batch) if self.share_prefix else 0
        ids: list[int] = list(batch[0]["input_ids"][:shared])
        positions: list[int] = list(range(shared))
        keep: list[int] = []
        targets: list[int] = []
        starts = [0, shared] if shared else [0]
        for example in batch:
            offset, labels = len(ids) - shared, example["labels"]
            ids.extend(example["input_ids"][shared:])
            positions.extend(range(shared, len(example["input_ids"])))
            for p in range(shared, len(labels) - 1):
                if labels[p + 1] != IGNORE_INDEX:
                    keep.append(offset + p)
                    targets.append(labels[p + 1])
            starts.append(len(ids))
        if not targets:
            raise ValueError("PackCollator: no answer tokens in the batch (every label is masked)")
        targets_tensor = torch.tensor([targets], dtype=torch.long)
        return {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "position_ids": torch.tensor([positions], dtype=torch.long),
            "labels": targets_tensor,
            "shift_labels": targets_tensor,
            "logits_to_keep": torch.tensor(keep, dtype=torch.long),
            "use_cache": False,  # transformers looks for packed sequences only when no cache is passed
            "cu_seq_lens_q": torch.tensor(starts, dtype=torch.int32),
            "max_length_q": max(len(e["input_ids"]) for e in batch) - shared,
            "shared_prefix_length": shared,
        }


PACKED_ATTENTION = "annotune_packed_sdpa"


def packed_sdpa_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """SDPA that attends within each example of a packed row (:class:`PackCollator`), else plain SDPA.

    Over the packed row, SDPA with the block-diagonal mask computes every example against every other
    one and masks the result away: attention work grows with the square of the whole batch's length
    (~15% of a training step on SmolLM2-135M). Here the row is regrouped as (examples, longest example),
    padded on the right, and run causally: padding sits after every real token, so no real query sees
    it, and only the real positions are gathered back. With a shared prefix, the prefix attends causally
    to itself once, and every example's tokens attend to the whole prefix and causally to their own.
    Same numbers, a fraction of the attention work.
    """
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    bounds = kwargs.get("cu_seq_lens_q")
    if bounds is None or query.shape[0] != 1:
        sdpa = ALL_ATTENTION_FUNCTIONS["sdpa"]
        return sdpa(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    shared = int(kwargs.get("shared_prefix_length") or 0)
    bounds = bounds.to(query.device)[1 if shared else 0 :]
    starts, lengths = bounds[:-1], bounds[1:] - bounds[:-1]
    width = int(kwargs["max_length_q"])
    offsets = torch.arange(width, device=query.device)
    real = offsets < lengths[:, None]  # (examples, width)
    index = (starts[:, None] + offsets).clamp(max=query.shape[2] - 1)

    def regroup(states):  # (1, heads, tokens, dim) -> (examples, heads, width, dim)
        return states[0][:, index].transpose(0, 1)

    def attend(q, k, v, mask=None):
        return torch.nn.functional.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            dropout_p=dropout,
            is_causal=mask is None,
            scale=scaling,
            enable_gqa=q.shape[1] != k.shape[1],
        )

    if not shared:
        out = attend(regroup(query), regroup(key), regroup(value))
        return out.transpose(1, 2)[real].unsqueeze(0), None  # (1, tokens, heads, dim), as transformers expects
    examples = len(starts)

    def with_prefix(states):  # each example's keys or values: the shared prefix, then its own tokens
        prefix = states[:, :, :shared].expand(examples, -1, -1, -1)
        return torch.cat([prefix, regroup(states)], dim=2)

    causal = torch.ones(width, width, dtype=torch.bool, device=query.device).tril()
    mask = torch.cat([torch.ones(width, shared, dtype=torch.bool, device=query.device), causal], dim=1)
    prefix_out = attend(query[:, :, :shared], key[:, :, :shared], value[:, :, :shared])
    own_out = attend(regroup(query), with_prefix(key), with_prefix(value), mask)
    out = torch.cat([prefix_out.transpose(1, 2)[0], own_out.transpose(1, 2)[real]])
    return out.unsqueeze(0), None


def use_packed_attention(model) -> None:
    """Switch a transformers model to :func:`packed_sdpa_attention` (registered once, with SDPA's masks)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS

    AttentionInterface.register(PACKED_ATTENTION, packed_sdpa_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(PACKED_ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
    model.set_attn_implementation(PACKED_ATTENTION)


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


def computed_tokens(examples, batch_size: int, share_prefix: bool) -> int:
    """Tokens an epoch runs through the model: every example's, less the shared prefix each packed batch
    computes once. Counted with the prefix all ``examples`` share, which no batch's own is shorter than."""
    total = sum(len(e["input_ids"]) for e in examples)
    if not share_prefix:
        return total
    shared = PackCollator.shared_prefix_length(list(examples))
    return total - shared * (len(examples) - math.ceil(len(examples) / batch_size))


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

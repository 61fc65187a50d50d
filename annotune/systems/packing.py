"""Batching for instruction tuning: instruct records as {input_ids, labels} examples, the padded and the packed
(padding-free, shared-prefix) collators, the attention kernel a packed row needs, and the tokens an epoch computes.

The training loop that uses them (``train_qlora``), the LoRA adapter and the checkpoints live in training.py.
"""

from __future__ import annotations

import math

import torch

from annotune.systems.prompts import answer_ids, common_prefix_length, prompt_ids

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
        limit = min(
            next(p for p, label in enumerate(e["labels"]) if label != IGNORE_INDEX) - 1
            if any(label != IGNORE_INDEX for label in e["labels"])
            else len(e["input_ids"])
            for e in batch
        )
        return common_prefix_length([e["input_ids"] for e in batch], limit)

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


def computed_tokens(examples, batch_size: int, share_prefix: bool) -> int:
    """Tokens an epoch runs through the model: every example's, less the shared prefix each packed batch
    computes once. Counted with the prefix all ``examples`` share, which no batch's own is shorter than."""
    total = sum(len(e["input_ids"]) for e in examples)
    if not share_prefix:
        return total
    shared = PackCollator.shared_prefix_length(list(examples))
    return total - shared * (len(examples) - math.ceil(len(examples) / batch_size))

"""LLM inference: classification by scoring every allowed answer, generation by greedy decoding.

Scoring never parses free text: each label's answer tokens get a log-probability given the prompt,
and the label probabilities are those renormalized over the allowed answers. The prompt is encoded
once per row; its key/value cache is reused for the continuation of every multi-token answer.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from tqdm import tqdm

from annotune.data.tasks import Task
from annotune.systems.prompts import answer_ids, common_prefix_length


def batches_by_length(lengths: list[int], batch_size: int, desc: str) -> Iterator[list[int]]:
    """Indices grouped by length (less padding), with a progress bar; callers restore input order."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    with tqdm(total=len(order), desc=desc, unit="row") as progress:
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]
            progress.update(len(order[start : start + batch_size]))


def left_pad(sequences: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq) :] = torch.tensor(seq)
        mask[row, width - len(seq) :] = 1
    return ids.to(device), mask.to(device)


def shared_prefix_length(sequences: list[list[int]]) -> int:
    """Length of the longest token prefix common to all sequences, leaving every one at least one token (a row's
    last logits, which predict its answer's first token, come from a token of its own)."""
    return common_prefix_length(sequences, min(len(s) for s in sequences) - 1)


@torch.inference_mode()
def answer_logprobs(
    model, prompts: list[list[int]], answers: list[list[int]], pad_id: int, batch_size: int
) -> torch.Tensor:
    """log P(answer | prompt) for every prompt x answer: a float tensor [len(prompts), len(answers)].

    The prefix every prompt shares (chat header, instruction, few-shot exemplars) is encoded once and
    its key/value cache reused by every batch; each row then encodes only its own suffix, left-padded
    between the shared prefix and the row's tokens (masked out), and each answer continues from that:
    the first answer token is read from the row's last logits, the rest of all answers of one length
    in one more forward pass (2 passes per batch for yes / no answers, not 1 + one per answer).
    """
    device = next(model.parameters()).device
    scores = torch.empty(len(prompts), len(answers))
    prefix_length = shared_prefix_length(prompts)
    prefix_cache = None
    if prefix_length:
        prefix = torch.tensor([prompts[0][:prefix_length]], device=device)
        prefix_cache = model(input_ids=prefix, use_cache=True, logits_to_keep=1).past_key_values
    suffixes = [p[prefix_length:] for p in prompts]
    for index in batches_by_length([len(s) for s in suffixes], batch_size, "scoring"):
        ids, suffix_mask = left_pad([suffixes[i] for i in index], pad_id, device)
        rows = len(index)
        mask = torch.cat([torch.ones(rows, prefix_length, dtype=torch.long, device=device), suffix_mask], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_length:]
        cache = _expand(prefix_cache, rows)
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        for column, answer in enumerate(answers):
            scores[index, column] = first[:, answer[0]].cpu()
        # The rest of every multi-token answer, answers of one length in one forward pass: each row's
        # cache is repeated once per answer (row-major: row r, answer a at r * len(group) + a).
        for length, group in _by_length(answers).items():
            g = len(group)
            rest = torch.tensor([answers[c][:-1] for c in group], device=device).repeat(rows, 1)
            out_rest = model(
                input_ids=rest,
                attention_mask=torch.cat([mask.repeat_interleave(g, 0), torch.ones_like(rest)], dim=1),
                position_ids=positions[:, -1:].repeat_interleave(g, 0) + 1 + torch.arange(length - 1, device=device),
                past_key_values=_expand(out.past_key_values, g, repeat=True),
                use_cache=True,
            )
            targets = torch.tensor([answers[c][1:] for c in group], device=device).repeat(rows, 1)
            token_logprobs = torch.log_softmax(out_rest.logits.float(), dim=-1).gather(-1, targets[..., None])
            rest_logprob = token_logprobs.squeeze(-1).sum(-1).view(rows, g).cpu()
            scores[torch.tensor(index)[:, None], torch.tensor(group)] += rest_logprob
    return scores


def _by_length(answers: list[list[int]]) -> dict[int, list[int]]:
    """Columns of the multi-token answers, grouped by answer length."""
    groups: dict[int, list[int]] = {}
    for column, answer in enumerate(answers):
        if len(answer) > 1:
            groups.setdefault(len(answer), []).append(column)
    return groups


def _expand(cache, rows: int, repeat: bool = False):
    """A fresh copy of a cache for a forward pass that extends it: the shared-prefix cache (one row)
    broadcast to ``rows`` rows, or (``repeat``) every row of a batch's cache repeated ``rows`` times."""
    if cache is None:
        return None
    expanded = copy.copy(cache)  # the tensors are replaced below: copying them first would be wasted work
    expanded.layers = [copy.copy(layer) for layer in cache.layers]
    for layer in expanded.layers:
        if repeat:
            layer.keys = layer.keys.repeat_interleave(rows, 0)
            layer.values = layer.values.repeat_interleave(rows, 0)
        else:
            layer.keys = layer.keys.expand(rows, -1, -1, -1).contiguous()
            layer.values = layer.values.expand(rows, -1, -1, -1).contiguous()
    return expanded


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy decoding; the first line of each answer, special tokens removed."""
    device = next(model.parameters()).device
    texts: list[str] = [""] * len(prompts)
    for index in batches_by_length([len(p) for p in prompts], batch_size, "generating"):
        ids, mask = left_pad([prompts[i] for i in index], tokenizer.pad_token_id, device)
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        for row, i in enumerate(index):
            texts[i] = first_line(tokenizer.decode(out[row, ids.shape[1] :], skip_special_tokens=True))
    return texts


def first_line(answer: str) -> str:
    """A generated answer as it is kept: its first line, stripped."""
    return answer.strip().split("\n")[0].strip()


def llm_predictions(
    task: Task, model, tokenizer, rows: list[dict], prompts: list[list[int]], batch_size: int, max_new_tokens: int
) -> list[dict]:
    """Prediction records (docs/architecture.md, Data contracts) for instruct ``rows`` whose prompts are ``prompts``."""
    if task.is_classification:
        answers = [answer_ids(tokenizer, task.verbalize(label)) for label in task.labels]
        probabilities = answer_logprobs(model, prompts, answers, tokenizer.pad_token_id, batch_size).softmax(-1)
        return label_records(task, rows, probabilities)
    return text_records(task, rows, generate(model, tokenizer, prompts, max_new_tokens, batch_size))


def label_records(task: Task, rows: list[dict], probabilities: torch.Tensor) -> list[dict]:
    """Classification prediction records: the most probable label and every label's probability."""
    return [
        {
            "id": r["id"],
            "gold": r["label"],
            "pred": task.labels[int(p.argmax())],
            "scores": {label: round(float(v), 6) for label, v in zip(task.labels, p, strict=True)},
        }
        for r, p in zip(rows, probabilities, strict=True)
    ]


def text_records(task: Task, rows: list[dict], texts: list[str]) -> list[dict]:
    """Prediction records of generated answers, parsed into gold-comparable labels."""
    return [
        {"id": r["id"], "gold": r["label"], "pred": task.parse_answer(t), "text": t}
        for r, t in zip(rows, texts, strict=True)
    ]

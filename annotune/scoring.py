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


def _batches(lengths: list[int], batch_size: int, desc: str) -> Iterator[list[int]]:
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


@torch.inference_mode()
def answer_logprobs(
    model, prompts: list[list[int]], answers: list[list[int]], pad_id: int, batch_size: int
) -> torch.Tensor:
    """log P(answer | prompt) for every prompt x answer: a float tensor [len(prompts), len(answers)]."""
    device = next(model.parameters()).device
    scores = torch.empty(len(prompts), len(answers))
    for index in _batches([len(p) for p in prompts], batch_size, "scoring"):
        ids, mask = left_pad([prompts[i] for i in index], pad_id, device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1)
        for column, answer in enumerate(answers):
            logprob = first[:, answer[0]]
            if len(answer) > 1:
                rest = torch.tensor(answer[:-1], device=device).expand(len(index), -1)
                out_rest = model(
                    input_ids=rest,
                    attention_mask=torch.cat([mask, torch.ones_like(rest)], dim=1),
                    position_ids=positions[:, -1:] + 1 + torch.arange(len(answer) - 1, device=device),
                    past_key_values=copy.deepcopy(out.past_key_values),
                    use_cache=True,
                )
                targets = torch.tensor(answer[1:], device=device).expand(len(index), -1)
                token_logprobs = torch.log_softmax(out_rest.logits.float(), dim=-1).gather(-1, targets[..., None])
                logprob = logprob + token_logprobs.squeeze(-1).sum(-1)
            scores[index, column] = logprob.cpu()
    return scores


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[list[int]], max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy decoding; the first line of each answer, special tokens removed."""
    device = next(model.parameters()).device
    texts: list[str] = [""] * len(prompts)
    for index in _batches([len(p) for p in prompts], batch_size, "generating"):
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
            answer = tokenizer.decode(out[row, ids.shape[1] :], skip_special_tokens=True)
            texts[i] = answer.strip().split("\n")[0].strip()
    return texts

"""The LLM as a data augmenter: prompts that ask an LLM for synthetic training posts, their sampling, and the
filters that drop unfit ones (each drop counted under its reason).

``generate`` asks for new posts of a label, showing a few training posts of that label; ``rewrite`` asks for
each training post in other words, its label kept. Prompts show training posts only, and a post equal to a dev
or test post (after ``normalize``) is dropped, so no held-out text reaches training.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter

from annotune.data.tasks import Task
from annotune.errors import ParamsError
from annotune.systems.prompts import input_fields, post_text

METHODS = ("generate", "rewrite")
# the order the filters run in: a dropped candidate is counted under the first check it fails
REASONS = ("short", "truncated", "copy_of_training", "leaks_held_out", "near_duplicate", "labeller_disagrees")
REWRITE_INSTRUCTION = "Rewrite the following text in different words, keeping its meaning and tone."
GENERATE_PROMPT = (
    'Here are examples of texts for which the answer to the question "{question}" is "{answer}":\n\n'
    "{examples}\n\n"
    "Write one new, different text of the same kind. Reply with the text only."
)
SYNTHETIC_ID = "synthetic-{}"
# small instruction-tuned LLMs open with a line such as "Here's a rewritten version of the text:" before the post
QUOTES = {('"', '"'), ("'", "'"), ("“", "”")}
PREAMBLE = re.compile(r"^[^\n]{0,160}:[ \t]*\n+")
# rows of the similarity matrix computed at once: a few thousand candidates stay a few MB per block
_SIMILARITY_BLOCK = 256
# identical posts score 1 only up to float rounding, and near_duplicate may be 1 (exact repeats only)
_COSINE_TOLERANCE = 1e-9


def normalize(text: str) -> str:
    """NFKC, casefolded, every run of non-alphanumeric characters one space, stripped: the form in which a
    generated post is compared with training and held-out posts."""
    return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _question(task: Task) -> str:
    """The instruction without its list of allowed answers, which would only confuse a post writer."""
    return task.instruction.partition(" Answer with")[0].strip()


def _one_line(text: str) -> str:
    # a post's own line breaks would break the numbered list of examples
    return " ".join(text.split())


def build_requests(task: Task, train_rows: list[dict], params, seed: int) -> list[dict]:
    """The prompts to send, each ``{"label", "method", "sources": [training ids shown], "prompt"}``; the same
    for a seed. generate: ``examples_per_label`` per label that has training rows; rewrite:
    ``rewrites_per_example`` per training row (which carry its ``attributes``, if any, to the synthetic row)."""
    if not task.is_classification:
        raise ParamsError(f"augment: task {task.name} is {task.kind}; only binary and multiclass tasks are augmented")
    if any("input_pair" in row for row in train_rows):
        raise ParamsError(f"augment: task {task.name} labels sentence pairs; only single texts are augmented")
    if params.method == "rewrite":
        instruction = params.instruction or REWRITE_INSTRUCTION
        return [
            {
                "label": row["label"],
                "method": "rewrite",
                "sources": [row["id"]],
                "prompt": f"{instruction}\n\n{post_text(row).strip()}",
                **({"attributes": row["attributes"]} if "attributes" in row else {}),
            }
            for row in train_rows
            for _ in range(params.rewrites_per_example)
        ]
    if params.method != "generate":
        raise ParamsError(f"params.yaml: augment.method is {params.method!r}; allowed: {', '.join(METHODS)}")
    rng = random.Random(seed)
    requests = []
    for label in task.labels:
        pool = [row for row in train_rows if row["label"] == label]
        if not pool:
            continue
        for _ in range(params.examples_per_label):
            shown = rng.sample(pool, min(params.exemplars, len(pool)))
            examples = "\n".join(f"{n}. {_one_line(post_text(row))}" for n, row in enumerate(shown, 1))
            prompt = GENERATE_PROMPT.format(question=_question(task), answer=task.verbalize(label), examples=examples)
            requests.append(
                {"label": label, "method": "generate", "sources": [row["id"] for row in shown], "prompt": prompt}
            )
    return requests


def _stop_ids(model, tokenizer) -> set[int]:
    """End-of-turn ids: the tokenizer's EOS and the model's own (chat models often stop on another token)."""
    configured = model.generation_config.eos_token_id
    configured = configured if isinstance(configured, list) else [configured]
    return {i for i in [tokenizer.eos_token_id, *configured] if i is not None}


def generate(model, tokenizer, requests: list[dict], params, seed: int) -> list[dict]:
    """One sampled candidate per request, in order: ``{**request, "text", "finished", "new_tokens"}``;
    ``finished`` is False where the answer ran into ``max_new_tokens``. The same for a seed on one device."""
    import torch

    from annotune.systems.scoring import batches_by_length, left_pad

    device = next(model.parameters()).device
    stop_ids = _stop_ids(model, tokenizer)
    # the pad id is passed to generate, not set on the tokenizer, which the caller may share
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts = []
    for request in requests:
        if tokenizer.chat_template:
            messages = [{"role": "user", "content": request["prompt"]}]
            prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        else:
            prompt = request["prompt"]
        # a chat template writes its own special tokens
        prompts.append(tokenizer(prompt, add_special_tokens=not tokenizer.chat_template)["input_ids"])
    torch.manual_seed(seed)
    candidates: list[dict | None] = [None] * len(requests)
    with torch.inference_mode():
        for index in batches_by_length([len(p) for p in prompts], params.batch_size, "augmenting"):
            ids, mask = left_pad([prompts[i] for i in index], pad_id, device)
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                max_new_tokens=params.max_new_tokens,
                eos_token_id=sorted(stop_ids),
                pad_token_id=pad_id,
            )
            for row, i in enumerate(index):
                new = out[row, ids.shape[1] :].tolist()
                stop = next((n for n, token in enumerate(new) if token in stop_ids), None)
                kept = new if stop is None else new[: stop + 1]
                answer = tokenizer.decode(kept, skip_special_tokens=True).strip()
                candidates[i] = {
                    **requests[i],
                    "answer": answer,
                    "text": post_of(answer),
                    "finished": stop is not None,
                    "new_tokens": len(kept),
                }
    return candidates


def post_of(answer: str) -> str:
    """The post in an LLM's answer: without an opening line that announces it ("Here is a new text:") and
    without the quotes around it."""
    post = PREAMBLE.sub("", answer.strip(), count=1).strip()
    if len(post) >= 2 and (post[0], post[-1]) in QUOTES:
        post = post[1:-1].strip()
    return post


def _near_duplicates(texts: list[str], threshold: float) -> list[bool]:
    """Whether each text is at least ``threshold`` cosine-similar to an earlier text that was not itself a
    near-duplicate. Word 1-2 grams rather than character n-grams: LLM samples of one prompt repeat whole
    phrases, which word pairs catch, while character n-grams rate any two posts on one topic as close, so a
    threshold like 0.9 would no longer read as "the same post, a few words changed"."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(normalize(text) for text in texts):  # no word to compare (an empty vocabulary is an error)
        return [False] * len(texts)
    # rows are L2-normalized, so their dot products are cosines
    matrix = TfidfVectorizer(
        preprocessor=normalize, token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True
    ).fit_transform(texts)
    kept = np.zeros(len(texts), dtype=bool)
    for start in range(0, len(texts), _SIMILARITY_BLOCK):
        similarity = (matrix[start : start + _SIMILARITY_BLOCK] @ matrix.T).toarray()
        for offset, row in enumerate(similarity):
            i = start + offset
            kept[i] = not (row[:i][kept[:i]] >= threshold - _COSINE_TOLERANCE).any()
    return [not k for k in kept]


def _synthetic_row(task: Task, candidate: dict) -> dict:
    """A candidate as a training row (the instruct shape the trainers read), with its provenance."""
    return {
        "id": candidate["id"],
        "instruction": task.instruction,
        **input_fields(candidate["text"], candidate.get("attributes")),
        "output": task.verbalize(candidate["label"]),
        "label": candidate["label"],
        "method": candidate["method"],
        "sources": candidate["sources"],
        **({"answer": candidate["answer"]} if "answer" in candidate else {}),
    }


def filter_candidates(
    candidates: list[dict], train_rows: list[dict], held_out_texts: list[str], params, task: Task, labeller=None
) -> tuple[list[dict], list[dict], dict]:
    """(kept training rows, dropped candidates with their ``reason``, counts). The checks run in ``REASONS``
    order; ``held_out_texts`` are the dev and test posts. ``labeller`` (optional) is a ``System.predict``-like
    callable: a candidate is kept only if it predicts the intended label with ``labeller_confidence``. Every
    candidate gets the id ``synthetic-<its position>``, kept or dropped."""
    training = {normalize(post_text(row)) for row in train_rows}
    held_out = {normalize(text) for text in held_out_texts}
    reasons: list[str | None] = []
    for candidate in candidates:
        text = candidate["text"]
        if len(text.split()) < params.min_words:
            reasons.append("short")
        elif not candidate["finished"]:
            reasons.append("truncated")
        elif normalize(text) in training:
            reasons.append("copy_of_training")
        elif normalize(text) in held_out:
            reasons.append("leaks_held_out")
        else:
            reasons.append(None)
    remaining = [i for i, reason in enumerate(reasons) if reason is None]
    duplicates = _near_duplicates([candidates[i]["text"] for i in remaining], params.near_duplicate)
    for i, duplicate in zip(remaining, duplicates, strict=True):
        if duplicate:
            reasons[i] = "near_duplicate"
    rows = {
        i: _synthetic_row(task, {**candidate, "id": SYNTHETIC_ID.format(i)})
        for i, candidate in enumerate(candidates)
        if reasons[i] is None
    }
    if labeller is not None and rows:
        for i, prediction in zip(rows, labeller(list(rows.values())), strict=True):
            intended = rows[i]["label"]
            if prediction["pred"] != intended or prediction["scores"].get(intended, 0.0) < params.labeller_confidence:
                reasons[i] = "labeller_disagrees"
    kept = [row for i, row in rows.items() if reasons[i] is None]
    dropped = [
        {**candidate, "id": SYNTHETIC_ID.format(i), "reason": reasons[i]}
        for i, candidate in enumerate(candidates)
        if reasons[i] is not None
    ]
    dropped_counts = Counter(reasons)
    kept_counts = Counter(row["label"] for row in kept)
    counts = {
        "candidates": len(candidates),
        "kept": len(kept),
        "dropped": {reason: dropped_counts[reason] for reason in REASONS},
        "kept_per_label": {label: kept_counts[label] for label in task.labels},
    }
    return kept, dropped, counts


def diversity(texts: list[str]) -> dict:
    """distinct-1 and distinct-2 (unique / all n-grams of lower-cased whitespace tokens, pooled over the
    texts; 0 where there are none) and the number of texts."""
    unigrams, bigrams = [], []
    for text in texts:
        tokens = text.lower().split()
        unigrams.extend(tokens)
        bigrams.extend(zip(tokens, tokens[1:], strict=False))
    return {
        "texts": len(texts),
        "distinct_1": len(set(unigrams)) / len(unigrams) if unigrams else 0.0,
        "distinct_2": len(set(bigrams)) / len(bigrams) if bigrams else 0.0,
    }

"""Instruction records, few-shot exemplars, and how they become token ids for a causal LM.

The instruction (shared by every row of a task) comes first and the post last, so rows share the
longest possible prefix. Models with a chat template get it (exemplars as earlier user / assistant
turns); others get the Alpaca template (exemplars as earlier instruction / response blocks).

Declared tabular attributes (prepare.attributes) come right before the post as ``name: value`` lines, in
the input every LLM and encoder system reads (``input_fields`` is their one home); a long input is cut
at its end, so the lines stay.
"""

from __future__ import annotations

import random
from collections import defaultdict

from annotune.data.tasks import Task

ALPACA = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
)
ALPACA_TURN = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"


def pair_input(text_a: str, text_b: str) -> str:
    return f"Sentence 1: {text_a}\nSentence 2: {text_b}"


def attribute_lines(attributes: dict | None) -> str:
    """Attributes as ``name: value`` lines, each ending in a newline, in the declared order; "" for none.
    A whole number is written without ".0" (``age: 30``), as a person would write it."""

    def written(value):
        return str(int(value)) if isinstance(value, float) and value.is_integer() and abs(value) < 1e15 else value

    return "".join(f"{name}: {written(value)}\n" for name, value in (attributes or {}).items())


def input_fields(text: str, attributes: dict | None) -> dict:
    """What a system reads of a row: ``input``, the attribute lines then the text, and where attributes are
    declared the values themselves as ``attributes`` (TF-IDF takes them as features of their own)."""
    fields = {"input": attribute_lines(attributes) + text}
    if attributes is not None:
        fields["attributes"] = attributes
    return fields


def post_text(row: dict) -> str:
    """A row's ``input`` without its attribute lines: the text alone."""
    return row["input"].removeprefix(attribute_lines(row.get("attributes")))


def instruct_record(task: Task, record: dict) -> dict:
    """A canonical record as an instruction record; a sentence pair shows both sentences in the input
    and keeps them apart in ``input_pair`` for the encoders, which take them as a pair (the attribute
    lines before the first sentence)."""
    label = record["labels"][task.name]
    pair = "text_a" in record
    attributes = record.get("attributes")
    out = {
        "id": record["id"],
        "instruction": task.instruction,
        **input_fields(pair_input(record["text_a"], record["text_b"]) if pair else record["text"], attributes),
        "output": task.verbalize(label),
        "label": label,
    }
    if pair:
        out["input_pair"] = [attribute_lines(attributes) + record["text_a"], record["text_b"]]
    return out


def render_prompt(tokenizer, instruction: str, text: str, examples: list[dict] = ()) -> str:
    """The prompt for ``text``, after ``examples`` (instruct records) answered in full."""
    if tokenizer.chat_template:
        messages = []
        for example in examples:
            messages.append({"role": "user", "content": f"{instruction}\n\n{example['input']}"})
            messages.append({"role": "assistant", "content": example["output"]})
        messages.append({"role": "user", "content": f"{instruction}\n\n{text}"})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    shots = "".join(
        ALPACA_TURN.format(instruction=instruction, input=e["input"]) + e["output"] + "\n\n" for e in examples
    )
    return ALPACA + shots + ALPACA_TURN.format(instruction=instruction, input=text)


def truncate_text(tokenizer, text: str, max_tokens: int) -> tuple[str, bool]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, False
    return tokenizer.decode(ids[:max_tokens]), True


def prompt_ids(
    tokenizer, instruction: str, text: str, max_input_tokens: int, examples: list[dict] = ()
) -> tuple[list[int], bool]:
    """Token ids of the prompt (every post cut to ``max_input_tokens``) and whether the row's post was cut."""
    text, truncated = truncate_text(tokenizer, text, max_input_tokens)
    examples = [{**e, "input": truncate_text(tokenizer, e["input"], max_input_tokens)[0]} for e in examples]
    prompt = render_prompt(tokenizer, instruction, text, examples)
    return tokenizer(prompt, add_special_tokens=not tokenizer.chat_template)["input_ids"], truncated


def answer_ids(tokenizer, answer: str) -> list[int]:
    """The answer as the model must produce it: its tokens, then end-of-turn."""
    return tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]


def common_prefix_length(sequences: list[list[int]], limit: int) -> int:
    """How many tokens every one of ``sequences`` starts with, at most ``limit`` (never past the shortest).

    The one rule for the prefix a batch computes once (the prompt puts the instruction first, so rows share one):
    scoring encodes it once for all prompts (``scoring.shared_prefix_length``), packed training once per batch
    (``packing.PackCollator.shared_prefix_length``). Each caller's ``limit`` keeps out the positions whose logits
    must be a row's own."""
    limit = min([limit, *(len(s) for s in sequences)])
    length = 0
    while length < limit and all(s[length] == sequences[0][length] for s in sequences):
        length += 1
    return length


def _round_robin(queues: dict[str, list[dict]], k: int) -> list[dict]:
    """Up to k records taken one label at a time (labels in sorted order), each from the end of its queue."""
    chosen: list[dict] = []
    wanted = min(k, sum(map(len, queues.values())))
    while len(chosen) < wanted:
        for label in sorted(queues):
            if queues[label] and len(chosen) < k:
                chosen.append(queues[label].pop())
    return chosen


def stratified_exemplars(pool: list[dict], k: int, seed: int) -> list[dict]:
    """k training records, one label at a time round-robin (labels in sorted order), seeded: the same
    exemplars for every row, so the few-shot prefix is shared."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for record in pool:
        by_label[record["label"]].append(record)
    rng = random.Random(seed)
    queues = {label: rng.sample(records, len(records)) for label, records in sorted(by_label.items())}
    chosen = _round_robin(queues, k)
    return rng.sample(chosen, len(chosen))


def boundary_margins(pool: list[dict], seed: int) -> list[float]:
    """Each training record's margin under a TF-IDF + logistic regression fitted on the pool (its label texts as
    classes): the gap between its two most probable classes (binary: 2 |p - 0.5|). Small: near the boundary."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = [r["input"] for r in pool]
    model = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(max_iter=2000, random_state=seed))
    probabilities = np.sort(model.fit(texts, [r["label"] for r in pool]).predict_proba(texts), axis=1)
    # rounded so that float noise does not decide ties: those go to the smaller id
    return [round(float(m), 9) for m in probabilities[:, -1] - probabilities[:, -2]]


def boundary_exemplars(pool: list[dict], k: int, seed: int) -> list[dict]:
    """k training records spread over the labels like ``stratified_exemplars``, taking within each label those
    with the smallest ``boundary_margins`` (ties: smaller id): the posts a classifier finds hardest, the same for
    every row. In a seeded order; a pool with one label has no boundary and falls back to stratified."""
    if len({r["label"] for r in pool}) < 2:
        return stratified_exemplars(pool, k, seed)
    by_label: dict[str, list[tuple[float, str, dict]]] = defaultdict(list)
    for record, margin in zip(pool, boundary_margins(pool, seed), strict=True):
        by_label[record["label"]].append((margin, record["id"], record))
    # largest margin first: the round robin pops from the end
    queues = {
        label: [r for *_, r in sorted(items, key=lambda m: m[:2], reverse=True)] for label, items in by_label.items()
    }
    chosen = _round_robin(queues, k)
    return random.Random(seed).sample(chosen, len(chosen))


class SimilarExemplars:
    """The k training records most similar to a row by TF-IDF cosine, never the row itself (same id
    or same text); ties broken by pool order, so the choice is deterministic."""

    def __init__(self, pool: list[dict]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.pool = pool
        self.vectorizer = TfidfVectorizer(sublinear_tf=True).fit([r["input"] for r in pool])
        self.matrix = self.vectorizer.transform([r["input"] for r in pool])

    def __call__(self, row: dict, k: int) -> list[dict]:
        import numpy as np

        similarity = (self.matrix @ self.vectorizer.transform([row["input"]]).T).toarray().ravel()
        order = np.argsort(-similarity, kind="stable")
        chosen = [
            self.pool[i] for i in order if self.pool[i]["id"] != row["id"] and self.pool[i]["input"] != row["input"]
        ]
        return chosen[:k][::-1]  # most similar last, nearest to the question

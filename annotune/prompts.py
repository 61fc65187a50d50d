"""Instruction records and how they become token ids for a causal LM.

The instruction (shared by every row of a task) comes first and the post last, so rows share the
longest possible prefix. Models with a chat template get it; others get the Alpaca template.
"""

from __future__ import annotations

from annotune.tasks import Task

ALPACA = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n"
    "### Input:\n{input}\n\n### Response:\n"
)


def instruct_record(task: Task, record: dict) -> dict:
    label = record["labels"][task.name]
    return {
        "id": record["id"],
        "instruction": task.instruction,
        "input": record["text"],
        "output": task.verbalize(label),
        "label": label,
    }


def render_prompt(tokenizer, instruction: str, text: str) -> str:
    if tokenizer.chat_template:
        message = {"role": "user", "content": f"{instruction}\n\n{text}"}
        return tokenizer.apply_chat_template([message], tokenize=False, add_generation_prompt=True)
    return ALPACA.format(instruction=instruction, input=text)


def truncate_text(tokenizer, text: str, max_tokens: int) -> tuple[str, bool]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, False
    return tokenizer.decode(ids[:max_tokens]), True


def prompt_ids(tokenizer, instruction: str, text: str, max_input_tokens: int) -> tuple[list[int], bool]:
    """Token ids of the prompt (the post cut to ``max_input_tokens``) and whether it was cut."""
    text, truncated = truncate_text(tokenizer, text, max_input_tokens)
    return tokenizer(render_prompt(tokenizer, instruction, text), add_special_tokens=not tokenizer.chat_template)[
        "input_ids"
    ], truncated


def answer_ids(tokenizer, answer: str) -> list[int]:
    """The answer as the model must produce it: its tokens, then end-of-turn."""
    return tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]

"""predict@<task>: the QLoRA system's predictions on the test split.

Classification: a probability for every allowed label (scored, never parsed). Generation: greedy
decoding, normalized like the gold.
"""

import argparse
from pathlib import Path

from annotune import cli
from annotune.config import load_params
from annotune.io import read_json, read_jsonl, write_jsonl
from annotune.models import Runtime, load_tokenizer
from annotune.prompts import answer_ids, prompt_ids
from annotune.scoring import answer_logprobs, generate
from annotune.tasks import get_task, normalize_groups
from annotune.training import load_adapter


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--data", type=Path, required=True, help="instruct test file")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task = get_task(params.dataset, args.task)
    trained = read_json(args.adapter / "annotune.json")
    runtime = Runtime(**trained["runtime"])  # predict exactly as the adapter was trained
    tokenizer = load_tokenizer(args.adapter)
    model = load_adapter(args.base, args.adapter, runtime, trained["qlora"]["double_quant"])
    rows = read_jsonl(args.data)
    max_input = trained["qlora"]["max_input_tokens"]
    prompts = [prompt_ids(tokenizer, r["instruction"], r["input"], max_input)[0] for r in rows]
    size = params.predict.batch_size
    if task.is_classification:
        answers = [answer_ids(tokenizer, task.verbalize(label)) for label in task.labels]
        probs = answer_logprobs(model, prompts, answers, tokenizer.pad_token_id, size).softmax(-1)
        predictions = [
            {
                "id": r["id"],
                "gold": r["label"],
                "pred": task.labels[int(p.argmax())],
                "scores": {label: round(float(v), 6) for label, v in zip(task.labels, p, strict=True)},
            }
            for r, p in zip(rows, probs, strict=True)
        ]
    else:
        texts = generate(model, tokenizer, prompts, params.predict.max_new_tokens, size)
        predictions = [
            {"id": r["id"], "gold": r["label"], "pred": normalize_groups(t), "text": t}
            for r, t in zip(rows, texts, strict=True)
        ]
    write_jsonl(args.out, predictions)


if __name__ == "__main__":
    cli.run(main)

"""export_merged: a task's LoRA adapter merged into the float32 base, saved as a plain model folder.

    python -m stages.export_merged hasBiasedImplication --out exported/hasBiasedImplication [--check]

Loads with ``AutoModelForCausalLM.from_pretrained(out)``, no peft. The QLoRA adapters of this pipeline
were trained on a 4-bit base: the merge then warns that it is approximate (see annotune/export.py);
``--check`` prints the largest logit difference between the merged model and the model as trained
(4-bit base + adapter) on a few dev prompts. ``--dequantize`` merges into the dequantized 4-bit base
instead: the exported float32 model is then the model that was trained and evaluated.
"""

import argparse
import logging
from pathlib import Path

from annotune import cli
from annotune.export import logit_difference, merge_adapter

log = logging.getLogger("export_merged")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task")
    parser.add_argument("--base", type=Path, default=Path("models/base/llm"))
    parser.add_argument("--adapter", type=Path, help="default: models/qlora/<task>")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--dequantize",
        action="store_true",
        help="merge into the dequantized 4-bit base the adapter was trained on (exports the model as evaluated)",
    )
    parser.add_argument("--check", action="store_true", help="compare logits with the model as trained")
    parser.add_argument("--check-rows", type=int, default=32, help="dev rows compared by --check")
    args = parser.parse_args(argv)
    adapter = args.adapter or Path("models/qlora") / args.task
    merged = merge_adapter(args.base, adapter, args.out, dequantize=args.dequantize)
    print(f"merged model saved to {args.out}")
    if args.check:
        check(args.task, args.base, adapter, merged, args.check_rows)


def check(task_name: str, base: Path, adapter: Path, merged, rows: int) -> None:
    """Merged float32 vs the model as trained (quantized base + adapter) on the first dev rows: the
    largest logit difference over the prompt and vocabulary, and the difference in label probabilities."""
    import torch

    from annotune.config import load_params
    from annotune.io import read_json, read_jsonl
    from annotune.models import Runtime, load_tokenizer
    from annotune.prompts import prompt_ids
    from annotune.scoring import llm_predictions
    from annotune.training import load_adapter

    task = load_params().task(task_name)
    trained = read_json(adapter / "annotune.json")
    as_trained = load_adapter(base, adapter, Runtime(**trained["runtime"]), trained["qlora"]["double_quant"])
    tokenizer = load_tokenizer(adapter)
    dev = read_jsonl(Path("data/instruct") / task_name / "dev.jsonl")[:rows]
    prompts = [
        prompt_ids(tokenizer, r["instruction"], r["input"], trained["qlora"]["max_input_tokens"])[0] for r in dev
    ]
    worst = max(logit_difference(merged, as_trained, torch.tensor([ids])) for ids in prompts)
    print(f"{len(dev)} dev prompts, merged float32 vs as trained ({trained['runtime']['quantization']} base):")
    print(f"  max |logit difference| over all positions and the vocabulary: {worst:.4f}")
    if task.is_classification:
        a = llm_predictions(task, merged, tokenizer, dev, prompts, 8, 4)
        b = llm_predictions(task, as_trained, tokenizer, dev, prompts, 8, 4)
        gap = max(abs(x["scores"][k] - y["scores"][k]) for x, y in zip(a, b, strict=True) for k in task.labels)
        same = sum(x["pred"] == y["pred"] for x, y in zip(a, b, strict=True))
        print(f"  max |label probability difference|: {gap:.4f}; same label on {same} of {len(dev)} rows")


if __name__ == "__main__":
    cli.run(main)

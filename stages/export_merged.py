"""export_merged: a task's LoRA adapter merged into the float32 base, saved as a plain model folder.

    python -m stages.export_merged hasBiasedImplication --out exported/hasBiasedImplication [--check]

Loads with ``AutoModelForCausalLM.from_pretrained(out)``, no peft. The QLoRA adapters of this pipeline
were trained on a 4-bit base: the merge then warns that it is approximate (see annotune/export.py);
``--check`` prints the largest logit difference between the merged model and the model as trained
(4-bit base + adapter) on a few dev prompts.
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
    parser.add_argument("--check", action="store_true", help="compare logits with the model as trained")
    parser.add_argument("--check-rows", type=int, default=8)
    args = parser.parse_args(argv)
    adapter = args.adapter or Path("models/qlora") / args.task
    merged = merge_adapter(args.base, adapter, args.out)
    print(f"merged model saved to {args.out}")
    if args.check:
        import torch

        from annotune.io import read_json, read_jsonl
        from annotune.models import Runtime, load_tokenizer
        from annotune.prompts import prompt_ids
        from annotune.training import load_adapter

        trained = read_json(adapter / "annotune.json")
        as_trained = load_adapter(args.base, adapter, Runtime(**trained["runtime"]), trained["qlora"]["double_quant"])
        tokenizer = load_tokenizer(adapter)
        rows = read_jsonl(Path("data/instruct") / args.task / "dev.jsonl")[: args.check_rows]
        worst = 0.0
        for row in rows:
            ids = prompt_ids(tokenizer, row["instruction"], row["input"], trained["qlora"]["max_input_tokens"])[0]
            worst = max(worst, logit_difference(merged, as_trained, torch.tensor([ids])))
        print(f"max |logit difference| merged float32 vs as trained ({trained['runtime']}): {worst:.4f}")


if __name__ == "__main__":
    cli.run(main)

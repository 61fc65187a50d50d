"""Peak resident memory of one workload in this process: ``python -m benchmarks.memory MODE QUANT``.

Run by ``benchmarks.run`` in a fresh subprocess per measurement, so peaks never mix. Prints one JSON
line: the peak (the larger of the load's and the work's high-water marks), the resident size after the
imports (Python, torch, transformers, peft, bitsandbytes: the same for both precisions) and the peak
above it (what the model costs); and by phase: the peak while loading, the resident size once loaded,
and the peak of the work (training steps or scoring) after the load, from the kernel's high-water mark
reset between phases.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from benchmarks.common import hwm_mb, reset_hwm, rss_mb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["train", "predict"])
    parser.add_argument("quantization", choices=["none", "nf4"])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--adapter", type=Path, help="predict: the QLoRA adapter folder")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--params", required=True, help="JSON: dataset, qlora, predict_batch_size")
    args = parser.parse_args(argv)

    import bitsandbytes  # noqa: F401 - imported by both sides, so the baseline is the same
    import peft  # noqa: F401
    import torch
    import transformers  # noqa: F401

    from annotune.config import QloraParams
    from annotune.data.io import read_json, read_jsonl
    from annotune.data.tasks import get_task
    from annotune.systems.models import Runtime, load_causal_lm, load_tokenizer
    from annotune.systems.packing import PackCollator, build_examples
    from annotune.systems.training import lora_model

    params = json.loads(args.params)
    after_imports = rss_mb()
    if args.mode == "train":
        qlora = QloraParams(**params["qlora"])
        runtime = Runtime("cpu", "float32", args.quantization)
        tokenizer = load_tokenizer(args.base)
        model = lora_model(load_causal_lm(args.base, runtime, qlora.double_quant), qlora, runtime).train()
        loaded, load_peak, reset = rss_mb(), hwm_mb(), reset_hwm()
        examples = build_examples(tokenizer, read_jsonl(args.data / "train.jsonl"), qlora.max_input_tokens)[0].to_list()
        random.Random(0).shuffle(examples)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=qlora.learning_rate)
        collator = PackCollator()
        for step in range(args.steps):
            model(**collator(examples[step * args.batch_size : (step + 1) * args.batch_size])).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    else:
        from peft import PeftModel

        from annotune.systems.prompts import prompt_ids
        from annotune.systems.scoring import llm_predictions

        trained = read_json(args.adapter / "annotune.json")
        runtime = Runtime("cpu", "float32", args.quantization)
        base = load_causal_lm(args.base, runtime, trained["qlora"]["double_quant"])
        model = PeftModel.from_pretrained(base, args.adapter).eval()
        loaded, load_peak, reset = rss_mb(), hwm_mb(), reset_hwm()
        tokenizer = load_tokenizer(args.adapter)
        rows = read_jsonl(args.data / "test.jsonl")[: args.rows]
        task = get_task(params["dataset"], trained["task"])
        prompts = [
            prompt_ids(tokenizer, r["instruction"], r["input"], trained["qlora"]["max_input_tokens"])[0] for r in rows
        ]
        llm_predictions(task, model, tokenizer, rows, prompts, params["predict_batch_size"], 1)
    # resetting the high-water mark resets getrusage's ru_maxrss too: the whole run's peak is the larger phase
    peak = max(load_peak, hwm_mb())
    print(
        json.dumps(
            {
                "mode": args.mode,
                "quantization": args.quantization,
                "peak_rss_mb": round(peak, 1),
                "after_imports_mb": round(after_imports, 1),
                "peak_above_imports_mb": round(peak - after_imports, 1),
                "load_peak_mb": round(load_peak, 1),
                "loaded_mb": round(loaded, 1),
                "work_peak_mb": round(hwm_mb(), 1) if reset else None,
            }
        )
    )


if __name__ == "__main__":
    main()

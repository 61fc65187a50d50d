"""augment@<task>: the LLM as data augmenter. The generator (the base LLM, or the task's QLoRA adapter) writes
synthetic training posts, by label from a few training posts of that label (``generate``) or by rewriting each
training post (``rewrite``); unfit ones are dropped, each drop counted by reason (annotune/systems/augment.py: short,
truncated, a copy of a training post, a dev or test text, a near-duplicate, and optionally the labeller's
disagreement); the encoder trains on the gold posts plus the kept ones, and its test predictions become the
system ``encoder_augmented``. Evaluate tests it paired against the encoder trained on gold alone.
"""

import argparse
import time
from pathlib import Path

from annotune.config import load_params
from annotune.data.io import read_jsonl, write_json, write_jsonl
from annotune.errors import DataError
from annotune.runtime import cli
from annotune.systems import spec, trained_by
from annotune.systems.augment import build_requests, diversity, filter_candidates, generate
from annotune.systems.encoder_variant import train_and_predict
from annotune.systems.models import load_tokenizer
from annotune.systems.predictors import load_system
from annotune.systems.prompts import post_text

EXAMPLES_PER_LABEL = 3  # kept and dropped posts per label shown in the stats (and the report)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--data", type=Path, required=True, help="instruct folder of the task")
    parser.add_argument("--base", type=Path, default=Path("models/base/llm"), help="base LLM folder")
    parser.add_argument("--encoder", type=Path, default=Path("models/base/encoder"), help="base encoder folder")
    parser.add_argument("--synthetic", type=Path, required=True, help="folder for the kept and dropped posts")
    parser.add_argument("--out", type=Path, required=True, help="the augmented encoder's folder")
    parser.add_argument("--predictions", type=Path, required=True, help="its test predictions")
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task, settings = params.task(args.task), params.augment
    train, dev, test = (read_jsonl(args.data / f"{split}.jsonl") for split in ("train", "dev", "test"))
    if not train:
        raise DataError(f"{args.data / 'train.jsonl'}: no training post to augment")
    options = {
        "base_dir": args.base,
        "batch_size": params.predict.batch_size,
        "max_new_tokens": params.predict.max_new_tokens,
        "prompting": params.prompting,
        "data_dir": args.data,
        "seed": params.seed,
    }
    labeller = load_system(task, settings.labeller, **options) if settings.labeller else None
    # a prompted generator is the base LLM itself; an adapter's folder holds its own tokenizer
    generator_dir = args.base if spec(settings.generator).kind == "prompted" else None
    generator = load_system(task, settings.generator, generator_dir, **options)
    tokenizer_dir = generator_dir or spec(settings.generator).model_dir(task.name)

    requests = build_requests(task, train, settings, params.seed)
    started = time.perf_counter()
    candidates = generate(generator.model, load_tokenizer(tokenizer_dir), requests, settings, params.seed)
    generation_seconds = time.perf_counter() - started
    held_out = [post_text(r) for r in dev + test]
    kept, dropped, counts = filter_candidates(
        candidates, train, held_out, settings, task, labeller=labeller.predict if labeller else None
    )
    write_jsonl(args.synthetic / "kept.jsonl", kept)
    write_jsonl(args.synthetic / "dropped.jsonl", dropped)

    augmented = train + kept
    (system,) = trained_by("augment")  # the encoder variant this stage trains
    trained = train_and_predict(
        system, task, args.encoder, (augmented, dev, test), params.encoder, params.seed, params.predict.batch_size,
        args.out, args.predictions, augment=settings, stats={"generation_seconds": generation_seconds},
    )  # fmt: skip
    train_seconds, predict_seconds = trained["train_seconds"], trained["predict_seconds"]
    timing = {
        "predict_rows": len(test),
        "predict_seconds": round(predict_seconds, 3),
        # generating the posts is part of what this system cost to train
        "train_seconds": round(generation_seconds + train_seconds, 3),
        "generation_seconds": round(generation_seconds, 3),
    }
    new_tokens = sum(c["new_tokens"] for c in candidates)
    stats = {
        "method": settings.method,
        "generator": settings.generator,
        "generator_version": generator.version,
        **counts,
        "gold_rows": len(train),
        "trained_rows": len(augmented),
        "diversity_kept": diversity([post_text(r) for r in kept]),
        "diversity_gold": diversity([post_text(r) for r in train]),
        "generation_seconds": round(generation_seconds, 3),
        "generated_tokens": new_tokens,
        "generated_tokens_per_second": round(new_tokens / generation_seconds, 3) if generation_seconds else None,
        "encoder_train_seconds": round(train_seconds, 3),
        "encoder_epochs_run": trained["epochs_run"],
    }
    write_json(args.stats, stats)
    # beside the predictions, which evaluate reads: the report shows the counts and a few posts without a
    # dependency on this opt-in stage's metrics
    augmentation = stats | {"examples": examples(task.labels, kept, dropped)}
    write_json(args.predictions.with_suffix(".runtime.json"), {"timing": timing, "augmentation": augmentation})


def examples(labels: list[str], kept: list[dict], dropped: list[dict]) -> dict:
    """A few kept and dropped posts per label, in generation order, for the report."""
    return {
        label: {
            "kept": [post_text(r) for r in kept if r["label"] == label][:EXAMPLES_PER_LABEL],
            "dropped": [{"text": r["text"], "reason": r["reason"]} for r in dropped if r["label"] == label][
                :EXAMPLES_PER_LABEL
            ],
        }
        for label in labels
    }


if __name__ == "__main__":
    cli.run(main)

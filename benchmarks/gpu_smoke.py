"""CUDA smoke checks for a lent GPU machine (run by ``benchmarks/gpu_smoke.sh``): a tiny Llama built from a
config (no download), one line per check (``PASS name ...`` / ``FAIL name: reason`` / ``SKIP name: reason``),
exit status 1 on any FAIL.

    python -m benchmarks.gpu_smoke [--wheels DIR] [--cpu]

``--wheels DIR``: wheels installed (``pip install --no-deps --no-index --target``, into a temporary folder put
on ``sys.path`` and ``PYTHONPATH``) when their module is missing here: the GPU machine has torch,
transformers, peft and accelerate but not bitsandbytes (carry its 43 MB manylinux wheel). ``--cpu`` runs the
same checks on the CPU (float32; autocast checks use CPU autocast) to test this script where no GPU is lent;
without it, a machine without CUDA prints SKIP for every CUDA check.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS: list[tuple[str, str]] = []
POSTS = [
    "I love my neighbours and their dogs.",
    "Those people are all lazy and stupid, typical of them.",
    "What a beautiful day at the beach with friends.",
    "Go back to where you came from, nobody wants you here.",
]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MODULE_OF_DISTRIBUTION = {"ruamel.yaml": "ruamel.yaml", "pydantic_core": "pydantic_core"}


def report(status: str, name: str, detail: str = "") -> None:
    RESULTS.append((status, name))
    separator = ": " if status != "PASS" and detail else (" " if detail else "")
    print(f"{status} {name}{separator}{detail}", flush=True)


def check(name: str, needs_cuda: bool = True):
    """Run the decorated function as check ``name``: PASS with the string it returns, FAIL with the exception;
    SKIP when it needs CUDA and this run has none."""

    def wrap(fn):
        def run(ctx: dict):
            if needs_cuda and ctx["device"] != "cuda":
                report("SKIP", name, "no CUDA device (torch.cuda.is_available() is False)")
                return None
            start = time.perf_counter()
            try:
                detail = fn(ctx)
            except SkipCheck as skip:
                report("SKIP", name, str(skip))
                return None
            except Exception as exc:  # noqa: BLE001 - every failure is reported, the other checks still run
                last = traceback.extract_tb(exc.__traceback__)[-1]
                where = f"{Path(last.filename).name}:{last.lineno}"
                report("FAIL", name, f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]} ({where})")
                if os.environ.get("ANNOTUNE_SMOKE_TRACEBACK"):
                    traceback.print_exc()
                return None
            report("PASS", name, f"{detail} ({time.perf_counter() - start:.1f} s)")
            return True

        run.check_name = name
        return run

    return wrap


class SkipCheck(Exception):
    pass


def install_wheels(folder: Path, site: Path) -> None:
    """Install (no dependencies, no index) each wheel of ``folder`` whose module is not importable."""
    wheels = sorted(folder.glob("*.whl"))
    if not wheels:
        report("SKIP", "install-wheels", f"no *.whl in {folder}")
        return
    for wheel in wheels:
        distribution = wheel.name.split("-")[0]
        module = MODULE_OF_DISTRIBUTION.get(distribution, distribution.replace("-", "_"))
        if importlib.util.find_spec(module.split(".")[0]) is not None and _importable(module):
            report("SKIP", f"install-{distribution}", f"{module} is already importable")
            continue
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site)]
        done = subprocess.run([*command, str(wheel)], capture_output=True, text=True)
        if not done.returncode:
            report("PASS", f"install-{distribution}", f"{wheel.name} -> {site}")
            continue
        why = ((done.stderr or done.stdout).strip().splitlines() or ["?"])[-1][:200]
        if "-py3-none-" not in wheel.name:
            report("FAIL", f"install-{distribution}", f"pip: {why}")
            continue
        import zipfile  # a pure-Python-tagged wheel is a zip of its site-packages files

        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
        report("PASS", f"install-{distribution}", f"{wheel.name} unzipped into {site} (pip failed: {why})")
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    importlib.invalidate_caches()


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - any import failure means "install it"
        return False
    return True


def make_tiny_llama(folder: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>", "<pad>"]
    text = POSTS + [
        "Could this social media post be considered offensive, disrespectful or toxic to anyone?",
        "Answer with one of: yes, no, maybe. user assistant",
    ]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(text * 5, trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False))
    bpe.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<pad>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,  # bitsandbytes' 4-bit CUDA kernels want dimensions that are multiples of 64
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def records(task, n: int) -> list[dict]:
    from annotune.systems.prompts import instruct_record

    labels = ["not_offensive", "offensive", "maybe_offensive", "offensive"]
    return [
        instruct_record(task, {"id": str(i), "text": POSTS[i % 4], "labels": {task.name: labels[i % 4]}})
        for i in range(n)
    ]


def qlora_params(ctx: dict, **changes):
    """params.yaml's qlora section, small; a plain namespace where annotune.config cannot import (pydantic or
    ruamel.yaml missing): lora_model reads only the LoRA fields."""
    values = {
        "quantization": "nf4",
        "double_quant": True,
        "compute_dtype": "auto",
        "device": ctx["device"],
        "r": 8,
        "alpha": 16,
        "dropout": 0.05,
        "target_modules": "all-linear",
        "learning_rate": 5e-3,
        "epochs": 1,
        "batch_size": 4,
        "grad_accum": 1,
        "optimizer": "paged_adamw_8bit" if ctx["device"] == "cuda" else "adamw_torch",
        "lr_scheduler": "linear",
        "warmup_ratio": 0.03,
        "max_input_tokens": 64,
        "gradient_checkpointing": False,
        "checkpoint_steps": 0,
        **changes,
    }
    try:
        from annotune.config import QloraParams
    except ImportError:
        from types import SimpleNamespace

        return SimpleNamespace(**values)
    return QloraParams(**values)


# ---------------------------------------------------------------- checks


@check("env", needs_cuda=False)
def check_env(ctx: dict) -> str:
    import torch

    versions = []
    for module in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "dvclive", "pydantic", "ruamel.yaml"):
        try:
            importlib.import_module(module)
            versions.append(f"{module} {importlib.metadata.version(module)}")
        except Exception as exc:  # noqa: BLE001
            versions.append(f"{module} missing ({type(exc).__name__})")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    names = ", ".join(sorted({torch.cuda.get_device_name(i) for i in range(gpus)})) if gpus else "none"
    return f"python {sys.version.split()[0]}; {'; '.join(versions)}; GPUs: {gpus} ({names}); device {ctx['device']}"


@check("bitsandbytes-cuda")
def check_bnb(ctx: dict) -> str:
    from annotune.systems.models import bitsandbytes_problem

    problem = bitsandbytes_problem("cuda")
    if problem:
        raise RuntimeError(problem)
    import bitsandbytes

    return f"bitsandbytes {bitsandbytes.__version__}: quantize_4bit(nf4) on CUDA works"


@check("nf4-load-forward", needs_cuda=False)
def check_nf4(ctx: dict) -> str:
    import bitsandbytes as bnb
    import torch

    from annotune.systems.models import load_causal_lm, resolve_runtime

    runtime = resolve_runtime(ctx["device"], "auto", "nf4")
    model = load_causal_lm(ctx["tiny"], runtime).eval()
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    if not layers:
        raise AssertionError("no Linear4bit layer after loading with NF4")
    weight = layers[0].weight
    ids = torch.tensor([[1, 5, 9, 12, 2]], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    if not torch.isfinite(logits).all():
        raise AssertionError("non-finite logits")
    ctx["runtime"] = runtime
    return (
        f"{len(layers)} Linear4bit layers ({weight.quant_type}, on {weight.device}), compute "
        f"{runtime.compute_dtype}, logits {tuple(logits.shape)} finite, "
        f"weights {model.get_memory_footprint() / 2**20:.1f} MB"
    )


def _autocast_step(ctx: dict, dtype_name: str) -> str:
    import torch
    from transformers import AutoModelForCausalLM

    device = ctx["device"]
    dtype = getattr(torch, dtype_name)
    if device == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise SkipCheck(f"{torch.cuda.get_device_name()} has no bfloat16 support")
    if device == "cpu" and dtype is torch.float16:
        raise SkipCheck("float16 autocast needs a GPU (--cpu run)")
    model = AutoModelForCausalLM.from_pretrained(ctx["tiny"], dtype=torch.float32).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device, enabled=dtype is torch.float16)
    ids = torch.randint(4, model.config.vocab_size, (4, 32), device=device)
    losses = []
    for _ in range(3):
        with torch.autocast(device_type=device, dtype=dtype):
            out = model(input_ids=ids, labels=ids)
        if out.logits.dtype != dtype:
            raise AssertionError(f"logits are {out.logits.dtype} under {dtype_name} autocast")
        scaler.scale(out.loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(out.loss.item())
    if not all(math.isfinite(v) for v in losses):
        raise AssertionError(f"non-finite losses {losses}")
    if not losses[-1] < losses[0]:
        raise AssertionError(f"loss did not go down in 3 steps: {losses}")
    return f"forward/backward/step x3, loss {losses[0]:.3f} -> {losses[-1]:.3f}"


@check("bf16-autocast", needs_cuda=False)
def check_bf16(ctx: dict) -> str:
    return _autocast_step(ctx, "bfloat16")


@check("fp16-autocast", needs_cuda=False)
def check_fp16(ctx: dict) -> str:
    return _autocast_step(ctx, "float16")


@check("qlora-train", needs_cuda=False)
def check_train(ctx: dict) -> str:
    """A few QLoRA steps: annotune's train_qlora (NF4, compute dtype auto, paged 8-bit AdamW on CUDA), or
    lora_model + a manual loop with the same collator where dvclive (which train_qlora logs to) is missing."""
    import torch

    from annotune.systems.models import load_causal_lm, load_tokenizer, resolve_runtime

    params = qlora_params(ctx)
    runtime = resolve_runtime(ctx["device"], "auto", "nf4")
    train, dev = records(ctx["task"], 16), records(ctx["task"], 4)
    adapter = ctx["tmp"] / "adapter"
    os.environ["ANNOTUNE_CHECKPOINTS"] = str(ctx["tmp"] / "checkpoints")
    if importlib.util.find_spec("dvclive") is not None and importlib.util.find_spec("pydantic") is not None:
        from annotune.systems.training import train_qlora

        model, stats = train_qlora(ctx["tiny"], train, dev, params, runtime, 0, adapter, ctx["tmp"] / "live")
        loss, steps, how = stats["train_loss"], stats["optimizer_steps"], "train_qlora"
        dev_loss = stats["dev_loss_per_epoch"][-1]
    else:
        import bitsandbytes as bnb

        from annotune.systems.packing import PackCollator, build_examples
        from annotune.systems.training import lora_model

        tokenizer = load_tokenizer(ctx["tiny"])
        examples = build_examples(tokenizer, train, params.max_input_tokens)[0].to_list()
        model = lora_model(load_causal_lm(ctx["tiny"], runtime), params, runtime).train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = (bnb.optim.PagedAdamW8bit if runtime.device == "cuda" else torch.optim.AdamW)(trainable, lr=5e-3)
        collator, losses = PackCollator(), []
        for start in range(0, len(examples), params.batch_size):
            batch = collator(examples[start : start + params.batch_size])
            batch = {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            with torch.autocast(runtime.device, dtype=runtime.torch_dtype, enabled=runtime.device == "cuda"):
                out = model(**batch)
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(out.loss.item())
        model.save_pretrained(adapter)
        tokenizer.save_pretrained(adapter)
        loss, steps, dev_loss = sum(losses) / len(losses), len(losses), float("nan")
        how = "lora_model + manual loop (dvclive or pydantic missing: train_qlora not exercised)"
    if not math.isfinite(loss):
        raise AssertionError(f"train loss {loss}")
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    if not lora or lora[0].device.type != runtime.device:
        raise AssertionError(f"LoRA weights not on {runtime.device}")
    if not (adapter / "adapter_model.safetensors").exists():
        raise AssertionError("no adapter saved")
    ctx["adapter"], ctx["runtime"] = adapter, runtime
    peak = f", peak GPU {torch.cuda.max_memory_allocated() / 2**20:.0f} MB" if runtime.device == "cuda" else ""
    return (
        f"{how}: {steps} steps, {params.optimizer}, {runtime.quantization} {runtime.compute_dtype}, "
        f"train loss {loss:.3f}, dev loss {dev_loss:.3f}{peak}"
    )


@check("label-scoring", needs_cuda=False)
def check_scoring(ctx: dict) -> str:
    """llm_predictions (shared-prefix cache, batched answers) on the trained adapter, against a full forward
    pass per prompt and answer on the same model."""
    import torch

    from annotune.systems.models import load_tokenizer
    from annotune.systems.predictors import load_adapter
    from annotune.systems.prompts import answer_ids, prompt_ids
    from annotune.systems.scoring import llm_predictions

    if "adapter" not in ctx:
        raise SkipCheck("no adapter (qlora-train failed)")
    task, runtime = ctx["task"], ctx["runtime"]
    model = load_adapter(ctx["tiny"], ctx["adapter"], runtime)
    tokenizer = load_tokenizer(ctx["adapter"])
    rows = records(task, 8)
    prompts = [prompt_ids(tokenizer, r["instruction"], r["input"], 64)[0] for r in rows]
    predictions = llm_predictions(task, model, tokenizer, rows, prompts, 4, 4)
    if len(predictions) != len(rows) or any(p["pred"] not in task.labels for p in predictions):
        raise AssertionError(f"bad predictions {predictions[:2]}")
    answers = [answer_ids(tokenizer, task.verbalize(label)) for label in task.labels]
    worst = 0.0
    with torch.no_grad():
        for prompt, prediction in zip(prompts[:3], predictions, strict=False):
            logprobs = []
            for answer in answers:
                ids = torch.tensor([prompt + answer], device=model.device)
                logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
                logprobs.append(sum(logp[len(prompt) - 1 + k, t].item() for k, t in enumerate(answer)))
            brute = torch.tensor(logprobs).softmax(-1)
            for label, p in zip(task.labels, brute, strict=True):
                worst = max(worst, abs(prediction["scores"][label] - float(p)))
    tolerance = 1e-4 if runtime.compute_dtype == "float32" else 3e-2
    if worst > tolerance:
        raise AssertionError(f"label probabilities differ from a full forward pass by {worst:.2e} (> {tolerance})")
    return f"{len(rows)} rows on {model.device}, probabilities within {worst:.1e} of full forward passes"


@check("accelerate-2-gpus")
def check_accelerate(ctx: dict) -> str:
    """stages.qlora_train under accelerate launch --num_processes 2 (data parallel), as params.yaml's
    qlora.launcher runs it on two GPUs."""
    import json

    import torch

    if torch.cuda.device_count() < 2:
        raise SkipCheck(f"{torch.cuda.device_count()} GPU(s): accelerate launch --num_processes 2 needs 2")
    work = ctx["tmp"] / "launch"
    (work / "data").mkdir(parents=True)
    from ruamel.yaml import YAML

    from annotune.data.io import write_jsonl

    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["qlora"] |= {"batch_size": 4, "epochs": 1, "checkpoint_steps": 0, "optimizer": "paged_adamw_8bit"}
    YAML(typ="safe").dump(params, work / "params.yaml")
    write_jsonl(work / "data" / "train.jsonl", records(ctx["task"], 16))
    write_jsonl(work / "data" / "dev.jsonl", records(ctx["task"], 4))
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    command += ["--num_machines", "1", "--main_process_port", "29531", "-m", "stages.qlora_train", ctx["task"].name]
    command += ["--data", "data", "--base", str(ctx["tiny"]), "--out", "adapter", "--live", "live"]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip().splitlines()[-1][:300]}")
    stats = json.loads((work / "adapter" / "annotune.json").read_text())["stats"]
    if stats["processes"] != 2:
        raise AssertionError(f"trained with {stats['processes']} process(es)")
    return f"2 processes, {stats['optimizer_steps']} optimizer steps, train loss {stats['train_loss']:.3f}"


CHECKS = [check_env, check_bnb, check_nf4, check_bf16, check_fp16, check_train, check_scoring, check_accelerate]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheels", type=Path, default=os.environ.get("ANNOTUNE_WHEELS"), help="wheels to install")
    parser.add_argument("--cpu", action="store_true", help="run the CUDA checks on the CPU (tests this script)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="annotune-gpu-smoke-") as tmp:
        if args.wheels:
            install_wheels(Path(args.wheels), Path(tmp) / "site")
        import torch

        cuda = torch.cuda.is_available()
        ctx = {"device": "cuda" if cuda else "cpu", "tmp": Path(tmp)}
        if args.cpu and cuda:
            report("SKIP", "cpu-run", "--cpu asked for, but CUDA is here: running on CUDA")
        try:
            from annotune.data.tasks import get_task

            ctx["task"] = get_task("sbic", "offensiveYN")
            ctx["tiny"] = make_tiny_llama(Path(tmp) / "tiny-llama")
        except Exception as exc:  # noqa: BLE001
            report("FAIL", "setup", f"{type(exc).__name__}: {exc}")
            return 1
        for run in CHECKS:
            if not cuda and not args.cpu and run.check_name not in ("env",):
                report("SKIP", run.check_name, "no CUDA device (torch.cuda.is_available() is False)")
                continue
            if not cuda and run.check_name in ("bitsandbytes-cuda", "accelerate-2-gpus"):
                report("SKIP", run.check_name, "no CUDA device (torch.cuda.is_available() is False)")
                continue
            run(ctx)
    failed = [name for status, name in RESULTS if status == "FAIL"]
    counts = {s: sum(status == s for status, _ in RESULTS) for s in ("PASS", "FAIL", "SKIP")}
    print(
        f"gpu_smoke: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped "
        f"in {time.perf_counter() - start:.0f} s" + (f" (failed: {', '.join(failed)})" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

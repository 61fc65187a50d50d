"""A larger model of the default LLM's family with random weights, laid out as a pipeline checkout
(``models/base/llm``, an untrained adapter in ``models/qlora/<task>``, ``data`` linked to this
checkout's), so that ``benchmarks.run --only memory --pipeline-dir OUT`` measures 4-bit vs fp32 memory
where the weights, not the Python runtime, make up most of the process. Memory does not depend on the
weights' values; speed or quality figures from such a model mean nothing.

    python -m benchmarks.synthetic --out /tmp/smollm2-1.7b      # SmolLM2-1.7B's shape, 6.9 GB in fp32
    python -m benchmarks.run --only memory --pipeline-dir /tmp/smollm2-1.7b
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from annotune.config import save_resolved
from annotune.systems.models import Runtime, load_tokenizer
from annotune.systems.training import lora_model
from benchmarks.common import ROOT
from benchmarks.run import bench_params

SHAPES = {  # published configs of the default model's larger siblings
    "smollm2-1.7b": {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "head_dim": 64,
    },
    "smollm2-360m": {
        "hidden_size": 960,
        "intermediate_size": 2560,
        "num_hidden_layers": 32,
        "num_attention_heads": 15,
        "num_key_value_heads": 5,
        "head_dim": 64,
    },
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="smollm2-1.7b")
    parser.add_argument("--base", type=Path, default=ROOT / "models" / "base" / "llm", help="tokenizer and config")
    parser.add_argument("--task", default="hasBiasedImplication")
    args = parser.parse_args(argv)
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(args.base)
    for key, value in SHAPES[args.shape].items():
        setattr(config, key, value)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    tokenizer = load_tokenizer(args.base)
    llm = args.out / "models" / "base" / "llm"
    model.save_pretrained(llm)
    tokenizer.save_pretrained(llm)

    qlora = bench_params(ROOT / "params.yaml").qlora
    adapter = args.out / "models" / "qlora" / args.task
    lora_model(model, qlora, Runtime("cpu", "float32", "none")).save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    runtime = Runtime("cpu", "float32", qlora.quantization)
    save_resolved(adapter / "annotune.json", task=args.task, seed=0, qlora=qlora, runtime=runtime, stats={})
    data = args.out / "data"
    if not data.is_symlink() and not data.exists():
        data.symlink_to(ROOT / "data")
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{args.shape}: {parameters / 1e6:.0f}M parameters with random weights in {args.out}")


if __name__ == "__main__":
    main()

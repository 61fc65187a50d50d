"""qlora_train under `accelerate launch` with two processes on the CPU (gloo): the same stage code,
the data split between the processes, one adapter saved that loads."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ruamel.yaml import YAML

from annotune.data.io import read_json, write_jsonl
from annotune.systems.models import load_causal_lm, resolve_runtime
from annotune.systems.predictors import load_adapter
from tests.helpers import records

pytestmark = pytest.mark.slow  # torchrun launches

ROOT = Path(__file__).resolve().parents[1]


def test_two_cpu_processes_train_one_adapter(tiny_llama, tmp_path):
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["qlora"] |= {"batch_size": 4, "epochs": 2, "r": 4, "alpha": 8}
    YAML(typ="safe").dump(params, tmp_path / "params.yaml")
    write_jsonl(tmp_path / "data" / "train.jsonl", records(16))
    write_jsonl(tmp_path / "data" / "dev.jsonl", records(4))
    accelerate = Path(sys.executable).with_name("accelerate")  # the venv's, installed with requirements.txt
    command = [
        str(accelerate),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        "29517",
        "-m",
        "stages.qlora_train",
        "offensiveYN",
        "--data",
        "data",
        "--base",
        str(tiny_llama),
        "--out",
        "adapter",
        "--live",
        "live",
    ]
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "process 0 of 2 trains" in result.stderr and "process 1 of 2 trains" in result.stderr

    stats = read_json(tmp_path / "adapter" / "annotune.json")["stats"]
    # 16 examples, 4 per process and step, 2 processes, 2 epochs: 2 steps per epoch instead of 4
    assert (stats["processes"], stats["optimizer_steps"]) == (2, 4)
    runtime = resolve_runtime("cpu", "float32", params["qlora"]["quantization"])
    adapter = load_adapter(tiny_llama, tmp_path / "adapter", runtime)
    base = load_causal_lm(tiny_llama, runtime).eval()
    ids = torch.tensor([[1, 5, 9, 12, 2]])
    with torch.no_grad():
        assert not torch.allclose(adapter(input_ids=ids).logits, base(input_ids=ids).logits, atol=1e-4)

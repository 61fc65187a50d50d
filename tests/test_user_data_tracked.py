"""The user's own files are DVC dependencies: an edit to a declared table file under data/own reruns fetch_data
and prepare (`dvc repro`), instead of a stale copy being used."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

pytestmark = pytest.mark.slow  # the real dvc, twice

ROOT = Path(__file__).resolve().parents[1]
ROWS = [
    ("train", "good food", "positive"),
    ("train", "bad food", "negative"),
    ("train", "great place", "positive"),
    ("train", "awful wait", "negative"),
    ("dev", "nice staff", "positive"),
    ("dev", "rude staff", "negative"),
    ("test", "lovely", "positive"),
    ("test", "terrible", "negative"),
]


def dvc(repo: Path, *args: str) -> str:
    environ = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env=environ, capture_output=True, text=True)
    assert done.returncode == 0, f"dvc {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def write_table(path: Path, rows) -> None:
    path.write_text("split,review,label\n" + "".join(f"{s},{t},{label}\n" for s, t, label in rows))


def test_editing_a_declared_file_reruns_prepare(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / name, repo / name)
    for folder in ("annotune", "stages"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params.update(dataset="table", tasks=["sentiment"])
    files = "data/own/reviews.csv"
    params["table"].update(
        files={"train": files, "dev": files, "test": files}, split_column="split", text_column="review"
    )
    YAML().dump(params, repo / "params.yaml")
    (repo / "data" / "own").mkdir(parents=True)
    write_table(repo / files, ROWS)
    for command in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "t@annotune.invalid"],
        ["git", "config", "user.name", "t"],
    ):
        subprocess.run(command, cwd=repo, check=True)
    dvc(repo, "init", "-q")
    dvc(repo, "repro", "prepare")
    assert json.loads((repo / "metrics" / "prepare.json").read_text())["splits"]["train"]["kept"] == 4
    assert "fetch_data" not in dvc(repo, "status", "--with-deps", "prepare")

    write_table(repo / files, [*ROWS, ("train", "fine coffee", "positive"), ("train", "cold soup", "negative")])
    assert "fetch_data" in dvc(repo, "status", "--with-deps", "prepare")  # the edit is seen
    dvc(repo, "repro", "prepare")
    assert json.loads((repo / "metrics" / "prepare.json").read_text())["splits"]["train"]["kept"] == 6

"""The annotate@task DVC stage in a temporary git repository: runs from params, resumes under dvc repro."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune.config import BaselinesParams
from annotune.data.tasks import get_task
from annotune.systems import baselines
from tests.helpers import ROOT, project_repo, run, tool_env

pytestmark = pytest.mark.slow  # a DVC pipeline

TASK = "hasBiasedImplication"
TEXTS = [("those people are all lazy and stupid", "implied_bias"), ("a beautiful day at the beach", "no_implied_bias")]


def write_csv(path: Path, n: int) -> None:
    lines = ["key,post"] + [f"k{i},{TEXTS[i % 2][0]} {i}" for i in range(n)]
    lines[4] = "k3,"  # an empty post: an error row, not a skipped one
    path.write_text("\n".join(lines) + "\n")


def test_annotate_stage_runs_from_params_and_resumes(tmp_path):
    repo = tmp_path / "repo"
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["annotate"].update(
        tasks=[TASK],
        system="tfidf_logreg",
        input="data/unlabeled.csv",
        text_column="post",
        id_column="key",
        chunk_size=4,
        target_accuracy=0.5,
    )
    rows = [
        {"id": str(i), "instruction": "", "input": f"{text} {i}", "output": "", "label": label}
        for i, (text, label) in enumerate(TEXTS * 6)
    ]

    def inputs():
        instruct = repo / "data" / "instruct" / TASK
        instruct.mkdir(parents=True)
        (instruct / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        fitted = baselines.train("tfidf_logreg", get_task("sbic", TASK), rows, BaselinesParams(), 0)
        baselines.save(fitted, repo / "models" / "baselines" / TASK / "tfidf_logreg")
        write_csv(repo / "data" / "unlabeled.csv", 10)

    env = tool_env()
    dvc = project_repo(repo, params, env, inputs)

    stage = f"annotate@{TASK}"
    assert stage in run([*dvc, "repro", "-s", stage], repo, env)
    out = repo / "data" / "annotated" / TASK / "tfidf_logreg.jsonl"
    labelled = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in labelled] == [f"k{i}" for i in range(10)]
    assert labelled[3]["status"] == "error" and "empty text in column 'post'" in labelled[3]["error"]
    stats = json.loads((repo / "metrics" / "annotate" / f"{TASK}.json").read_text())
    assert stats["rows"] == 10 and stats["error_rows"] == 1 and stats["target_accuracy"] == 0.5
    assert (out.parent / "tfidf_logreg.needs_human.jsonl").exists()
    assert (out.parent / "tfidf_logreg.handoff.json").exists()
    assert "Running stage" not in run([*dvc, "repro", "-s", stage], repo, env)

    # an interrupted run left 6 rows in the part file; the input grew: the rerun keeps them, adds the rest
    part = out.with_name(out.name + ".part")
    part.write_text("".join(out.read_text().splitlines(keepends=True)[:6]))
    out.unlink()
    write_csv(repo / "data" / "unlabeled.csv", 14)
    run([*dvc, "repro", "-s", stage], repo, env)
    stats = json.loads((repo / "metrics" / "annotate" / f"{TASK}.json").read_text())
    assert stats["resumed_after_rows"] == 6 and stats["rows_this_run"] == 8 and stats["rows"] == 14
    labelled = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in labelled] == list(range(1, 15)) and not part.exists()

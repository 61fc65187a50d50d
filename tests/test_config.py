"""params.yaml validation: bad keys, types and values are named."""

from pathlib import Path

import pytest

from annotune.config import ParamsError, QloraParams, build, load_params

ROOT = Path(__file__).resolve().parents[1]


def test_repository_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.tasks == ["hasBiasedImplication", "offensiveYN", "targetMinority"]
    assert isinstance(params.qlora.learning_rate, float)


def test_unknown_key_is_named():
    with pytest.raises(ParamsError, match=r"unknown key\(s\) qlora.rank .*known keys: qlora.quantization"):
        build(QloraParams, {"rank": 4}, "qlora.")


def test_wrong_type_is_named():
    with pytest.raises(ParamsError, match=r"qlora.r = 'eight' has the wrong type"):
        build(QloraParams, {"r": "eight"}, "qlora.")


def test_bad_choice_is_named():
    with pytest.raises(ParamsError, match=r"qlora.quantization is 'nf3'; allowed values: nf4, int8, none"):
        build(QloraParams, {"quantization": "nf3"}, "qlora.")


def test_scientific_notation_string_is_a_float():
    assert build(QloraParams, {"learning_rate": "2e-4"}, "qlora.").learning_rate == 2e-4


def test_unknown_task_and_missing_key(tmp_path):
    text = (ROOT / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("targetMinority]", "targetMajority]"))
    with pytest.raises(KeyError, match="task 'targetMajority' is not defined for dataset 'sbic'"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text(text.replace("seed: 42\n", ""))
    with pytest.raises(ParamsError, match="missing required key seed"):
        load_params(tmp_path / "params.yaml")


def test_opt_in_stage_tasks_must_be_tasks_of_the_dataset(tmp_path):
    from ruamel.yaml import YAML

    params = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params.update(dataset="mrpc", tasks=["paraphrase"])
    params["distill"]["tasks"] = ["hasBiasedImplication"]
    YAML().dump(params, tmp_path / "params.yaml")
    with pytest.raises(ParamsError, match=r"distill.tasks lists \['hasBiasedImplication'\], not among tasks"):
        load_params(tmp_path / "params.yaml")

"""The pipeline's folders and files, as dvc.yaml declares them. Stages receive every path as an argument from
dvc.yaml; the library knows the pipeline's layout only here and in the registry (each system's model folder and
training stage, annotune/systems/registry.py), for what runs beside the pipeline and reads what it wrote: the
``annotune`` commands' defaults (annotate, export, tune, budget, scaling, plots), the written-out ``plots:`` and
``artifacts:`` sections. tests/test_paths.py checks each against dvc.yaml."""

from __future__ import annotations

from pathlib import Path

OWN_DATA = Path("data/own")  # fetch_data's dependency: the declared files (table:) whose edits DVC sees
INSTRUCT = Path("data/instruct")  # instruct_format@<task>: <task>/{train,dev,test}.jsonl
BASES = Path("models/base")  # base_model@<base>: one folder per base model (llm, encoder, seq2seq)
LLM_BASE = BASES / "llm"  # the base LLM that the prompted systems ask and the adapters are trained on
PREPARE_METRICS = Path("metrics/prepare.json")  # prepare: rows kept and dropped per split
EVAL = Path("metrics/eval")  # evaluate@<task>: <task>.json
PLOTS = Path("metrics/plots")  # evaluate@<task>: <task>/<chart>/<system>.json
TRAIN_CURVES = Path("metrics/train")  # qlora_train@<task>: dvclive's <task>/plots/metrics/<series>
SUMMARY = Path("metrics/summary.md")  # report


def instruct_dir(task: str) -> Path:
    return INSTRUCT / task


def base_dir(base: str) -> Path:
    return BASES / base


def eval_file(task: str) -> Path:
    return EVAL / f"{task}.json"

"""How each kind of system loads and predicts (the registry, annotune/systems/registry.py, says which kind a system is).

``load_system`` is the one loader that predict (the pipeline's test predictions), annotate, distill, estimate and
the benchmarks call, so a system predicts the same way everywhere and none of them predicts with a model folder of
another task. Model code is imported inside the loader of each kind: loading a TF-IDF model does not import torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from annotune.errors import DataError, MissingInputError, ParamsError
from annotune.io import read_json, read_jsonl
from annotune.systems import spec
from annotune.tasks import Task

MODEL_META = "annotune.json"  # what trained a model folder: task, labels, params, training data
CLASSIFIER_META = "annotune_classifier.json"  # classifiers.META_FILE, read without importing torch


@dataclass
class System:
    """A loaded system: ``predict`` takes instruct-like rows ``{"id", "input", "label"}`` and returns
    prediction records (``pred``, ``scores`` for classification, ``text`` where it generated)."""

    name: str
    task: Task
    version: str
    predict: Callable[[list[dict]], list[dict]]
    model: object = None  # the loaded LLM, for the runtime footprint (None for the other kinds)
    runtime: object = None


def folder_version(folder: Path) -> str:
    """sha256 (16 hex digits) over the names and bytes of every file in ``folder``: changes when the
    weights or the saved params change."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not files:
        raise MissingInputError(f"{folder}: model folder is empty or missing")
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_system(
    task: Task,
    name: str,
    model_dir: Path | None = None,
    *,
    base_dir: Path = Path("models/base/llm"),
    batch_size: int = 16,
    max_new_tokens: int = 24,
    prompting=None,
    data_dir: Path | None = None,
    seed: int = 0,
) -> System:
    """Load system ``name`` for ``task`` once (from ``model_dir``, default: where the pipeline puts it).

    ``prompting`` (params' section) is needed by prompted systems only, and ``data_dir`` (the task's instruct
    folder, whose train split is the few-shot pool) by few-shot only. A folder trained for another task, or on
    other labels, is refused before anything loads.
    """
    kind = spec(name).kind
    model_dir = Path(model_dir or spec(name).model_dir(task.name))
    refuse_model_of_another_task(model_dir, task)
    if kind in ("adapter", "prompted"):
        pool = read_jsonl(Path(data_dir) / "train.jsonl") if name == "few_shot" and data_dir else None
        return _llm_system(task, name, model_dir, base_dir, batch_size, max_new_tokens, prompting, pool, seed)
    if kind == "classifier":
        from annotune import classifiers

        if not (model_dir / classifiers.META_FILE).exists():
            raise _untrained(name, model_dir, classifiers.META_FILE)
        model, tokenizer, meta = classifiers.load_classifier(model_dir)

        def predict(rows):
            # with the task: a multi-label model's labels keep their declared case and get their scores
            return classifiers.loaded_classifier_predictions(model, tokenizer, meta, rows, batch_size, task)

    elif kind == "seq2seq":
        from annotune import seq2seq

        if not (model_dir / seq2seq.META_FILE).exists():
            raise _untrained(name, model_dir, seq2seq.META_FILE)
        model, tokenizer, trained = seq2seq.load(model_dir)
        max_input = trained["params"]["max_input_tokens"]

        def predict(rows):
            return seq2seq.predictions(task, model, tokenizer, rows, max_input, batch_size, max_new_tokens)

    else:
        from annotune import baselines

        if not (model_dir / baselines.MODEL_FILE).exists():
            raise _untrained(name, model_dir, baselines.MODEL_FILE)
        fitted = baselines.load(model_dir)

        def predict(rows):
            return baselines.predict(task, fitted, rows)

    return System(name, task, folder_version(model_dir), predict)


def refuse_model_of_another_task(model_dir: Path, task: Task) -> None:
    """Refuse a model folder trained for another task: its ``annotune.json`` names another task, or (a task
    with a fixed label set) it records other labels (``annotune.json``, else a classifier's own metadata). A
    folder that records neither (a base LLM, a model trained elsewhere) is accepted."""
    model_dir = Path(model_dir)
    meta_path = model_dir / MODEL_META
    meta = read_json(meta_path) if meta_path.is_file() else {}
    trained_for = meta.get("task")
    if trained_for is not None and trained_for != task.name:
        raise DataError(
            f"{model_dir}: a model of task {trained_for!r} ({MODEL_META}), not of {task.name!r}; "
            f"pass a model folder of {task.name!r} or ask for task {trained_for!r}"
        )
    if task.kind == "generation":  # an open vocabulary: no label set to compare
        return
    labels_path = meta_path
    trained_on = meta.get("labels")
    if trained_on is None and (model_dir / CLASSIFIER_META).is_file():
        labels_path = model_dir / CLASSIFIER_META
        trained_on = read_json(labels_path).get("labels")
    if trained_on is not None and sorted(trained_on) != sorted(task.labels):
        raise DataError(
            f"{model_dir}: trained on labels {trained_on} ({labels_path.name}), but task {task.name!r} has "
            f"labels {task.labels}"
        )


def _untrained(name: str, model_dir: Path, marker: str) -> MissingInputError:
    stage = spec(name).trained_by
    return MissingInputError(
        f"{model_dir}: no trained model for system {name!r} ({marker} missing); run `dvc repro {stage}`"
    )


def exemplar_chooser(name: str, train_rows: list[dict] | None, prompting, seed: int) -> Callable[[dict], list[dict]]:
    """The few-shot exemplars of each row: none for zero-shot, the same stratified (or, ``prompting.selection:
    boundary``, nearest the decision boundary) ones for every row, or the TF-IDF nearest training posts
    (``similar``)."""
    from annotune.prompts import SimilarExemplars, boundary_exemplars, stratified_exemplars

    if name == "zero_shot" or prompting.shots == 0:
        return lambda row: []
    if not train_rows:
        raise MissingInputError(f"system {name!r} needs the task's training rows (the few-shot pool)")
    if prompting.selection == "stratified":
        fixed = stratified_exemplars(train_rows, prompting.shots, seed)
        return lambda row: fixed
    if prompting.selection == "boundary":
        fixed = boundary_exemplars(train_rows, prompting.shots, seed)
        return lambda row: fixed
    similar = SimilarExemplars(train_rows)
    return lambda row: similar(row, prompting.shots)


def load_adapter(base_dir: Path, adapter_dir: Path, runtime, double_quant: bool = True):
    """The quantized base with a trained QLoRA adapter, for inference. Here, not in ``training``, so the
    prediction stages do not depend on (and rerun for) the training code."""
    from peft import PeftModel

    from annotune.models import load_causal_lm

    model = PeftModel.from_pretrained(load_causal_lm(base_dir, runtime, double_quant), adapter_dir)
    return model.eval()


def _llm_system(task, name, model_dir, base_dir, batch_size, max_new_tokens, prompting, train_rows, seed) -> System:
    from annotune.models import Runtime, load_causal_lm, load_tokenizer, resolve_runtime
    from annotune.prompts import prompt_ids
    from annotune.scoring import llm_predictions

    if spec(name).kind == "adapter":
        trained = read_json(model_dir / MODEL_META)
        runtime = Runtime(**trained["runtime"])  # predict exactly as the adapter was trained
        model = load_adapter(base_dir, model_dir, runtime, trained["qlora"]["double_quant"])
        tokenizer = load_tokenizer(model_dir)
        max_input, shots = trained["qlora"]["max_input_tokens"], lambda row: []
    else:
        if prompting is None:
            raise ParamsError(f"system {name!r} needs the prompting params")
        runtime = resolve_runtime(prompting.device, prompting.compute_dtype, prompting.quantization)
        model, tokenizer = load_causal_lm(model_dir, runtime).eval(), load_tokenizer(model_dir)
        max_input, shots = prompting.max_input_tokens, exemplar_chooser(name, train_rows, prompting, seed)

    def predict(rows):
        prompts = [prompt_ids(tokenizer, task.instruction, r["input"], max_input, shots(r))[0] for r in rows]
        return llm_predictions(task, model, tokenizer, rows, prompts, batch_size, max_new_tokens)

    return System(name, task, folder_version(model_dir), predict, model, runtime)

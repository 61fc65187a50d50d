"""The ``prompted`` kind: the base LLM asked with the task's instruction, with no exemplars (zero-shot) or with
``prompting.shots`` of them from the task's train split (a system whose registry entry sets ``few_shot``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from annotune.data.tasks import Task
from annotune.errors import MissingInputError, ParamsError
from annotune.systems.kind import Kind, Prediction, System, folder_version
from annotune.systems.registry import SystemSpec, spec


def exemplar_chooser(name: str, train_rows: list[dict] | None, prompting, seed: int) -> Callable[[dict], list[dict]]:
    """The few-shot exemplars of each row: none for a zero-shot system, the same stratified (or, ``prompting.
    selection: boundary``, nearest the decision boundary) ones for every row, or the TF-IDF nearest training posts
    (``similar``)."""
    from annotune.systems.prompts import SimilarExemplars, boundary_exemplars, stratified_exemplars

    if not spec(name).few_shot or prompting.shots == 0:
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


def llm_predict(task: Task, model, tokenizer, max_input: int, shots, how: Prediction):
    """``predict`` of a decoder LLM (prompted or adapter): one prompt per row, scored (classification) or
    generated (annotune/systems/scoring.py)."""
    from annotune.systems.prompts import prompt_ids
    from annotune.systems.scoring import llm_predictions

    def predict(rows):
        prompts = [prompt_ids(tokenizer, task.instruction, r["input"], max_input, shots(r))[0] for r in rows]
        return llm_predictions(task, model, tokenizer, rows, prompts, how.batch_size, how.max_new_tokens)

    return predict


class Prompted(Kind):
    name = "prompted"
    marker = None  # the base LLM: nothing to train

    def load(self, spec: SystemSpec, task: Task, model_dir: Path, how: Prediction) -> System:
        from annotune.data.io import read_jsonl
        from annotune.systems.models import load_causal_lm, load_tokenizer, resolve_runtime

        prompting = how.prompting
        if prompting is None:
            raise ParamsError(f"system {spec.name!r} needs the prompting params")
        pool = read_jsonl(Path(how.data_dir) / "train.jsonl") if spec.few_shot and how.data_dir else None
        runtime = resolve_runtime(prompting.device, prompting.compute_dtype, prompting.quantization)
        model, tokenizer = load_causal_lm(model_dir, runtime).eval(), load_tokenizer(model_dir)
        shots = exemplar_chooser(spec.name, pool, prompting, how.seed)
        predict = llm_predict(task, model, tokenizer, prompting.max_input_tokens, shots, how)
        return System(spec.name, task, folder_version(model_dir), predict, model, runtime)

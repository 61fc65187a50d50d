"""params.yaml loading and validation: every section is a dataclass, so a typo or a wrong type
fails at once with the key, the file and the value, not deep inside a stage."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

PARAMS_FILE = Path("params.yaml")


class ParamsError(ValueError):
    """A params.yaml entry is missing, unknown or of the wrong type."""


@dataclasses.dataclass(frozen=True)
class ModelsParams:
    llm: str
    encoder: str


@dataclasses.dataclass(frozen=True)
class PrepareParams:
    dev_fraction: float = 0.1
    max_train: int | None = None
    max_dev: int | None = None
    max_test: int | None = None


@dataclasses.dataclass(frozen=True)
class QloraParams:
    quantization: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "auto"
    device: str = "auto"
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: Any = "all-linear"
    learning_rate: float = 2e-4
    epochs: int = 2
    batch_size: int = 8
    grad_accum: int = 1
    optimizer: str = "adamw_torch"
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.03  # fraction of the training steps
    max_input_tokens: int = 128
    gradient_checkpointing: bool = False
    checkpoint_steps: int = 20  # a resumable checkpoint every N optimizer steps; 0 = none
    launcher: str = "python -m"  # the stage's launcher: "accelerate launch --num_processes 2 -m" for 2 GPUs

    def __post_init__(self):
        _choice("qlora.quantization", self.quantization, ("nf4", "int8", "none"))
        _choice("qlora.compute_dtype", self.compute_dtype, ("auto", "float32", "bfloat16", "float16"))
        _choice("qlora.device", self.device, ("auto", "cpu", "cuda"))
        if not isinstance(self.target_modules, str | list):
            raise ParamsError(
                "params.yaml: qlora.target_modules must be 'all-linear' or a list of module names, "
                f"got {self.target_modules!r}"
            )


@dataclasses.dataclass(frozen=True)
class BaselinesParams:
    methods: list = dataclasses.field(default_factory=lambda: ["majority"])
    tfidf_max_features: int = 20000
    tfidf_max_ngram: int = 2
    logreg_c: float = 4.0
    class_weight: str | None = None  # None | balanced (also used by the encoder methods)

    def __post_init__(self):
        if self.class_weight not in (None, "balanced"):
            raise ParamsError(f"params.yaml: baselines.class_weight is {self.class_weight!r}; use null or balanced")


@dataclasses.dataclass(frozen=True)
class EncoderParams:
    max_length: int = 128
    batch_size: int = 16
    epochs: int = 8
    patience: int = 2  # early stopping on dev loss
    learning_rate: float = 5e-5
    trainable_layers: int | None = None  # None: all; N: only the last N encoder layers (+ head); 0: head only
    class_weight: str | None = None  # None | balanced
    virtual_tokens: int = 20  # soft prompt
    prompt_init: str = "text"  # text (the task instruction) | random
    prompt_learning_rate: float = 3e-3

    def __post_init__(self):
        _choice("encoder.prompt_init", self.prompt_init, ("text", "random"))
        if self.class_weight not in (None, "balanced"):
            raise ParamsError(f"params.yaml: encoder.class_weight is {self.class_weight!r}; use null or balanced")


@dataclasses.dataclass(frozen=True)
class LlmHeadParams:
    quantization: str = "nf4"
    compute_dtype: str = "auto"
    device: str = "auto"
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    learning_rate: float = 5e-4
    epochs: int = 2
    batch_size: int = 8
    max_length: int = 128

    def __post_init__(self):
        _choice("llm_head.quantization", self.quantization, ("nf4", "int8", "none"))


@dataclasses.dataclass(frozen=True)
class PromptingParams:
    settings: list = dataclasses.field(default_factory=lambda: ["zero_shot", "few_shot"])
    shots: int = 4
    selection: str = "stratified"  # stratified (same exemplars for every row) | similar (TF-IDF nearest)
    quantization: str = "none"
    compute_dtype: str = "auto"
    device: str = "auto"
    max_input_tokens: int = 128

    def __post_init__(self):
        _choice("prompting.selection", self.selection, ("stratified", "similar"))
        _choice("prompting.quantization", self.quantization, ("nf4", "int8", "none"))
        unknown = sorted(set(self.settings) - {"zero_shot", "few_shot"})
        if unknown:
            raise ParamsError(f"params.yaml: prompting.settings has unknown {unknown}; known: zero_shot, few_shot")


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    bootstrap_resamples: int = 1000
    confidence_level: float = 0.95
    calibration_bins: int = 10
    annotator_min_posts: int = 10  # an annotator's own kappa is reported when they labelled this many test posts


@dataclasses.dataclass(frozen=True)
class PredictParams:
    batch_size: int = 16
    max_new_tokens: int = 24


@dataclasses.dataclass(frozen=True)
class AnnotateParams:
    """The annotate@task stage (and the defaults of ``python -m stages.annotate``)."""

    tasks: list = dataclasses.field(default_factory=list)  # tasks the DVC stage annotates; [] = no stage
    system: str = "qlora"  # any trained system: qlora, zero_shot, few_shot, a baseline method, encoder_distilled
    input: str = "data/unlabeled.jsonl"  # CSV / TSV / JSONL to label
    text_column: str = "text"
    id_column: str | None = None  # null: the row number is the id
    chunk_size: int = 256  # rows read, predicted and written (fsynced) at a time
    target_accuracy: float | None = 0.9  # dev accuracy the auto-labelled rows must reach; null: no hand-off

    def __post_init__(self):
        if self.chunk_size < 1:
            raise ParamsError(f"params.yaml: annotate.chunk_size must be at least 1, got {self.chunk_size}")
        if self.target_accuracy is not None and not 0.0 <= self.target_accuracy <= 1.0:
            raise ParamsError(f"params.yaml: annotate.target_accuracy is {self.target_accuracy}; must be in [0, 1]")


@dataclasses.dataclass(frozen=True)
class DistillParams:
    """LLM as data labeller: distill@task (opt-in) trains the encoder on the labeller's labels."""

    tasks: list = dataclasses.field(default_factory=list)  # tasks with a distill stage; [] = none
    labeller: str = "qlora"  # the system that labels the training posts (their gold hidden)


@dataclasses.dataclass(frozen=True)
class TableTaskParams:
    """One task of a ``table`` dataset: which column holds its gold and what the labels are."""

    column: str
    kind: str  # binary | multiclass | multilabel | generation
    labels: list = dataclasses.field(default_factory=list)  # allowed values as written in the file
    instruction: str | None = None  # what the LLM is asked; null: a generic one naming the answers
    answers: dict = dataclasses.field(default_factory=dict)  # label -> the word the LLM answers; default: the label
    positive: str | None = None  # binary: the label ROC-AUC treats as positive (default: the second)
    separator: str = ","  # multilabel / generation: between the labels of one cell


@dataclasses.dataclass(frozen=True)
class TableParams:
    """``dataset: table``: any CSV / TSV / JSONL files, declared here (README, "Your own data")."""

    files: dict = dataclasses.field(default_factory=dict)  # train / dev / test -> path (the same path may repeat)
    split_column: str | None = None  # set: each split keeps the rows whose split_column is split_values[split]
    split_values: dict = dataclasses.field(default_factory=lambda: {"train": "train", "dev": "dev", "test": "test"})
    text_column: str = "text"
    text_pair_column: str | None = None  # set: a sentence-pair task (text_column is the first sentence)
    id_column: str | None = None  # null: ids are hashes of the text
    tasks: dict = dataclasses.field(default_factory=dict)  # name -> TableTaskParams

    def task_params(self) -> dict[str, TableTaskParams]:
        return {name: build(TableTaskParams, raw, f"table.tasks.{name}.") for name, raw in self.tasks.items()}


@dataclasses.dataclass(frozen=True)
class Params:
    seed: int
    dataset: str
    tasks: list
    models: ModelsParams
    prepare: PrepareParams
    qlora: QloraParams
    baselines: BaselinesParams
    encoder: EncoderParams
    llm_head: LlmHeadParams
    prompting: PromptingParams
    predict: PredictParams
    evaluate: EvaluateParams
    annotate: AnnotateParams = dataclasses.field(default_factory=AnnotateParams)
    distill: DistillParams = dataclasses.field(default_factory=DistillParams)
    table: TableParams = dataclasses.field(default_factory=TableParams)

    def task(self, name: str):
        """The task ``name`` of the dataset in use (built-in, or declared under ``table.tasks``)."""
        from annotune.tasks import declared_task, get_task  # late import: tasks know nothing of params

        declared = None
        if self.dataset == "table":
            declared = {
                n: declared_task(n, t.kind, t.labels, t.instruction, t.answers, t.positive)
                for n, t in self.table.task_params().items()
            }
        return get_task(self.dataset, name, declared)


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ParamsError(f"params.yaml: {key} is {value!r}; allowed values: {', '.join(allowed)}")


def _type_ok(value: Any, annotation: Any) -> bool:
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, origin or annotation)


def build(cls: type, raw: Any, prefix: str = ""):
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types by name."""
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: {where} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ParamsError(
            f"params.yaml: unknown key(s) {', '.join(prefix + k for k in unknown)} in {where}; "
            f"known keys: {', '.join(prefix + k for k in fields)}"
        )
    values = {}
    for name, field in fields.items():
        key = prefix + name
        if name not in raw:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ParamsError(f"params.yaml: missing required key {key}")
            continue
        value, annotation = raw[name], hints[name]
        if dataclasses.is_dataclass(annotation):
            value = build(annotation, value, key + ".")
        elif isinstance(value, str) and annotation is float:
            value = _float_or_fail(key, value)  # YAML 1.2 reads 2e-4 as a string
        elif not _type_ok(value, annotation):
            raise ParamsError(f"params.yaml: {key} = {value!r} has the wrong type (expected {annotation})")
        values[name] = value
    return cls(**values)


def _float_or_fail(key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ParamsError(f"params.yaml: {key} = {value!r} is not a number") from None


def load_params(path: Path = PARAMS_FILE) -> Params:
    if not path.exists():
        raise ParamsError(f"{path} not found: run stages from the project root, where params.yaml lives")
    raw = YAML(typ="safe").load(path.read_text())
    params = build(Params, raw or {})
    for name in params.tasks:
        params.task(name)
    for section in ("annotate", "distill"):  # opt-in stages run per task: only tasks the dataset has
        extra = [t for t in getattr(params, section).tasks if t not in params.tasks]
        if extra:
            raise ParamsError(
                f"params.yaml: {section}.tasks lists {extra}, not among tasks {params.tasks} "
                f"(switching datasets? set {section}.tasks to [] or to tasks of the new dataset)"
            )
    return params


def save_resolved(path: Path, **sections: Any) -> None:
    """Write the resolved configuration beside an output, so every folder says what produced it."""

    def plain(value):
        return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value

    path.write_text(json.dumps({k: plain(v) for k, v in sections.items()}, indent=2, sort_keys=True) + "\n")

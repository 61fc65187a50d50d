"""params.yaml loading and validation: every section is a (pydantic) dataclass, so a typo, a wrong type or a
value out of range fails when params load, before any data is read, with the key, the file and the value.

The defaults here are params.yaml's values (tests/test_config.py checks they agree): a params file that leaves a
key out gets what the repository's params.yaml says.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError, field_validator
from pydantic.dataclasses import dataclass
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from annotune import systems
from annotune.errors import ParamsError

PARAMS_FILE = Path("params.yaml")

# Every section rejects unknown keys; frozen: params are read, never changed, once loaded.
SECTION = ConfigDict(extra="forbid")
# Numbers and switches are strict (pydantic's ``Strict``): ``seed: true`` or ``max_train: "300"`` is an error naming
# the key, not 1 or 300. (A whole-config strict mode would refuse the nested sections given as mappings.)
SCIENTIFIC = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


def _yaml_float(value):
    # YAML 1.1 reads 2e-4 (no dot) as text: take a string in scientific notation as the number it means
    return float(value) if isinstance(value, str) and SCIENTIFIC.fullmatch(value.strip()) else value


Int = Annotated[int, Strict()]
Float = Annotated[float, BeforeValidator(_yaml_float), Strict()]  # a whole number is still a valid float
Bool = Annotated[bool, Strict()]
Positive = Annotated[int, Strict(), Field(ge=1)]
NonNegative = Annotated[int, Strict(), Field(ge=0)]
Rate = Annotated[Float, Field(gt=0)]  # learning rates, regularization strengths
Fraction = Annotated[Float, Field(ge=0, le=1)]
Device = Literal["auto", "cpu", "cuda"]
ComputeDtype = Literal["auto", "float32", "bfloat16", "float16"]
Quantization = Literal["nf4", "int8", "none"]
ClassWeight = Literal["balanced"] | None
AttributeKind = Literal["categorical", "numeric"]
# multi-label heads: dev = each label's decision threshold maximizes its F1 on the dev split (stored with the model);
# fixed = 0.5 for every label
LabelThresholds = Literal["dev", "fixed"]


@dataclass(frozen=True, config=SECTION)
class ModelsParams:
    # hub id[@revision] (a branch, tag or commit: pin it), local model folder, or pypi:<package>[@version]
    llm: Annotated[str, Field(min_length=1)]
    encoder: Annotated[str, Field(min_length=1)]
    seq2seq: Annotated[str, Field(min_length=1)] | None = None  # a T5-family model for seq2seq_lora; null: none


@dataclass(frozen=True, config=SECTION)
class PrepareParams:
    dev_fraction: Annotated[Float, Field(gt=0, lt=1)] = 0.1  # partial-data fallback: share of carved posts for dev
    max_train: Positive | None = 300  # stratified, seeded sample per split; None: everything
    max_dev: Positive | None = 64
    max_test: Positive | None = 300
    train_budget: Positive | None = None  # label budget curve: a nested, seeded, stratified subset of train; None: all
    # how max_test picks the test items: stratified on the labels, or (per-annotator data) the items that give the
    # most active annotators annotator_target_items each, so the Alt-Test runs at the paper's strength
    test_sampling: Literal["stratified", "annotators"] = "stratified"
    annotator_target_items: Positive = 30
    # tabular attributes: column -> kind, inputs of every system beside the text (docs/datasets.md, "Attributes")
    attributes: dict[str, AttributeKind] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, config=SECTION)
class QloraParams:
    quantization: Quantization = "nf4"
    double_quant: Bool = True
    compute_dtype: ComputeDtype = "auto"
    device: Device = "auto"
    r: Positive = 8
    alpha: Positive = 16
    dropout: Annotated[Float, Field(ge=0, lt=1)] = 0.0  # 0: the shared prompt prefix is computed once per batch
    target_modules: str | list[str] = "all-linear"
    learning_rate: Rate = 5e-4
    epochs: Positive = 2
    batch_size: Positive = 8
    grad_accum: Positive = 1
    optimizer: str = "adamw_torch"
    lr_scheduler: str = "linear"
    # share of the training steps; transformers reads warmup_steps below 1 as that share (1 or more: steps)
    warmup_ratio: Annotated[Float, Field(ge=0, lt=1)] = 0.03
    max_input_tokens: Positive = 128
    gradient_checkpointing: Bool = False
    checkpoint_steps: NonNegative = 20  # a resumable checkpoint every N optimizer steps; 0 = none
    launcher: str = "python -m"  # the stage's launcher: "accelerate launch --num_processes 2 -m" for 2 GPUs


@dataclass(frozen=True, config=SECTION)
class BaselinesParams:
    tfidf_max_features: Positive = 20000
    tfidf_max_ngram: Positive = 2
    logreg_c: Rate = 4.0
    class_weight: ClassWeight = None  # None | balanced (multi-label: each label's positives weighted by its rarity)
    multilabel_thresholds: LabelThresholds = "dev"


@dataclass(frozen=True, config=SECTION)
class EncoderParams:
    max_length: Positive = 128
    batch_size: Positive = 16
    epochs: Positive = 8
    patience: Positive = 2  # early stopping on dev loss
    learning_rate: Rate = 1e-4
    trainable_layers: NonNegative | None = None  # None: all; N: only the last N encoder layers (+ head); 0: head only
    class_weight: ClassWeight = None  # multi-label: balanced weighs each label's positives by negatives / positives
    multilabel_thresholds: LabelThresholds = "dev"
    virtual_tokens: Positive = 20  # soft prompt
    prompt_init: Literal["text", "random"] = "text"  # text: the task instruction
    prompt_learning_rate: Rate = 1e-2


@dataclass(frozen=True, config=SECTION)
class LlmHeadParams:
    quantization: Quantization = "nf4"
    compute_dtype: ComputeDtype = "auto"
    device: Device = "auto"
    r: Positive = 8
    alpha: Positive = 16
    dropout: Annotated[Float, Field(ge=0, lt=1)] = 0.05
    learning_rate: Rate = 5e-4
    epochs: Positive = 2
    batch_size: Positive = 8
    max_length: Positive = 128
    multilabel_thresholds: LabelThresholds = "dev"


@dataclass(frozen=True, config=SECTION)
class Seq2seqParams:
    """seq2seq_lora: an encoder-decoder (T5-family, models.seq2seq) LoRA-trained to write the answer; the brief's
    LoraConfig(r=8, lora_alpha=16, target_modules=["q", "v"], lora_dropout=0.01, task_type="SEQ_2_SEQ_LM")."""

    r: Positive = 8
    alpha: Positive = 16
    dropout: Annotated[Float, Field(ge=0, lt=1)] = 0.01
    target_modules: list[str] = dataclasses.field(default_factory=lambda: ["q", "v"])
    learning_rate: Rate = 5e-4
    epochs: Positive = 3
    batch_size: Positive = 8
    max_input_tokens: Positive = 128


@dataclass(frozen=True, config=SECTION)
class PromptingParams:
    shots: NonNegative = 4
    # stratified: the same exemplars for every row | similar: the TF-IDF nearest training posts | boundary: per
    # label, the training posts nearest a TF-IDF + logistic regression's decision boundary (the same for every row)
    selection: Literal["stratified", "similar", "boundary"] = "stratified"
    quantization: Quantization = "none"
    compute_dtype: ComputeDtype = "auto"
    device: Device = "auto"
    max_input_tokens: Positive = 128


@dataclass(frozen=True, config=SECTION)
class SystemsParams:
    """Which systems run, by group (annotune/systems/registry.py is the registry; ``annotune systems`` lists it)."""

    finetuned: list[str] = dataclasses.field(default_factory=lambda: systems.defaults("finetuned"))
    prompted: list[str] = dataclasses.field(default_factory=lambda: systems.defaults("prompted"))
    baselines: list[str] = dataclasses.field(default_factory=lambda: systems.defaults("baselines"))

    @field_validator("finetuned", "prompted", "baselines")
    @classmethod
    def _registered_in_group(cls, names: list[str], info) -> list[str]:
        allowed = systems.in_group(info.field_name)
        unknown = [n for n in names if n not in allowed]
        if unknown:
            raise ValueError(f"{unknown} not in this group; allowed: {allowed}")
        if len(set(names)) != len(names):
            raise ValueError("lists a system twice")
        return names


@dataclass(frozen=True, config=SECTION)
class EvaluateParams:
    bootstrap_resamples: Positive = 1000
    confidence_level: Annotated[Float, Field(gt=0, lt=1)] = 0.95
    calibration_bins: Positive = 10
    annotator_min_posts: Positive = 10  # an annotator's own kappa is reported when they labelled this many test posts
    # Alt-Test (Calderon, Reichart & Dror 2025): epsilon is the cost-benefit margin granted to the system; the
    # paper's rule of thumb: 0.2 expert annotators, 0.15 skilled, 0.1 crowd workers (SBIC's are crowd workers)
    alt_test_epsilon: Fraction = 0.1
    alt_test_alpha: Annotated[Float, Field(gt=0, lt=1)] = 0.05  # FDR level of the Benjamini-Yekutieli correction
    alt_test_min_items: Positive = 10  # an annotator is tested on at least this many items (the paper: 30)


@dataclass(frozen=True, config=SECTION)
class CostParams:
    """What labelling 1,000 items costs: machines at a price per hour, people at a price per label."""

    machine_hour_price: Annotated[Float, Field(ge=0)] = 0.5  # the machine that ran the pipeline, per hour
    human_label_price: Annotated[Float, Field(ge=0)] = 0.1  # one annotator labelling one item
    annotators_per_item: Positive = 3  # labels bought per item when people annotate
    currency: str = "USD"


@dataclass(frozen=True, config=SECTION)
class PredictParams:
    batch_size: Positive = 16
    max_new_tokens: Positive = 24


@dataclass(frozen=True, config=SECTION)
class AnnotateParams:
    """The annotate@task stage (and the defaults of ``annotune annotate``)."""

    tasks: list[str] = dataclasses.field(default_factory=list)  # tasks the DVC stage annotates; [] = no stage
    system: str = "qlora"  # any system of the registry
    input: str = "data/unlabeled.jsonl"  # CSV / TSV / JSONL to label
    text_column: str = "text"
    id_column: str | None = None  # null: the row number is the id
    chunk_size: Positive = 256  # rows read, predicted and written (fsynced) at a time
    launcher: str = "python -m"  # torchrun --nproc-per-node N -m: the DVC stage labels with N processes
    target_accuracy: Fraction | None = 0.9  # dev accuracy the auto-labelled rows must reach; null: no hand-off

    @field_validator("system")
    @classmethod
    def _registered(cls, name: str) -> str:
        systems.spec(name)
        return name


@dataclass(frozen=True, config=SECTION)
class DistillParams:
    """LLM as data labeller: distill@task (opt-in) trains the encoder on the labeller's labels."""

    tasks: list[str] = dataclasses.field(default_factory=list)  # tasks with a distill stage; [] = none
    labeller: str = "qlora"  # the system that labels the training posts (gold hidden): any of the registry
    launcher: str = "python -m"  # torchrun --nproc-per-node N -m: the pool labelled by N processes

    @field_validator("labeller")
    @classmethod
    def _registered(cls, name: str) -> str:
        if systems.spec(name).group == "distilled":
            raise ValueError("a distilled system cannot label its own training data")
        return name


@dataclass(frozen=True, config=SECTION)
class AugmentParams:
    """LLM as data augmenter: augment@task (opt-in) has the generator write synthetic training posts, drops the
    unfit ones (each drop counted) and trains the encoder on gold + kept -> system encoder_augmented."""

    tasks: list[str] = dataclasses.field(default_factory=list)  # tasks with an augment stage; [] = none
    method: Literal["generate", "rewrite"] = "generate"  # new posts of a label from a few of its posts | rewrites
    generator: str = "zero_shot"  # an LLM system: zero_shot / few_shot = the base LLM; qlora = the task's adapter
    examples_per_label: Positive = 100  # generate: synthetic posts asked for per label
    exemplars: Positive = 4  # generate: training posts of the label shown in each prompt
    rewrites_per_example: Positive = 1  # rewrite: rewrites asked for per training post
    instruction: str | None = None  # rewrite: the instruction; null = a paraphrase keeping meaning and tone
    max_new_tokens: Positive = 64
    temperature: Rate = 0.9
    top_p: Annotated[Float, Field(gt=0, le=1)] = 0.95
    batch_size: Positive = 8
    min_words: Positive = 3  # shorter outputs are dropped
    near_duplicate: Annotated[Float, Field(gt=0, le=1)] = 0.9  # drop a post this similar to a kept one (cosine)
    labeller: str | None = None  # a system: keep only posts it gives the intended label; null = no check
    labeller_confidence: Fraction = 0.5  # ... with at least this probability

    @field_validator("generator")
    @classmethod
    def _llm(cls, name: str) -> str:
        if systems.spec(name).kind not in ("adapter", "prompted"):
            raise ValueError(f"the generator writes text: an LLM system ({', '.join(systems.text_writers())})")
        return name

    @field_validator("labeller")
    @classmethod
    def _a_baseline(cls, name: str | None) -> str | None:
        if name is not None and systems.spec(name).group != "baselines":
            raise ValueError(f"the labeller is one of the baselines ({', '.join(systems.in_group('baselines'))})")
        return name


@dataclass(frozen=True, config=SECTION)
class EstimateParams:
    """estimate@task (annotune/evaluation/estimate.py): prevalences from a system's labels on an unlabelled pool plus
    the
    human labels of a random gold sample (prediction-powered inference, PPI++), with the humans-only interval.
    Runs for every binary and multiclass task; a system that ``systems`` does not run is skipped (recorded)."""

    systems: list[str] = dataclasses.field(default_factory=lambda: ["encoder", "tfidf_logreg"])  # [] = none
    by: str | None = None  # a declared attribute (prepare.attributes): estimates per value, and their differences
    confidence_level: Annotated[Float, Field(gt=0, lt=1)] = 0.95
    target_half_width: Annotated[Float, Field(gt=0, lt=0.5)] = 0.02  # the planner's goal (a proportion)
    max_pool: Positive | None = None  # bound on the pool (seeded sample); null = every pool row

    @field_validator("systems")
    @classmethod
    def _registered(cls, names: list[str]) -> list[str]:
        for name in names:
            systems.spec(name)
        if len(set(names)) != len(names):
            raise ValueError("lists a system twice")
        return names


RawValue = bool | int | float | str  # a label as a file writes it (JSONL keeps numbers and booleans typed)


def raw_key(value) -> str:
    """How a raw label value is compared: booleans and numbers by value (``0``, ``0.0`` and ``"0.0"`` are one
    value), other text stripped as written."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(float(value))
    text = "" if value is None else str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return repr(number) if text.lower() not in ("nan", "inf", "-inf", "infinity", "-infinity") else text


EMPTY_CATEGORY = "none"  # what an empty categorical attribute cell is: a value of its own, never a dropped row


def attribute_values(row: dict, attributes: dict[str, str]) -> dict[str, str | float]:
    """The declared attribute columns of a row as records carry them: categorical -> the cell's text (empty ->
    ``EMPTY_CATEGORY``), numeric -> a finite float. A cell that is neither raises ValueError naming the column
    (callers add file and row); prepare and annotate both read cells here, so a system sees the same values."""
    out = {}
    for name, kind in attributes.items():
        if name not in row:
            raise ValueError(f"no column {name!r} (a declared attribute, prepare.attributes)")
        try:
            out[name] = _attribute_value(kind, row[name])
        except ValueError as exc:
            raise ValueError(f"column {name!r}: {exc}") from None
    return out


def _attribute_value(kind: str, value) -> str | float:
    if isinstance(value, list | dict):
        raise ValueError(f"{value!r} is not a single value")
    if isinstance(value, bool):
        text = str(value).lower()
    else:
        text = "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()
    if kind == "categorical":
        return text or EMPTY_CATEGORY
    if not text:
        raise ValueError("empty value; a numeric attribute needs a number in every row")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number (declared numeric)") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite number (declared numeric)")
    return number


@dataclass(frozen=True, config=SECTION)
class TableTaskParams:
    """One task of a ``table`` dataset: where its labels are and what they are.

    The labels of a row come from exactly one of: ``column`` (one label per row: the gold, or in the long shape
    one annotator's label), ``annotator_columns`` (wide shape: one column per annotator) or ``count_columns``
    (counts shape: label -> column holding how many annotators chose it)."""

    kind: str  # binary | multiclass | multilabel | generation (checked with the labels, annotune/data/tasks.py)
    column: str | None = None
    # allowed labels as written in the file, or label name -> raw value(s) of the column ({no: [0, "0.0"], yes: 1})
    labels: list[str] | dict[str, RawValue | list[RawValue]] = dataclasses.field(default_factory=list)
    ordinal: Bool = False  # the labels are ordered (in the declared order): agreement at the ordinal level
    annotator_columns: list[str] | None = None  # wide shape: one label column per annotator
    count_columns: dict[str, str] | None = None  # counts shape: label -> column of annotator counts
    # checkbox shape: label -> its column, a ticked cell (table.checked_values) = the label chosen; in the single
    # and long shapes one set of columns, in the wide shape one set per annotator ("{annotator}" in the name)
    label_columns: dict[str, str] | None = None
    instruction: str | None = None  # what the LLM is asked; null: a generic one naming the answers
    answers: dict[str, str] = dataclasses.field(default_factory=dict)  # label -> the word the LLM answers
    positive: str | None = None  # binary: the label ROC-AUC treats as positive (default: the second)
    separator: str = ","  # multilabel / generation: between the labels of one cell

    @field_validator("labels", mode="before")
    @classmethod
    def _names_are_text(cls, labels):
        if isinstance(labels, list):
            raw = [label for label in labels if not isinstance(label, str)]
            if raw:
                raise ValueError(
                    f"lists {raw!r}, which are raw values, not label names: name each label and map it to its "
                    "values, e.g. labels: {negative: 0, positive: 1}"
                )
            repeated = sorted({label for label in labels if labels.count(label) > 1})
            if repeated:
                raise ValueError(f"lists {repeated} more than once; each label once")
        return labels

    @field_validator("labels")
    @classmethod
    def _raw_values_distinct(cls, labels):
        if isinstance(labels, dict):
            owner: dict[str, str] = {}
            for name, values in labels.items():
                for value in values if isinstance(values, list) else [values]:
                    key = raw_key(value)
                    if key in owner and owner[key] != name:
                        raise ValueError(f"raw value {value!r} is mapped to both {owner[key]!r} and {name!r}")
                    owner[key] = name
                if isinstance(values, list) and not values:
                    raise ValueError(f"label {name!r} maps to no raw value")
        return labels

    @field_validator("annotator_columns")
    @classmethod
    def _columns_distinct(cls, columns):
        if columns is not None and (not columns or len(set(columns)) != len(columns)):
            raise ValueError("must list one column per annotator, each once")
        return columns

    @field_validator("count_columns")
    @classmethod
    def _count_columns(cls, columns, info):
        if columns is None:
            return columns
        if len(columns) < 2 or len(set(columns.values())) != len(columns):
            raise ValueError("must map each label (at least two) to its own column")
        labels = info.data.get("labels")
        if isinstance(labels, dict):
            raise ValueError("counts columns are per label: declare labels as a list (or leave it out)")
        if labels and set(labels) != set(columns):
            raise ValueError(f"names labels {sorted(columns)}, but labels lists {labels}")
        sources = [k for k in ("column", "annotator_columns") if info.data.get(k) is not None]
        if sources:
            raise ValueError(f"declare one of column, annotator_columns, count_columns (also set: {sources[0]})")
        return columns

    @field_validator("annotator_columns", mode="after")
    @classmethod
    def _one_source(cls, columns, info):
        if columns is not None and info.data.get("column") is not None:
            raise ValueError("declare one of column, annotator_columns, count_columns (also set: column)")
        return columns

    @field_validator("label_columns")
    @classmethod
    def _checkbox_columns(cls, columns, info):
        if columns is None:
            return columns
        if len(columns) < 2 or len(set(columns.values())) != len(columns):
            raise ValueError("must map each label (at least two) to its own column")
        labels = info.data.get("labels")
        if isinstance(labels, dict):
            raise ValueError("checkbox columns are per label: declare labels as a list (or leave it out)")
        if labels and set(labels) != set(columns):
            raise ValueError(f"names labels {sorted(columns)}, but labels lists {labels}")
        sources = [k for k in ("column", "count_columns") if info.data.get(k) is not None]
        if sources:
            raise ValueError(f"declare one of column, count_columns, label_columns (also set: {sources[0]})")
        return columns

    @property
    def label_names(self) -> list[str]:
        """The task's label names, in the declared order."""
        if self.labels:
            return [str(name) for name in self.labels]
        return list(self.count_columns or self.label_columns or [])

    def raw_values(self) -> dict[str, list] | None:
        """Label name -> the raw values that mean it (the mapping form), or None (values are the names)."""
        if not isinstance(self.labels, dict):
            return None
        return {name: v if isinstance(v, list) else [v] for name, v in self.labels.items()}


@dataclass(frozen=True, config=SECTION)
class SplitFractions:
    """Shares of the items (of the groups, with ``group_column``) carved into dev and test from one file."""

    dev: Annotated[Float, Field(gt=0, lt=1)] = 0.1
    test: Annotated[Float, Field(gt=0, lt=1)] = 0.2

    @field_validator("test")
    @classmethod
    def _train_left(cls, test, info):
        if info.data.get("dev", 0) + test >= 1:
            raise ValueError(f"dev + test must stay below 1 (dev is {info.data.get('dev')}): train gets the rest")
        return test


@dataclass(frozen=True, config=SECTION)
class TableParams:
    """``dataset: table``: any CSV / TSV / JSONL files, declared here (docs/datasets.md, "Your own data")."""

    files: dict[str, str] = dataclasses.field(default_factory=dict)  # train / dev / test -> path (may repeat)
    split_column: str | None = None  # set: each split keeps the rows whose split_column is split_values[split]
    split_values: dict[str, str] = dataclasses.field(
        default_factory=lambda: {"train": "train", "dev": "dev", "test": "test"}
    )
    # one file for all three splits and no split_column: prepare carves dev and test (seeded, stratified on the
    # first task's label, whole groups of group_column) with these shares; train gets the rest
    split_fractions: SplitFractions = dataclasses.field(default_factory=SplitFractions)
    group_column: str | None = None  # carve: rows sharing a value (author, thread, document) stay in one split
    text_column: str = "text"
    text_pair_column: str | None = None  # set: a sentence-pair task (text_column is the first sentence)
    id_column: str | list[str] | None = None  # null: ids are hashes of the text; several columns: joined
    # long shape (one row per item x annotator): the annotator's id column, and the item's id column (null: the
    # item is its text)
    annotator_column: str | None = None
    item_column: str | list[str] | None = None  # several columns (conversation, turn): one item per combination
    annotator_columns: list[str] | None = None  # wide shape: the annotators' columns, for tasks naming none
    # checkbox columns (label_columns): the cells that mean "ticked" (compared as raw values, text case-blind);
    # empty or any other value means not ticked
    checked_values: list[RawValue] = dataclasses.field(default_factory=lambda: [1, True, "yes", "x"])
    gold: Literal["majority", "dawid_skene"] = "majority"  # several annotators: how their labels make the gold
    ties: Literal["drop", "first_label", "last_label"] = "drop"  # majority tie: drop the item, or the tied label
    # declared first / last
    # long shape, one annotator labelling one item twice (test-retest designs): error, or keep their first / last /
    # most frequent label (the repeats' own agreement is reported either way)
    repeats: Literal["error", "first", "last", "majority"] = "error"
    tasks: dict[str, TableTaskParams] = dataclasses.field(default_factory=dict)

    def task_params(self) -> dict[str, TableTaskParams]:
        return dict(self.tasks)


@dataclass(frozen=True, config=SECTION)
class Params:
    seed: Int
    dataset: str
    tasks: Annotated[list[str], Field(min_length=1)]
    models: ModelsParams
    prepare: PrepareParams = dataclasses.field(default_factory=PrepareParams)
    qlora: QloraParams = dataclasses.field(default_factory=QloraParams)
    systems: SystemsParams = dataclasses.field(default_factory=SystemsParams)
    baselines: BaselinesParams = dataclasses.field(default_factory=BaselinesParams)
    encoder: EncoderParams = dataclasses.field(default_factory=EncoderParams)
    llm_head: LlmHeadParams = dataclasses.field(default_factory=LlmHeadParams)
    seq2seq: Seq2seqParams = dataclasses.field(default_factory=Seq2seqParams)
    prompting: PromptingParams = dataclasses.field(default_factory=PromptingParams)
    predict: PredictParams = dataclasses.field(default_factory=PredictParams)
    evaluate: EvaluateParams = dataclasses.field(default_factory=EvaluateParams)
    cost: CostParams = dataclasses.field(default_factory=CostParams)
    annotate: AnnotateParams = dataclasses.field(default_factory=AnnotateParams)
    distill: DistillParams = dataclasses.field(default_factory=DistillParams)
    augment: AugmentParams = dataclasses.field(default_factory=AugmentParams)
    estimate: EstimateParams = dataclasses.field(default_factory=EstimateParams)
    table: TableParams = dataclasses.field(default_factory=TableParams)
    # `annotune tune`'s search (annotune/workflows/tune.py validates it when tuning starts): no stage reads it, so a new
    # search space reruns nothing and a typo in it stops only the tuning
    tune: dict[str, Any] = dataclasses.field(default_factory=dict)

    @field_validator("tasks")
    @classmethod
    def _tasks_once(cls, names: list[str]) -> list[str]:
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"lists {repeated} more than once; each task once")
        return names

    def task(self, name: str):
        """The task ``name`` of the dataset in use (built-in, or declared under ``table.tasks``)."""
        from annotune.data.tasks import declared_task, get_task  # late import: tasks know nothing of params

        declared = None
        if self.dataset == "table":
            declared = {
                n: declared_task(n, t.kind, t.label_names, t.instruction, t.answers, t.positive, t.ordinal)
                for n, t in self.table.task_params().items()
            }
        return get_task(self.dataset, name, declared)


def _key(prefix: str, location: tuple) -> str:
    # pydantic's location names fields, list indices and, inside unions, the branch tried ("int", "none"...):
    # keep the fields and indices, which is what a user edits
    parts = [str(p) for p in location if isinstance(p, int) or not _is_branch_tag(p)]
    return prefix + ".".join(parts)


def _is_branch_tag(part: str) -> bool:
    return part in {"int", "float", "str", "bool", "none", "list[str]", "dict[str,str]"} or part.startswith(
        ("function-", "constrained-", "literal[", "list[", "dict[")
    )


def _explain(error: dict, prefix: str, cls: type) -> str:
    key = _key(prefix, error["loc"])
    kind = error["type"]
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"params.yaml: unknown key {key}; {_known_keys(cls, prefix, error['loc'][:-1])}"
    if kind == "missing_argument" or kind == "missing":
        return f"params.yaml: missing required key {key}"
    message = error["msg"].removeprefix("Value error, ")
    return f"params.yaml: {key} = {error.get('input')!r}: {message}"


def _known_keys(cls: type, prefix: str, location: tuple) -> str:
    section = cls
    for part in location:
        fields = {f.name: f for f in dataclasses.fields(section)} if dataclasses.is_dataclass(section) else {}
        field = fields.get(part)
        section = field.type if field is not None else None
        if isinstance(section, str):  # postponed annotation: resolve it in this module
            section = globals().get(section)
    if not dataclasses.is_dataclass(section):
        return "check the spelling"
    where = prefix + "".join(f"{p}." for p in location)
    return "known keys: " + ", ".join(where + f.name for f in dataclasses.fields(section))


def build(cls: type, raw: Any, prefix: str = ""):
    """Build ``cls`` from a mapping: unknown keys, wrong types and values out of range are named."""
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ParamsError(f"params.yaml: {where} must be a mapping, got {raw!r}")
    try:
        return TypeAdapter(cls).validate_python(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = _explain(errors[0], prefix, cls)
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ParamsError(first + more) from None


def read_params_file(path: Path) -> dict:
    """params.yaml as a mapping; malformed YAML is one line naming the file and the line."""
    if not path.exists():
        raise ParamsError(f"{path} not found: run stages from the project root, where params.yaml lives")
    try:
        raw = YAML(typ="safe").load(path.read_text())
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ParamsError(f"{path}{line}: malformed YAML: {exc.problem or exc.context}") from None
    except YAMLError as exc:
        raise ParamsError(f"{path}: malformed YAML: {str(exc).splitlines()[0]}") from None
    return raw or {}


def load_params(path: Path = PARAMS_FILE) -> Params:
    params = build(Params, read_params_file(path))
    for name in params.tasks:
        params.task(name)
    labeller = params.distill.labeller
    enabled = [*params.systems.finetuned, *params.systems.prompted, *params.systems.baselines]
    if params.distill.tasks and labeller not in enabled:
        raise ParamsError(
            f"params.yaml: distill.labeller is {labeller!r}, which systems does not run "
            f"(add it to systems.{systems.spec(labeller).group}, or set distill.tasks: [])"
        )
    augment = params.augment
    # the stage depends on the adapter folder (a possible generator) and on the baselines folder (the labeller); the
    # augmented encoder is tested against the system it is paired with, the encoder trained on gold alone
    needed = [*systems.of_kind("adapter"), *(systems.spec(name).paired_with for name in systems.in_group("augmented"))]
    groups = {name: systems.spec(name).group for name in needed}
    if augment.tasks and any(name not in getattr(params.systems, group) for name, group in groups.items()):
        raise ParamsError(
            "params.yaml: augment.tasks needs "
            + " and ".join(f"{name} in systems.{group}" for name, group in groups.items())
            + " (augment@task depends on their folders, and the augmented encoder is compared with the encoder)"
        )
    if augment.tasks:
        needed = {"augment.generator": augment.generator, "augment.labeller": augment.labeller}
        for key, name in needed.items():
            trained = name is not None and systems.spec(name).trained_by is not None
            if trained and name not in enabled:  # its model folder would not exist
                raise ParamsError(
                    f"params.yaml: {key} is {name!r}, which systems does not run "
                    f"(add it to systems.{systems.spec(name).group}, or set augment.tasks: [])"
                )
        for name in augment.tasks:
            kind = params.task(name).kind if name in params.tasks else None
            if kind not in (None, "binary", "multiclass"):
                raise ParamsError(
                    f"params.yaml: augment.tasks lists {name!r}, a {kind} task; augmentation writes posts of one "
                    "label, for binary and multiclass tasks"
                )
    by = params.estimate.by
    if by is not None and by not in params.prepare.attributes:
        raise ParamsError(
            f"params.yaml: estimate.by is {by!r}, not a declared attribute (prepare.attributes: "
            f"{sorted(params.prepare.attributes) or 'none'}); declare it there or set estimate.by: null"
        )
    for section in ("annotate", "distill", "augment"):  # opt-in stages run per task: only tasks the dataset has
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

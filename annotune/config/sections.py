"""The per-stage sections of params.yaml, one frozen pydantic dataclass each (``ModelsParams`` ... ``EstimateParams``):
their keys, defaults (params.yaml's values) and validators; the systems a section names are checked against the
registry (annotune/systems/registry.py)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass

from annotune import systems
from annotune.config.types import (
    SECTION,
    AttributeKind,
    Bool,
    ClassWeight,
    ComputeDtype,
    Device,
    Float,
    Fraction,
    LabelThresholds,
    NonNegative,
    Positive,
    Quantization,
    Rate,
)


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

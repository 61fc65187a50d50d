"""The whole of params.yaml: ``Params`` (every section, the task lookup), ``build`` (a dataclass from a mapping,
with each problem named: key, value, known keys), ``read_params_file``, ``load_params`` (the cross-section checks)
and ``save_resolved``; ``PARAMS_FILE`` is where stages read it."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError, field_validator
from pydantic.dataclasses import dataclass
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from annotune import systems
from annotune.config.sections import (
    AnnotateParams,
    AugmentParams,
    BaselinesParams,
    CostParams,
    DistillParams,
    EncoderParams,
    EstimateParams,
    EvaluateParams,
    LlmHeadParams,
    ModelsParams,
    PredictParams,
    PrepareParams,
    PromptingParams,
    QloraParams,
    Seq2seqParams,
    SystemsParams,
)
from annotune.config.table import TableParams
from annotune.config.types import SECTION, Int
from annotune.errors import ParamsError

PARAMS_FILE = Path("params.yaml")


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
        owner = section
        fields = {f.name: f for f in dataclasses.fields(owner)} if dataclasses.is_dataclass(owner) else {}
        field = fields.get(part)
        section = field.type if field is not None else None
        if isinstance(section, str):  # postponed annotation: resolve it in the module that defines its dataclass
            section = vars(sys.modules[owner.__module__]).get(section)
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

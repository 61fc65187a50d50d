"""Annotation task definitions: what is asked, the allowed answers and how an LLM says them.

Label names say what they mean on their own (``implied_bias``, not ``0``); verbalizers are the short
words the LLM is trained to answer and is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from annotune.errors import ParamsError

NONE_TARGET = "none"


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # binary | multiclass | multilabel | generation
    instruction: str
    verbalizers: dict[str, str] = field(default_factory=dict)  # label -> answer text; empty for generation
    positive: str | None = None  # the label ROC-AUC treats as positive (binary)
    # label -> value in [0, 1] for tasks whose labels bin a graded answer: the SBIC paper averages the
    # annotators' values and thresholds the mean at 0.5 ("binarized" F1, comparable with its figures)
    label_values: dict[str, float] = field(default_factory=dict)
    # the labels are ordered, in the order of ``verbalizers`` (agreement statistics at the ordinal level)
    ordinal: bool = False

    @property
    def labels(self) -> list[str]:
        return list(self.verbalizers)

    @property
    def is_classification(self) -> bool:
        """One label per row, scored among the allowed ones."""
        return self.kind in ("binary", "multiclass")

    @property
    def is_set_valued(self) -> bool:
        """A set per row, written as ", "-joined names (``none`` for the empty set): target groups
        (open vocabulary) or the labels of a multi-label task (a fixed vocabulary)."""
        return self.kind in ("multilabel", "generation")

    def as_set(self, label: str) -> frozenset[str]:
        """A set-valued label as a set: multi-label names as declared, target groups normalized."""
        if self.kind == "multilabel":
            return frozenset(part for part in label.split(", ") if part and part != NONE_TARGET)
        return group_set(label)

    def from_set(self, labels) -> str:
        """The label text of a set (sorted, ", "-joined, ``none`` when empty)."""
        if self.kind == "multilabel":
            return ", ".join(sorted(set(labels))) or NONE_TARGET
        return normalize_groups(", ".join(labels))

    def verbalize(self, label: str) -> str:
        if self.is_classification:
            return self.verbalizers[label]
        if self.kind == "multilabel":
            return ", ".join(self.verbalizers[name] for name in sorted(self.as_set(label))) or NONE_TARGET
        return label

    def _answer_parts(self, text: str) -> set[str]:
        return {" ".join(part.split()) for part in text.split(",")} - {"", NONE_TARGET}

    def parse_answer(self, text: str) -> str:
        """A generated answer as a gold-comparable label: normalized groups, or for a multi-label task
        the subset of allowed labels it names (case-insensitive; answers outside the label set are
        dropped and counted by ``invalid_answers``)."""
        if self.kind != "multilabel":
            return normalize_groups(text)
        by_answer = {answer.lower(): label for label, answer in self.verbalizers.items()}
        return self.from_set(by_answer[a.lower()] for a in self._answer_parts(text) if a.lower() in by_answer)

    def invalid_answers(self, text: str) -> list[str]:
        """The parts of a generated multi-label answer that name no allowed label."""
        if self.kind != "multilabel":
            return []
        answers = {a.lower() for a in self.verbalizers.values()}
        return sorted(a for a in self._answer_parts(text) if a.lower() not in answers)


def _answers(task_verbalizers: dict[str, str]) -> str:
    return ", ".join(task_verbalizers.values())


_SBIC_BIAS = {"implied_bias": "yes", "no_implied_bias": "no"}
_SBIC_OFFENSIVE = {"offensive": "yes", "maybe_offensive": "maybe", "not_offensive": "no"}

TASKS: dict[str, dict[str, Task]] = {
    "sbic": {
        "hasBiasedImplication": Task(
            name="hasBiasedImplication",
            kind="binary",
            instruction=(
                "Does this social media post imply a stereotype or biased statement about a group of people? "
                f"Answer with one of: {_answers(_SBIC_BIAS)}."
            ),
            verbalizers=_SBIC_BIAS,
            positive="implied_bias",
        ),
        "offensiveYN": Task(
            name="offensiveYN",
            kind="multiclass",
            instruction=(
                "Could this social media post be considered offensive, disrespectful or toxic to anyone? "
                f"Answer with one of: {_answers(_SBIC_OFFENSIVE)}."
            ),
            verbalizers=_SBIC_OFFENSIVE,
            label_values={"offensive": 1.0, "maybe_offensive": 0.5, "not_offensive": 0.0},
            ordinal=True,  # offensive > maybe > not: agreement statistics at the ordinal level
        ),
        "targetMinority": Task(
            name="targetMinority",
            kind="generation",
            instruction=(
                "Which group or groups of people does this social media post target or stereotype? "
                f"Answer with the group names separated by commas, or {NONE_TARGET}."
            ),
        ),
    },
}


_MRPC = {"paraphrase": "yes", "not_paraphrase": "no"}
# GoEmotions' 28 labels in the order of its emotions.txt (the TSVs hold their indices)
GOEMOTIONS_LABELS = (
    "admiration amusement anger annoyance approval caring confusion curiosity desire disappointment disapproval "
    "disgust embarrassment excitement fear gratitude grief joy love nervousness optimism pride realization relief "
    "remorse sadness surprise neutral"
).split()

TASKS["mrpc"] = {
    "paraphrase": Task(
        name="paraphrase",
        kind="binary",
        instruction=f"Do these two sentences say the same thing (is one a paraphrase of the other)? "
        f"Answer with one of: {_answers(_MRPC)}.",
        verbalizers=_MRPC,
        positive="paraphrase",
    ),
}
TASKS["goemotions"] = {
    "emotions": Task(
        name="emotions",
        kind="multilabel",
        instruction="Which emotions does this comment express? Answer with one or more of, separated by commas: "
        + ", ".join(GOEMOTIONS_LABELS)
        + ".",
        verbalizers={label: label for label in GOEMOTIONS_LABELS},
    ),
}

KINDS = ("binary", "multiclass", "multilabel", "generation")


def declared_task(
    name: str, kind: str, labels: list[str], instruction: str | None, answers: dict, positive, ordinal: bool = False
) -> Task:
    """A task declared in params.yaml (the ``table`` dataset); errors name the key at fault. ``ordinal``: the
    labels are ordered as declared (binary and multiclass tasks only)."""
    key = f"params.yaml: table.tasks.{name}"
    labels = list(labels)
    if kind not in KINDS:
        raise ParamsError(f"{key}.kind is {kind!r}; allowed: {', '.join(KINDS)}")
    if ordinal and kind not in ("binary", "multiclass"):
        raise ParamsError(f"{key}.ordinal: only binary and multiclass labels can be ordered, not {kind}")
    if kind == "generation":
        if labels:
            raise ParamsError(f"{key}: a generation task has no fixed labels (remove labels)")
        verbalizers = {}
    else:
        if len(labels) < (1 if kind == "multilabel" else 2):
            raise ParamsError(f"{key}.labels must list the allowed labels ({kind} needs at least two)")
        if kind == "binary" and len(labels) != 2:
            raise ParamsError(f"{key}: a binary task has exactly two labels, got {labels}")
        unknown = sorted(set(answers) - set(labels))
        if unknown:
            raise ParamsError(f"{key}.answers names labels {unknown} that are not in labels {labels}")
        verbalizers = {label: str(answers.get(label, label)) for label in labels}
        if kind == "multilabel" and any("," in a for a in verbalizers.values()):
            raise ParamsError(f"{key}: multi-label answers cannot contain commas (they separate the labels)")
    if positive is not None and positive not in labels:
        raise ParamsError(f"{key}.positive is {positive!r}, not one of labels {labels}")
    if instruction is None:
        instruction = f"Label this text for {name}." + (
            f" Answer with one of: {_answers(verbalizers)}." if kind in ("binary", "multiclass") else ""
        )
        if kind == "multilabel":
            instruction += f" Answer with one or more of, separated by commas: {_answers(verbalizers)}."
    return Task(name, kind, instruction, verbalizers, positive, ordinal=ordinal)


def get_task(dataset: str, name: str, declared: dict[str, Task] | None = None) -> Task:
    """A built-in dataset's task, or for ``table`` one of the tasks ``declared`` in params.yaml."""
    tasks = declared if dataset == "table" else TASKS.get(dataset)
    if tasks is None:
        known = ", ".join([*TASKS, "table"])
        raise ParamsError(f"params.yaml: dataset {dataset!r} is unknown; known datasets: {known}")
    if name not in tasks:
        raise ParamsError(
            f"params.yaml: task {name!r} is not defined for dataset {dataset!r}; known tasks: {', '.join(tasks)}"
        )
    return tasks[name]


def normalize_groups(text: str) -> str:
    """Canonical form of a target-group answer: lower case, single spaces, unique, sorted, or 'none'."""
    groups = {" ".join(part.lower().split()) for part in text.split(",")}
    groups.discard("")
    groups.discard(NONE_TARGET)
    return ", ".join(sorted(groups)) if groups else NONE_TARGET


def group_set(text: str) -> frozenset[str]:
    normalized = normalize_groups(text)
    return frozenset() if normalized == NONE_TARGET else frozenset(normalized.split(", "))

"""Annotation task definitions: what is asked, the allowed answers and how an LLM says them.

Label names say what they mean on their own (``implied_bias``, not ``0``); verbalizers are the short
words the LLM is trained to answer and is scored on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NONE_TARGET = "none"


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # binary | multiclass | generation
    instruction: str
    verbalizers: dict[str, str] = field(default_factory=dict)  # label -> answer text; empty for generation
    positive: str | None = None  # the label ROC-AUC treats as positive (binary)
    # label -> value in [0, 1] for tasks whose labels bin a graded answer: the SBIC paper averages the
    # annotators' values and thresholds the mean at 0.5 ("binarized" F1, comparable with its figures)
    label_values: dict[str, float] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        return list(self.verbalizers)

    @property
    def is_classification(self) -> bool:
        return self.kind in ("binary", "multiclass")

    def verbalize(self, label: str) -> str:
        return self.verbalizers[label] if self.is_classification else label


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


def get_task(dataset: str, name: str) -> Task:
    if dataset not in TASKS:
        raise KeyError(f"params.yaml: dataset {dataset!r} is unknown; known datasets: {', '.join(TASKS)}")
    tasks = TASKS[dataset]
    if name not in tasks:
        raise KeyError(
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

"""``annotune tune``'s search space (params.yaml's ``tune`` section): which keys each system may tune, their
ranges and choices, checked against the sections the systems read before any trial trains (docs/tuning.md)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import Field
from pydantic.dataclasses import dataclass

from annotune.config import SECTION, Bool, Float, Int, Params, Positive, build
from annotune.errors import ParamsError
from annotune.systems import REGISTRY, TUNED

# the params section each tunable system reads (the registry's ``section``), in the order tune searches them
SECTIONS = {name: REGISTRY[name].section for name in TUNED}
# encoder and soft_prompt read one section: a key both read (epochs, batch_size...) is one params.yaml value, so a
# value tuned for one would silently change the other; each tunes only the keys it alone reads (``own_keys``)
OWN_KEYS = {name: REGISTRY[name].own_keys for name in TUNED if REGISTRY[name].own_keys}


@dataclass(frozen=True, config=SECTION)
class Range:
    low: Int | Float  # whole-number bounds: whole-number values
    high: Int | Float
    log: Bool = False

    def values(self) -> list:
        return [self.low, self.high]

    def contains(self, value) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and self.low <= value <= self.high

    def suggest(self, trial, key: str):
        whole = isinstance(self.low, int) and isinstance(self.high, int)
        return (trial.suggest_int if whole else trial.suggest_float)(key, self.low, self.high, log=self.log)


@dataclass(frozen=True, config=SECTION)
class Choices:
    choices: Annotated[list[Any], Field(min_length=1)]

    def values(self) -> list:
        return self.choices

    def contains(self, value) -> bool:
        return value in self.choices

    def suggest(self, trial, key: str):
        return trial.suggest_categorical(key, self.choices)


Space = Annotated[dict[str, Any], Field(min_length=1)]  # params key -> Range or Choices, parsed by parse_space


@dataclass(frozen=True, config=SECTION)
class TuneParams:
    trials: Positive = 8
    systems: list[Literal[tuple(SECTIONS)]] = dataclasses.field(default_factory=lambda: list(SECTIONS))
    tasks: list[str] | None = None
    metric: Literal["macro_f1", "accuracy"] = "macro_f1"  # scores every binary and multiclass task has
    storage: Annotated[str, Field(min_length=1)] = "sqlite:///metrics/tune/studies.db"
    prune: Bool = True
    startup_trials: Positive = 3
    # written by `annotune tune profile`: the budget, metric and studies of the tuned values in use
    applied: dict[str, Any] = dataclasses.field(default_factory=lambda: {"trials": None, "metric": None, "studies": []})
    space: dict[Literal[tuple(SECTIONS)], Space] = dataclasses.field(default_factory=dict)


def section_with(params: Params, values: dict[str, Any], prefix: str = ""):
    """The section of the dotted keys ``values`` (all of one section), with them set and validated."""
    name = next(iter(values)).partition(".")[0]
    section = getattr(params, name)
    changed = {key.partition(".")[2]: value for key, value in values.items()}
    return build(type(section), {**dataclasses.asdict(section), **changed}, prefix or f"{name}.")


def parse_space(params: Params, system: str, raw: Any) -> dict[str, Range | Choices]:
    where, section, space = f"tune.space.{system}", SECTIONS[system], {}
    for key, spec in raw.items():
        name, (owner, _, leaf) = f"{where}.{key}", str(key).partition(".")
        if owner != section or not leaf:
            raise ParamsError(f"params.yaml: {name}: {system} reads {section}.* keys only")
        dimension = build(Choices if isinstance(spec, dict) and "choices" in spec else Range, spec, f"{name}.")
        for value in dimension.values():
            section_with(params, {key: value}, f"{where}.{section}.")  # names a key or value the section refuses
        if leaf not in OWN_KEYS.get(system, (leaf,)):
            keys = ", ".join(f"{section}.{k}" for k in OWN_KEYS[system])
            sharing = " and ".join(n for n in SECTIONS if SECTIONS[n] == section)
            raise ParamsError(f"params.yaml: {name}: {sharing} both read it; {system} tunes {keys}")
        if isinstance(dimension, Range) and not (
            dimension.low < dimension.high and (dimension.low > 0 or not dimension.log)
        ):
            raise ParamsError(f"params.yaml: {name}: needs low < high (and low > 0 with log: true)")
        default = getattr(getattr(params, section), leaf)
        if not dimension.contains(default):
            raise ParamsError(f"params.yaml: {name}: excludes {key}: {default!r}, which trial 0 runs (the default)")
        space[key] = dimension
    return space

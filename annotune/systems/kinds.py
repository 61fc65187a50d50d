"""The kind classes, by the registry's ``kind``: ``kind_of(name)`` is how any caller trains or loads a system.

Importing this imports every kind's module (each imports its model code inside its methods); the registry itself
(annotune/systems/registry.py) stays pure data.
"""

from __future__ import annotations

from annotune.systems.adapter import Adapter
from annotune.systems.classifier import Classifier
from annotune.systems.kind import Kind
from annotune.systems.prompted import Prompted
from annotune.systems.registry import spec
from annotune.systems.seq2seq_lora import Seq2SeqLora
from annotune.systems.sklearn_baseline import SklearnBaseline

KINDS: dict[str, Kind] = {
    kind.name: kind for kind in (Adapter(), Prompted(), SklearnBaseline(), Classifier(), Seq2SeqLora())
}


def kind_of(name: str) -> Kind:
    """The kind class of system ``name`` (an unknown name is refused by name)."""
    return KINDS[spec(name).kind]

"""Systems: every way annotune labels a task.

``registry`` is the pure-data registry (no torch: evaluate and report read it); each kind of system is one class in
its own module (``adapter``, ``prompted``, ``sklearn_baseline``, ``classifier``, ``seq2seq_lora``), looked up by
``annotune.systems.kinds.kind_of``; ``meta`` is the typed schema of every model folder's ``annotune.json``.
Importing this package imports the registry only.
"""

from annotune.systems.registry import (
    GROUPS,
    REGISTRY,
    TUNED,
    SystemSpec,
    defaults,
    display_name,
    enabled,
    in_group,
    main,
    of_kind,
    paired_with,
    spec,
    text_writers,
    trained_by,
)

__all__ = [
    "GROUPS",
    "REGISTRY",
    "TUNED",
    "SystemSpec",
    "defaults",
    "display_name",
    "enabled",
    "in_group",
    "main",
    "of_kind",
    "paired_with",
    "spec",
    "text_writers",
    "trained_by",
]

"""The one way in to a loaded system: ``load_system`` looks up the system's kind (annotune/systems/kinds.py) and
asks it to load.

``load_system`` is the one loader that predict (the pipeline's test predictions), annotate, distill, estimate,
``annotune tune``'s trials and the benchmarks call, so a system predicts the same way everywhere and none of them
predicts with a model folder of another task. Model code is imported inside each kind's ``load``: loading a TF-IDF
model does not import torch.
"""

from __future__ import annotations

from pathlib import Path

from annotune.data import paths
from annotune.data.tasks import Task
from annotune.systems.adapter import load_adapter
from annotune.systems.kind import CLASSIFIER_META, Prediction, System, folder_version, refuse_model_of_another_task
from annotune.systems.kinds import kind_of
from annotune.systems.meta import META_FILE as MODEL_META
from annotune.systems.prompted import exemplar_chooser
from annotune.systems.registry import spec

__all__ = [
    "CLASSIFIER_META",
    "MODEL_META",
    "System",
    "exemplar_chooser",
    "folder_version",
    "load_adapter",
    "load_system",
    "refuse_model_of_another_task",
]


def load_system(
    task: Task,
    name: str,
    model_dir: Path | None = None,
    *,
    base_dir: Path = paths.LLM_BASE,
    batch_size: int = 16,
    max_new_tokens: int = 24,
    prompting=None,
    data_dir: Path | None = None,
    seed: int = 0,
) -> System:
    """Load system ``name`` for ``task`` once (from ``model_dir``, default: where the pipeline puts it).

    ``prompting`` (params' section) is needed by prompted systems only, and ``data_dir`` (the task's instruct
    folder, whose train split is the few-shot pool) by few-shot only. A folder trained for another task, or on
    other labels, is refused before anything loads.
    """
    system, kind = spec(name), kind_of(name)
    model_dir = Path(model_dir or system.model_dir(task.name))
    refuse_model_of_another_task(model_dir, task)
    kind.require_trained(system, model_dir)
    how = Prediction(base_dir, batch_size, max_new_tokens, prompting, data_dir, seed)
    return kind.load(system, task, model_dir, how)

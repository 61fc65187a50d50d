"""What every kind of system does, one interface (``Kind``), and the loaded ``System`` it returns.

A kind is one class in its own module (``adapter``, ``prompted``, ``sklearn_baseline``, ``classifier``,
``seq2seq_lora``); ``annotune/systems/kinds.py`` maps the registry's ``kind`` to its one instance. The pipeline's
stages, ``annotune tune``'s trials, annotate, distill, augment, estimate and the benchmarks all go through it:

- ``train(spec, task, train, dev, section, ...)``: train on the rows and save the model folder ``out`` with its
  ``annotune.json`` (annotune/systems/meta.py) and its model card; returns the training stats;
- ``load(spec, task, model_dir, ...)``: a ``System`` whose ``predict(rows)`` gives the prediction records;
- ``card(spec, out, kind=..., ...)``: the folder's README.md (annotune/systems/model_card.py), one writer for
  every kind.

Model code is imported inside the methods: loading a TF-IDF model does not import torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from annotune.data import paths
from annotune.data.tasks import Task
from annotune.errors import DataError, MissingInputError
from annotune.systems.meta import META_FILE, ModelMeta
from annotune.systems.registry import SystemSpec

CLASSIFIER_META = "annotune_classifier.json"  # classifiers.META_FILE, read without importing torch


@dataclass
class System:
    """A loaded system: ``predict`` takes instruct-like rows ``{"id", "input", "label"}`` and returns
    prediction records (``pred``, ``scores`` for classification, ``text`` where it generated)."""

    name: str
    task: Task
    version: str
    predict: Callable[[list[dict]], list[dict]]
    model: object = None  # the loaded LLM, for the runtime footprint (None for the other kinds)
    runtime: object = None


@dataclass(frozen=True)
class Prediction:
    """How a loaded system predicts: batch sizes, and what the prompted kind reads (params' prompting section, the
    task's instruct folder whose train split is the few-shot pool, the exemplars' seed)."""

    base_dir: Path = paths.LLM_BASE  # the base LLM an adapter is loaded on
    batch_size: int = 16
    max_new_tokens: int = 24
    prompting: object = None
    data_dir: Path | None = None
    seed: int = 0


class Kind:
    """One kind of system. Subclasses set ``name`` (the registry's ``kind``) and ``marker`` (the file a trained
    folder holds; None: nothing to train) and implement ``train``, ``load`` and ``card``."""

    name: str = ""
    marker: str | None = None

    def train(
        self,
        spec: SystemSpec,
        task: Task,
        train: list[dict],
        dev: list[dict],
        section,
        *,
        base_dir: Path | None,
        seed: int,
        dataset: str,
        out: Path,
        live: Path | None = None,
    ) -> dict:
        """Train ``spec`` for ``task`` with its params ``section`` on ``base_dir`` (its registry ``base``; None for
        a kind with no base model) and save the folder ``out`` (annotune.json, model card; ``live``: the adapter's
        dvclive folder); returns the training stats."""
        raise NotImplementedError(f"system {spec.name!r} ({self.name}) trains nothing: it needs no training")

    def load(self, spec: SystemSpec, task: Task, model_dir: Path, how: Prediction) -> System:
        raise NotImplementedError

    def card(self, spec: SystemSpec, out: Path, *, kind: str, task: Task, dataset: str, params, **facts) -> Path:
        """The folder's README.md: ``kind`` is what the folder holds (annotune/systems/model_card.py ``KINDS``);
        ``facts``: the training data's fingerprints, base folder, split sizes, run metrics, loading notes."""
        from annotune.systems import model_card

        return model_card.write(out, system=spec.name, kind=kind, task=task, dataset=dataset, params=params, **facts)

    def require_trained(self, spec: SystemSpec, model_dir: Path) -> None:
        """A folder without the kind's marker file: name the stage that trains it."""
        if self.marker is not None and not (Path(model_dir) / self.marker).exists():
            raise MissingInputError(
                f"{model_dir}: no trained model for system {spec.name!r} ({self.marker} missing); "
                f"run `dvc repro {spec.trained_by}`"
            )


def folder_version(folder: Path) -> str:
    """sha256 (16 hex digits) over the names and bytes of every file in ``folder``: changes when the
    weights or the saved params change."""
    digest = hashlib.sha256()
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    if not files:
        raise MissingInputError(f"{folder}: model folder is empty or missing")
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def refuse_model_of_another_task(model_dir: Path, task: Task) -> None:
    """Refuse a model folder trained for another task: its ``annotune.json`` names another task, or (a task
    with a fixed label set) it records other labels (``annotune.json``, else a classifier's own metadata). A
    folder that records neither (a base LLM, a model trained elsewhere) is accepted."""
    from annotune.data.io import read_json

    model_dir = Path(model_dir)
    meta = ModelMeta.read(model_dir)
    trained_for = meta.task
    if trained_for is not None and trained_for != task.name:
        raise DataError(
            f"{model_dir}: a model of task {trained_for!r} ({META_FILE}), not of {task.name!r}; "
            f"pass a model folder of {task.name!r} or ask for task {trained_for!r}"
        )
    if task.kind == "generation":  # an open vocabulary: no label set to compare
        return
    labels_path = ModelMeta.path(model_dir)
    trained_on = meta.labels
    if trained_on is None and (model_dir / CLASSIFIER_META).is_file():
        labels_path = model_dir / CLASSIFIER_META
        trained_on = read_json(labels_path).get("labels")
    if trained_on is not None and sorted(trained_on) != sorted(task.labels):
        raise DataError(
            f"{model_dir}: trained on labels {trained_on} ({labels_path.name}), but task {task.name!r} has "
            f"labels {task.labels}"
        )

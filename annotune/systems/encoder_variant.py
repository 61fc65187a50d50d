"""The encoder trained on training rows other than the gold ones: the systems ``encoder_distilled`` (the
labeller's labels) and ``encoder_augmented`` (gold plus LLM-written posts) train, record and predict alike, through
their kind (annotune/systems/classifier.py: a ``variant_of`` the encoder)."""

from __future__ import annotations

import time
from pathlib import Path

from annotune.data.io import write_jsonl
from annotune.systems.kinds import kind_of
from annotune.systems.predictors import load_system
from annotune.systems.registry import SystemSpec


def train_and_predict(
    system: SystemSpec, task, encoder_dir: Path, splits: tuple[list[dict], list[dict], list[dict]], encoder_params,
    seed: int, batch_size: int, out: Path, predictions_path: Path, **provenance,
) -> dict:  # fmt: skip
    """Train ``system`` on ``splits``' train rows, early-stopped on its dev rows; record in ``out/annotune.json``
    the task, labels, params, the training data's fingerprint and ``provenance``; write the predictions of its test
    rows to ``predictions_path``. Returns the training stats with train_seconds and predict_seconds."""
    train, dev, test = splits
    stats = kind_of(system.name).train(
        system, task, train, dev, encoder_params, base_dir=encoder_dir, seed=seed, dataset="", out=out, **provenance
    )
    started = time.perf_counter()
    write_jsonl(predictions_path, load_system(task, system.name, out, batch_size=batch_size).predict(test))
    return stats | {"predict_seconds": time.perf_counter() - started}

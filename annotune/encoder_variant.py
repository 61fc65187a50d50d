"""The encoder trained on training rows other than the gold ones: the systems ``encoder_distilled`` (the
labeller's labels) and ``encoder_augmented`` (gold plus LLM-written posts) train, record and predict alike."""

from __future__ import annotations

import time
from pathlib import Path

from annotune.classifiers import classifier_predictions, train_classifier
from annotune.config import save_resolved
from annotune.io import data_fingerprints, write_jsonl


def train_and_predict(
    task, encoder_dir: Path, splits: tuple[list[dict], list[dict], list[dict]], encoder_params, seed: int,
    batch_size: int, out: Path, predictions_path: Path, **provenance,
) -> dict:  # fmt: skip
    """Train the encoder on ``splits``' train rows, early-stopped on its dev rows; record in ``out/annotune.json``
    the task, labels, params, the training data's fingerprint and ``provenance``; write the predictions of its test
    rows to ``predictions_path``. Returns the training stats with train_seconds and predict_seconds."""
    train, dev, test = splits
    started = time.perf_counter()
    _, train_stats = train_classifier("encoder", encoder_dir, task, train, dev, encoder_params, seed, out)
    train_seconds = time.perf_counter() - started
    save_resolved(
        out / "annotune.json",
        task=task.name,
        labels=task.labels,
        method="encoder",
        params=encoder_params,
        training_data=data_fingerprints(train=train, dev=dev),
        **provenance,
    )
    started = time.perf_counter()
    write_jsonl(predictions_path, classifier_predictions(task, out, test, batch_size))
    return train_stats | {"train_seconds": train_seconds, "predict_seconds": time.perf_counter() - started}

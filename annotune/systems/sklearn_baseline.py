"""The ``sklearn`` kind: a scikit-learn baseline fitted on the task's training split (annotune/systems/baselines.py:
majority, stratified, TF-IDF + logistic regression), saved in skops' format."""

from __future__ import annotations

import time
from pathlib import Path

from annotune.data.tasks import Task
from annotune.systems.kind import Kind, Prediction, System, folder_version
from annotune.systems.registry import SystemSpec


class SklearnBaseline(Kind):
    name = "sklearn"
    marker = "model.skops"  # baselines.MODEL_FILE

    def train(self, spec, task, train, dev, section, *, base_dir, seed, dataset, out, live=None) -> dict:
        from annotune.data.io import data_fingerprints
        from annotune.systems import baselines
        from annotune.systems.meta import write

        started = time.perf_counter()  # the training time goes into the cost per 1,000 items (evaluate)
        baselines.save(baselines.train(spec.recipe, task, train, section, seed, dev), out)
        stats = {"train_seconds": round(time.perf_counter() - started, 3), "train_rows": len(train)}
        training_data = data_fingerprints(train=train, dev=dev)
        write(out, task=task.name, labels=task.labels, method=spec.recipe, params=section, stats=stats,
              training_data=training_data)  # fmt: skip
        self.card(spec, out, kind="sklearn", task=task, dataset=dataset, params=section, base_dir=None,
                  training_data=training_data, sizes={"train": len(train)}, metrics={})  # fmt: skip
        return stats

    def load(self, spec: SystemSpec, task: Task, model_dir: Path, how: Prediction) -> System:
        from annotune.systems import baselines

        fitted = baselines.load(model_dir)

        def predict(rows):
            return baselines.predict(task, fitted, rows)

        return System(spec.name, task, folder_version(model_dir), predict)

"""Baselines that need no LLM. ``majority``: always the most frequent training label, with the
training label distribution as its probabilities (so ROC-AUC is defined, and uninformative)."""

from __future__ import annotations

from collections import Counter

from annotune.tasks import Task

METHODS = ("majority",)


def train_majority(task: Task, train: list[dict]) -> dict:
    counts = Counter(r["label"] for r in train)
    label = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    model = {"method": "majority", "label": label}
    if task.is_classification:
        model["distribution"] = {lab: counts.get(lab, 0) / len(train) for lab in task.labels}
    return model


def predict_majority(task: Task, model: dict, rows: list[dict]) -> list[dict]:
    predictions = []
    for row in rows:
        prediction = {"id": row["id"], "gold": row["label"], "pred": model["label"]}
        if task.is_classification:
            prediction["scores"] = model["distribution"]
        predictions.append(prediction)
    return predictions


def train(method: str, task: Task, train_rows: list[dict]) -> dict:
    if method not in METHODS:
        raise KeyError(f"params.yaml: baselines.methods has unknown method {method!r}; known: {', '.join(METHODS)}")
    return train_majority(task, train_rows)


def predict(task: Task, model: dict, rows: list[dict]) -> list[dict]:
    return predict_majority(task, model, rows)

"""Baselines that need no LLM, fitted on the task's training split.

- ``majority``: always the most frequent training label (or target text).
- ``stratified``: a label drawn at random from the training distribution (seeded per row).
- ``tfidf_logreg``: TF-IDF + logistic regression with probabilities; for set-valued tasks (multi-label,
  target groups) one-vs-rest over the labels seen in train (``class_weight: balanced`` balances each label's own
  binary problem), predicting the set of those at or above their threshold: per label, the one maximizing its F1
  on dev (``multilabel_thresholds: dev``, stored in the model; ``dev_thresholds``) or 0.5 (``fixed``, or a model
  saved before thresholds existed).
  Declared attributes (rows' ``attributes``) are features beside the TF-IDF of the text alone: one-hot for
  a categorical one (a value unseen in train: all zeros), standardized for a numeric one.

Classification baselines give a probability per label, so ROC-AUC and calibration apply to all of
them; ``majority`` and ``stratified`` give the training distribution (uninformative by design).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path

from annotune.config import BaselinesParams
from annotune.data.tasks import Task
from annotune.errors import DataError, MissingInputError, ParamsError
from annotune.systems.prompts import post_text

METHODS = ("majority", "stratified", "tfidf_logreg")
MODEL_FILE = "model.skops"
# Types a baseline file may hold beyond skops' own trusted set (scikit-learn estimators, numpy, builtins
# containers): none. skops refuses any other type instead of running it, as unpickling would.
TRUSTED_TYPES: list[str] = []


def _distribution(task: Task, rows: list[dict]) -> dict[str, float]:
    counts = Counter(r["label"] for r in rows)
    labels = task.labels if task.is_classification else sorted(counts)
    return {label: counts.get(label, 0) / len(rows) for label in labels}


def attribute_kinds(rows: list[dict]) -> dict[str, str]:
    """The rows' attributes and their kinds (prepare writes numeric ones as numbers, categorical as text); {}
    without attributes. Every row must carry the same ones."""
    if "attributes" not in rows[0]:
        return {}
    kinds = {
        name: "numeric" if isinstance(v, float | int) else "categorical" for name, v in rows[0]["attributes"].items()
    }
    for row in rows:
        if list(row.get("attributes") or {}) != list(kinds):
            raise DataError(
                f"row {row['id']}: attributes {sorted(row.get('attributes') or {})}, but the first row has "
                f"{sorted(kinds)}; rerun prepare and instruct_format"
            )
    return kinds


def _inputs(rows: list[dict], attributes: dict[str, str]):
    """What the fitted pipeline reads: the texts, or with attributes one row per record (text, then the
    attributes' values in declared order) for the column transformer."""
    if not attributes:
        return [r["input"] for r in rows]
    import numpy as np

    lacking = [r["id"] for r in rows if not set(attributes) <= set(r.get("attributes") or {})]
    if lacking:
        raise DataError(
            f"rows {lacking[:5]} lack the attributes {list(attributes)} this model was trained with; declare them "
            "(prepare.attributes) as they were at training"
        )
    return np.array([[post_text(r), *(r["attributes"][name] for name in attributes)] for r in rows], dtype=object)


def _features(vectorizer, attributes: dict[str, str]):
    """TF-IDF of the text, and with attributes their one-hot (categorical) and standardized (numeric) columns."""
    if not attributes:
        return vectorizer
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = {
        kind: [i for i, k in enumerate(attributes.values(), start=1) if k == kind]
        for kind in ("categorical", "numeric")
    }
    parts = [("text", vectorizer, 0)]
    if columns["categorical"]:
        parts.append(("categorical", OneHotEncoder(handle_unknown="ignore"), columns["categorical"]))
    if columns["numeric"]:
        parts.append(("numeric", StandardScaler(), columns["numeric"]))
    return ColumnTransformer(parts)


def _tfidf_logreg(task: Task, rows: list[dict], params: BaselinesParams, seed: int, attributes: dict[str, str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MultiLabelBinarizer

    inputs = _inputs(rows, attributes)
    vectorizer = TfidfVectorizer(
        max_features=params.tfidf_max_features, ngram_range=(1, params.tfidf_max_ngram), sublinear_tf=True
    )
    features = _features(vectorizer, attributes)
    classifier = LogisticRegression(
        C=params.logreg_c, class_weight=params.class_weight, max_iter=2000, random_state=seed
    )
    if task.is_classification:
        return make_pipeline(features, classifier).fit(inputs, [r["label"] for r in rows]), None
    binarizer = MultiLabelBinarizer()
    targets = binarizer.fit_transform([sorted(task.as_set(r["label"])) for r in rows])
    seen = targets.sum(axis=0) > 0
    model = make_pipeline(features, OneVsRestClassifier(classifier)).fit(inputs, targets[:, seen])
    return model, [g for g, keep in zip(binarizer.classes_, seen, strict=True) if keep]


def dev_thresholds(scores, targets) -> list[float]:
    """Each label's decision threshold (a score counts as positive at or above it): among that label's dev scores,
    the one maximizing its F1 on dev. ``scores`` and ``targets`` are (rows, labels) arrays. A label without a
    positive in dev keeps 0.5, the fixed default: its F1 is 0 at every threshold, so dev gives no evidence to move
    it, and a threshold guessed from the training prevalence would predict it blindly.

    The tuned thresholds are kept only when they beat 0.5 on the dev posts' mean set-F1 (the metric each post's
    label set is judged by): a label with one or two dev positives is tuned to a low threshold that catches them
    and then fires on most posts; on SBIC's targetMinority (64 dev posts) that cut the encoder's test set-F1 from
    61.3 to 3.6. Shared by the classifiers."""
    import numpy as np
    from sklearn.metrics import precision_recall_curve

    scores, targets = np.asarray(scores, dtype=float), np.asarray(targets, dtype=bool)
    thresholds = []
    for label_scores, label_targets in zip(scores.T, targets.T, strict=True):
        if not label_targets.any():
            thresholds.append(0.5)
            continue
        precision, recall, candidates = precision_recall_curve(label_targets, label_scores)
        # the curve ends at (precision 1, recall 0) with no threshold; F1 is 0 where both are
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        thresholds.append(float(candidates[np.argmax(f1)]))
    fixed = [0.5] * len(thresholds)
    if set_f1(scores >= np.array(thresholds), targets) > set_f1(scores >= np.array(fixed), targets):
        return thresholds
    return fixed


def set_f1(predicted, targets) -> float:
    """Mean over rows of the F1 between the predicted and the gold label set, (rows, labels) booleans; a row
    where both sets are empty scores 1, as ``metrics.generation.set_scores`` scores 'none' against 'none'."""
    import numpy as np

    predicted, targets = np.asarray(predicted, dtype=bool), np.asarray(targets, dtype=bool)
    hits = (predicted & targets).sum(axis=1)
    sizes = predicted.sum(axis=1) + targets.sum(axis=1)
    return float(np.where(sizes == 0, 1.0, 2 * hits / np.maximum(sizes, 1)).mean())


def _group_thresholds(task: Task, model: dict, params: BaselinesParams, dev: list[dict] | None) -> dict[str, float]:
    """The fitted one-vs-rest model's per-label thresholds (0.5 each for ``fixed`` or without a dev split)."""
    groups = model["groups"]
    if params.multilabel_thresholds == "fixed" or not dev:
        return dict.fromkeys(groups, 0.5)
    scores = model["pipeline"].predict_proba(_inputs(dev, model.get("attributes", {})))
    targets = [[group in task.as_set(r["label"]) for group in groups] for r in dev]
    return dict(zip(groups, dev_thresholds(scores, targets), strict=True))


def train(
    method: str, task: Task, rows: list[dict], params: BaselinesParams, seed: int, dev: list[dict] | None = None
) -> dict:
    """The fitted baseline; ``dev`` (the dev split) sets a multi-label TF-IDF model's per-label thresholds."""
    if method not in METHODS:
        raise ParamsError(f"params.yaml: systems.baselines has unknown method {method!r}; known: {', '.join(METHODS)}")
    if not rows:
        raise DataError(f"baseline {method} for {task.name}: the training split is empty")
    distribution = _distribution(task, rows)
    model = {"method": method, "task": task.name, "seed": seed, "distribution": distribution}
    if task.kind == "multilabel":  # each label's share of the training rows: its constant score
        model["label_frequency"] = {
            label: sum(label in task.as_set(r["label"]) for r in rows) / len(rows) for label in task.labels
        }
    if method == "majority":
        model["label"] = max(sorted(distribution), key=distribution.get)
    elif method == "tfidf_logreg":
        attributes = attribute_kinds(rows)
        if attributes:  # only then: a model without attributes is saved as it was before they existed
            model["attributes"] = attributes
        model["pipeline"], model["groups"] = _tfidf_logreg(task, rows, params, seed, attributes)
        if not task.is_classification:
            model["thresholds"] = _group_thresholds(task, model, params, dev)
    return model


def _row_rng(seed: int, row_id: str) -> random.Random:
    """Per-row generator: a row's draw does not depend on which other rows are predicted."""
    return random.Random(int(hashlib.sha1(f"{seed}:{row_id}".encode()).hexdigest()[:12], 16))


def predict(task: Task, model: dict, rows: list[dict]) -> list[dict]:
    method, distribution = model["method"], model["distribution"]
    if method == "majority":
        preds = [model["label"]] * len(rows)
        scores = [distribution] * len(rows)
    elif method == "stratified":
        labels, weights = list(distribution), list(distribution.values())
        preds = [_row_rng(model["seed"], r["id"]).choices(labels, weights)[0] for r in rows]
        scores = [distribution] * len(rows)
    elif task.is_classification:
        pipeline = model["pipeline"]
        probabilities = pipeline.predict_proba(_inputs(rows, model.get("attributes", {})))
        classes = list(pipeline.classes_)
        scores = [
            {label: float(p[classes.index(label)]) if label in classes else 0.0 for label in task.labels}
            for p in probabilities
        ]
        preds = [max(task.labels, key=s.get) for s in scores]
    else:
        probabilities = model["pipeline"].predict_proba(_inputs(rows, model.get("attributes", {})))
        scores = [dict(zip(model["groups"], map(float, row), strict=True)) for row in probabilities]
        thresholds = model.get("thresholds", {})  # a model saved before thresholds existed: 0.5 each
        preds = [task.from_set(g for g, p in s.items() if p >= thresholds.get(g, 0.5)) for s in scores]
    if task.kind == "multilabel" and method in ("majority", "stratified"):
        scores = [model["label_frequency"]] * len(rows)
    out = []
    for i, row in enumerate(rows):
        prediction = {"id": row["id"], "gold": row["label"], "pred": preds[i]}
        if task.is_classification or task.kind == "multilabel":  # labels never seen in train score 0
            prediction["scores"] = {label: round(float(scores[i].get(label, 0.0)), 6) for label in task.labels}
        out.append(prediction)
    return out


def save(model: dict, folder: Path) -> None:
    """The fitted baseline in skops' format: no code runs when it is loaded (a pickle would run any)."""
    import skops.io

    folder.mkdir(parents=True, exist_ok=True)
    skops.io.dump(model, folder / MODEL_FILE)


def load(folder: Path) -> dict:
    """Load a baseline saved by ``save``; a file holding any type outside the trusted set is refused by name."""
    import skops.io

    path = folder / MODEL_FILE
    if not path.exists():
        raise MissingInputError(f"{path} not found; run `dvc repro baseline_train` first")
    untrusted = sorted(set(skops.io.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
    if untrusted:
        raise DataError(f"{path}: refusing to load untrusted types {untrusted} (not a baseline annotune saved)")
    return skops.io.load(path, trusted=TRUSTED_TYPES)

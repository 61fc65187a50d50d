"""Choosing what humans label next (annotune/workflows/select.py), measured: a pool-based simulation on SBIC.

    python -m benchmarks.active [--tasks hasBiasedImplication offensiveYN] [--seeds 0 1 2] [--out FILE.json]

The pool is SBIC posts with known gold that no system trained on (``data/pool/pool.jsonl``: the 4,366 posts of
SBIC.v2.dev.csv the 300-post test split did not take); the test set is the test split
(``data/prepared/test.jsonl``). Per seed: a seed set of ``--seed-size`` posts drawn at random from the pool is
"labelled" (its gold revealed), the project's ``tfidf_logreg`` system (TF-IDF 1-2-grams + logistic regression,
params ``baselines``) is trained on the labelled posts, scored on the test set (macro-F1) and labels the rest of
the pool; ``annotune.workflows.select`` picks the next ``--batch`` posts by each strategy, their gold is revealed, and
so
on up to ``--max-labels``. Every strategy starts from the same seed set at a given seed. Strategies: ``random``,
``least_confidence``, ``margin`` and ``mixture`` (a 20% random slice + margin). For a binary task
least_confidence and margin rank alike, so their curves coincide.

``--learner encoder`` trains the project's encoder (MiniLM, params ``encoder``, early-stopped on the dev split)
instead of TF-IDF at every point; ``--chooser tfidf_logreg`` with it keeps TF-IDF as the model that ranks the pool,
so the curve says whether items chosen with one model help another trained later (Lowell et al., arXiv
1807.04801). ``--strategies`` narrows the strategies (an encoder curve costs minutes per point on a CPU).

Printed: the mean macro-F1 (and the spread over seeds) at each number of labels, and the labels each strategy
needs for its mean curve to reach random's mean macro-F1 at ``--max-labels``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from annotune.config import load_params
from annotune.data.io import read_jsonl, write_json
from annotune.data.tasks import Task
from annotune.evaluation.metrics.classification import classification_metrics
from annotune.systems import baselines, classifiers
from annotune.systems.prompts import instruct_record
from annotune.workflows.select import least_confidence, margin, select

STRATEGIES = {"random": None, "least_confidence": least_confidence, "margin": margin, "mixture": margin}
RANDOM_SHARE = 0.2


def labelled_rows(task: Task, path: Path) -> list[dict]:
    """The file's posts with a gold label for ``task``, as the systems read them."""
    return [instruct_record(task, r) for r in read_jsonl(path) if r["labels"].get(task.name) is not None]


class Learner:
    """A system trained on the labelled posts and predicting any posts: ``tfidf_logreg`` or ``encoder``."""

    def __init__(self, name: str, task: Task, dev: list[dict], params):
        self.name, self.task, self.dev, self.params = name, task, dev, params
        self.folder = tempfile.TemporaryDirectory()

    def fit(self, rows: list[dict]) -> None:
        if self.name == "tfidf_logreg":
            self.model = baselines.train("tfidf_logreg", self.task, rows, self.params.baselines, self.params.seed)
        else:
            folder = Path(self.folder.name)
            classifiers.train_classifier(
                "encoder", Path("models/base/encoder"), self.task, rows, self.dev, self.params.encoder,
                self.params.seed, folder,
            )  # fmt: skip
            self.model = classifiers.load_classifier(folder)

    def predict(self, rows: list[dict]) -> list[dict]:
        if self.name == "tfidf_logreg":
            return baselines.predict(self.task, self.model, rows)
        model, tokenizer, meta = self.model
        batch = self.params.predict.batch_size
        return classifiers.loaded_classifier_predictions(model, tokenizer, meta, rows, batch, self.task)


def curve(task, pool, test, strategy, seed, seed_size, batch, max_labels, learner, chooser) -> list[dict]:
    """Macro-F1 of ``learner`` on the test set after each batch, from the seed set to ``max_labels`` labels; the
    pool ranked by ``chooser`` (the learner itself when they are one)."""
    rng = np.random.default_rng(seed)
    labelled = {int(i) for i in rng.choice(len(pool), size=seed_size, replace=False)}
    points, step = [], 0
    while True:
        rows = [pool[i] for i in sorted(labelled)]
        learner.fit(rows)
        macro_f1 = classification_metrics(task, learner.predict(test))["macro_f1"]
        points.append({"labels": len(labelled), "macro_f1": macro_f1})
        if len(labelled) + batch > max_labels:
            return points
        unlabelled = [i for i in range(len(pool)) if i not in labelled]
        ranking = STRATEGIES[strategy]
        uncertainty = None
        if ranking is not None:
            if chooser is not learner:
                chooser.fit(rows)
            predictions = chooser.predict([pool[i] for i in unlabelled])
            uncertainty = ranking(np.array([[p["scores"][label] for label in task.labels] for p in predictions]))
        candidates = [{"id": str(i)} for i in unlabelled]
        chosen = select(candidates, strategy, batch, seed * 1000 + step, RANDOM_SHARE, uncertainty, strategy)
        labelled |= {int(r["id"]) for r in chosen}
        step += 1


def labels_to_reach(sizes: list[int], means: np.ndarray, target: float) -> int | None:
    reached = [size for size, mean in zip(sizes, means, strict=True) if mean >= target]
    return reached[0] if reached else None


def summarize(task_name: str, runs: dict[str, list[list[dict]]]) -> dict:
    sizes = [p["labels"] for p in runs["random"][0]]
    table = {
        strategy: np.array([[p["macro_f1"] for p in points] for points in per_seed])
        for strategy, per_seed in runs.items()
    }
    means = {s: values.mean(axis=0).round(4) for s, values in table.items()}
    target = float(means["random"][-1])
    return {
        "task": task_name,
        "labels": sizes,
        "mean": {s: values.tolist() for s, values in means.items()},
        "min": {s: values.min(axis=0).round(4).tolist() for s, values in table.items()},
        "max": {s: values.max(axis=0).round(4).tolist() for s, values in table.items()},
        "random_at_max": target,
        "labels_to_reach_random_at_max": {s: labels_to_reach(sizes, mean, target) for s, mean in means.items()},
    }


def markdown(summary: dict, seeds: int, max_labels: int) -> str:
    strategies = list(summary["mean"])
    lines = [
        f"**{summary['task']}**: macro-F1 (%) on the test split, mean over {seeds} seeds [min–max]",
        "",
        "| labels | " + " | ".join(strategies) + " |",
        "|---|" + "---|" * len(strategies),
    ]
    for k, size in enumerate(summary["labels"]):
        cells = [
            f"{100 * summary['mean'][s][k]:.1f} [{100 * summary['min'][s][k]:.1f}–{100 * summary['max'][s][k]:.1f}]"
            for s in strategies
        ]
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    needed = summary["labels_to_reach_random_at_max"]
    lines.append(
        f"| labels to reach random's {100 * summary['random_at_max']:.1f} at {max_labels} | "
        + " | ".join(str(needed[s]) if needed[s] is not None else f"> {max_labels}" for s in strategies)
        + " |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["hasBiasedImplication", "offensiveYN"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--seed-size", type=int, default=50)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--max-labels", type=int, default=500)
    parser.add_argument("--pool", type=Path, default=Path("data/pool/pool.jsonl"))
    parser.add_argument("--test", type=Path, default=Path("data/prepared/test.jsonl"))
    parser.add_argument("--learner", choices=["tfidf_logreg", "encoder"], default="tfidf_logreg")
    parser.add_argument("--chooser", choices=["tfidf_logreg", "encoder"], help="default: the learner")
    parser.add_argument("--strategies", nargs="+", choices=list(STRATEGIES), default=list(STRATEGIES))
    parser.add_argument(
        "--dev", type=Path, default=Path("data/prepared/dev.jsonl"), help="the encoder's early stopping"
    )
    parser.add_argument("--out", type=Path, help="write the curves and summaries (JSON) here too")
    args = parser.parse_args()
    params = load_params()
    results = []
    for task_name in args.tasks:
        task = params.task(task_name)
        pool, test = labelled_rows(task, args.pool), labelled_rows(task, args.test)
        learner = Learner(args.learner, task, labelled_rows(task, args.dev), params)
        chooser = learner if args.chooser in (None, args.learner) else Learner(args.chooser, task, [], params)
        started = time.perf_counter()
        runs = {
            strategy: [
                curve(task, pool, test, strategy, seed, args.seed_size, args.batch, args.max_labels, learner, chooser)
                for seed in args.seeds
            ]
            for strategy in args.strategies
        }
        summary = summarize(task_name, runs)
        summary |= {"pool": len(pool), "test": len(test), "seconds": round(time.perf_counter() - started, 1)}
        results.append({"summary": summary, "runs": runs})
        print(markdown(summary, len(args.seeds), args.max_labels))
        print(f"(pool {len(pool)} posts, test {len(test)}; {summary['seconds']} s)\n")
    if args.out:
        write_json(args.out, {"args": {k: str(v) for k, v in vars(args).items()}, "results": results})


if __name__ == "__main__":
    main()

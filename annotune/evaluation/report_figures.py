"""The report's PNG figures, rendered with matplotlib from the same rows as the DVC plots: per task the ROC,
precision-recall and reliability curves with every system overlaid, and the confusion matrices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend

from annotune.data.tasks import Task


def load_plot_rows(folder: Path) -> dict[str, list[dict]]:
    """{system: rows} from a DVC plot folder of <system>.json files; empty if the folder is absent."""
    return {f.stem: json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    return path


def line_figure(curves: dict[str, list[dict]], x: str, y: str, title: str, diagonal: bool, path: Path) -> Path | None:
    curves = {s: rows for s, rows in curves.items() if rows}
    if not curves:
        return None
    figure = Figure(figsize=(5.5, 4.5))
    axes = figure.subplots()
    for system, rows in curves.items():
        axes.plot([r[x] for r in rows], [r[y] for r in rows], marker="." if len(rows) < 15 else None, label=system)
    if diagonal:
        axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel=x, ylabel=y, title=title, xlim=(0, 1), ylim=(0, 1.02))
    axes.legend(fontsize=7, loc="best")
    return _save(figure, path)


def confusion_figure(matrices: dict[str, list[dict]], labels: list[str], title: str, path: Path) -> Path | None:
    if not matrices:
        return None
    columns_n = min(3, len(matrices))
    rows_n = -(-len(matrices) // columns_n)
    figure = Figure(figsize=(3.4 * columns_n, 3.1 * rows_n))
    grid = figure.subplots(rows_n, columns_n, squeeze=False)
    for axes, (system, rows) in zip(grid.flat, matrices.items(), strict=False):
        counts = np.zeros((len(labels), len(labels)), dtype=int)
        for r in rows:
            counts[labels.index(r["gold"]), labels.index(r["pred"])] += 1
        axes.imshow(counts, cmap="Blues")
        for (i, j), value in np.ndenumerate(counts):
            axes.text(j, i, str(value), ha="center", va="center", fontsize=8)
        axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
        axes.set_yticks(range(len(labels)), labels, fontsize=7)
        axes.set_title(system, fontsize=9)
        axes.set_xlabel("predicted", fontsize=7)
        axes.set_ylabel("gold", fontsize=7)
    for axes in list(grid.flat)[len(matrices) :]:
        axes.axis("off")
    figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


# plot folder -> (x, y, title, with the diagonal); a line per system
CURVES = {
    "roc": ("fpr", "tpr", "ROC", True),
    "pr": ("recall", "precision", "precision-recall", False),
    "reliability": ("confidence", "accuracy", "reliability", True),
    "coverage": ("coverage", "accuracy", "coverage vs accuracy (hand-off)", False),
}


def task_figures(task: Task, plots: Path, figures: Path) -> list[Path]:
    """PNGs for one task from its DVC plot folders; the kinds without data (generation) are left out."""
    confusion = load_plot_rows(plots / "confusion")
    seen = sorted({r[k] for rows in confusion.values() for r in rows for k in ("gold", "pred")})
    labels = task.labels + ["absent"] if task.kind == "multilabel" else task.labels or seen
    made = [confusion_figure(confusion, labels, f"{task.name}: confusion", figures / f"{task.name}_confusion.png")]
    for name, (x, y, title, diagonal) in CURVES.items():
        path = figures / f"{task.name}_{name}.png"
        made.append(line_figure(load_plot_rows(plots / name), x, y, f"{task.name}: {title}", diagonal, path))
    return [path for path in made if path is not None]


# the pipeline's gold sample is the test split, stratified on the classification labels

"""dvc.yaml's top-level sections written out from params.yaml: DVC cannot loop over a params list there.

- ``plots:``: the charts of the review page (``annotune plots``). ``CHARTS`` describes each chart (DVC template,
  axes, titles, legend) in the page's order, ``KIND_CHARTS`` which of them a task kind fills; ``task_charts`` /
  ``declared_charts`` / ``definitions_yaml`` write the definitions for params.yaml's tasks and systems
  (``annotune plots definitions`` prints them; tests/test_plots_page.py checks that dvc.yaml matches).
- ``artifacts:``: every trained model folder as a model-registry artifact named ``<system>-<task>``, so that
  DVC Studio and ``dvc artifacts get`` see it (``annotune artifacts`` prints the section; tests/test_artifacts.py
  checks dvc.yaml). The paths come from the systems registry, as the stages that write the folders have them.

    annotune artifacts                                             # the section for params.yaml
    dvc artifacts get <repo> qlora-hasBiasedImplication -o adapter/   # a registered version (docs/reproducing.md)
"""

from __future__ import annotations

import argparse

from annotune.data import paths

# chart -> DVC template, x field, y field, title, x label, y label, legend title. The order is the page's.
CHARTS = {
    "roc": ("simple", "fpr", "tpr", "ROC curves", "false positive rate", "true positive rate", "system"),
    "pr": ("simple", "recall", "precision", "precision-recall curves", "recall", "precision", "system"),
    "reliability": (
        "simple",
        "confidence",
        "accuracy",
        "reliability diagram",
        "mean confidence in the bin",
        "accuracy in the bin",
        "system",
    ),
    "confusion": ("confusion", "pred", "gold", "confusion matrices", "predicted label", "gold label", "system"),
    "loss": ("simple", "step", "loss", "QLoRA training and dev loss", "optimizer step", "loss", "series"),
}
# which evaluate plot folders a task kind fills (annotune/evaluation/metrics/comparison.py)
KIND_CHARTS = {
    "binary": ("roc", "pr", "reliability", "confusion"),
    "multiclass": ("roc", "pr", "reliability", "confusion"),
    "multilabel": ("roc", "pr", "confusion"),
    "generation": ("confusion",),
}
# the Trainer's loss series (dvclive, metrics/train/<task>/plots/metrics): per step, and per evaluation on dev
LOSS_FILES = ("loss.tsv", "eval/loss.tsv")


def task_charts(task: str, kind: str, systems: list[str], qlora: bool) -> list[dict]:
    """The top-level plot definitions of one task: one chart per kind overlaying the systems."""
    charts = []
    for chart in (*KIND_CHARTS[kind], *(("loss",) if qlora else ())):
        template, x, y, title, x_label, y_label, _ = CHARTS[chart]
        if chart == "loss":
            sources = {f"{paths.TRAIN_CURVES.as_posix()}/{task}/plots/metrics/{name}": y for name in LOSS_FILES}
        else:
            sources = {f"{paths.PLOTS.as_posix()}/{task}/{chart}/{system}.json": y for system in systems}
        props = {"template": template, "x": x, "y": sources, "title": f"{task}: {title}"}
        charts.append({f"{task}/{chart}": props | {"x_label": x_label, "y_label": y_label}})
    return charts


def declared_charts(params) -> list[dict]:
    """dvc.yaml's top-level `plots:` for ``params`` (annotune.config.Params): DVC cannot loop over a params
    list there, so the section is written out; tests/test_plots_page.py checks that it matches."""
    from annotune.systems import enabled, spec

    charts = []
    adapters = any(spec(name).kind == "adapter" for name in params.systems.finetuned)  # their training curves
    for task in params.tasks:
        systems = enabled(params.systems, task, params.distill.tasks, params.augment.tasks)
        charts += task_charts(task, params.task(task).kind, systems, adapters)
    return charts


def declared_artifacts(params) -> dict[str, dict]:
    """``<system>-<task>`` -> {path, type, desc, labels} for every system that trains a folder per task."""
    from annotune.systems import REGISTRY, enabled

    artifacts = {}
    for task in params.tasks:
        for name in enabled(params.systems, task, params.distill.tasks, params.augment.tasks):
            spec = REGISTRY[name]
            if spec.trained_by is None:  # the prompted LLM: the base model, no folder of its own
                continue
            artifacts[f"{name}-{task}"] = {
                "path": str(spec.model_dir(task)),
                "type": "model",
                "desc": f"{spec.display} for {task} (stage {spec.trained_by}; its annotune.json says how)",
                "labels": [task, name, spec.kind],
            }
    return artifacts


def section_yaml(name: str, value) -> str:
    import io

    from ruamel.yaml import YAML

    yaml, out = YAML(), io.StringIO()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 200
    yaml.dump({name: value}, out)
    return out.getvalue()


def definitions_yaml(params) -> str:
    return section_yaml("plots", declared_charts(params))


def main(argv: list[str]) -> None:
    """``annotune artifacts``: print dvc.yaml's ``artifacts:`` for params.yaml."""
    from annotune.config import load_params

    parser = argparse.ArgumentParser(
        prog="annotune artifacts",
        description="Print dvc.yaml's `artifacts:` section (DVC's model registry) for params.yaml's tasks and systems.",
    )
    parser.parse_args(argv)
    print(section_yaml("artifacts", declared_artifacts(load_params())), end="")

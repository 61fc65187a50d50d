"""evaluate@<task>: every system's predictions vs gold -> metrics/<task>.json and plot data.

Per system: the task's metrics with bootstrap intervals, calibration (classification), a paired
bootstrap test against the best baseline and agreement with the human annotators where the test posts
keep their per-annotator labels. Those labels are first checked as a reference (``human.diagnostics``:
annotations per item by gold label, implausible agreement, items per annotator, test-retest); a reference
found unusable gets no Alt-Test and no "reaches the human reference" for any system (null, with the reason).
The systems are those params.yaml's ``systems`` section switches on (and the
distilled and augmented encoders for the tasks in ``distill.tasks`` and ``augment.tasks``; the augmented one is also
tested paired against the encoder), so a system removed from params leaves the metrics even if
its old predictions file is still on disk.
"""

import argparse
from pathlib import Path

from annotune.config import load_params
from annotune.data.io import read_json, read_jsonl, write_json
from annotune.evaluation.metrics.agreement import annotator_agreement
from annotune.evaluation.metrics.alt_test import alt_test
from annotune.evaluation.metrics.comparison import compare_systems
from annotune.evaluation.metrics.cost import human_cost, system_cost
from annotune.evaluation.metrics.reference import diagnose
from annotune.runtime import cli
from annotune.systems import baselines, enabled, paired_with, spec
from annotune.systems.predictors import CLASSIFIER_META

PLOTS = ("confusion", "reliability", "roc", "pr", "coverage")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("task")
    parser.add_argument("--predictions", type=Path, required=True, help="folder of <system>.jsonl files")
    parser.add_argument("--prepared", type=Path, required=True, help="prepared test split (annotations)")
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--plots", type=Path, required=True)
    args = parser.parse_args(argv)
    params = load_params()
    task, settings = params.task(args.task), params.evaluate
    systems = enabled(params.systems, args.task, params.distill.tasks, params.augment.tasks)
    predictions = {s: read_jsonl(args.predictions / f"{s}.jsonl") for s in systems}
    prepared = {r["id"]: r for r in read_jsonl(args.prepared)}
    rows = predictions[systems[0]]  # every system predicts the same test rows in the same order
    annotations = [prepared.get(p["id"], {}).get("annotations", {}).get(task.name) for p in rows]
    annotators = [prepared.get(p["id"], {}).get("annotators") for p in rows]
    metrics, plots = compare_systems(
        task,
        predictions,
        params.systems.baselines,
        annotations if all(a is not None for a in annotations) else None,
        settings.bootstrap_resamples,
        settings.confidence_level,
        settings.calibration_bins,
        params.seed,
        params.annotate.target_accuracy,
        {s: paired_with(s) for s in systems if paired_with(s)},
    )
    if "human" in metrics:
        with_ids = all(a is not None for a in annotators)
        gold = [prepared[p["id"]]["labels"][task.name] for p in rows]
        repeats = [(prepared[p["id"]].get("repeats") or {}).get(task.name) for p in rows]
        diagnostics = diagnose(
            task, annotations, annotators if with_ids else None, gold, repeats, settings.alt_test_min_items
        )
        metrics["human"]["diagnostics"] = diagnostics
        if with_ids:
            metrics["human"] |= annotator_agreement(annotations, annotators, settings.annotator_min_posts)
        if not diagnostics["usable"]:  # no decision against a reference that cannot be one
            withheld = "the annotators' labels cannot serve as a reference: " + "; ".join(diagnostics["reasons"])
            for system in systems:
                metrics[system] |= {"reaches_human_reference": None, "alt_test": None, "reference_withheld": withheld}
        elif with_ids:
            scoring = "accuracy" if task.kind in ("binary", "multiclass") else "jaccard"  # label sets: partial credit
            for system in systems:  # can the system replace one of the annotators? (None: too few annotators)
                labels = [p["pred"] for p in predictions[system]]
                verdict = alt_test(
                    annotations,
                    annotators,
                    labels,
                    settings.alt_test_epsilon,
                    settings.alt_test_alpha,
                    settings.alt_test_min_items,
                    scoring,
                )
                if verdict is not None:
                    metrics[system]["alt_test"] = verdict
        metrics["human"] |= human_cost(params.cost.annotators_per_item, params.cost.human_label_price)
    for system in systems:  # what the system's run measured: memory (LLMs), and time -> cost per 1,000 items
        runtime_file = args.predictions / f"{system}.runtime.json"
        if runtime_file.exists():
            runtime = read_json(runtime_file)
            metrics[system] |= runtime.get("footprint", {})
            if "timing" in runtime:
                metrics[system] |= system_cost(runtime["timing"], params.cost.machine_hour_price)
            if "augmentation" in runtime:  # what the augment stage generated, kept and dropped (the report shows it)
                metrics[system]["augmentation"] = runtime["augmentation"]
    if task.kind in ("multilabel", "generation"):  # which decision thresholds each multi-label head predicted with
        for system in systems:
            thresholds = decision_thresholds(system, spec(system).model_dir(args.task))
            if thresholds:
                metrics[system]["thresholds"] = thresholds
    write_json(args.metrics, metrics)
    for name in PLOTS:  # every declared plot folder exists; the classification ones stay empty for generation
        (args.plots / name).mkdir(parents=True, exist_ok=True)
    for name, rows in plots.items():
        if rows:  # no curve for a system without scores, or with one class in gold
            write_json(args.plots / f"{name}.json", rows)


def decision_thresholds(system: str, model_dir: Path) -> dict | None:
    """A multi-label head's per-label thresholds as its model folder stores them (classifiers and TF-IDF):
    ``{"source": "dev" | "0.5", "values": {label: threshold}}``; ``dev``: chosen on the dev split and kept by the
    set-F1 guard, ``0.5``: fixed, or the dev choice lost to 0.5 on dev. None for a system without thresholds."""
    kind = spec(system).kind
    if kind == "classifier" and (model_dir / CLASSIFIER_META).is_file():
        values = read_json(model_dir / CLASSIFIER_META).get("thresholds")
    elif kind == "sklearn" and (model_dir / baselines.MODEL_FILE).is_file():
        values = baselines.load(model_dir).get("thresholds")
    else:
        return None
    if not values:
        return None
    return {"source": "0.5" if all(v == 0.5 for v in values.values()) else "dev", "values": values}


if __name__ == "__main__":
    cli.run(main)

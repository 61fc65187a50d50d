"""The report's lines on how the systems were built: the distilled and the augmented encoder against the encoder
on gold, the decision thresholds of the multi-label heads, and whether the systems were tuned."""

from __future__ import annotations

from annotune.data.tasks import Task
from annotune.evaluation.metrics.classification import main_metric
from annotune.evaluation.metrics.formatting import number
from annotune.systems import REGISTRY, display_name, in_group


def distillation_section(task: Task, metrics: dict, labeller: str) -> str | None:
    """LLM as data labeller: the encoder trained on the labeller's labels (params' ``distill.labeller``) against
    the encoder trained on gold and the labeller itself, on the main metric; None when the task has no distilled
    system."""
    key = main_metric(task)
    # the distilled system, and the system it is a variant of: the same model trained on gold
    variant = next((name for name in in_group("distilled") if name in metrics), None)
    if variant is None or REGISTRY[variant].variant_of not in metrics or labeller not in metrics:
        return None
    distilled, gold, llm = (metrics[s][key] for s in (variant, REGISTRY[variant].variant_of, labeller))
    name = display_name(labeller)
    text = (
        f"LLM as data labeller ({key}): encoder on the labels of {name} {number(distilled, True)}, encoder on gold "
        f"{number(gold, True)}, {name} itself {number(llm, True)}. "
    )
    if llm > gold:
        closed = (distilled - gold) / (llm - gold)
        return text + f"Training the encoder on the labeller's labels closes {100 * closed:.0f}% of the gap to it."
    return text + (
        "The encoder trained on gold already beats the labeller, so there is no gap to close; the distilled encoder "
        f"keeps {100 * distilled / llm:.0f}% of the labeller's score at encoder inference cost "
        "(rows/s: README, Annotating new data)."
    )


def thresholds_line(metrics: dict) -> str | None:
    """Which decision thresholds each multi-label head predicted with (evaluate reads them from its model folder);
    None when no system has any."""
    heads = {s: r["thresholds"] for s, r in metrics.items() if s != "human" and r.get("thresholds")}
    if not heads:
        return None
    parts = []
    for system, thresholds in heads.items():
        values = thresholds["values"].values()
        moved = sorted(v for v in values if v != 0.5)  # a label without a positive in dev keeps 0.5
        if thresholds["source"] == "0.5":
            parts.append(f"{display_name(system)} 0.5 for every label")
        else:
            parts.append(
                f"{display_name(system)} chosen on dev, {len(moved)} of {len(values)} labels off 0.5 "
                f"(median {moved[len(moved) // 2]:.2f})"
            )
    return (
        "Decision thresholds of the multi-label heads: "
        + "; ".join(parts)
        + ". Dev thresholds are kept only where they beat 0.5 on the dev posts' set-F1 (docs/systems.md)."
    )


def augmentation_section(task: Task, metrics: dict) -> str | None:
    """LLM as data augmenter: what the generator wrote, what the filters dropped and why, the augmented encoder
    against the encoder trained on gold alone (paired test), and a few kept and dropped posts per label; None
    when the task has no augmented system."""
    augmented = next((metrics[name] for name in in_group("augmented") if name in metrics), None)
    if not augmented or "augmentation" not in augmented:
        return None
    stats, key = augmented["augmentation"], main_metric(task)
    dropped = ", ".join(f"{reason} {n}" for reason, n in stats["dropped"].items() if n) or "none"
    lines = [
        "### LLM as data augmenter",
        "",
        f"{stats['generator']} ({stats['method']}) wrote {stats['candidates']} posts in "
        f"{stats['generation_seconds']:.0f} s; kept {stats['kept']} (per label: "
        + ", ".join(f"{label} {n}" for label, n in stats["kept_per_label"].items())
        + f"); dropped: {dropped}. Distinct bigrams: {number(stats['diversity_kept']['distinct_2'], True)}% of the "
        f"kept posts' bigrams, {number(stats['diversity_gold']['distinct_2'], True)}% of the gold posts'.",
    ]
    if "p_vs_paired" in augmented:
        delta = augmented[f"{key}_delta_vs_paired"]
        lines.append(
            f"Encoder on gold + kept posts {number(augmented[key], True)} {key}, "
            f"{'+' if delta >= 0 else '−'}{100 * abs(delta):.1f} points against the encoder on gold alone "
            f"(paired bootstrap p = {augmented['p_vs_paired']:.3f})."
        )
    for label, shown in stats["examples"].items():
        kept = "; ".join(f"“{_quoted(text)}”" for text in shown["kept"]) or "none"
        dropped = "; ".join(f"“{_quoted(r['text'])}” ({r['reason']})" for r in shown["dropped"]) or "none"
        lines += ["", f"- {label}: kept {kept}", f"- {label}: dropped {dropped}"]
    return "\n".join(lines)


def _quoted(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def tuning_sentence(tuned: dict | None) -> str:
    """Whether the systems ran at values ``annotune tune`` chose, with how many trials each (its profile sets
    ``tune.applied``), or at params.yaml's own values."""
    if not tuned or not tuned.get("trials"):
        return (
            "No system was tuned: each ran at params.yaml's values (`annotune tune` searches every system with the "
            "same number of trials: docs/tuning.md)."
        )
    # a study is named <dataset>-<system>-<hash> (annotune.workflows.tune.study_name); system names hold no "-"
    systems = ", ".join(display_name(study.split("-")[1]) for study in tuned.get("studies", []))
    return (
        f"Tuned with {tuned['trials']} trials each on dev {tuned['metric']} (`annotune tune`): {systems}; any other "
        "system ran at params.yaml's values."
    )

"""metrics/summary.md: per task, every system's main metrics with intervals, the human reference, the
published figures and the plots (PNG, rendered with matplotlib from the same rows as the DVC plots)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # the object API: no pyplot state, no display backend

from annotune.estimate import markdown, planner_sentence
from annotune.metrics.alt_test import PAPER_MIN_ITEMS
from annotune.metrics.classification import main_metric
from annotune.published import PUBLISHED_HUMAN, PUBLISHED_SYSTEMS
from annotune.systems import display_name
from annotune.tasks import Task


# (metric key, column title, higher is better, with an interval, as a percentage)
def columns(task: Task) -> list[tuple[str, str, bool, bool, bool]]:
    if task.kind == "multilabel":
        return [
            ("micro_f1", "micro-F1", True, True, True),
            ("macro_f1", "macro-F1", True, True, True),
            ("subset_accuracy", "subset accuracy", True, True, True),
            ("hamming_loss", "Hamming loss", False, False, False),
            ("roc_auc", "mean per-label ROC-AUC", True, False, True),
            ("invalid_answer_rate", "invalid answers", False, False, True),
        ]
    if not task.is_classification:
        return [
            ("exact_match", "exact match", True, True, True),
            ("set_f1", "set-F1", True, True, True),
            ("bleu2", "BLEU-2", True, False, True),
            ("rouge_l", "ROUGE-L", True, False, True),
            ("top10_group_recall", "top-10 group recall", True, False, True),
            ("targets_any_group_accuracy", "targets-any accuracy", True, False, True),
            ("kappa_vs_human_majority", "κ vs humans", True, False, False),
        ]
    paper = []
    if task.kind == "binary":
        paper = [("positive_f1", f"F1 ({task.positive})", True, False, True)]
    if task.label_values:
        paper = [("binarized_f1", "F1 collapsed at 0.5", True, False, True)]
    return [
        ("accuracy", "accuracy", True, True, True),
        ("macro_f1", "macro-F1", True, True, True),
        ("roc_auc", "ROC-AUC", True, True, True),
        ("pr_auc", "PR-AUC", True, False, True),
        ("brier", "Brier", False, False, False),
        ("ece", "ECE", False, False, False),
        *paper,
        ("coverage_at_target_accuracy", "coverage @ target", True, False, True),
        ("kappa_vs_human_majority", "κ vs humans", True, False, False),
        ("ac1_vs_human_majority", "AC1 vs humans", True, False, False),
    ]


def number(value, percent: bool) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if percent else f"{value:.3f}"


def cell(row: dict, key: str, interval: bool, percent: bool) -> str:
    text = number(row.get(key), percent)
    if interval and row.get(f"{key}_ci_low") is not None:
        text += f" [{number(row[f'{key}_ci_low'], percent)}, {number(row[f'{key}_ci_high'], percent)}]"
    return text


def system_table(task: Task, metrics: dict, published: list[dict]) -> str:
    """Markdown table, systems sorted by the main metric; the best value of each column in bold, the
    best system starred; published rows last, in italics."""
    systems = sorted((s for s in metrics if s != "human"), key=lambda s: -(metrics[s].get(main_metric(task)) or 0))
    cols = columns(task)
    best = {}
    for key, _, higher, _, _ in cols:
        values = [metrics[s][key] for s in systems if metrics[s].get(key) is not None]
        if values:
            best[key] = max(values) if higher else min(values)
    lines = [
        "| system | " + " | ".join(title for _, title, *_ in cols) + " | p vs best baseline |",
        "|---|" + "---|" * (len(cols) + 1),
    ]
    for rank, system in enumerate(systems):
        row = metrics[system]
        cells = []
        for key, _, _, interval, percent in cols:
            text = cell(row, key, interval, percent)
            cells.append(f"**{text}**" if row.get(key) is not None and row[key] == best.get(key) else text)
        p = "best baseline" if row.get("is_best_baseline") else number(row.get("p_vs_best_baseline"), False)
        name = display_name(system) + (" ★" if rank == 0 else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {p} |")
    for reference in published:
        cells = [number(reference.get(key), percent) for key, _, _, _, percent in cols]
        lines.append(f"| *published: {reference['system']}* | " + " | ".join(cells) + " | – |")
    return "\n".join(lines)


def _interval(row: dict, key: str) -> str:
    """`` [low, high]`` where ``row`` holds the interval of ``key``, else nothing."""
    if row.get(f"{key}_ci_low") is None:
        return ""
    return f" [{number(row[f'{key}_ci_low'], False)}, {number(row[f'{key}_ci_high'], False)}]"


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _selection_lines(selection: dict) -> list[str]:
    if not selection.get("tested"):
        return []
    per_label = selection["per_label"]
    counts = ", ".join(
        f"{label} {row['mean_annotations']:.2f} ({row['items']} items"
        + (f", unanimous on {number(row['unanimous_share'], True)}%" if row.get("unanimous_share") is not None else "")
        + ")"
        for label, row in per_label.items()
    )
    lines = [
        f"- *Selection* ({'flagged' if selection['flagged'] else 'not flagged'}): annotators per item by gold label: "
        f"{counts}; Kruskal–Wallis p {_p(selection['kruskal_wallis_p'])}."
    ]
    if selection["flagged"]:
        fewest, most = per_label[selection["fewest"]], per_label[selection["most"]]
        agreement = (
            f" (unanimous on {number(fewest['unanimous_share'], True)}% of them, against "
            f"{number(most['unanimous_share'], True)}% of those whose gold is {selection['most']!r})"
            if fewest.get("unanimous_share") is not None and most.get("unanimous_share") is not None
            else ""
        )
        lines.append(
            f"  What it does: the items whose gold is {selection['fewest']!r} lack "
            f"{number(selection['shortfall'], True)}% of the annotations the items whose gold is "
            f"{selection['most']!r} get. If the missing annotators would have answered otherwise, the agreement "
            f"measured on those items{agreement} is overstated, their gold leans towards {selection['fewest']!r}, and "
            "the reference below (α, AC1, κ) is too high: a system measured against it looks worse than it is."
        )
    return lines


def diagnostics_section(human: dict) -> str | None:
    """The findings on the annotators' labels (evaluate's ``human.diagnostics``) in a few lines: whether they can
    serve as a reference, and why not."""
    found = human.get("diagnostics")
    if not found:
        return None
    usable = "yes: no finding below rules it out." if found["usable"] else "**no**: the flagged findings rule it out."
    lines = [f"**Is the human reference usable?** {usable}", ""]
    lines += _selection_lines(found["selection"])
    agreement = found["implausible_agreement"]
    if agreement["items"]:
        never = agreement["never_disagreed"]
        lines.append(
            f"- *Agreement* on {found['compared_on']} ({'flagged' if agreement['flagged'] else 'not flagged'}): "
            f"unanimous on {number(agreement['unanimous_share'], True)}% of the {agreement['items']} items with 2+ "
            f"annotators, α {number(agreement['krippendorff_alpha'], False)}"
            + (f"; never disagreed on {', '.join(map(repr, never))}" if never else "")
            + "."
        )
    coverage = found.get("coverage") or {}
    if coverage.get("items_per_annotator"):
        spread = coverage["items_per_annotator"]
        needed = coverage.get("test_items_for_paper_min")
        lines.append(
            f"- *Coverage*: {coverage['annotators']} annotators on the items with 2+ labels, median "
            f"{spread['median']:g} items each (interquartile {spread['q1']:g}–{spread['q3']:g}, most {spread['max']}); "
            f"{coverage['below_min_items']} below the Alt-Test's minimum in use ({coverage['min_items']} items), "
            f"{coverage['at_paper_min_items']} at the paper's {coverage['paper_min_items']}"
            + (
                f"; {needed['annotators']} annotators would get {coverage['paper_min_items']} items each from about "
                f"{needed['test_items']:,} test items drawn as these were"
                if needed
                else ""
            )
            + "."
        )
    repeats = found.get("repeats")
    if repeats is not None:
        lines.append(
            f"- *Repeats*: {repeats['annotator_items']} item × annotator pairs labelled more than once "
            f"({repeats['annotators']} annotators): the same label each time in {number(repeats['agreement'], True)}%, "
            f"test–retest α {number(repeats['krippendorff_alpha'], False)}."
            if repeats["annotator_items"]
            else "- *Repeats*: no annotator labelled an item twice (no test–retest agreement to report)."
        )
    return "\n".join(lines)


def human_section(task: Task, metrics: dict, published: dict | None) -> str:
    """The findings on the annotators' labels first, then their agreement with intervals, and which systems
    reach it (a paired bootstrap of the kappa difference)."""
    human = metrics.get("human")
    if not human:
        return "No per-annotator labels for this split: no human reference."
    systems = [s for s in metrics if s != "human"]
    reference = (
        f"Human reference on {human['posts']} test posts with 2+ annotators "
        f"({human['annotations_per_post']:.2f} per post): "
        f"Krippendorff's α {number(human['krippendorff_alpha'], False)}{_interval(human, 'krippendorff_alpha')} "
        "(nominal"
        + (
            f"; {number(human['krippendorff_alpha_ordinal'], False)} at the ordinal level, the labels being ordered"
            if human.get("krippendorff_alpha_ordinal") is not None
            else ""
        )
        + f"), Gwet's AC1 {number(human.get('ac1'), False)}{_interval(human, 'ac1')}, "
        f"pairwise agreement {number(human['pairwise_agreement'], True)}%, one annotator vs the majority of the others "
        f"(leave-one-out) κ {number(human['loo_kappa'], False)}{_interval(human, 'loo_kappa')}"
        + (
            f" (per annotator, {human['annotators_scored']} annotators with {human['annotator_min_posts']}+ posts: "
            f"median {number(human['annotator_kappa_median'], False)}, interquartile "
            f"{number(human['annotator_kappa_q1'], False)}–{number(human['annotator_kappa_q3'], False)})"
            if human.get("annotator_kappa_median") is not None
            else ""
        )
        + ". "
    )
    if any(metrics[s].get("reference_withheld") for s in systems):
        reference += "No system is measured against it: it cannot serve as a reference (above)."
    else:
        reach = [display_name(s) for s in systems if metrics[s].get("reaches_human_reference")]
        reference += (
            "Systems whose κ against the human majority is not significantly below the leave-one-out κ (paired "
            f"bootstrap of the difference): {', '.join(reach) or 'none'}."
        )
        compared = [s for s in systems if metrics[s].get("kappa_delta_vs_human") is not None]
        if compared:
            closest = max(compared, key=lambda s: metrics[s]["kappa_delta_vs_human"])
            row = metrics[closest]
            reference += (
                f" Closest: {display_name(closest)}, κ difference {number(row['kappa_delta_vs_human'], False)}"
                f"{_interval(row, 'kappa_delta_vs_human')}, p {number(row['p_vs_human'], False)}."
            )
    parts = [part for part in (diagnostics_section(human), reference) if part]
    if published:
        parts.append(
            f"*Published, {published['source']}:* pairwise agreement "
            f"{number(published['pairwise_agreement'], True)}%, α {published['krippendorff_alpha']:.2f}."
        )
    return "\n\n".join(parts)


def money(value: float, currency: str) -> str:
    """Amounts under one unit keep four decimals: a system's cost per 1,000 items is often a fraction of a cent."""
    return f"{value:.2f} {currency}" if value >= 1 else f"{value:.4f} {currency}"


def chosen_system(task: Task, metrics: dict) -> tuple[str | None, list[str]]:
    """The system a team lead would pick, and the systems that pass the Alt-Test: among those that pass, the
    one with the highest advantage probability; when none passes, the best on the main metric."""
    systems = [s for s in metrics if s != "human"]
    passing = [s for s in systems if (metrics[s].get("alt_test") or {}).get("passed")]
    if passing:
        return max(passing, key=lambda s: metrics[s]["alt_test"]["advantage_probability"]), passing
    key = main_metric(task)
    scored = [s for s in systems if metrics[s].get(key) is not None]
    return (max(scored, key=lambda s: metrics[s][key]) if scored else None), passing


def alt_scope(alt: dict) -> str:
    """How many annotators the Alt-Test tested, on how many items each, against the paper's 30."""
    tested = f"{alt['annotators_tested']} annotators tested"
    if alt.get("min_items") is None:  # a metrics file from before the minimum was recorded
        return tested
    weaker = "" if alt["min_items"] >= PAPER_MIN_ITEMS else ": fewer make each annotator's test weaker"
    return (
        f"{tested}, each on {alt['min_items']}+ shared items (the paper asks {PAPER_MIN_ITEMS}{weaker}; "
        f"{alt['annotators_skipped']} annotators with fewer left out)"
    )


def verdict(task: Task, metrics: dict, train_rows: int | None, currency: str) -> str:
    """Two or three sentences a team lead can act on, built only from numbers in the task's metrics (and the
    training split's size from prepare's): who passes the Alt-Test, against how many annotators tested on how
    many items each, at what label budget, at what cost per 1,000 items against people, and the hand-off
    alternative. When the annotators' labels cannot serve as a reference (``human.diagnostics``) it says so and
    why, instead of a pass or fail."""
    chosen, passing = chosen_system(task, metrics)
    if chosen is None:
        return "**Verdict:** no system was evaluated."
    tested = [s for s in metrics if s != "human" and metrics[s].get("alt_test")]
    budget = f" after training on {train_rows} labelled posts" if train_rows else ""
    row, human = metrics[chosen], metrics.get("human", {})
    found = human.get("diagnostics") or {}
    if found and not found["usable"]:
        key = main_metric(task)
        first = (
            "**Verdict:** the annotators' labels for this task cannot serve as a reference: "
            + "; ".join(found["reasons"])
            + f". So no Alt-Test and no comparison with the annotators; the best system on {key}{budget} is "
            f"{display_name(chosen)} ({number(row.get(key), True)})."
        )
    elif passing:
        alt = metrics[chosen]["alt_test"]
        names = ", ".join(display_name(s) for s in passing)
        first = (
            f"**Verdict:** {names} {'passes' if len(passing) == 1 else 'pass'} the Alt-Test against the annotators"
            f"{budget} (ε {alt['epsilon']:.2f}, α {alt['alpha']:.2f}); {display_name(chosen)} wins against "
            f"{number(alt['winning_rate'], True)}% of the {alt_scope(alt)}, with an advantage probability of "
            f"{alt['advantage_probability']:.3f}."
        )
    elif tested:
        best = max(tested, key=lambda s: metrics[s]["alt_test"]["winning_rate"])
        alt = metrics[best]["alt_test"]
        first = (
            f"**Verdict:** no system can replace the annotators yet{budget}: none passes the Alt-Test "
            f"(ε {alt['epsilon']:.2f}, α {alt['alpha']:.2f}); the best, {display_name(best)}, wins against "
            f"{number(alt['winning_rate'], True)}% of the {alt_scope(alt)}, 50% needed."
        )
    else:
        coverage = found.get("coverage") or {}
        have = (
            f"; {coverage['annotators'] - coverage['below_min_items']} of the {coverage['annotators']} annotators "
            f"have {coverage['min_items']}+"
            if coverage.get("items_per_annotator")
            else ""
        )
        first = (
            f"**Verdict:** no Alt-Test{budget}: it needs 3+ annotators with enough shared test items "
            f"(`evaluate.alt_test_min_items`, the paper asks {PAPER_MIN_ITEMS}{have}); the best system on "
            f"{main_metric(task)} is {display_name(chosen)}."
        )
    sentences = [first]
    if row.get("cost_per_1000") is not None and human.get("cost_per_1000") is not None:
        sentences.append(
            f"Labelling 1,000 more items with {display_name(chosen)} costs {money(row['cost_per_1000'], currency)} "
            f"({row['machine_hours_per_1000']:.3f} machine-hours on the machine that ran it, after a one-time "
            f"training cost of {money(row['train_cost'], currency)}), against "
            f"{money(human['cost_per_1000'], currency)} for {human['annotators_per_item']} annotators per item."
        )
    if row.get("coverage_at_target_accuracy") is not None:
        sentences.append(
            f"Hand-off instead: {display_name(chosen)} labels {number(row['coverage_at_target_accuracy'], True)}% of "
            f"the items alone at {number(row['target_accuracy'], True)}% accuracy and sends the rest to people."
        )
    return " ".join(sentences)


def replacement_table(metrics: dict, currency: str) -> str | None:
    """Per system: the Alt-Test and what 1,000 more items cost; None when no system has either."""
    systems = [s for s in metrics if s != "human" and (metrics[s].get("alt_test") or "cost_per_1000" in metrics[s])]
    if not systems:
        return None
    lines = [
        f"| system | Alt-Test winning rate | passed | advantage probability | cost / 1,000 items ({currency}) "
        f"| machine-hours / 1,000 | training cost ({currency}) |",
        "|---|---|---|---|---|---|---|",
    ]
    for system in sorted(systems, key=lambda s: -((metrics[s].get("alt_test") or {}).get("advantage_probability", 0))):
        row, alt = metrics[system], metrics[system].get("alt_test") or {}
        passed = "–" if not alt else ("yes" if alt["passed"] else "no")
        cells = [
            number(alt.get("winning_rate"), True),
            passed,
            number(alt.get("advantage_probability"), False),
            f"{row['cost_per_1000']:.4f}" if row.get("cost_per_1000") is not None else "–",
            f"{row['machine_hours_per_1000']:.4f}" if row.get("machine_hours_per_1000") is not None else "–",
            f"{row['train_cost']:.4f}" if row.get("train_cost") is not None else "–",
        ]
        lines.append(f"| {display_name(system)} | " + " | ".join(cells) + " |")
    human = metrics.get("human", {})
    if human.get("cost_per_1000") is not None:
        lines.append(
            f"| *people ({human['annotators_per_item']} per item)* | – | – | – | {human['cost_per_1000']:.4f} | – | – |"
        )
    return "\n".join(lines)


def distillation_section(task: Task, metrics: dict) -> str | None:
    """LLM as data labeller: the encoder trained on the LLM's labels against the encoder trained on gold
    and the LLM itself, on the main metric; None when the task has no distilled system."""
    key = main_metric(task)
    if "encoder_distilled" not in metrics or "encoder" not in metrics or "qlora" not in metrics:
        return None
    distilled, gold, llm = (metrics[s][key] for s in ("encoder_distilled", "encoder", "qlora"))
    text = (
        f"LLM as data labeller ({key}): encoder on QLoRA's labels {number(distilled, True)}, encoder on gold "
        f"{number(gold, True)}, QLoRA itself {number(llm, True)}. "
    )
    if llm > gold:
        closed = (distilled - gold) / (llm - gold)
        return text + f"Training the encoder on the LLM's labels closes {100 * closed:.0f}% of the gap to the LLM."
    return text + (
        "The encoder trained on gold already beats the LLM, so there is no gap to close; the distilled encoder "
        f"keeps {100 * distilled / llm:.0f}% of the LLM's score at encoder inference cost "
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
    augmented = metrics.get("encoder_augmented")
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
STRATIFIED_GOLD = (
    "The test split is a stratified sample: each test item is weighted by its inclusion probability, and on the "
    "labels it was stratified on the weighted humans-only share equals the true share by construction. How the "
    "intervals fare with a random gold sample: docs/estimates.md (coverage over 1,000 random draws)."
)


def _planner(estimates: dict[str, dict] | None, task: Task, currency: str) -> list[str]:
    sentence = planner_sentence(estimates[task.name], currency) if estimates and task.name in estimates else None
    return ["", sentence] if sentence else []


def tuning_sentence(tuned: dict | None) -> str:
    """Whether the systems ran at values ``annotune tune`` chose, with how many trials each (its profile sets
    ``tune.applied``), or at params.yaml's own values."""
    if not tuned or not tuned.get("trials"):
        return (
            "No system was tuned: each ran at params.yaml's values (`annotune tune` searches every system with the "
            "same number of trials: docs/tuning.md)."
        )
    # a study is named <dataset>-<system>-<hash> (annotune.tune.study_name); system names hold no "-"
    systems = ", ".join(display_name(study.split("-")[1]) for study in tuned.get("studies", []))
    return (
        f"Tuned with {tuned['trials']} trials each on dev {tuned['metric']} (`annotune tune`): {systems}; any other "
        "system ran at params.yaml's values."
    )


def summary(
    dataset: str,
    tasks: list[Task],
    metrics: dict[str, dict],
    figures: dict[str, list[Path]],
    base: Path,
    train_rows: int | None = None,
    currency: str = "USD",
    estimates: dict[str, dict] | None = None,
    tuned: dict | None = None,
) -> str:
    """The whole report; figure links are relative to ``base`` (the folder of summary.md). ``estimates``: per task,
    the estimate stage's result (metrics/estimate/<task>.json), shown as a section and one planner sentence.
    ``tuned``: params' ``tune.applied`` (written by a tuned profile), which each verdict states."""
    parts = [
        f"# annotune report: {dataset}",
        "",
        "Scores in % with 95% bootstrap intervals in brackets (paired: every system resampled on the same test "
        "rows); Brier, ECE and Cohen's κ as fractions. Bold: best value of the column; ★: best system on the "
        "task's main metric. p: paired bootstrap test against the best baseline on the main metric. "
        "Published rows are figures from the literature, not rerun here. Coverage @ target: the largest share "
        "of rows a system can label alone (those above a confidence threshold) while reaching "
        "`annotate.target_accuracy` on them, measured on the test rows (an upper bound; annotate picks "
        "its threshold on dev). AC1: Gwet's agreement coefficient against the human majority, which does not "
        "collapse when one label dominates as κ does. Alt-Test (Calderon, Reichart & Dror 2025): leaving one "
        "annotator out at a time, does the system represent the others at least as well as that annotator, "
        "within the margin ε (`evaluate.alt_test_epsilon`)? A system passes when it wins against at least half "
        "of the annotators tested (one-sided t-tests, Benjamini–Yekutieli corrected). Costs: prediction time "
        "measured on the machine that ran this pipeline at `cost.machine_hour_price`, against "
        "`cost.human_label_price` per label for people.",
    ]
    for task in tasks:
        result = metrics[task.name]
        parts += [
            "",
            f"## {task.name} ({task.kind}; main metric: {main_metric(task)}; "
            f"{next(r['n'] for s, r in result.items() if s != 'human')} test rows)",
            "",
            verdict(task, result, train_rows, currency) + " " + tuning_sentence(tuned),
            *_planner(estimates, task, currency),
            "",
            system_table(task, result, PUBLISHED_SYSTEMS.get(dataset, {}).get(task.name, [])),
            "",
            human_section(task, result, PUBLISHED_HUMAN.get(dataset)),
        ]
        thresholds = thresholds_line(result)
        if thresholds:
            parts += ["", thresholds]
        replacement = replacement_table(result, currency)
        if replacement:
            parts += ["", replacement]
        distillation = distillation_section(task, result)
        if distillation:
            parts += ["", distillation]
        augmentation = augmentation_section(task, result)
        if augmentation:
            parts += ["", augmentation]
        if estimates and estimates.get(task.name, {}).get("systems"):
            section = markdown(estimates[task.name], currency)
            parts += ["", "### Measuring with the model's labels (estimates)", "", section, "", STRATIFIED_GOLD]
        if figures.get(task.name):
            parts += ["", " ".join(f"![{p.stem}]({p.relative_to(base).as_posix()})" for p in figures[task.name])]
    return "\n".join(parts) + "\n"

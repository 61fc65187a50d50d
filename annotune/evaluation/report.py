"""metrics/summary.md: per task, every system's main metrics with intervals, the human reference, the
published figures and the plots (PNG, rendered with matplotlib from the same rows as the DVC plots)."""

from __future__ import annotations

from pathlib import Path

from annotune.data.tasks import Task
from annotune.evaluation.estimate_markdown import markdown, planner_sentence
from annotune.evaluation.metrics.alt_test import PAPER_MIN_ITEMS
from annotune.evaluation.metrics.classification import main_metric
from annotune.evaluation.metrics.formatting import number
from annotune.evaluation.published import PUBLISHED_HUMAN, PUBLISHED_SYSTEMS
from annotune.evaluation.report_human import human_section
from annotune.evaluation.report_sections import (
    augmentation_section,
    distillation_section,
    thresholds_line,
    tuning_sentence,
)
from annotune.systems import display_name


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


STRATIFIED_GOLD = (
    "The test split is a stratified sample: each test item is weighted by its inclusion probability, and on the "
    "labels it was stratified on the weighted humans-only share equals the true share by construction. How the "
    "intervals fare with a random gold sample: docs/estimates.md (coverage over 1,000 random draws)."
)


def _planner(estimates: dict[str, dict] | None, task: Task, currency: str) -> list[str]:
    sentence = planner_sentence(estimates[task.name], currency) if estimates and task.name in estimates else None
    return ["", sentence] if sentence else []


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
    labeller: str | None = None,
) -> str:
    """The whole report; figure links are relative to ``base`` (the folder of summary.md). ``estimates``: per task,
    the estimate stage's result (metrics/estimate/<task>.json), shown as a section and one planner sentence.
    ``tuned``: params' ``tune.applied`` (written by a tuned profile), which each verdict states. ``labeller``:
    params' ``distill.labeller``, the system whose labels the distilled encoder learned (None: no distillation
    lines)."""
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
        distillation = distillation_section(task, result, labeller) if labeller else None
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

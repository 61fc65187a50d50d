"""The report's human reference: the checks on the annotators' labels (are they fit to be a reference?), their
agreement with intervals, the published figures beside them, and each system against them."""

from __future__ import annotations

from annotune.data.tasks import Task
from annotune.evaluation.metrics.formatting import number
from annotune.systems import display_name


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

"""The estimates (annotune/evaluation/estimate.py) as Markdown: the table of each system's and label's intervals, the
shift warning and the planner sentence. Used by the report (metrics/summary.md) and ``annotune estimate``.
"""

from __future__ import annotations


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def markdown(result: dict, currency: str) -> str:
    """The estimates as a report section: one table row per system and label."""
    if not result.get("systems"):
        return f"_No estimate: {result.get('why', 'no system to estimate with')}._"
    lines = [
        f"Gold sample: {result['gold_items']} items labelled by people; pool: {result['pool_items']} items only "
        f"the model labelled; {round(100 * result['level'])}% intervals. PPI++ corrects the model's labels on the "
        "pool with its errors on the gold sample; *as precise as* is the number of human labels alone that would "
        "give an interval as narrow.",
        "",
        "| system | label | humans only | model + humans (PPI++) | as precise as | saved | true share |",
        "|---|---|---|---|---|---|---|",
    ]
    for system, estimate in result["systems"].items():
        for label, row in estimate["labels"].items():
            alone, ppi = row["humans_only"], row["ppi"]
            truth = percent(row["true_share"]) if "true_share" in row else "–"
            lines.append(
                f"| {system} | {label} | {percent(alone['estimate'])} [{percent(alone['low'])}, "
                f"{percent(alone['high'])}] | {percent(ppi['estimate'])} [{percent(ppi['low'])}, "
                f"{percent(ppi['high'])}] | {row['effective_human_labels']:,.0f} labels | "
                f"{row['cost_saved']:,.2f} {currency} | {truth} |"
            )
        if estimate["shift"]["shifted"]:
            lines.append(
                f"\n**Warning ({system})**: its labels are distributed differently on the pool than on the gold "
                f"sample (p = {estimate['shift']['p_value']:.2g}): the pool may not be the population the gold "
                "sample was drawn from."
            )
    sentence = planner_sentence(result, currency)
    return "\n".join(lines) + ("\n\n" + sentence if sentence else "")


def planner_sentence(result: dict, currency: str) -> str | None:
    """One sentence: for the label whose share is hardest to measure (the most human labels alone), the human
    labels an interval of the target width needs, alone and with the system that saves the most."""
    plans = [
        (label, system, row["plan"])
        for system, estimate in result.get("systems", {}).items()
        for label, row in estimate["labels"].items()
        if row["plan"]["with_model"]
    ]
    if not plans:
        return None
    hardest = max(plans, key=lambda p: p[2]["humans_only"]["labels"])[0]
    label, system, planned = min((p for p in plans if p[0] == hardest), key=lambda p: p[2]["with_model"]["labels"])
    alone, with_model = planned["humans_only"], planned["with_model"]
    return (
        f"To measure the share of {label} to ±{100 * planned['half_width']:.0f} points takes {alone['labels']:,} "
        f"random human-labelled items alone ({alone['cost']:,.2f} {currency}), or {with_model['labels']:,} with "
        f"{system}'s labels on the rest ({with_model['cost']:,.2f} {currency})."
    )

"""Can the annotators' labels serve as the reference a system is measured against? Four findings on the test
items' per-annotator labels, and the verdict drawn from them (docs/metrics.md, "Is the human reference usable?"):

- ``selection``: does the number of annotations per item depend on the item's gold label? Under a design that
  assigns annotators without looking at the answers it does not; when it does, the annotations missing are not
  missing at random and the agreement left is biased (SBIC's released rows: docs/datasets.md);
- ``implausible_agreement``: agreement at or near perfect over many items, more than independent people give;
- ``coverage``: items per annotator, against the Alt-Test's per-annotator minimum and the paper's 30;
- ``repeats``: where one annotator labelled one item more than once, their agreement with themselves.

Selection or implausible agreement makes the reference unusable: no Alt-Test and no "reaches the human
reference" for any system. Coverage and repeats are reported, never disqualifying.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable

import numpy as np

from annotune.data.tasks import NONE_TARGET, Task
from annotune.evaluation.metrics.agreement import krippendorff_alpha
from annotune.evaluation.metrics.alt_test import MIN_ANNOTATORS, PAPER_MIN_ITEMS
from annotune.evaluation.metrics.formatting import plain_numbers

# Selection is flagged when both hold. The p-value guards against the imbalances chance gives a small test split
# (one test among the few per task, so 0.01 rather than 0.05). The shortfall -- the share of annotations the
# least-annotated label's items lack against the most-annotated label's -- bounds how many dissenting labels may
# be missing: at 10%, if the missing labels disagreed with the ones kept, the pairwise agreement on those items
# could drop by 10 points or more, as large as the margins the verdict decides on (the Alt-Test's epsilon is 0.1
# for crowd workers); a campaign that assigns annotators blind to the answers stays well below it.
SELECTION_MAX_P = 0.01
SELECTION_MIN_SHORTFALL = 0.10
# Implausible agreement needs this many items with 2+ annotators: were the annotators to disagree on even 10% of
# items, 50 items without a disagreement would happen with probability 0.9^50 < 0.01.
IMPLAUSIBLE_MIN_ITEMS = 50
# Krippendorff reads alpha >= 0.8 as reliable; crowd workers on subjective questions reach 0.45 (SBIC's paper).
# 0.98 leaves chance-corrected disagreement at 2% of what chance gives: no crowd, and few experts, get there.
IMPLAUSIBLE_ALPHA = 0.98


def label_view(task: Task) -> tuple[str, Callable]:
    """What the diagnostics compare labels on: the labels themselves, or for a set-valued task (target groups,
    several labels) whether the set names something (``named``) or not (``none``): the names legitimately vary
    in wording, whether something is named at all is the annotator's decision."""
    if task.is_set_valued:
        return "whether any label or group is named", lambda label: "named" if task.as_set(label) else NONE_TARGET
    return "the labels", lambda label: label


def _given(labels: list) -> list:
    return [v for v in labels if v is not None]


def selection(annotations: list[list], gold: list, view: Callable) -> dict:
    """Annotations per item by the item's gold label (every item, those with one label too): the mean per
    label (and the share of its items with 2+ labels where all agree), the Kruskal-Wallis test (scipy) of equal
    distributions, and the shortfall of the least-annotated label against the most-annotated one,
    ``1 - min mean / max mean``."""
    from scipy.stats import kruskal

    by_label: dict[str, list[int]] = defaultdict(list)
    unanimous: dict[str, list[bool]] = defaultdict(list)  # what the selection leaves: agreement per gold label
    for labels, label in zip(annotations, gold, strict=True):
        given = [view(v) for v in _given(labels)]
        by_label[str(view(label))].append(len(given))
        if len(given) >= 2:
            unanimous[str(view(label))].append(len(set(given)) == 1)
    per_label = {
        k: {
            "items": len(v),
            "mean_annotations": float(np.mean(v)),
            "unanimous_share": float(np.mean(unanimous[k])) if unanimous[k] else float("nan"),
        }
        for k, v in sorted(by_label.items())
    }
    out = {"per_label": per_label, "tested": len(by_label) >= 2, "flagged": False}
    if not out["tested"]:
        return out
    samples = list(by_label.values())
    # kruskal refuses samples that are all one value: then nothing depends on the label
    identical = len({n for sample in samples for n in sample}) == 1
    p_value = 1.0 if identical else float(kruskal(*samples).pvalue)
    means = {k: v["mean_annotations"] for k, v in per_label.items()}
    low, high = min(means, key=means.get), max(means, key=means.get)
    shortfall = 1 - means[low] / means[high]
    return out | {
        "kruskal_wallis_p": p_value,
        "fewest": low,
        "most": high,
        "mean_difference": means[high] - means[low],
        "shortfall": shortfall,
        "flagged": p_value < SELECTION_MAX_P and shortfall >= SELECTION_MIN_SHORTFALL,
    }


def implausible_agreement(annotations: list[list], view: Callable) -> dict:
    """Agreement on the items with two or more labels: the share where everyone agrees, nominal alpha, and the
    labels never disagreed on (given on ``IMPLAUSIBLE_MIN_ITEMS`` or more items, always unanimously). Flagged
    with enough items and alpha at or above ``IMPLAUSIBLE_ALPHA`` or a label never disagreed on."""
    multi = [[view(v) for v in _given(labels)] for labels in annotations]
    multi = [labels for labels in multi if len(labels) >= 2]
    given, disputed = Counter(), Counter()
    for labels in multi:
        for label in set(labels):
            given[label] += 1
            disputed[label] += len(set(labels)) > 1
    never = sorted(str(k) for k, n in given.items() if n >= IMPLAUSIBLE_MIN_ITEMS and not disputed[k])
    alpha = krippendorff_alpha(multi) if multi else float("nan")
    enough = len(multi) >= IMPLAUSIBLE_MIN_ITEMS
    return {
        "items": len(multi),
        "unanimous_share": float(np.mean([len(set(v)) == 1 for v in multi])) if multi else float("nan"),
        "disagreements": sum(len(set(v)) > 1 for v in multi),
        "krippendorff_alpha": alpha,
        "never_disagreed": never,
        "flagged": bool(enough and (alpha >= IMPLAUSIBLE_ALPHA or never)),
    }


def coverage(annotations: list[list], annotators: list[list], min_items: int) -> dict:
    """Items per annotator, counting the items the Alt-Test can use (two or more labels); how many annotators
    fall below ``min_items`` (the Alt-Test's minimum in use) and reach the paper's 30; and how many test items,
    drawn as these were, would give the annotators tested now (at least three) 30 items each (where they have
    fewer)."""
    per_annotator: Counter = Counter()
    for labels, who in zip(annotations, annotators, strict=True):
        labelled = {a for v, a in zip(labels, who, strict=True) if v is not None}
        if len(labelled) >= 2:
            per_annotator.update(labelled)
    counts = np.array(sorted(per_annotator.values(), reverse=True))
    out = {"annotators": len(counts), "min_items": min_items, "paper_min_items": PAPER_MIN_ITEMS}
    if not len(counts):
        return out
    q1, median, q3 = np.percentile(counts, [25, 50, 75])
    tested = max(MIN_ANNOTATORS, int((counts >= min_items).sum()))
    out |= {
        "items_per_annotator": {"min": int(counts[-1]), "q1": q1, "median": median, "q3": q3, "max": int(counts[0])},
        "below_min_items": int((counts < min_items).sum()),
        "at_paper_min_items": int((counts >= PAPER_MIN_ITEMS).sum()),
    }
    if tested <= len(counts) and counts[tested - 1] < PAPER_MIN_ITEMS:  # at each annotator's share of the split
        needed = math.ceil(PAPER_MIN_ITEMS * len(annotations) / counts[tested - 1])
        out["test_items_for_paper_min"] = {"annotators": tested, "test_items": needed}
    return out


def repeats(annotations: list[list], annotators: list[list], recorded: list[dict | None]) -> dict:
    """Test-retest: per (item, annotator) labelled more than once -- ``recorded`` (a record's ``repeats`` for
    the task: annotator -> every label they gave, in order) or an annotator id listed twice on an item -- the
    share of such pairs whose labels all agree and Krippendorff's alpha over them (each pair a unit)."""
    units, who_repeated = [], set()
    for labels, who, given in zip(annotations, annotators, recorded, strict=True):
        by_annotator: dict[str, list] = defaultdict(list)
        for label, annotator in zip(labels, who, strict=True):
            if label is not None:
                by_annotator[annotator].append(label)
        by_annotator |= {a: list(v) for a, v in (given or {}).items()}  # every label they gave, where kept
        for annotator, values in by_annotator.items():
            if len(values) >= 2:
                units.append(values)
                who_repeated.add(annotator)
    if not units:
        return {"annotator_items": 0}
    return {
        "annotator_items": len(units),
        "annotators": len(who_repeated),
        "agreement": float(np.mean([len(set(v)) == 1 for v in units])),
        "krippendorff_alpha": krippendorff_alpha(units),
    }


def _share(value: float) -> str:
    return f"{100 * value:.1f}%"


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def reasons(found: dict, view_name: str) -> list[str]:
    """Why the reference is unusable, in plain words, from the numbers of the findings."""
    out = []
    chosen = found["selection"]
    if chosen["flagged"]:
        fewest, most = chosen["per_label"][chosen["fewest"]], chosen["per_label"][chosen["most"]]
        out.append(
            f"the number of annotators per item depends on the gold label ({fewest['mean_annotations']:.2f} per item "
            f"whose gold is {chosen['fewest']!r} against {most['mean_annotations']:.2f} per item whose gold is "
            f"{chosen['most']!r}, {_share(chosen['shortfall'])} fewer; Kruskal-Wallis p "
            f"{_p(chosen['kruskal_wallis_p'])}): labels are missing for some answers more than for others, so the "
            "agreement left is biased"
        )
    agreement = found["implausible_agreement"]
    if agreement["flagged"]:
        never = agreement["never_disagreed"]
        out.append(
            f"the annotators agree on {view_name} on {_share(agreement['unanimous_share'])} of the "
            f"{agreement['items']} items with two or more of them (α {agreement['krippendorff_alpha']:.3f}"
            + (f"; never a disagreement on {', '.join(map(repr, never))}" if never else "")
            + "), more than independent annotators give"
        )
    return out


def diagnose(
    task: Task,
    annotations: list[list],
    annotators: list[list] | None,
    gold: list,
    recorded: list[dict | None],
    min_items: int,
) -> dict:
    """Every finding on the test items' annotations, ``usable`` and the ``reasons`` it is not, as plain JSON
    numbers. Without annotator ids (the counts shape) coverage and repeats are null."""
    view_name, view = label_view(task)
    found = {
        "compared_on": view_name,
        "selection": selection(annotations, gold, view),
        "implausible_agreement": implausible_agreement(annotations, view),
        "coverage": coverage(annotations, annotators, min_items) if annotators is not None else None,
        "repeats": repeats(annotations, annotators, recorded) if annotators is not None else None,
    }
    why = reasons(found, view_name)
    p_value = found["selection"].get("kruskal_wallis_p")
    found = plain_numbers(found | {"usable": not why, "reasons": why})
    # three significant digits: rounded to 6 decimals, SBIC's p of 1e-29 would read 0
    if p_value is not None and not math.isnan(p_value):
        found["selection"]["kruskal_wallis_p"] = float(f"{p_value:.3g}")
    return found

"""Is the human reference usable? Each diagnostic on a small fixture built to trip it, and one built not to."""

import numpy as np
import pytest

from annotune.data.tasks import get_task
from annotune.evaluation.metrics.reference import (
    IMPLAUSIBLE_MIN_ITEMS,
    coverage,
    diagnose,
    implausible_agreement,
    repeats,
    selection,
)

BIAS = get_task("sbic", "hasBiasedImplication")
TARGET = get_task("sbic", "targetMinority")
YES, NO = "implied_bias", "no_implied_bias"


def noisy_items(rng, items: int, annotators: int = 3, accuracy: float = 0.8) -> tuple[list[list], list[str]]:
    """Independent annotators, each right with probability ``accuracy``: (annotations, gold = the truth)."""
    gold = [YES if rng.random() < 0.4 else NO for _ in range(items)]
    other = {YES: NO, NO: YES}
    annotations = [[g if rng.random() < accuracy else other[g] for _ in range(annotators)] for g in gold]
    return annotations, gold


def identity(label):
    return label


def test_selection_flags_labels_that_lose_their_annotators():
    rng = np.random.default_rng(0)
    annotations, gold = noisy_items(rng, 120)
    balanced = selection(annotations, gold, identity)
    assert balanced["tested"] and not balanced["flagged"] and balanced["kruskal_wallis_p"] == 1.0
    # SBIC's artefact: one annotator of every implied-bias item is missing
    selected = [labels[:2] if g == YES else labels for labels, g in zip(annotations, gold, strict=True)]
    found = selection(selected, gold, identity)
    assert found["flagged"] and found["fewest"] == YES and found["most"] == NO
    assert found["per_label"][YES]["mean_annotations"] == 2 and found["shortfall"] == pytest.approx(1 / 3)
    assert found["kruskal_wallis_p"] < 1e-6


def test_selection_ignores_chance_imbalances_and_small_shortfalls():
    rng = np.random.default_rng(1)
    flagged = 0
    for _ in range(50):  # 2 to 4 annotators per item, drawn blind to the label: flagged at most by chance
        annotations, gold = noisy_items(rng, 150)
        drawn = [labels[: rng.integers(2, 4)] for labels in annotations]
        flagged += selection(drawn, gold, identity)["flagged"]
    assert flagged <= 2
    annotations, gold = noisy_items(rng, 2000)
    # every 15th implied-bias item loses an annotator: significant on 2,000 items, but a 2% shortfall
    slight = [
        labels[:2] if g == YES and i % 15 == 0 else labels
        for i, (labels, g) in enumerate(zip(annotations, gold, strict=True))
    ]
    found = selection(slight, gold, identity)
    assert found["kruskal_wallis_p"] < 0.01 and found["shortfall"] < 0.1 and not found["flagged"]
    assert not selection(annotations, [YES] * len(gold), identity)["tested"]  # one gold label: nothing to compare


def test_perfect_agreement_is_implausible_on_enough_items():
    rng = np.random.default_rng(2)
    annotations, gold = noisy_items(rng, 200)
    assert not implausible_agreement(annotations, identity)["flagged"]
    perfect = [[g] * 3 for g in gold]
    found = implausible_agreement(perfect, identity)
    assert found["flagged"] and found["krippendorff_alpha"] == 1.0 and found["never_disagreed"] == [YES, NO]
    assert found["unanimous_share"] == 1.0 and found["disagreements"] == 0
    too_few = implausible_agreement(perfect[: IMPLAUSIBLE_MIN_ITEMS - 1], identity)
    assert not too_few["flagged"] and too_few["items"] == IMPLAUSIBLE_MIN_ITEMS - 1
    # one label never disputed while the others are: suspicious too
    labels = [["a", "a", "a"]] * 60 + [["b", "c", "b"], ["c", "c", "b"]] * 30
    assert implausible_agreement(labels, identity)["never_disagreed"] == ["a"]


def test_coverage_counts_the_items_the_alt_test_can_use():
    annotators = [["a", "b", "c"]] * 20 + [["a", "d"]] * 10 + [["e"]] * 5
    annotations = [[1, 1, 0]] * 20 + [[1, None]] * 10 + [[0]] * 5
    found = coverage(annotations, annotators, 15)
    # d's items have no second label, e's only one annotator: neither counts
    assert found["annotators"] == 3 and found["items_per_annotator"]["max"] == 20
    assert found["below_min_items"] == 0 and found["at_paper_min_items"] == 0
    # the three annotators each label 20 of 35 rows: 30 items each needs 53 rows drawn the same way
    assert found["test_items_for_paper_min"] == {"annotators": 3, "test_items": 53}


def test_repeats_give_test_retest_agreement():
    annotations, annotators = [[YES, NO], [YES, YES], [NO, YES]], [["a", "b"], ["a", "b"], ["a", "b"]]
    assert repeats(annotations, annotators, [None] * 3) == {"annotator_items": 0}
    consistent = [{"a": [YES, YES]}, {"b": [YES, YES, YES]}, {"a": [NO, NO]}]
    found = repeats(annotations, annotators, consistent)
    assert found == {"annotator_items": 3, "annotators": 2, "agreement": 1.0, "krippendorff_alpha": 1.0}
    changed = [{"a": [YES, NO]}, {"b": [YES, YES]}, {"a": [NO, NO]}]
    found = repeats(annotations, annotators, changed)
    assert found["agreement"] == pytest.approx(2 / 3) and found["krippendorff_alpha"] < 1
    # an annotator id listed twice on an item is a repeat too
    assert repeats([[YES, NO, YES]], [["a", "b", "a"]], [None])["annotator_items"] == 1


def test_diagnose_withholds_a_selected_perfect_reference_and_says_why():
    rng = np.random.default_rng(4)
    annotations, gold = noisy_items(rng, 120)
    annotators = [["a", "b", "c"]] * len(gold)
    found = diagnose(BIAS, annotations, annotators, gold, [None] * len(gold), 10)
    assert found["usable"] and found["reasons"] == []
    perfect = [[g] * (2 if g == YES else 3) for g in gold]
    found = diagnose(
        BIAS, perfect, [a[: len(p)] for a, p in zip(annotators, perfect, strict=True)], gold, [None] * len(gold), 10
    )
    assert not found["usable"] and len(found["reasons"]) == 2
    assert "depends on the gold label" in found["reasons"][0] and "'implied_bias'" in found["reasons"][0]
    assert "more than independent annotators give" in found["reasons"][1]
    assert diagnose(BIAS, annotations, None, gold, [None] * len(gold), 10)["coverage"] is None  # counts: no ids


def test_set_valued_tasks_are_checked_on_whether_a_group_is_named():
    gold = ["women" if i % 2 else "none" for i in range(120)]
    # the groups' wording varies, whether a group is named never does
    annotations = [["women", "women, black folks", "women"] if g != "none" else ["none"] * 3 for g in gold]
    found = diagnose(TARGET, annotations, [["a", "b", "c"]] * 120, gold, [None] * 120, 10)
    assert found["compared_on"] == "whether any label or group is named"
    assert found["implausible_agreement"]["never_disagreed"] == ["named", "none"] and not found["usable"]

"""The human side's bootstrap: the fast statistics equal the packages', and with simulated annotators of known
accuracy the intervals cover the true alpha, AC1, leave-one-out kappa and the system-minus-annotators kappa
difference at about the nominal rate."""

import itertools

import numpy as np
import pytest

from annotune.evaluation.metrics.agreement import (
    gwet_ac1,
    kappa_vs_human_majority,
    krippendorff_alpha,
    leave_one_out_kappa,
)
from annotune.evaluation.metrics.bootstrap import bootstrap_indices
from annotune.evaluation.metrics.human_bootstrap import HumanCounts, LabelCodes, human_intervals, versus_human

PREVALENCE, ANNOTATOR_ACCURACY, SYSTEM_ACCURACY = 0.4, 0.8, 0.75


def simulate(rng, items: int) -> tuple[list[list], list[dict]]:
    """Three annotators and a system per item, each right (the true binary label) with a known probability."""
    truth = rng.random(items) < PREVALENCE
    right = rng.random((items, 3)) < ANNOTATOR_ACCURACY
    labels = np.where(right, truth[:, None], ~truth[:, None]).astype(int)
    system = np.where(rng.random(items) < SYSTEM_ACCURACY, truth, ~truth).astype(int)
    return [list(map(int, row)) for row in labels], [{"pred": int(p)} for p in system]


def kappa_of(confusion: np.ndarray) -> float:
    total = confusion.sum()
    chance = (confusion.sum(axis=1) * confusion.sum(axis=0)).sum() / total**2
    return float((np.trace(confusion) / total - chance) / (1 - chance))


def truths() -> dict[str, float]:
    """The population values, exactly: every truth x three labels x system label, weighted by its probability."""
    loo, system, shares = np.zeros((2, 2)), np.zeros((2, 2)), np.zeros(2)
    pair_agreement = disagreement = 0.0
    for truth, *labels, pred in itertools.product((0, 1), (0, 1), (0, 1), (0, 1), (0, 1)):
        p = PREVALENCE if truth else 1 - PREVALENCE
        for label in labels:
            p *= ANNOTATOR_ACCURACY if label == truth else 1 - ANNOTATOR_ACCURACY
        p *= SYSTEM_ACCURACY if pred == truth else 1 - SYSTEM_ACCURACY
        for i in range(3):
            others = labels[:i] + labels[i + 1 :]
            if others[0] == others[1]:
                loo[labels[i], others[0]] += p
        system[pred, int(sum(labels) >= 2)] += p
        counts = np.bincount(labels, minlength=2)
        pair_agreement += p * (counts * (counts - 1)).sum() / 6
        disagreement += p * (3 - (counts * (counts - 1)).sum() / 2)  # m - D of the item (3 labels)
        shares += p * counts / 3
    alpha = 1 - 3 * disagreement / (9 - ((3 * shares) ** 2).sum())
    chance = (shares * (1 - shares)).sum()
    return {
        "loo_kappa": kappa_of(loo),
        "krippendorff_alpha": alpha,
        "ac1": (pair_agreement - chance) / (1 - chance),
        "kappa_delta_vs_human": kappa_of(system) - kappa_of(loo),
    }


def test_fast_statistics_equal_the_packages():
    rng = np.random.default_rng(3)
    annotations = []
    for _ in range(80):  # 1 to 4 labels from three classes, some missing
        annotations.append(
            [rng.choice(["a", "b", "c", None], p=[0.5, 0.3, 0.1, 0.1]) for _ in range(rng.integers(1, 5))]
        )
    multi = [a for a in annotations if sum(v is not None for v in a) >= 2]
    counts, everything = HumanCounts(LabelCodes(annotations), annotations), np.ones((1, len(annotations)))
    assert counts.alpha(everything)[0] == pytest.approx(krippendorff_alpha(multi))
    assert counts.ac1(everything)[0] == pytest.approx(gwet_ac1(multi))
    assert counts.loo_kappa(everything)[0] == pytest.approx(leave_one_out_kappa(multi))
    predictions = [{"pred": rng.choice(["a", "b", "c"])} for _ in annotations]
    indices = bootstrap_indices(len(annotations), 50, 0)
    delta = versus_human({"s": predictions}, annotations, indices, 0.95)["s"]["kappa_delta_vs_human"]
    assert delta == pytest.approx(kappa_vs_human_majority(predictions, annotations) - leave_one_out_kappa(multi))


def test_intervals_cover_the_truth_at_about_the_nominal_rate():
    truth, rng = truths(), np.random.default_rng(11)
    replications, covered = 200, dict.fromkeys(truths(), 0)
    for replication in range(replications):
        annotations, predictions = simulate(rng, 200)
        indices = bootstrap_indices(len(annotations), 300, replication)
        found = (
            human_intervals(annotations, indices, 0.9)
            | versus_human({"s": predictions}, annotations, indices, 0.9)["s"]
        )
        for name, value in truth.items():
            covered[name] += found[f"{name}_ci_low"] <= value <= found[f"{name}_ci_high"]
    # nominal 90%: over 200 replications the share has a standard error of 2.1 points
    assert all(0.84 <= n / replications <= 0.96 for n in covered.values()), covered


def test_reaches_the_reference_unless_significantly_below():
    rng = np.random.default_rng(5)
    annotations, _ = simulate(rng, 300)
    majority = [{"pred": int(sum(a) >= 2)} for a in annotations]  # the annotators' own majority: kappa 1
    constant = [{"pred": 0} for _ in annotations]  # kappa 0
    result = versus_human(
        {"majority": majority, "constant": constant}, annotations, bootstrap_indices(300, 200, 0), 0.95
    )
    assert result["majority"]["reaches_human_reference"] == 1.0 and result["majority"]["kappa_delta_vs_human"] > 0
    assert result["constant"]["reaches_human_reference"] == 0.0 and result["constant"]["p_vs_human"] < 0.01
    low, high = result["constant"]["kappa_delta_vs_human_ci_low"], result["constant"]["kappa_delta_vs_human_ci_high"]
    assert low <= result["constant"]["kappa_delta_vs_human"] <= high < 0

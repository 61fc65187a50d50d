"""Dataset-independent prepare steps and the SBIC partial-data fallback, on fixture files."""

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from annotune.config import PrepareParams, load_params
from annotune.data.datasets import prepare
from annotune.data.datasets.common import record_id, remove_leakage, stratified_split

TASKS = ["hasBiasedImplication", "offensiveYN", "targetMinority"]
DEFAULTS = load_params(Path(__file__).resolve().parents[1] / "params.yaml")


def sbic_prepare(prepare_params: PrepareParams, raw: Path, seed: int = 0):
    tasks = [DEFAULTS.task(name) for name in TASKS]
    return prepare("sbic", prepare_params, seed, tasks, DEFAULTS.table, raw)


def rec(text, label="a"):
    return {"id": record_id(text), "text": text, "labels": {"t": label}}


def test_remove_leakage_exact_and_normalized():
    test = [rec("Hello World"), rec("another  post")]
    train = [rec("Hello World"), rec("hello   world "), rec("ANOTHER post"), rec("fresh post")]
    kept, counts = remove_leakage(train, test)
    assert [r["text"] for r in kept] == ["fresh post"]
    assert counts == {"exact_match": 1, "normalized_match": 2}


def test_record_id_is_stable_under_case_and_spacing():
    assert record_id("Hello  World") == record_id(" hello world") != record_id("hello worlds")


def test_stratified_split_is_seeded_proportional_and_complete():
    records = [rec(f"p{i}", "a" if i < 60 else "b") for i in range(100)]
    first, rest = stratified_split(records, 10, lambda r: r["labels"]["t"], seed=3)
    again, _ = stratified_split(records, 10, lambda r: r["labels"]["t"], seed=3)
    other, _ = stratified_split(records, 10, lambda r: r["labels"]["t"], seed=4)
    assert first == again and first != other
    assert sum(r["labels"]["t"] == "a" for r in first) == 6
    assert sorted(r["id"] for r in first + rest) == sorted(r["id"] for r in records)


def write_partial_sbic(folder, n_pool=60, n_test=20):
    """The layout of ../shared/data/sbic: aggregated test + per-annotator dev, no train."""
    pool = pd.DataFrame(
        {
            "post": [f"pool post {i}" for i in range(n_pool)] + ["Shared Post"],
            "offensiveYN": [(i % 3) / 2 for i in range(n_pool)] + [1.0],
            "targetMinority": [json.dumps(["women"] if i % 2 else []) for i in range(n_pool)] + ["[]"],
            "hasBiasedImplication": [0 if i % 2 else 1 for i in range(n_pool)] + [1],
        }
    )
    pool.to_csv(folder / "SBIC.v2.agg.tst.csv")
    raw = pd.DataFrame(
        [
            (f"test post {i}", w, 1.0 if i % 2 else 0.0, "women" if i % 2 else None, "x" if i % 2 else None)
            for i in range(n_test)
            for w in ("w1", "w2")
        ]
        + [("shared  post", "w1", 1.0, None, None)],
        columns=["post", "WorkerId", "offensiveYN", "targetMinority", "targetStereotype"],
    )
    raw.to_csv(folder / "SBIC.v2.dev.csv", index=False)
    return folder


def test_fallback_split_counts_every_post(tmp_path):
    splits, stats = sbic_prepare(PrepareParams(dev_fraction=0.25, max_train=30), write_partial_sbic(tmp_path))
    assert stats["layout"] == "fallback" and "train and dev carved" in stats["fallback"]
    assert len(splits["test"]) == 21 and "annotations" in splits["test"][0]
    train, dev, pool = stats["splits"]["train"], stats["splits"]["dev"], stats["fallback_pool"]
    # 61 pool posts, each counted once: 15 to dev, 46 to train; the post shared with test is removed
    assert pool["posts_read"] == 61 and sum(pool["dropped"].values()) == 0
    assert (pool["carved_to_dev"], pool["carved_to_train"]) == (15, 46) == (dev["posts_read"], train["posts_read"])
    leaked = sum(sum(s["removed_overlap_with_test"].values()) for s in (train, dev))
    assert leaked == 1
    assert train["available"] + dev["available"] == 60
    assert train["kept"] == len(splits["train"]) == 30 and train["sampled_out"] == train["available"] - 30
    test_texts = {r["text"].lower() for r in splits["test"]}
    assert not any(r["text"].lower().split() == t.split() for r in splits["train"] + splits["dev"] for t in test_texts)


def test_no_usable_files_is_a_clear_error(tmp_path):
    (tmp_path / "something.csv").write_text("a\n1\n")
    with pytest.raises(ValueError, match="need the train/dev/test files"):
        sbic_prepare(PrepareParams(), tmp_path)


def annotated(index: int, annotators: list[str], label: str = "a") -> dict:
    return rec(f"p{index}", label) | {"annotators": annotators}


def test_annotator_sample_gives_the_most_active_annotators_their_target_then_fills_stratified():
    from annotune.data.datasets.common import annotator_sample

    # "busy" and "keen" share 40 items, "rare" labels 12 with them; 60 items have one annotator only
    records = [annotated(i, ["busy", "keen"], "a" if i % 4 else "b") for i in range(40)]
    records += [annotated(40 + i, ["busy", "rare"], "b") for i in range(12)]
    records += [annotated(52 + i, ["solo"], "a" if i % 2 else "b") for i in range(60)]
    sample, rest, stats = annotator_sample(records, 40, 20, lambda r: r["labels"]["t"], seed=1)
    assert len(sample) == 40 and sorted(r["id"] for r in sample + rest) == sorted(r["id"] for r in records)
    assert [r["id"] for r in sample] == [r["id"] for r in records if r in sample]  # the records' order kept
    per_annotator = Counter(a for r in sample if len(r["annotators"]) > 1 for a in r["annotators"])
    assert per_annotator["busy"] >= 20 and per_annotator["keen"] >= 20
    # two annotators can reach 20 items (rare cannot): 20 shared items serve both, the other 20 are filled
    assert stats == {
        "policy": "annotators",
        "target_items": 20,
        "annotators_able": 2,
        "annotators_at_target": 2,
        "items_for_annotators": 20,
        "items_filled_stratified": 20,
        "probability_sample": False,
    }
    again, _, _ = annotator_sample(records, 40, 20, lambda r: r["labels"]["t"], seed=1)
    other, _, _ = annotator_sample(records, 40, 20, lambda r: r["labels"]["t"], seed=2)
    assert again == sample and other != sample  # seeded, deterministic


def test_prepare_samples_test_items_for_annotators_only_when_asked(tmp_path):
    raw = write_partial_sbic(tmp_path, n_test=40)
    stratified, stats = sbic_prepare(PrepareParams(max_test=20), raw)
    assert "test_sampling" not in stats["splits"]["test"]
    again, _ = sbic_prepare(PrepareParams(max_test=20, test_sampling="stratified"), raw)
    assert again == stratified  # the default is today's stratified sample, unchanged
    chosen, stats = sbic_prepare(PrepareParams(max_test=20, test_sampling="annotators", annotator_target_items=15), raw)
    found = stats["splits"]["test"]["test_sampling"]
    assert len(chosen["test"]) == 20 and found["annotators_at_target"] == 2  # w1 and w2 label every test post
    assert found["items_for_annotators"] == 15 and found["items_filled_stratified"] == 5

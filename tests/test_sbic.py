"""SBIC aggregation and label mapping on hand-written rows, and against the authors' own files."""

import json

import pandas as pd
import pytest

from annotune.data.datasets import sbic

RAW_COLUMNS = ["post", "WorkerId", "HITId", "offensiveYN", "targetMinority", "targetStereotype"]


def write_raw(path, rows):
    pd.DataFrame(rows, columns=RAW_COLUMNS).to_csv(path, index=False)
    return path


@pytest.fixture
def raw_rows():
    return [
        # post A: annotator 1 writes two stereotypes (two rows), annotator 2 none -> implied bias
        ("post A", "w1", "h1", 1.0, "Black folks", "black people are lazy"),
        ("post A", "w1", "h1", 1.0, "women", "women are weak"),
        ("post A", "w2", "h1", 0.0, None, None),
        # post B: tie 0.0 / 0.5 -> mean 0.25 -> maybe; no stereotype -> no implied bias
        ("post B", "w1", "h2", 0.0, None, None),
        ("post B", "w3", "h2", 0.5, None, None),
        # post C: one missing answer is skipped by the mean: (1.0 + 0.5) / 2 = 0.75 -> maybe (tie)
        ("post C", "w1", "h3", 1.0, "muslim folks", None),
        ("post C", "w2", "h3", None, None, None),
        ("post C", "w3", "h3", 0.5, "Muslim  folks", None),
        # post D: every answer missing -> dropped and counted
        ("post D", "w1", "h4", None, None, None),
        # post E: clearly offensive
        ("post E", "w1", "h5", 1.0, None, None),
        ("post E", "w2", "h5", 1.0, None, None),
    ]


def by_text(records):
    return {r["text"]: r for r in records}


def test_raw_aggregation_labels_and_annotations(tmp_path, raw_rows):
    records, stats = sbic.read_raw_split(write_raw(tmp_path / "SBIC.v2.dev.csv", raw_rows))
    posts = by_text(records)
    assert stats["posts_read"] == 5 and stats["dropped"]["missing_offensiveYN"] == 1 and len(records) == 4
    a, b, c, e = posts["post A"], posts["post B"], posts["post C"], posts["post E"]
    assert a["labels"]["hasBiasedImplication"] == "implied_bias"
    assert b["labels"]["hasBiasedImplication"] == "no_implied_bias"
    # authors' row-weighted mean: (1 + 1 + 0) / 3 = 0.667 -> maybe
    assert a["labels"]["offensiveYN"] == "maybe_offensive"
    assert b["labels"]["offensiveYN"] == "maybe_offensive"
    assert c["labels"]["offensiveYN"] == "maybe_offensive"
    assert e["labels"]["offensiveYN"] == "offensive"
    assert a["labels"]["targetMinority"] == "black folks, women"
    assert c["labels"]["targetMinority"] == "muslim folks"
    assert b["labels"]["targetMinority"] == "none"
    # one label per annotator, not per row
    assert a["annotations"]["offensiveYN"] == ["offensive", "not_offensive"]
    assert a["annotations"]["hasBiasedImplication"] == ["implied_bias", "no_implied_bias"]
    assert c["annotations"]["offensiveYN"] == ["offensive", None, "maybe_offensive"]
    assert len(c["annotators"]) == 3 and len(set(c["annotators"])) == 3


@pytest.mark.parametrize(
    "mean, label",
    [
        (0.0, "not_offensive"),
        (0.2, "not_offensive"),
        (0.25, "maybe_offensive"),
        (0.5, "maybe_offensive"),
        (0.75, "maybe_offensive"),
        (0.76, "offensive"),
        (1.0, "offensive"),
        ((0.5 + 0.0) / 2, "maybe_offensive"),
    ],
)
def test_offensive_binning(mean, label):
    assert sbic.offensive_class(mean) == label


def test_aggregated_file_inverted_flag(tmp_path):
    frame = pd.DataFrame(
        {
            "post": ["x", "y"],
            "offensiveYN": [0.9, 0.1],
            "targetMinority": [json.dumps(["women"]), "[]"],
            "hasBiasedImplication": [0, 1],
        }
    )
    frame.to_csv(tmp_path / "agg.csv")
    records, _ = sbic.read_agg_split(tmp_path / "agg.csv")
    posts = by_text(records)
    assert posts["x"]["labels"]["hasBiasedImplication"] == "implied_bias"  # authors' 0 = has stereotype
    assert posts["y"]["labels"]["hasBiasedImplication"] == "no_implied_bias"
    assert posts["x"]["labels"]["targetMinority"] == "women"


def test_missing_column_names_file_and_column(tmp_path):
    pd.DataFrame({"post": ["x"], "offensiveYN": [1.0]}).to_csv(tmp_path / "SBIC.v2.dev.csv", index=False)
    with pytest.raises(sbic.SbicDataError, match=r"SBIC.v2.dev.csv: missing column\(s\) WorkerId"):
        sbic.read_raw_split(tmp_path / "SBIC.v2.dev.csv")


def test_unknown_answer_names_row(tmp_path, raw_rows):
    rows = raw_rows + [("post F", "w1", "h6", 0.3, None, None)]
    with pytest.raises(sbic.SbicDataError, match=r"line 13: offensiveYN=0.3;"):
        sbic.read_raw_split(write_raw(tmp_path / "SBIC.v2.dev.csv", rows))


def test_empty_post_counted_not_lost(tmp_path, raw_rows):
    records, stats = sbic.read_raw_split(
        write_raw(tmp_path / "r.csv", raw_rows + [("  ", "w1", "h7", 1.0, None, None)])
    )
    assert stats["dropped"]["empty_post"] == 1
    assert stats["posts_read"] == len(records) + sum(stats["dropped"].values())


def test_aggregation_reproduces_authors_dev_file(shared_sbic):
    raw = pd.read_csv(shared_sbic / "SBIC.v2.dev.csv")
    ours = sbic.aggregate_raw(raw).set_index("post")
    theirs = pd.read_csv(shared_sbic / "SBIC.v2.agg.dev.csv").set_index("post")
    common = ours.index.intersection(theirs.index)
    assert len(common) == len(theirs) == 4666
    pd.testing.assert_series_equal(
        ours.loc[common, "hasBiasedImplication"], theirs.loc[common, "hasBiasedImplication"], check_dtype=False
    )
    pd.testing.assert_series_equal(
        ours.loc[common, "offensiveYN"], theirs.loc[common, "offensiveYN"], check_exact=False, rtol=1e-9
    )
    assert (ours.loc[common, "targetMinority"].map(json.dumps) == theirs.loc[common, "targetMinority"]).all()

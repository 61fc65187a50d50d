"""Declared tables with several annotators per item (long, wide, counts), coded labels, ordinal tasks and the
carve of one file into train / dev / test, on fixture files; and SBIC's raw file declared as a long table
against the built-in adapter (the same human reference on the same posts)."""

import json
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune.config import Params, PrepareParams, TableParams, build
from annotune.data.datasets import adapter, prepare, sbic
from annotune.data.datasets.common import DatasetError
from annotune.data.tasks import declared_task
from annotune.errors import DataError, ParamsError
from annotune.evaluation.metrics.agreement import human_agreement, krippendorff_alpha, leave_one_out_kappa
from annotune.workflows.annotate_input import read_rows
from annotune.workflows.profiles import applied, load_profile

ROOT = Path(__file__).resolve().parents[1]
SENTIMENT = {"column": "label", "kind": "multiclass", "labels": ["neg", "neu", "pos"]}


def declare(tmp_path, files, **table):
    """(adapter, raw folder, tasks) for a declaration; ``files``: split -> name under tmp_path."""
    table.setdefault("tasks", {"sentiment": SENTIMENT})
    params = build(TableParams, {"files": {s: str(tmp_path / n) for s, n in files.items()}} | table, "table.")
    tasks = [
        declared_task(n, t.kind, t.label_names, t.instruction, t.answers, t.positive, t.ordinal)
        for n, t in params.task_params().items()
    ]
    table_adapter = adapter("table", params, tasks)
    table_adapter.fetch(tmp_path / "raw")
    return table_adapter, tmp_path / "raw", tasks, params


def one_file(name="all.csv"):
    return {"train": name, "dev": name, "test": name}


def three_files():
    return {"train": "train.csv", "dev": "dev.csv", "test": "test.csv"}


def write_others(tmp_path, header, row):
    for split in ("dev", "test"):
        (tmp_path / f"{split}.csv").write_text(f"{header}\n{row}\n")


def by_text(records):
    return {r["text"]: r for r in records}


# -- long shape -------------------------------------------------------------------------------------------------

LONG = """item,text,worker,label
i1,good film,w1,pos
i1,good film,w2,pos
i1,good film,w3,neg
i1,good film,w3,neg
i2,dull plot,w1,neg
i2,dull plot,w2,pos
i3,just fine,w2,neu
i4,no label,w1,
,,w9,pos
i5,meh,w1,neu
i5,meh,w2,
i5,meh,w3,neu
"""


@pytest.mark.parametrize(("ties", "tied"), [("drop", None), ("first_label", "neg"), ("last_label", "pos")])
def test_long_shape_majority_ties_annotations_and_every_row_counted(tmp_path, ties, tied):
    (tmp_path / "train.csv").write_text(LONG)
    write_others(tmp_path, "item,text,worker,label", "x,other,w1,pos")
    table, raw, _, _ = declare(tmp_path, three_files(), annotator_column="worker", item_column="item", ties=ties)
    records, stats = table.read_split(raw, "train")
    posts = by_text(records)
    good = posts["good film"]
    assert good["labels"] == {"sentiment": "pos"}
    assert good["annotations"] == {"sentiment": ["pos", "pos", "neg"]} and good["annotators"] == ["w1", "w2", "w3"]
    assert ("dull plot" in posts) == (tied is not None)
    if tied:
        assert posts["dull plot"]["labels"]["sentiment"] == tied
    # one annotator only: kept (training), counted; the human reference needs two labels and skips it
    assert posts["just fine"]["annotations"]["sentiment"] == ["neu"]
    assert human_agreement([posts["just fine"]["annotations"]["sentiment"]])["posts"] == 0
    # an annotator with no label is no annotator of the item
    assert posts["meh"]["annotators"] == ["w1", "w3"] and posts["meh"]["annotations"]["sentiment"] == ["neu", "neu"]
    assert "no label" not in posts
    assert stats["rows_read"] == 12 and stats["rows_dropped"] == {"empty_text": 1} and stats["rows_merged"] == 1
    assert stats["posts_read"] == 5
    assert stats["dropped"] == {"no_annotator_label": 1, "tied_majority": int(tied is None), "duplicate_text": 0}
    assert stats["posts_read"] == len(records) + sum(stats["dropped"].values())
    assert stats["annotation"]["single_annotator_items"] == 1 + (tied is None and 0)
    assert stats["annotation"]["empty_labels"] == 2 and stats["annotation"]["annotators_without_label"] == 2


def test_long_shape_without_item_column_groups_rows_by_text(tmp_path):
    (tmp_path / "train.csv").write_text("text,worker,label\nhi,a,pos\nho,a,neg\nhi,b,pos\n")
    write_others(tmp_path, "text,worker,label", "other,a,pos")
    table, raw, _, _ = declare(tmp_path, three_files(), annotator_column="worker")
    records, _ = table.read_split(raw, "train")
    assert [(r["text"], r["annotators"]) for r in records] == [("hi", ["a", "b"]), ("ho", ["a"])]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("item,text,worker,label\ni1,a,w1,pos\ni1,b,w2,pos\n", r"row 3: item 'i1' \(column 'item'\) has text 'b'"),
        ("item,text,worker,label\ni1,a,w1,pos\ni1,a,w1,neg\n", r"row 3, column 'label': annotator 'w1' labels item"),
        ("item,text,worker,label\ni1,a,w1,great\n", r"row 2, column 'label': 'great' is not a declared label"),
        ("item,text,worker,label\ni1,a,,pos\n", r"row 2, column 'worker': empty annotator id"),
        ("item,text,annotator,label\ni1,a,w1,pos\n", r"train.csv: missing column\(s\) worker"),
    ],
)
def test_long_shape_errors_name_file_row_and_column(tmp_path, content, message):
    (tmp_path / "train.csv").write_text(content)
    write_others(tmp_path, "item,text,worker,label", "x,other,w1,pos")
    table, raw, _, _ = declare(tmp_path, three_files(), annotator_column="worker", item_column="item")
    with pytest.raises(DatasetError, match=message):
        table.read_split(raw, "train")


REPEATED = """item,text,worker,label
i1,good film,w1,pos
i1,good film,w1,neg
i1,good film,w1,neg
i1,good film,w2,pos
i1,good film,w2,pos
i1,good film,w3,pos
i2,dull plot,w1,neg
i2,dull plot,w1,pos
i2,dull plot,w2,neg
i2,dull plot,w3,neg
"""


@pytest.mark.parametrize(
    ("policy", "good_w1", "dull_w1"),
    [("first", "pos", "neg"), ("last", "neg", "pos"), ("majority", "neg", None)],
)
def test_long_shape_repeats_keep_one_label_per_annotator_and_record_them(tmp_path, policy, good_w1, dull_w1):
    from annotune.evaluation.metrics.reference import repeats

    (tmp_path / "train.csv").write_text(REPEATED)
    write_others(tmp_path, "item,text,worker,label", "x,other,w1,pos")
    table, raw, _, _ = declare(tmp_path, three_files(), annotator_column="worker", item_column="item", repeats=policy)
    records, stats = table.read_split(raw, "train")
    posts = by_text(records)
    good, dull = posts["good film"], posts["dull plot"]
    assert good["annotators"] == ["w1", "w2", "w3"] and good["annotations"]["sentiment"] == [good_w1, "pos", "pos"]
    # a tied majority follows table.ties (drop): w1 gives no label for "dull plot" and is no annotator of it
    assert dull["annotations"]["sentiment"] == ([dull_w1] if dull_w1 else []) + ["neg", "neg"]
    assert good["repeats"] == {"sentiment": {"w1": ["pos", "neg", "neg"], "w2": ["pos", "pos"]}}
    assert dull["repeats"] == {"sentiment": {"w1": ["neg", "pos"]}}
    assert stats["rows_merged"] == 4
    assert stats["repeats"] == {"policy": policy, "annotator_items": 3, "disagreeing": 2}
    # evaluate's test-retest agreement: w2 agrees with themselves, w1 twice not
    recorded = [r["repeats"]["sentiment"] for r in (good, dull)]
    retest = repeats(
        [r["annotations"]["sentiment"] for r in (good, dull)], [good["annotators"], dull["annotators"]], recorded
    )
    assert retest["annotator_items"] == 3 and retest["agreement"] == pytest.approx(1 / 3)


def test_long_shape_repeats_error_is_the_default_and_keeps_agreeing_rows_merged(tmp_path):
    (tmp_path / "train.csv").write_text("item,text,worker,label\ni1,a,w1,pos\ni1,a,w1,pos\ni1,a,w2,pos\n")
    write_others(tmp_path, "item,text,worker,label", "x,other,w1,pos")
    table, raw, _, _ = declare(tmp_path, three_files(), annotator_column="worker", item_column="item")
    records, stats = table.read_split(raw, "train")
    assert "repeats" not in records[0] and "repeats" not in stats and stats["rows_merged"] == 1
    (tmp_path / "raw" / "train.csv").write_text("item,text,worker,label\ni1,a,w1,pos\ni1,a,w1,neg\n")
    with pytest.raises(DatasetError, match="or set table.repeats to first, last or majority"):
        table.read_split(raw, "train")


def test_dawid_skene_gold_from_crowd_kit(tmp_path):
    pytest.importorskip("crowdkit")
    rows = ["item,text,worker,label"]
    # w1 and w2 agree on everything; w3 always says neg
    for i, label in enumerate(["pos", "neg", "pos", "neu", "pos", "neg"]):
        rows += [f"i{i},text {i},w1,{label}", f"i{i},text {i},w2,{label}", f"i{i},text {i},w3,neg"]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    write_others(tmp_path, "item,text,worker,label", "x,other,w1,pos")
    table, raw, _, _ = declare(
        tmp_path, three_files(), annotator_column="worker", item_column="item", gold="dawid_skene"
    )
    records, stats = table.read_split(raw, "train")
    assert [r["labels"]["sentiment"] for r in records] == ["pos", "neg", "pos", "neu", "pos", "neg"]
    assert "dawid_skene" in stats["source"]


# -- wide and counts shapes ------------------------------------------------------------------------------------


def test_wide_shape_per_task_and_common_annotator_columns(tmp_path):
    (tmp_path / "train.csv").write_text("text,ann1,ann2,ann3\nnice,pos,pos,neu\nbad,neg,,neg\nodd,neu,,\n")
    write_others(tmp_path, "text,ann1,ann2,ann3", "other,pos,pos,pos")
    task = {"kind": "multiclass", "labels": ["neg", "neu", "pos"], "annotator_columns": ["ann1", "ann2", "ann3"]}
    table, raw, _, _ = declare(tmp_path, three_files(), tasks={"sentiment": task})
    records, stats = table.read_split(raw, "train")
    posts = by_text(records)
    assert posts["nice"]["labels"]["sentiment"] == "pos" and posts["nice"]["annotators"] == ["ann1", "ann2", "ann3"]
    assert posts["bad"]["annotations"]["sentiment"] == ["neg", "neg"] and posts["bad"]["annotators"] == ["ann1", "ann3"]
    assert stats["annotation"]["single_annotator_items"] == 1 and stats["annotation"]["empty_labels"] == 3
    common = {"kind": "multiclass", "labels": ["neg", "neu", "pos"]}
    table, raw, _, _ = declare(
        tmp_path, three_files(), annotator_columns=["ann1", "ann2", "ann3"], tasks={"sentiment": common}
    )
    assert table.read_split(raw, "train")[0] == records


def test_counts_shape_expands_annotations_without_ids(tmp_path):
    (tmp_path / "train.csv").write_text("text,n_neg,n_pos\nnice,1,2\nbad,3,0\nnone,0,0\ntie,1,1\n")
    write_others(tmp_path, "text,n_neg,n_pos", "other,0,1")
    task = {"kind": "binary", "count_columns": {"neg": "n_neg", "pos": "n_pos"}, "positive": "pos"}
    table, raw, tasks, _ = declare(tmp_path, three_files(), tasks={"s": task}, ties="first_label")
    assert tasks[0].labels == ["neg", "pos"]
    records, stats = table.read_split(raw, "train")
    posts = by_text(records)
    assert posts["nice"] == {
        "id": posts["nice"]["id"],
        "text": "nice",
        "labels": {"s": "pos"},
        "annotations": {"s": ["neg", "pos", "pos"]},
    }
    assert posts["tie"]["labels"]["s"] == "neg" and "none" not in posts
    assert stats["dropped"]["no_annotator_label"] == 1  # a row with zero annotators: dropped, counted
    (tmp_path / "train.csv").write_text("text,n_neg,n_pos\nnice,1,2.5\n")
    table, raw, _, _ = declare(tmp_path, three_files(), tasks={"s": task})
    with pytest.raises(DatasetError, match=r"row 2, column 'n_pos': '2.5' is not a count of annotators"):
        table.read_split(raw, "train")


# -- coded labels and ordinal tasks ------------------------------------------------------------------------------


def test_label_mapping_forms_several_raw_values_and_typed_jsonl(tmp_path):
    coded = {"column": "y", "kind": "multiclass", "labels": {"hate": 0, "offensive": [1, "off"], "neither": "2.0"}}
    (tmp_path / "train.csv").write_text("text,y\na,0\nb,1.0\nc,off\nd,2\n")
    write_others(tmp_path, "text,y", "z,0")
    table, raw, tasks, _ = declare(tmp_path, three_files(), tasks={"t": coded})
    assert tasks[0].labels == ["hate", "offensive", "neither"]
    records, _ = table.read_split(raw, "train")
    assert [r["labels"]["t"] for r in records] == ["hate", "offensive", "offensive", "neither"]
    (tmp_path / "train.csv").write_text("text,y\na,3\n")
    table, raw, _, _ = declare(tmp_path, three_files(), tasks={"t": coded})
    with pytest.raises(DatasetError, match=r"row 2, column 'y': '3' is not a declared label"):
        table.read_split(raw, "train")
    # JSONL keeps numbers typed: 0.5 and "0.5" are the same raw value
    rows = [{"text": "a", "y": 0.5}, {"text": "b", "y": "0.5"}, {"text": "c", "y": 1}, {"text": "d", "y": True}]
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    graded = {"column": "y", "kind": "multiclass", "labels": {"maybe": 0.5, "yes": [1, True], "no": 0}}
    table, raw, _, _ = declare(tmp_path, {s: f"{s}.jsonl" for s in ("train", "dev", "test")}, tasks={"t": graded})
    assert [r["labels"]["t"] for r in table.read_split(raw, "train")[0]] == ["maybe", "maybe", "yes", "yes"]
    # the list form still matches the cell as written
    (tmp_path / "train.csv").write_text("text,label\na,neu\n")
    table, raw, _, _ = declare(tmp_path, three_files())
    assert table.read_split(raw, "train")[0][0]["labels"] == {"sentiment": "neu"}


def test_label_declarations_are_checked_when_params_load():
    with pytest.raises(ParamsError, match=r"table.tasks.t.labels = .*raw value '0.0' is mapped to both 'a' and 'b'"):
        build(
            TableParams, {"tasks": {"t": {"column": "y", "kind": "binary", "labels": {"a": 0, "b": "0.0"}}}}, "table."
        )
    with pytest.raises(ParamsError, match=r"table.tasks.t.annotator_columns .*declare one of column"):
        build(TableParams, {"tasks": {"t": {"column": "y", "kind": "binary", "annotator_columns": ["a"]}}}, "table.")
    with pytest.raises(ParamsError, match=r"table.split_fractions.test = 0.5: .*dev \+ test must stay below 1"):
        build(TableParams, {"split_fractions": {"dev": 0.5, "test": 0.5}}, "table.")
    with pytest.raises(ParamsError, match=r"table.split_fractions.dev = 0"):
        build(TableParams, {"split_fractions": {"dev": 0, "test": 0.5}}, "table.")
    with pytest.raises(ParamsError, match=r"table.ties = 'coin'"):
        build(TableParams, {"ties": "coin"}, "table.")


def test_ordinal_flag_on_declared_tasks():
    raw = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    task = {"column": "y", "kind": "multiclass", "ordinal": True, "labels": {"low": 1, "mid": 2, "high": 3}}
    params = build(Params, applied(raw, {"dataset": "table", "tasks": ["t"], "table": {"tasks": {"t": task}}}))
    assert params.task("t").ordinal and params.task("t").labels == ["low", "mid", "high"]
    assert not declared_task("u", "binary", ["a", "b"], None, {}, None).ordinal
    with pytest.raises(ParamsError, match=r"table.tasks.u.ordinal: only binary and multiclass"):
        declared_task("u", "multilabel", ["a", "b"], None, {}, None, ordinal=True)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"item_column": "item"}, r"table.item_column needs table.annotator_column"),
        (
            {"annotator_column": "w", "tasks": {"t": {"column": "y", "kind": "generation"}}},
            r"table.tasks.t: several annotators per item are aggregated for binary, multiclass and multilabel tasks, "
            r"not generation",
        ),
        (
            {"tasks": {"t": {"kind": "multilabel", "count_columns": {"a": "na", "b": "nb"}}}},
            r"table.tasks.t: a multilabel task cannot take count_columns",
        ),
        (
            {
                "annotator_column": "w",
                "gold": "dawid_skene",
                "tasks": {"t": {"column": "y", "kind": "multilabel", "labels": ["a", "b"]}},
            },
            r"table.gold: dawid_skene estimates one label per item, not 't'",
        ),
        (
            {"gold": "dawid_skene", "tasks": {"t": {"kind": "binary", "count_columns": {"a": "na", "b": "nb"}}}},
            r"table.gold: dawid_skene needs annotator ids",
        ),
        ({"tasks": {"t": {"kind": "binary", "labels": ["a", "b"]}}}, r"table.tasks.t.column is missing"),
    ],
)
def test_shape_misdeclarations_are_named(tmp_path, table, message):
    (tmp_path / "all.csv").write_text("text,y\na,b\n")
    with pytest.raises(ParamsError, match=message):
        declare(tmp_path, one_file(), **table)


# -- splits from one file --------------------------------------------------------------------------------------


def prepared(tmp_path, table, seed=7, **limits):
    prepare_params = PrepareParams(max_train=None, max_dev=None, max_test=None, **limits)
    return prepare("table", prepare_params, seed, table[2], table[3], table[1])


def write_pool(tmp_path, n=100, groups=None):
    lines = ["text,label,author"]
    for i in range(n):
        label = "pos" if i % 4 else "neg"  # 75 / 25
        lines.append(f"post number {i},{label},{groups(i) if groups else ''}")
    (tmp_path / "all.csv").write_text("\n".join(lines) + "\n")


def test_one_file_is_carved_seeded_stratified_and_disjoint(tmp_path):
    write_pool(tmp_path)
    table = declare(tmp_path, one_file(), tasks={"s": {"column": "label", "kind": "binary", "labels": ["neg", "pos"]}})
    splits, stats = prepared(tmp_path, table)
    sizes = {s: len(r) for s, r in splits.items()}
    assert sizes == {"train": 70, "dev": 10, "test": 20} == stats["carve"]["items"]
    ids = [{r["id"] for r in records} for records in splits.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2]) and len(set().union(*ids)) == 100
    assert stats["splits"]["test"]["labels"]["s"] == {"neg": 5, "pos": 15}  # stratified: 25 / 75
    assert stats["splits"]["dev"]["labels"]["s"] == {"neg": 2, "pos": 8} or stats["splits"]["dev"]["labels"]["s"] == {
        "neg": 3,
        "pos": 7,
    }
    assert stats["layout"] == "carved" and stats["carve"]["seed"] == 7 and stats["carve"]["stratified_on"] == "s"
    assert stats["carve"]["fractions"] == {"dev": 0.1, "test": 0.2} and stats["carve"]["from"]["posts_read"] == 100
    again, _ = prepared(tmp_path, table)
    assert again == splits
    other, _ = prepared(tmp_path, table, seed=8)
    assert [r["id"] for r in other["test"]] != [r["id"] for r in splits["test"]]


def test_grouped_carve_keeps_each_group_in_one_split(tmp_path):
    write_pool(tmp_path, 120, groups=lambda i: f"author{i % 30}" if i % 10 else "")
    table = declare(
        tmp_path,
        one_file(),
        group_column="author",
        split_fractions={"dev": 0.2, "test": 0.2},
        tasks={"s": {"column": "label", "kind": "binary", "labels": ["neg", "pos"]}},
    )
    splits, stats = prepared(tmp_path, table)
    rows = {f"post number {i}": i for i in range(120)}
    group_split = {}
    for split, records in splits.items():
        for r in records:
            i = rows[r["text"]]
            group = f"author{i % 30}" if i % 10 else r["id"]  # an empty group: the row is a group of its own
            assert group_split.setdefault(group, split) == split
    assert (
        sum(stats["carve"]["groups"].values()) == len(group_split) == 27 + 12
    )  # authors of rows i % 10 != 0; 12 single rows
    assert stats["carve"]["items"] == {s: len(r) for s, r in splits.items()}
    assert stats["carve"]["group_column"] == "author"


def test_long_table_from_one_file_reaches_prepare_with_its_annotations(tmp_path):
    rows = ["text,worker,label"]
    for i in range(40):
        label = ["neg", "neu", "pos"][i % 3]
        rows += [f"post {i},w1,{label}", f"post {i},w2,{label}", f"post {i},w{3 + i % 2},neg"]
    (tmp_path / "all.csv").write_text("\n".join(rows) + "\n")
    table = declare(tmp_path, one_file(), annotator_column="worker")
    splits, stats = prepared(tmp_path, table)
    assert all(len(r["annotations"]["sentiment"]) == 3 and len(r["annotators"]) == 3 for r in splits["test"])
    assert stats["carve"]["from"]["rows_read"] == 120 and sum(stats["carve"]["items"].values()) == 40


@pytest.mark.parametrize(
    ("files", "table", "message"),
    [
        ({"train": "all.csv", "dev": "all.csv", "test": "t.csv"}, {}, r"train and dev name the same file"),
        (
            one_file(),
            {"split_column": "part"},
            r"no row of all.csv has part = 'dev' \(values found: \['test', 'train'\]",
        ),
        ({"train": "all.csv", "dev": "d.csv", "test": "t.csv"}, {"group_column": "part"}, r"group_column only applies"),
    ],
)
def test_declarations_that_would_empty_a_split_say_how_to_fix_them(tmp_path, files, table, message):
    (tmp_path / "all.csv").write_text("text,label,part\na,pos,train\nb,neg,test\n")
    for name in ("t.csv", "d.csv"):
        (tmp_path / name).write_text("text,label,part\nc,pos,test\n")
    with pytest.raises((ParamsError, DataError), match=message):
        table_adapter, raw, tasks, params = declare(tmp_path, files, **table)
        prepare("table", PrepareParams(), 0, tasks, params, raw)


def test_too_few_items_to_carve_and_overlap_say_what_to_change(tmp_path):
    (tmp_path / "all.csv").write_text("text,label\na,pos\nb,neg\n")
    table = declare(tmp_path, one_file())
    with pytest.raises(DataError, match=r"cannot carve train, dev and test from 2 items.*lower table.split_fractions"):
        prepared(tmp_path, table)
    (tmp_path / "train.csv").write_text("text,label\nsame,pos\n")
    write_others(tmp_path, "text,label", "same,pos")
    table = declare(tmp_path, three_files())
    with pytest.raises(DataError, match=r"the train split of table is empty after filtering: all 1 of its posts"):
        prepared(tmp_path, table)


# -- SBIC's raw file as a long table -----------------------------------------------------------------------------


@pytest.mark.slow  # the whole raw SBIC file
def test_sbic_long_profile_gives_the_builtin_human_reference(shared_sbic, tmp_path, monkeypatch):
    """profiles/sbic-long.yaml reads the raw dev file as a long table: on the posts both adapters keep, the
    annotations are the built-in adapter's, so alpha and leave-one-out kappa agree."""
    profile = load_profile("sbic-long", ROOT / "profiles")
    profile["table"]["files"] = {s: str(shared_sbic / "SBIC.v2.dev.csv") for s in ("train", "dev", "test")}
    raw = YAML(typ="safe").load((ROOT / "params.yaml").read_text())
    params = build(Params, applied(raw, profile))
    tasks = [params.task(name) for name in params.tasks]
    assert tasks[0].ordinal and tasks[0].labels == ["not_offensive", "maybe_offensive", "offensive"]
    table = adapter("table", params.table, tasks)
    table.fetch(tmp_path / "raw")
    read, layout = table.load_splits(tmp_path / "raw")
    assert layout == "carved"
    pool, stats = read["pool"]
    builtin, _ = sbic.read_raw_split(shared_sbic / "SBIC.v2.dev.csv")
    ours, theirs = {r["id"]: r for r in pool}, {r["id"]: r for r in builtin}
    common = sorted(set(ours) & set(theirs))
    assert len(common) > 4000 and stats["rows_read"] == 16738
    mine = [ours[i]["annotations"]["offensiveYN"] for i in common]
    builtin_labels = [theirs[i]["annotations"]["offensiveYN"] for i in common]
    # the built-in keeps an annotator whose answer is missing (None); the table leaves them out
    assert mine == [[v for v in labels if v is not None] for labels in builtin_labels]
    multi = [a for a in mine if len(a) >= 2]
    multi_builtin = [a for a in builtin_labels if sum(v is not None for v in a) >= 2]
    alpha, loo = krippendorff_alpha(multi), leave_one_out_kappa(multi)
    assert alpha == pytest.approx(krippendorff_alpha(multi_builtin), abs=5e-4)
    assert loo == pytest.approx(leave_one_out_kappa(multi_builtin), abs=5e-4)
    assert len(multi) == len(multi_builtin) > 3800  # the posts of the human reference: 2+ labels
    assert 0.6 < alpha < 0.75 and 0.7 < loo < 0.85


def test_only_the_tasks_in_use_are_read(tmp_path):
    (tmp_path / "all.csv").write_text(
        "text,worker,label\n" + "".join(f"t{i},w{j},pos\n" for i in range(9) for j in (1, 2))
    )
    unused = {"column": "not_in_the_file", "kind": "binary", "labels": ["a", "b"]}
    _, raw, tasks, params = declare(
        tmp_path, one_file(), annotator_column="worker", tasks={"s": SENTIMENT, "u": unused}
    )
    table = adapter("table", params, [t for t in tasks if t.name == "s"])
    pool, stats = table.load_splits(raw)[0]["pool"]
    assert len(pool) == 9 and set(pool[0]["annotations"]) == {"s"} and stats["annotation"]["labels_per_item"] == 2


# -- files prepare refuses, one line naming the place -----------------------------------------------------------


def refused(tmp_path, content: bytes | str, name="train.csv", **table) -> str:
    """The one-line DatasetError reading ``content`` as the train file gives."""
    path = tmp_path / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    suffix = Path(name).suffix
    for split in ("dev", "test"):
        (tmp_path / f"{split}{suffix}").write_text(
            '{"text": "other", "label": "pos"}\n' if suffix == ".jsonl" else "text,label\nother,pos\n"
        )
    files = {"train": name, "dev": f"dev{suffix}", "test": f"test{suffix}"}
    table_adapter, raw, _, _ = declare(tmp_path, files, **table)
    with pytest.raises(DatasetError) as caught:
        table_adapter.read_split(raw, "train")
    message = str(caught.value)
    assert "\n" not in message and name in message
    return message


def test_a_latin1_file_names_the_line_and_byte_and_asks_for_utf8(tmp_path):
    content = "text,label\ngood,pos\ncaf\u00e9 cr\u00e8me,neg\n".encode("latin-1")
    message = refused(tmp_path, content)
    assert "train.csv, line 3: byte 4 of the line (0xe9, byte 24 of the file) is not UTF-8" in message
    assert "re-save it as UTF-8" in message


EXCEL_CSV = (
    "\ufeffpost_id,post,label\r\n"  # Excel's "CSV UTF-8": a byte order mark, CRLF line ends
    "p1,those people are all lazy,pos\r\n"
    'p2,"a day, at the beach\r\nwith friends",neg\r\n'  # a quoted line break: one row on lines 3-4
    'p3,"say ""hi"" to caf\u00e9",pos\r\n'
)


def test_prepare_and_annotate_read_one_csv_alike(tmp_path):
    """One reader (annotune/data/readers.py) for prepare and annotate: the same rows from a CSV as Excel writes it, and
    a byte that is not UTF-8 named by file and line by both."""
    (tmp_path / "train.csv").write_text(EXCEL_CSV, encoding="utf-8", newline="")
    write_others(tmp_path, "post_id,post,label", "other,text,pos")
    table_adapter, raw, _, _ = declare(tmp_path, three_files(), id_column="post_id", text_column="post")
    records, _ = table_adapter.read_split(raw, "train")
    by_prepare = [(r["id"], r["text"]) for r in records]
    by_annotate = [(r.id, r.text) for r in read_rows(tmp_path / "train.csv", "post", "post_id")]
    expected = [("p1", "those people are all lazy"), ("p2", "a day, at the beach\r\nwith friends")]
    expected.append(("p3", 'say "hi" to caf\u00e9'))
    assert by_prepare == expected and by_annotate == expected
    latin1 = tmp_path / "latin1"
    latin1.mkdir()
    path = latin1 / "train.csv"
    path.write_bytes(EXCEL_CSV.encode().replace("caf\u00e9".encode(), b"caf\xe9"))
    assert "train.csv, line 5: byte 22 of the line (0xe9, byte 123 of the file) is not UTF-8" in refused(
        latin1, path.read_bytes(), id_column="post_id", text_column="post"
    )
    errors = [r.error for r in read_rows(path, "post", "post_id")]
    assert errors == [None, None, "train.csv row 3: not valid UTF-8 (line 5, byte 22 of the line: 0xe9)"]


def test_a_bad_byte_on_a_first_line_after_a_byte_order_mark_is_named_where_it_is(tmp_path):
    message = refused(tmp_path, b"\xef\xbb\xbftext,label\ncaf\xe9,pos\n")
    assert "train.csv, line 2: byte 4 of the line (0xe9, byte 18 of the file) is not UTF-8" in message
    message = refused(tmp_path, b"\xef\xbb\xbftext,lab\xe9l\ncafe,pos\n")  # the line's bytes: after the mark
    assert "train.csv, line 1: byte 9 of the line (0xe9, byte 12 of the file) is not UTF-8" in message


def test_a_cell_longer_than_the_csv_module_default_is_read(tmp_path):
    long_text = "word " * 40_000  # 200,000 characters: over csv's 131,072 default limit
    (tmp_path / "train.csv").write_text(f'text,label\n"{long_text}",pos\nshort,neg\n')
    write_others(tmp_path, "text,label", "other,pos")
    table_adapter, raw, _, _ = declare(tmp_path, three_files())
    records, stats = table_adapter.read_split(raw, "train")
    assert [len(r["text"]) for r in records] == [len(long_text.strip()), 5] and stats["posts_read"] == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rid,text,label,label\n1,good,pos,neg\n", r"row 1: the header names column 'label' 2 times \(columns 3, 4\)"),
        ("text,label\ngood,pos\nbad,neg,extra\n", r"row 3: 3 cells, the header has 2; a cell holding the delimiter"),
        ("\n\ntext,label\ngood,pos\nbad,neg,\n", r"row 5: 3 cells, the header has 2"),  # blank lines keep their rows
    ],
)
def test_damaged_csv_is_refused_naming_the_row(tmp_path, content, message):
    assert re.search(message, refused(tmp_path, content))


def test_an_unclosed_quote_is_not_silent(tmp_path):
    # the quoted cell swallows the rest of the file: the row then lacks its label, which is named
    message = refused(tmp_path, 'text,label\n"never closed,pos\nnext,neg\n')
    assert "row 2, column 'label': empty label" in message


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"text": "a", "label": "pos"}', '{"text": "b"}'], r"line 2: no key 'label'; its keys: 'text'"),
        (['{"text": "a", "label": "pos", "label": "neg"}'], r"line 1: key 'label' appears twice"),
        (['["a", "pos"]'], r"line 1: a JSON list, not an object"),
        (['{"text": "a", "label": "pos"}', "", "{oops"], r"line 3: not JSON"),
    ],
)
def test_damaged_jsonl_is_refused_naming_the_line(tmp_path, lines, message):
    assert re.search(message, refused(tmp_path, "\n".join(lines) + "\n", name="train.jsonl"))


def test_a_train_split_with_one_label_stops_prepare_with_the_counts(tmp_path):
    rows = "".join(f"post {i},{'pos' if i < 18 else 'neg'},{'train' if i < 16 else 'test'}\n" for i in range(20))
    rows += "dev post,pos,dev\n"
    (tmp_path / "all.csv").write_text("text,label,split\n" + rows)
    table = declare(tmp_path, one_file(), split_column="split")
    with pytest.raises(DataError) as caught:
        prepare("table", PrepareParams(max_train=5, max_dev=None, max_test=None), 7, table[2], table[3], table[1])
    message = str(caught.value)
    assert "task 'sentiment' has fewer than two labels in the train split" in message
    assert "train {'pos': 5}, dev {'pos': 1}, test {'neg': 2, 'pos': 2}" in message
    assert "raise prepare.max_train (now 5)" in message and "check table.tasks.sentiment" in message


# -- checkbox columns -----------------------------------------------------------------------------------------

CHECKBOX = {"kind": "multiclass", "label_columns": {"neg": "is_neg", "neu": "is_neu", "pos": "is_pos"}}


def test_checkbox_columns_single_shape_one_tick_per_row_or_a_named_drop(tmp_path):
    (tmp_path / "train.csv").write_text(
        "text,is_neg,is_neu,is_pos\ngood,,,1\nbad,X,0,no\nmeh,0,true,\nnone,0,0,0\nboth,yes,,x\nblank,,,\n"
    )
    write_others(tmp_path, "text,is_neg,is_neu,is_pos", "other,1,,")
    table_adapter, raw, tasks, _ = declare(tmp_path, three_files(), tasks={"s": CHECKBOX})
    assert tasks[0].labels == ["neg", "neu", "pos"]
    records, stats = table_adapter.read_split(raw, "train")
    assert {r["text"]: r["labels"]["s"] for r in records} == {"good": "pos", "bad": "neg", "meh": "neu"}
    assert stats["dropped"] == {"empty_text": 0, "no_label_ticked": 2, "several_labels_ticked": 1, "duplicate_text": 0}
    assert stats["posts_read"] == len(records) + sum(stats["dropped"].values())
    # table.checked_values: what counts as ticked (numbers by value, text case-blind)
    table_adapter, raw, _, _ = declare(tmp_path, three_files(), checked_values=["Y", 2], tasks={"s": CHECKBOX})
    (raw / "train.csv").write_text("text,is_neg,is_neu,is_pos\na,y,1,\nb,,2.0,x\n")
    assert [r["labels"]["s"] for r in table_adapter.read_split(raw, "train")[0]] == ["neg", "neu"]


def test_checkbox_columns_multilabel_give_the_ticked_set(tmp_path):
    rows = [
        {"text": "a", "price": True, "service": 1, "food": False},
        {"text": "b", "price": None, "service": "0", "food": "x"},
        {"text": "c", "price": 0, "service": None, "food": None},
    ]
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = {"kind": "multilabel", "label_columns": {"price": "price", "service": "service", "food": "food"}}
    table_adapter, raw, _, _ = declare(tmp_path, {s: f"{s}.jsonl" for s in ("train", "dev", "test")}, tasks={"t": task})
    records, stats = table_adapter.read_split(raw, "train")
    assert [r["labels"]["t"] for r in records] == ["price, service", "food", "none"]
    assert stats["dropped"] == {"empty_text": 0, "duplicate_text": 0}


def test_checkbox_columns_long_shape_one_set_per_annotator_row(tmp_path):
    (tmp_path / "train.csv").write_text(
        "item,text,worker,is_neg,is_neu,is_pos\n"
        "i1,good,w1,,,1\ni1,good,w2,,,1\ni1,good,w3,1,,1\n"
        "i2,bad,w1,1,,\ni2,bad,w2,,,\n"
    )
    write_others(tmp_path, "item,text,worker,is_neg,is_neu,is_pos", "x,other,w1,1,,")
    table_adapter, raw, _, _ = declare(
        tmp_path, three_files(), annotator_column="worker", item_column="item", tasks={"s": CHECKBOX}
    )
    records, stats = table_adapter.read_split(raw, "train")
    good, bad = by_text(records)["good"], by_text(records)["bad"]
    assert good["annotations"]["s"] == ["pos", "pos"] and good["annotators"] == ["w1", "w2"]
    assert bad["annotations"]["s"] == ["neg"] and bad["labels"]["s"] == "neg"
    assert stats["annotation"]["several_labels_ticked"] == 1 and stats["annotation"]["no_label_ticked"] == 1
    assert stats["annotation"]["annotators_without_label"] == 2


def test_checkbox_columns_wide_shape_one_set_per_annotator(tmp_path):
    header = "text,ann_a_neg,ann_a_pos,ann_b_neg,ann_b_pos,ann_c_neg,ann_c_pos"
    (tmp_path / "train.csv").write_text(f"{header}\nnice,0,1,0,1,,\nodd,1,1,1,0,0,0\nmixed,1,0,0,1,1,0\n")
    write_others(tmp_path, header, "other,0,1,0,1,0,1")
    task = {"kind": "binary", "label_columns": {"neg": "ann_{annotator}_neg", "pos": "ann_{annotator}_pos"}}
    table_adapter, raw, _, _ = declare(tmp_path, three_files(), annotator_columns=["a", "b", "c"], tasks={"s": task})
    assert table_adapter.shape == "wide"
    records, stats = table_adapter.read_split(raw, "train")
    posts = by_text(records)
    # c left every box of "nice" empty: no label from c; on "odd" c wrote 0 / 0: none ticked, counted
    assert posts["nice"]["annotators"] == ["a", "b"] and posts["nice"]["labels"]["s"] == "pos"
    assert posts["odd"]["annotators"] == ["b"] and posts["odd"]["annotations"]["s"] == ["neg"]
    assert posts["mixed"]["annotations"]["s"] == ["neg", "pos", "neg"] and posts["mixed"]["labels"]["s"] == "neg"
    assert stats["annotation"]["no_label_ticked"] == 1 and stats["annotation"]["several_labels_ticked"] == 1


def test_wide_checkbox_an_annotator_labelling_the_item_and_ticking_no_topic_chose_the_empty_set(tmp_path):
    header = "text,a_pos,a_neg,a_price,a_food,b_pos,b_neg,b_price,b_food"
    (tmp_path / "train.csv").write_text(f"{header}\nnice,1,,,,1,,,x\nplain,,1,,,,,,\n")
    write_others(tmp_path, header, "other,1,,x,,1,,x,")
    tasks = {
        "s": {"kind": "binary", "label_columns": {"neg": "{annotator}_neg", "pos": "{annotator}_pos"}},
        "t": {"kind": "multilabel", "label_columns": {"price": "{annotator}_price", "food": "{annotator}_food"}},
    }
    table_adapter, raw, _, _ = declare(
        tmp_path, three_files(), annotator_columns=["a", "b"], ties="last_label", tasks=tasks
    )
    posts = by_text(table_adapter.read_split(raw, "train")[0])
    # a ticked a sentiment and no topic on "nice": the empty set; b left every cell of "plain" empty: no annotator
    assert posts["nice"]["annotations"] == {"s": ["pos", "pos"], "t": ["none", "food"]}
    assert posts["nice"]["labels"]["t"] == "food"  # 1 of 2: a tie, ties: last_label keeps it
    assert posts["plain"]["annotators"] == ["a"] and posts["plain"]["annotations"]["t"] == ["none"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"tasks": {"s": {"kind": "binary", "label_columns": {"neg": "{annotator}_neg", "pos": "pos"}}}},
            r"label_columns: \{annotator\} is in some column names, not all",
        ),
        (
            {"annotator_columns": ["r1"], "tasks": {"s": {"kind": "binary", "label_columns": {"a": "x", "b": "y"}}}},
            r"table.tasks.s.label_columns: the table is wide .* write \{annotator\} in each column name",
        ),
        (
            {"tasks": {"s": {"kind": "binary", "label_columns": {"a": "{annotator}_a", "b": "{annotator}_b"}}}},
            r"list the annotators' names, which replace it, in table.annotator_columns",
        ),
    ],
)
def test_checkbox_misdeclarations_are_named(tmp_path, table, message):
    (tmp_path / "all.csv").write_text("text,y\na,b\n")
    with pytest.raises(ParamsError, match=message):
        declare(tmp_path, one_file(), **table)


# -- several annotators on a multilabel task ----------------------------------------------------------------------

TOPICS = {"column": "topics", "kind": "multilabel", "labels": ["price", "service", "food"], "separator": ";"}
MULTI_LONG = """item,text,worker,topics
i1,a,w1,price;food
i1,a,w2,price
i1,a,w3,food
i2,b,w1,service
i2,b,w2,
i3,c,w1,price
i3,c,w2,price;service
"""


@pytest.mark.parametrize(
    ("ties", "b_gold", "c_gold"),
    [("drop", None, None), ("first_label", "none", "price"), ("last_label", "service", "price, service")],
)
def test_multilabel_annotators_gold_is_the_per_label_majority(tmp_path, ties, b_gold, c_gold):
    (tmp_path / "train.csv").write_text(MULTI_LONG)
    write_others(tmp_path, "item,text,worker,topics", "x,other,w1,price")
    table_adapter, raw, _, _ = declare(
        tmp_path, three_files(), annotator_column="worker", item_column="item", ties=ties, tasks={"t": TOPICS}
    )
    records, stats = table_adapter.read_split(raw, "train")
    posts = by_text(records)
    # food: 2 of 3, price: 2 of 3, service: 0 -> both; an empty cell is that annotator's empty set
    assert posts["a"]["labels"]["t"] == "food, price"
    assert posts["a"]["annotations"]["t"] == ["food, price", "price", "food"]
    assert posts["a"]["annotators"] == ["w1", "w2", "w3"]
    assert (posts["b"]["labels"]["t"] if "b" in posts else None) == b_gold
    assert (posts["c"]["labels"]["t"] if "c" in posts else None) == c_gold
    if "b" in posts:
        assert posts["b"]["annotations"]["t"] == ["service", "none"]
    assert stats["dropped"]["tied_majority"] == (2 if ties == "drop" else 0)


def test_multilabel_annotators_wide_shape_and_repeats(tmp_path):
    (tmp_path / "train.csv").write_text('text,r1,r2,r3\na,price,"price,food",\nb,none,service,none\n')
    write_others(tmp_path, "text,r1,r2,r3", "other,price,price,price")
    task = {"kind": "multilabel", "labels": ["price", "service", "food"], "annotator_columns": ["r1", "r2", "r3"]}
    table_adapter, raw, _, _ = declare(tmp_path, three_files(), tasks={"t": task}, ties="first_label")
    posts = by_text(table_adapter.read_split(raw, "train")[0])
    assert posts["a"]["annotators"] == ["r1", "r2"] and posts["a"]["labels"]["t"] == "price"  # food: a tie, left out
    assert posts["b"]["annotations"]["t"] == ["none", "service", "none"] and posts["b"]["labels"]["t"] == "none"
    # one annotator's repeated rows: the majority per label among their answers
    (tmp_path / "train.csv").write_text(
        "item,text,worker,topics\ni1,a,w1,price\ni1,a,w1,price;food\ni1,a,w1,price\ni1,a,w2,food\n"
    )
    table_adapter, raw, _, _ = declare(
        tmp_path,
        three_files(),
        annotator_column="worker",
        item_column="item",
        repeats="majority",
        ties="last_label",
        tasks={"t": TOPICS},
    )
    (record,) = table_adapter.read_split(raw, "train")[0]
    assert record["annotations"]["t"] == ["price", "food"] and record["labels"]["t"] == "food, price"
    assert record["repeats"]["t"] == {"w1": ["price", "food, price", "price"]}


# -- items identified by several columns ------------------------------------------------------------------------


def test_composite_ids_join_the_columns_unambiguously(tmp_path):
    (tmp_path / "train.csv").write_text(
        "conversation,turn,text,label\nc1,1,hello,pos\nc1,2,bye,neg\nc/2,1,odd,neu\nc,2/1,odder,neu\n"
    )
    write_others(tmp_path, "conversation,turn,text,label", "c9,1,other,pos")
    table_adapter, raw, _, _ = declare(tmp_path, three_files(), id_column=["conversation", "turn"])
    records, _ = table_adapter.read_split(raw, "train")
    assert [r["id"] for r in records] == ["c1/1", "c1/2", "c\\/2/1", "c/2\\/1"]
    (raw / "train.csv").write_text("conversation,turn,text,label\nc1,1,hello,pos\nc1,1,again,neg\n")
    with pytest.raises(DatasetError, match=r"row 3: id 'c1/1' \(columns 'conversation', 'turn'\) repeats row 2"):
        table_adapter.read_split(raw, "train")
    (raw / "train.csv").write_text("conversation,turn,text,label\nc1,,hello,pos\n")
    with pytest.raises(DatasetError, match=r"row 2, column 'turn': empty id; every row needs one"):
        table_adapter.read_split(raw, "train")


def test_composite_item_columns_in_the_long_shape(tmp_path):
    (tmp_path / "train.csv").write_text(
        "conv,turn,text,worker,label\nc1,1,hi,w1,pos\nc1,1,hi,w2,pos\nc1,2,hi,w1,neg\nc1,2,hi,w2,neg\n"
    )
    write_others(tmp_path, "conv,turn,text,worker,label", "c9,1,other,w1,pos")
    table_adapter, raw, _, _ = declare(
        tmp_path, three_files(), annotator_column="worker", item_column=["conv", "turn"], id_column=["conv", "turn"]
    )
    records, stats = table_adapter.read_split(raw, "train")
    # the same text in two turns: two items (dedupe by id keeps both)
    assert [(r["id"], r["labels"]["sentiment"]) for r in records] == [("c1/1", "pos"), ("c1/2", "neg")]
    assert stats["posts_read"] == 2 and stats["rows_merged"] == 0

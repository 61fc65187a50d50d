"""Declared tables with several annotators per item (long, wide, counts), coded labels, ordinal tasks and the
carve of one file into train / dev / test, on fixture files; and SBIC's raw file declared as a long table
against the built-in adapter (the same human reference on the same posts)."""

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune.config import Params, PrepareParams, TableParams, build
from annotune.datasets import adapter, prepare, sbic
from annotune.datasets.common import DatasetError
from annotune.errors import DataError, ParamsError
from annotune.metrics.agreement import human_agreement, krippendorff_alpha, leave_one_out_kappa
from annotune.profiles import applied, load_profile
from annotune.tasks import declared_task

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
    from annotune.metrics.reference import repeats

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
            {"annotator_column": "w", "tasks": {"t": {"column": "y", "kind": "multilabel", "labels": ["a", "b"]}}},
            r"table.tasks.t: several annotators per item are aggregated for binary and multiclass tasks",
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

"""Dataset adapters on hand-written fixture files: MRPC (pairs, BOM, stray quotes), GoEmotions
(multi-label, CSV-quoted text), and declared CSV / TSV / JSONL tables with their validation errors."""

import json

import pytest

from annotune.config import TableParams
from annotune.data.datasets import goemotions, mrpc
from annotune.data.datasets.common import DatasetError
from annotune.data.datasets.table import TableAdapter
from annotune.data.tasks import GOEMOTIONS_LABELS, declared_task, get_task
from annotune.errors import ParamsError
from annotune.systems.prompts import instruct_record

MRPC_HEADER = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


def write_mrpc(folder, glue=True):
    lines = [
        '1\t1\t2\tHe said "the witness, lied.\tThe witness lied, he said.',  # unbalanced quote kept as text
        "0\t3\t4\tStocks fell.\tThe weather was fine.",
        "1\t5\t6\tA cat sat.\tA cat was sitting.",
    ]
    test = ['1\t7\t8\tIt rained "a lot.\tThere was much rain.', "0\t9\t10\tRed car.\tBlue sky."]
    (folder / "msr_paraphrase_test.txt").write_text(MRPC_HEADER + "\n".join(test) + "\n", encoding="utf-8")
    if glue:
        (folder / "train.tsv").write_text(MRPC_HEADER + "\n".join(lines[:2]) + "\n", encoding="utf-8")
        (folder / "dev.tsv").write_text(MRPC_HEADER + lines[2] + "\n", encoding="utf-8")
    else:
        (folder / "msr_paraphrase_train.txt").write_text(MRPC_HEADER + "\n".join(lines) + "\n", encoding="utf-8")
        (folder / "dev_ids.tsv").write_text("5\t6\n", encoding="utf-8")


@pytest.mark.parametrize("glue", [True, False])
def test_mrpc_pairs_bom_quotes_and_both_layouts(tmp_path, glue):
    write_mrpc(tmp_path, glue)
    splits, layout = mrpc.load_splits(tmp_path)
    assert layout.startswith("glue")
    train, dev, test = (splits[s][0] for s in ("train", "dev", "test"))
    assert [r["labels"]["paraphrase"] for r in train] == ["paraphrase", "not_paraphrase"]
    assert train[0]["text_a"] == 'He said "the witness, lied.' and "text" not in train[0]
    assert [r["text_a"] for r in dev] == ["A cat sat."]
    assert len(test) == 2 and test[0]["text_b"] == "There was much rain."
    record = instruct_record(get_task("mrpc", "paraphrase"), train[0])
    assert record["input_pair"] == ['He said "the witness, lied.', "The witness lied, he said."]
    assert record["input"].startswith("Sentence 1: He said") and record["output"] == "yes"


def test_mrpc_bad_label_names_file_and_line(tmp_path):
    write_mrpc(tmp_path)
    (tmp_path / "dev.tsv").write_text(MRPC_HEADER + "2\t5\t6\tA.\tB.\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"dev.tsv, line 2: Quality='2'"):
        mrpc.load_splits(tmp_path)


def write_goemotions(folder):
    (folder / "emotions.txt").write_text("\n".join(GOEMOTIONS_LABELS))
    rows = {
        "train": ['"She said ""wow"", I laughed"\t1,17\tc1', "meh\t27\tc2", "\t27\tc3"],  # quoted; multi; empty
        "dev": ["so sad\t25\tc4"],
        "test": ["thanks!\t15\tc5", "I love it\t18,17\tc6"],
    }
    for split, lines in rows.items():
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")


def test_goemotions_multilabel_rows_quotes_and_empty_text(tmp_path):
    write_goemotions(tmp_path)
    splits, _ = goemotions.load_splits(tmp_path)
    train, stats = splits["train"]
    assert train[0]["text"] == 'She said "wow", I laughed'
    assert train[0]["labels"]["emotions"] == "amusement, joy"
    assert stats["posts_read"] == 3 and stats["dropped"]["empty_text"] == 1  # counted, not lost
    task = get_task("goemotions", "emotions")
    assert instruct_record(task, splits["test"][0][1])["output"] == "joy, love"
    assert task.parse_answer("Joy, love, happiness") == "joy, love"
    assert task.invalid_answers("Joy, love, happiness") == ["happiness"]


def test_goemotions_bad_label_index(tmp_path):
    write_goemotions(tmp_path)
    (tmp_path / "dev.tsv").write_text("x\t28\tc9\n")
    with pytest.raises(DatasetError, match=r"dev.tsv, line 1: labels '28'"):
        goemotions.load_splits(tmp_path)


def table(tmp_path, files, **overrides) -> TableAdapter:
    declaration = {
        "files": {split: str(tmp_path / name) for split, name in files.items()},
        "text_column": "text",
        "tasks": {"sentiment": {"column": "label", "kind": "binary", "labels": ["neg", "pos"], "positive": "pos"}},
    } | overrides
    params = TableParams(**declaration)
    tasks = [
        declared_task(n, t.kind, t.labels, t.instruction, t.answers, t.positive)
        for n, t in params.task_params().items()
    ]
    adapter = TableAdapter(params, tasks)
    raw = tmp_path / "raw"
    adapter.fetch(raw)
    return adapter, raw


def test_table_csv_split_column_and_empty_text_counted(tmp_path):
    (tmp_path / "all.csv").write_text(
        'text,label,split\n"good, really",pos,train\nbad,neg,train\n,pos,train\nfine,pos,dev\nawful,neg,test\n'
    )
    adapter, raw = table(tmp_path, {s: "all.csv" for s in ("train", "dev", "test")}, split_column="split")
    splits, _ = adapter.load_splits(raw)
    train, stats = splits["train"]
    assert [r["text"] for r in train] == ["good, really", "bad"]
    assert stats["dropped"]["empty_text"] == 1 and stats["posts_read"] == 3
    assert [r["labels"]["sentiment"] for r in splits["test"][0]] == ["neg"]


def test_table_jsonl_multilabel_lists_and_pairs(tmp_path):
    rows = [
        {"q": "a b", "r": "b a", "tags": ["x", "y"], "uid": "u1"},
        {"q": "c", "r": "d", "tags": "y", "uid": "u2"},
    ]
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    adapter, raw = table(
        tmp_path,
        {s: f"{s}.jsonl" for s in ("train", "dev", "test")},
        text_column="q",
        text_pair_column="r",
        id_column="uid",
        tasks={"tags": {"column": "tags", "kind": "multilabel", "labels": ["x", "y", "z"]}},
    )
    records, _ = adapter.read_split(raw, "train")
    assert records[0] == {"id": "u1", "text_a": "a b", "text_b": "b a", "labels": {"tags": "x, y"}}
    assert records[1]["labels"]["tags"] == "y"


@pytest.mark.parametrize(
    ("content", "overrides", "message"),
    [
        ("text,lbl\nhi,pos\n", {}, r"missing column\(s\) label; found lbl, text"),
        ("text,label\nhi,happy\n", {}, r"train.csv, row 2, column 'label': 'happy' is not a declared label"),
        ("text,label\nhi,\n", {}, r"row 2, column 'label': empty label"),
        ('text,label\nhi,"neg,pos"\n', {}, r"holds several labels; declare kind: multilabel"),
        ("text,label,id\nhi,pos,1\nho,neg,1\n", {"id_column": "id"}, r"row 3: id '1' \(column 'id'\) repeats row 2"),
    ],
)
def test_table_validation_names_file_row_and_column(tmp_path, content, overrides, message):
    (tmp_path / "train.csv").write_text(content)
    (tmp_path / "other.csv").write_text("text,label,id\nx,pos,9\n")
    adapter, raw = table(tmp_path, {"train": "train.csv", "dev": "other.csv", "test": "other.csv"}, **overrides)
    with pytest.raises(DatasetError, match=message):
        adapter.read_split(raw, "train")


def test_declared_task_errors_name_the_key():
    with pytest.raises(ParamsError, match=r"table.tasks.t.kind is 'ranking'"):
        declared_task("t", "ranking", ["a", "b"], None, {}, None)
    with pytest.raises(ParamsError, match="a binary task has exactly two labels"):
        declared_task("t", "binary", ["a", "b", "c"], None, {}, None)
    with pytest.raises(ParamsError, match=r"answers names labels \['c'\]"):
        declared_task("t", "multiclass", ["a", "b"], None, {"c": "see"}, None)
    task = declared_task("t", "multiclass", ["a", "b", "c"], None, {"a": "alpha"}, None)
    assert task.verbalizers == {"a": "alpha", "b": "b", "c": "c"} and "alpha, b, c" in task.instruction


def test_prepare_stops_on_an_empty_split_naming_it(tmp_path):
    import dataclasses
    from pathlib import Path

    from annotune.config import PrepareParams, load_params
    from annotune.data.datasets import adapter, prepare

    (tmp_path / "all.csv").write_text("text,label,split\ngood,pos,train\nbad,neg,train\nfine,pos,test\n")
    declaration = TableParams(
        files={s: str(tmp_path / "all.csv") for s in ("train", "dev", "test")},
        split_column="split",
        tasks={"sentiment": {"column": "label", "kind": "binary", "labels": ["neg", "pos"]}},
    )
    defaults = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    params = dataclasses.replace(
        defaults, dataset="table", tasks=["sentiment"], table=declaration, prepare=PrepareParams()
    )
    tasks = [params.task("sentiment")]
    adapter("table", declaration, tasks).fetch(tmp_path / "raw")
    with pytest.raises(ValueError, match="the dev split of table is empty"):
        prepare("table", params.prepare, params.seed, tasks, declaration, tmp_path / "raw")

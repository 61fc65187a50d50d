"""Tabular attributes (prepare.attributes): declared and checked, carried by the prepared records, and reaching
every system's input: the LLM prompt, the encoders' text, TF-IDF's features, and annotate's rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from annotune.config import BaselinesParams, PrepareParams, TableParams, build
from annotune.data.datasets import adapter, mrpc, prepare, sbic
from annotune.data.datasets.common import DatasetError
from annotune.data.tasks import declared_task
from annotune.errors import DataError, ParamsError
from annotune.systems import baselines, classifiers
from annotune.systems.predictors import System
from annotune.systems.prompts import instruct_record, post_text, prompt_ids, render_prompt
from annotune.workflows.annotate import annotate
from annotune.workflows.annotate_input import read_rows
from tests.conftest import make_tokenizer

SENTIMENT = {"column": "label", "kind": "binary", "labels": ["neg", "pos"]}
ATTRIBUTES = {"platform": "categorical", "age": "numeric"}


def declared(tmp_path, content: str, name: str = "all.csv", **table):
    """(adapter, raw folder, tasks, table params) for one file carved by prepare."""
    (tmp_path / name).write_text(content)
    table = {"files": {s: str(tmp_path / name) for s in ("train", "dev", "test")}, "tasks": {"s": SENTIMENT}} | table
    params = build(TableParams, table, "table.")
    tasks = [declared_task("s", "binary", ["neg", "pos"], None, {}, None, False)]
    table_adapter = adapter("table", params, tasks)
    table_adapter.fetch(tmp_path / "raw")
    return table_adapter, tmp_path / "raw", tasks, params


def pool(records):
    return {r["text"]: r for r in records[0]["pool"][0]}


# -- the declaration ----------------------------------------------------------------------------------------------


def test_the_declaration_is_a_mapping_of_column_to_kind():
    assert build(PrepareParams, {}, "prepare.").attributes == {}
    assert build(PrepareParams, {"attributes": ATTRIBUTES}, "prepare.").attributes == ATTRIBUTES
    with pytest.raises(ParamsError, match=r"prepare\.attributes\.platform = 'category'.*'categorical' or 'numeric'"):
        build(PrepareParams, {"attributes": {"platform": "category"}}, "prepare.")
    with pytest.raises(ParamsError, match=r"prepare\.attributes = \['platform'\]"):
        build(PrepareParams, {"attributes": ["platform"]}, "prepare.")


# -- prepared records ----------------------------------------------------------------------------------------------


def test_table_records_carry_categorical_and_numeric_attributes(tmp_path):
    table, raw, _, _ = declared(tmp_path, "text,label,platform,age\ngood film,pos,web, 31\ndull plot,neg,,4.5\n")
    records = pool(table.load_splits(raw, ATTRIBUTES))
    assert records["good film"]["attributes"] == {"platform": "web", "age": 31.0}
    # an empty categorical cell is a value of its own, not a dropped row
    assert records["dull plot"]["attributes"] == {"platform": "none", "age": 4.5}
    assert "attributes" not in pool(table.load_splits(raw))["good film"]  # none declared: records as before


def test_jsonl_attributes_keep_their_types(tmp_path):
    rows = [{"text": "good film", "label": "pos", "platform": 7, "age": 30}, {"text": "bad", "label": "neg"}]
    content = "".join(json.dumps(r) + "\n" for r in rows)
    table, raw, _, _ = declared(tmp_path, content, name="all.jsonl")
    with pytest.raises(DatasetError, match=r"all\.jsonl, line 2, no column 'platform'"):
        table.load_splits(raw, ATTRIBUTES)
    table, raw, _, _ = declared(tmp_path, content.splitlines()[0] + "\n", name="one.jsonl")
    assert pool(table.load_splits(raw, ATTRIBUTES))["good film"]["attributes"] == {"platform": "7", "age": 30.0}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label,platform\ngood,pos,web\n", r"all\.csv: missing column\(s\) age"),
        ("text,label,platform,age\ngood,pos,web,31\nbad,neg,web,old\n", r"all\.csv, row 3, column 'age': 'old' is not"),
        ("text,label,platform,age\ngood,pos,web,\n", r"all\.csv, row 2, column 'age': empty value"),
        ("text,label,platform,age\ngood,pos,web,nan\n", r"row 2, column 'age': 'nan' is not a finite number"),
    ],
)
def test_bad_declarations_and_values_name_file_row_and_column(tmp_path, content, message):
    table, raw, _, _ = declared(tmp_path, content)
    with pytest.raises(DatasetError, match=message):
        table.load_splits(raw, ATTRIBUTES)


def test_a_column_the_table_already_reads_is_no_attribute(tmp_path):
    table, raw, _, _ = declared(tmp_path, "text,label\ngood,pos\n")
    with pytest.raises(ParamsError, match="declares label, which the table section already reads"):
        table.load_splits(raw, {"label": "categorical"})


LONG = """item,text,worker,label,platform
i1,good film,w1,pos,web
i1,good film,w2,pos,web
i2,dull plot,w1,neg,app
i2,dull plot,w2,neg,app
"""


def test_long_shape_items_carry_their_attributes_and_rows_must_agree(tmp_path):
    long = {"item_column": "item", "annotator_column": "worker"}
    table, raw, _, _ = declared(tmp_path, LONG, **long)
    records = pool(table.load_splits(raw, {"platform": "categorical"}))
    assert records["good film"]["attributes"] == {"platform": "web"}
    assert records["dull plot"]["attributes"] == {"platform": "app"} and records["dull plot"]["annotators"]
    table, raw, _, _ = declared(tmp_path, LONG.replace("i2,dull plot,w2,neg,app", "i2,dull plot,w2,neg,web"), **long)
    with pytest.raises(DatasetError, match=r"all\.csv, row 5, column 'platform': item 'i2' has 'web' here but 'app'"):
        table.load_splits(raw, {"platform": "categorical"})


def test_wide_shape_items_carry_their_attributes(tmp_path):
    content = "text,r1,r2,platform\ngood film,pos,pos,web\ndull plot,neg,pos,app\n"
    task = {"kind": "binary", "labels": ["neg", "pos"], "annotator_columns": ["r1", "r2"]}
    table, raw, _, _ = declared(tmp_path, content, tasks={"s": task}, ties="first_label")
    assert pool(table.load_splits(raw, {"platform": "categorical"}))["dull plot"]["attributes"] == {"platform": "app"}


def test_prepare_keeps_the_attributes_through_the_carve(tmp_path):
    rows = "".join(f"post {i},{'pos' if i % 2 else 'neg'},{'web' if i % 3 else 'app'}\n" for i in range(40))
    _, raw, tasks, table = declared(tmp_path, "text,label,platform\n" + rows)
    splits, stats = prepare("table", PrepareParams(attributes={"platform": "categorical"}), 0, tasks, table, raw)
    records = [r for split in splits.values() for r in split]
    assert len(records) == 40 and stats["layout"] == "carved"
    assert all(r["attributes"] == {"platform": "web" if int(r["text"][5:]) % 3 else "app"} for r in records)


def test_datasets_without_such_columns_refuse_attributes(tmp_path):
    with pytest.raises(DatasetError, match="prepare.attributes declares platform, but the mrpc files have no column"):
        mrpc.load_splits(tmp_path, {"platform": "categorical"})


SBIC_RAW = ["post", "WorkerId", "offensiveYN", "targetMinority", "targetStereotype", "dataSource"]


def test_sbic_raw_rows_of_a_post_give_its_data_source(tmp_path):
    rows = [
        ("post A", "w1", 1.0, "women", "women are weak", "Gab"),
        ("post A", "w2", 0.0, None, None, "Gab"),
        ("post B", "w1", 0.5, None, None, "r/darkjokes"),
        ("  ", "w1", 0.5, None, None, "t/founta"),  # an empty post: dropped and counted, whatever its source
    ]
    path = tmp_path / "SBIC.v2.dev.csv"
    pd.DataFrame(rows, columns=SBIC_RAW).to_csv(path, index=False)
    records, stats = sbic.read_raw_split(path, {"dataSource": "categorical"})
    assert {r["text"]: r["attributes"] for r in records} == {
        "post A": {"dataSource": "Gab"},
        "post B": {"dataSource": "r/darkjokes"},
    }
    assert stats["dropped"]["empty_post"] == 1
    rows[1] = ("post A", "w2", 0.0, None, None, "Stormfront")
    pd.DataFrame(rows, columns=SBIC_RAW).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"dev\.csv, line 3, column 'dataSource': 'Stormfront', but line 2 \(the same"):
        sbic.read_raw_split(path, {"dataSource": "categorical"})
    with pytest.raises(DataError, match=r"dev\.csv: missing column\(s\) platform"):
        sbic.read_raw_split(path, {"platform": "categorical"})
    with pytest.raises(DataError, match="declares offensiveYN: SBIC's post, annotator or label"):
        sbic.load_splits(tmp_path, {"offensiveYN": "numeric"})


@pytest.mark.slow  # every system on real SBIC posts
def test_sbic_data_source_from_the_shared_files(shared_sbic):
    splits, _ = sbic.load_splits(shared_sbic, {"dataSource": "categorical"})
    sources = {"Gab", "Stormfront", "r/darkjokes", "t/founta", "t/davidson", "t/waseem", "redditMicroagressions"}
    for records, _ in splits.values():  # the raw dev file (aggregated here) and the authors' aggregated test file
        values = {r["attributes"]["dataSource"] for r in records}
        assert sources <= values and all(v.startswith(("r/", "t/")) or v in sources for v in values)


# -- what each system reads ---------------------------------------------------------------------------------------

TASK = declared_task("s", "binary", ["neg", "pos"], "Is it positive?", {}, None, False)
RECORD = {"id": "1", "text": "good film", "labels": {"s": "pos"}, "attributes": {"platform": "web", "age": 31.0}}


def test_instruct_input_puts_the_attribute_lines_before_the_text():
    row = instruct_record(TASK, RECORD)
    assert row["input"] == "platform: web\nage: 31\ngood film"
    assert row["attributes"] == {"platform": "web", "age": 31.0} and post_text(row) == "good film"
    plain = instruct_record(TASK, {k: v for k, v in RECORD.items() if k != "attributes"})
    assert list(plain) == ["id", "instruction", "input", "output", "label"] and plain["input"] == "good film"
    pair = instruct_record(TASK, {**RECORD, "text": None} | {"text_a": "a cat", "text_b": "a dog"})
    assert pair["input"] == "platform: web\nage: 31\nSentence 1: a cat\nSentence 2: a dog"
    assert pair["input_pair"] == ["platform: web\nage: 31\na cat", "a dog"]
    assert post_text(pair) == "Sentence 1: a cat\nSentence 2: a dog"


def test_the_llm_prompt_shows_the_attributes_and_a_cut_keeps_them():
    tokenizer = make_tokenizer()
    row = instruct_record(TASK, RECORD | {"text": "I love my neighbours and their dogs. " * 20})
    prompt = render_prompt(tokenizer, TASK.instruction, row["input"])
    assert "Is it positive?\n\nplatform: web\nage: 31\nI love my neighbours" in prompt
    ids, cut = prompt_ids(tokenizer, TASK.instruction, row["input"], max_input_tokens=30)
    kept = tokenizer.decode(ids)  # the tiny tokenizer knows no digits and no newline: they decode as <unk>
    assert cut and "platform: web<unk>age: " in kept and kept.count("I love") < 20
    few_shot = render_prompt(tokenizer, TASK.instruction, "x", [row])
    assert few_shot.count("platform: web") == 1


def test_encoders_read_the_attribute_lines():
    seen = []

    def tokenizer(*texts, **kwargs):
        seen.append(texts)
        return {}

    classifiers.encode(tokenizer, [instruct_record(TASK, RECORD)], 32)
    pair = instruct_record(TASK, {**RECORD, "text_a": "a cat", "text_b": "a dog"} | {"text": None})
    classifiers.encode(tokenizer, [pair], 32)
    assert seen == [(["platform: web\nage: 31\ngood film"],), (["platform: web\nage: 31\na cat"], ["a dog"])]


def rows_by_platform(n: int, seed: int = 0) -> list[dict]:
    """The label is the platform's; the text says nothing (the same few words for both labels)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        platform = ["web", "app"][i % 2]
        record = {
            "id": str(i),
            "text": f"same words {rng.integers(3)}",
            "labels": {"s": "pos" if platform == "app" else "neg"},
            "attributes": {"platform": platform, "age": float(rng.integers(18, 80))},
        }
        rows.append(instruct_record(TASK, record))
    return rows


def test_tfidf_appends_one_hot_and_scaled_attribute_features_and_predicts_from_them(tmp_path):
    train, test = rows_by_platform(40), rows_by_platform(10, seed=1)
    model = baselines.train("tfidf_logreg", TASK, train, BaselinesParams(), 0)
    features = model["pipeline"][0]
    vocabulary = len(features.named_transformers_["text"].vocabulary_)
    assert not any("platform" in word or "web" in word for word in features.named_transformers_["text"].vocabulary_)
    matrix = features.transform(baselines._inputs(test, model["attributes"]))
    assert matrix.shape == (10, vocabulary + 2 + 1)  # TF-IDF, one-hot web / app, scaled age
    predictions = baselines.predict(TASK, model, test)
    assert [p["pred"] for p in predictions] == [p["gold"] for p in predictions]
    baselines.save(model, tmp_path / "m")  # the new scikit-learn parts load with skops' trusted set
    assert baselines.predict(TASK, baselines.load(tmp_path / "m"), test) == predictions
    unseen = [{**test[0], "attributes": {"platform": "tv", "age": 30.0}}]
    assert baselines.predict(TASK, model, unseen)[0]["scores"]  # an unseen category is all zeros, not an error
    with pytest.raises(DataError, match=r"lack the attributes \['platform', 'age'\]"):
        baselines.predict(TASK, model, [{k: v for k, v in test[0].items() if k != "attributes"}])


def test_tfidf_without_attributes_is_the_plain_pipeline():
    plain = [{k: v for k, v in r.items() if k != "attributes"} for r in rows_by_platform(20)]
    model = baselines.train("tfidf_logreg", TASK, plain, BaselinesParams(), 0)
    assert "attributes" not in model and type(model["pipeline"][0]).__name__ == "TfidfVectorizer"


# -- annotate ------------------------------------------------------------------------------------------------------


def test_annotate_requires_the_declared_columns(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("post,platform\ngood film,web\n")
    with pytest.raises(DataError, match=r"posts\.csv: no column 'age' \(a declared attribute"):
        list(read_rows(path, "post", None, ATTRIBUTES))
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text(json.dumps({"post": "good film", "platform": "web"}) + "\n")
    assert list(read_rows(jsonl, "post", None, ATTRIBUTES))[0].error == (
        "posts.jsonl row 1: no column 'age' (a declared attribute, prepare.attributes)"
    )


def test_annotate_feeds_the_attributes_as_training_did(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("post,platform,age\ngood film,web,31\ndull plot,,x\n")
    seen = []

    def predict(rows):
        seen.extend(rows)
        return [{"id": r["id"], "gold": None, "pred": "pos", "scores": {"neg": 0.2, "pos": 0.8}} for r in rows]

    out = tmp_path / "out.jsonl"
    annotate(path, out, System("fake", TASK, "v1", predict), "post", attributes=ATTRIBUTES, progress=False)
    expected = instruct_record(TASK, RECORD)
    assert seen == [{"id": "1", "input": expected["input"], "attributes": expected["attributes"], "label": None}]
    second = json.loads(out.read_text().splitlines()[1])
    assert second["status"] == "error"
    assert second["error"] == "posts.csv row 2: column 'age': 'x' is not a number (declared numeric)"
    model = baselines.train("tfidf_logreg", TASK, rows_by_platform(40), BaselinesParams(), 0)
    tfidf = System("tfidf", TASK, "v1", lambda rows: baselines.predict(TASK, model, rows))
    annotate(path, tmp_path / "tfidf.jsonl", tfidf, "post", attributes=ATTRIBUTES, progress=False)
    assert json.loads((tmp_path / "tfidf.jsonl").read_text().splitlines()[0])["label"] == "neg"  # web -> neg


def test_qlora_training_examples_hold_the_attribute_lines():
    from annotune.systems.packing import build_examples

    tokenizer = make_tokenizer()
    examples, _ = build_examples(tokenizer, [instruct_record(TASK, RECORD), *rows_by_platform(2)], max_input_tokens=64)
    assert "platform: web<unk>age: " in tokenizer.decode(examples[0]["input_ids"])

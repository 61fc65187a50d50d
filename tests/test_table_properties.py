"""Property tests of reading declared tables (annotune/data/datasets/table.py): generated CSV / TSV / JSONL files
(encodings, quoting, CRLF and CR line ends, a byte order mark, missing and extra cells, repeated columns, cells
over the csv module's default limit, repeated ids, empty text, broken JSON) read in the single, checkbox and long
shapes. Whatever the file, reading it ends one of two ways:

- a one-line annotune error (an ``AnnotuneError``: the CLI prints it without a traceback) naming the file, or
- every row accounted for: each data row written is a record or counted in the stats' drop counts.

Derandomized with a bounded number of examples, so the suite is the same on every run and takes seconds."""

import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotune.config import TableParams, build
from annotune.data.datasets.table import TableAdapter
from annotune.data.tasks import declared_task
from annotune.errors import AnnotuneError

EXAMPLES = 300
SETTINGS = settings(
    derandomize=True,
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HUGE = "long " * 30_000  # 150,000 characters: over the csv module's default field limit (131,072)
LABELS = ["neg", "pos"]

# the declarations read: shape -> (table section, the columns its rows carry)
DECLARATIONS = {
    "single": ({"id_column": "rid", "tasks": {"s": {"column": "label", "kind": "binary", "labels": LABELS}}}, []),
    "single_no_id": ({"tasks": {"s": {"column": "label", "kind": "multilabel", "labels": LABELS}}}, []),
    "checkbox": ({"tasks": {"s": {"kind": "binary", "label_columns": {"neg": "is_neg", "pos": "is_pos"}}}}, []),
    "long": (
        {
            "annotator_column": "worker",
            "item_column": ["rid", "turn"],
            "repeats": "majority",
            "tasks": {"s": {"column": "label", "kind": "multiclass", "labels": LABELS}},
        },
        ["worker", "turn"],
    ),
}

texts = st.one_of(
    st.text(max_size=12),  # any characters: commas, quotes, tabs, line breaks, non-Latin-1
    st.sampled_from(["", " ", "good film", 'say "hi"', "a,b", "a\tb", "line\nbreak", "caf\u00e9", "\ufeffbom", HUGE]),
)
label_cells = st.sampled_from(["neg", "pos", " pos "])
tick_cells = st.sampled_from(["", "1", "0", "x", "X", "yes", "no", "true", "2"])  # none / several ticked: counted
BAD_CELLS = {"label": ["", "maybe", "neg,pos", "POS"], "rid": [""], "worker": [""], "is_pos": ["maybe"]}
# at most one kind of damage per file: None leaves it well-formed
DAMAGE = [None, None, None, "bad value", "short row", "extra cell", "repeated column", "latin-1", "no quoting"]


@st.composite
def rows(draw, shape: str, damage: str | None) -> list[dict]:
    extra = DECLARATIONS[shape][1]
    out = []
    for i in range(draw(st.integers(0, 6))):
        row = {"rid": draw(st.sampled_from([f"r{i}", f"r/{i}\\"])), "text": draw(texts)}
        if shape == "checkbox":
            row |= {"is_neg": draw(tick_cells), "is_pos": draw(tick_cells)}
        else:
            row["label"] = draw(label_cells)
        for column in extra:
            row[column] = draw(st.sampled_from(["w1", "w2", "w3"] if column == "worker" else ["1", "2"]))
        out.append(row)
    if out and draw(st.booleans()):
        out.append(dict(out[0]))  # the same row twice: a repeated id, text or (long) annotator row
    if out and damage == "bad value":
        row = out[draw(st.integers(0, len(out) - 1))]
        column = draw(st.sampled_from(sorted(set(BAD_CELLS) & set(row))))
        row[column] = draw(st.sampled_from(BAD_CELLS[column]))
    return out


@st.composite
def delimited_files(draw, shape: str) -> tuple[str, bytes, int | None]:
    """(file name, bytes, data rows written or None where the damage leaves the count unknown)."""
    suffix = draw(st.sampled_from([".csv", ".tsv"]))
    damage = draw(st.sampled_from(DAMAGE))
    table = draw(rows(shape, damage))
    header = list(table[0]) if table else ["rid", "text", "label", *DECLARATIONS[shape][1]]
    if draw(st.booleans()):
        header = header + ["note"]  # a column nothing reads
    if damage == "repeated column":
        header = header + [draw(st.sampled_from(header))]
    delimiter = "\t" if suffix == ".tsv" else ","
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    cells = [[str(row.get(c, "")) for c in header] for row in table]
    if cells and damage == "short row":
        i = draw(st.integers(0, len(cells) - 1))
        cells[i] = cells[i][: draw(st.integers(1, len(header) - 1))]
    if cells and damage == "extra cell":
        cells[draw(st.integers(0, len(cells) - 1))].append("surplus")
    known = all(line not in ([], [""]) for line in cells)  # else written as a blank line: no data row
    if damage == "no quoting":  # written by hand: delimiters and line breaks inside cells break rows
        text = ending.join(delimiter.join(line) for line in [header, *cells]) + ending
        known = False
    else:
        buffer = io.StringIO(newline="")
        quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=ending, quoting=quoting)
        writer.writerows([header, *cells])
        text = buffer.getvalue()
        # csv quotes (minimal) a line break only of the kinds in its line ending: another kind, unquoted, ends the
        # row on reading, so the file holds more rows than were written (each still accounted for)
        breaks = set("\r\n") - set(ending)
        known = known and not (quoting == csv.QUOTE_MINIMAL and any(breaks & set(c) for line in cells for c in line))
    encoding = "latin-1" if damage == "latin-1" else draw(st.sampled_from(["utf-8", "utf-8-sig"]))
    data = text.encode(encoding, errors="replace")
    return f"train{suffix}", data, len(cells) if known else None


JSON_DAMAGE = [None, None, None, "bad value", "missing key", "odd values", "broken", "not an object", "key twice"]
JSON_DAMAGE += ["latin-1"]


@st.composite
def jsonl_files(draw, shape: str) -> tuple[str, bytes, int | None]:
    damage = draw(st.sampled_from(JSON_DAMAGE))
    lines = []
    for row in draw(rows(shape, damage)):
        if damage == "missing key" and draw(st.booleans()):
            row.pop(draw(st.sampled_from(sorted(row))))
        if damage == "odd values":
            key = "label" if shape != "checkbox" else draw(st.sampled_from(["is_neg", "is_pos"]))
            row[key] = draw(st.sampled_from([None, 1, True, 0.5, ["pos"], {"x": 1}, float("nan")]))
            row["text"] = draw(st.sampled_from([None, 7, ["a"], {"t": "x"}, row["text"]]))
        line = json.dumps(row, ensure_ascii=draw(st.booleans()))
        if damage == "broken" and draw(st.booleans()):
            line = line[: len(line) // 2]
        elif damage == "not an object" and draw(st.booleans()):
            line = json.dumps(list(row.values()))
        elif damage == "key twice" and draw(st.booleans()):
            line = line[:-1] + ', "text": "again"}'
        lines.append(line)
        if draw(st.integers(0, 8)) == 0:
            lines.append("")  # blank lines are no records
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    encoding = "latin-1" if damage == "latin-1" else draw(st.sampled_from(["utf-8", "utf-8-sig"]))
    data = (ending.join(lines) + ending).encode(encoding, errors="replace")
    return "train.jsonl", data, sum(1 for line in lines if line)


def adapter_for(shape: str, folder: Path, name: str) -> TableAdapter:
    section, _ = DECLARATIONS[shape]
    files = {"train": str(folder / name), "dev": str(folder / "dev.csv"), "test": str(folder / "test.csv")}
    params = build(TableParams, {"files": files, **section}, "table.")
    tasks = [
        declared_task(n, t.kind, t.label_names, t.instruction, t.answers, t.positive, t.ordinal)
        for n, t in params.task_params().items()
    ]
    return TableAdapter(params, tasks)


def read_or_refuse(shape: str, name: str, data: bytes, written: int | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / name).write_bytes(data)
        table = adapter_for(shape, folder, name)
        try:
            records, stats = table.read_split(folder, "train")
        except AnnotuneError as exc:  # anything else fails the test with its traceback
            message = str(exc)
            assert "\n" not in message and name in message, message
            assert len(message) < 2000, message[:300]  # a huge cell is cut, not printed whole
            return
    items = stats["posts_read"]
    assert items == len(records) + sum(stats["dropped"].values()), stats
    if shape == "long":
        read = stats["rows_read"]
        assert items <= read - stats["rows_dropped"]["empty_text"] - stats["rows_merged"], stats
    else:
        read = items
    if written is not None:
        assert read == written, (read, written, stats)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) and all(ids)
    task = table.tasks[0]
    for record in records:
        label = record["labels"]["s"]
        assert (set(label.split(", ")) <= {*LABELS, "none"}) if task.kind == "multilabel" else label in LABELS
        assert record["text"] == record["text"].strip() and record["text"]


@SETTINGS
@given(st.data())
def test_delimited_tables_are_read_whole_or_refused_in_one_line(data):
    shape = data.draw(st.sampled_from(sorted(DECLARATIONS)))
    read_or_refuse(shape, *data.draw(delimited_files(shape)))


@SETTINGS
@given(st.data())
def test_jsonl_tables_are_read_whole_or_refused_in_one_line(data):
    shape = data.draw(st.sampled_from(sorted(DECLARATIONS)))
    read_or_refuse(shape, *data.draw(jsonl_files(shape)))

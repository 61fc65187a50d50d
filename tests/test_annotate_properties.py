"""annotate on generated inputs (hypothesis): CSV / JSONL with quotes, separators and line breaks inside cells,
CRLF, a byte order mark, Latin-1 bytes, short and long rows, repeated and empty ids. Whatever the input, annotate
either stops with one line naming the problem (an annotune error) or writes one output row per input record, in
order, each labelled or marked as an error: nothing is lost and nothing crashes."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotune.data.tasks import get_task
from annotune.errors import AnnotuneError
from annotune.systems.predictors import System
from annotune.workflows.annotate import annotate

TASK = get_task("sbic", "hasBiasedImplication")
CELL = st.text(alphabet=st.sampled_from(list("ab é,;\"'\n\r\t|{}[]:")), max_size=12)


def fake_system() -> System:
    def predict(rows):
        out = []
        for row in rows:
            p = (sum(map(ord, row["input"])) % 97) / 96
            scores = {"implied_bias": p, "no_implied_bias": 1 - p}
            out.append({"id": row["id"], "pred": max(scores, key=scores.get), "scores": scores})
        return out

    return System("fake", TASK, "v1", predict)


@st.composite
def delimited_input(draw) -> tuple[bytes, str]:
    rows = draw(st.lists(st.tuples(st.sampled_from(["1", "2", "3", "", "x"]), CELL), min_size=0, max_size=8))
    extra = draw(st.booleans())  # a third cell on some rows: more cells than the header
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(["key", "post"])
    for i, (key, text) in enumerate(rows):
        writer.writerow([key, text, "extra"] if extra and i % 2 else [key, text])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
    return buffer.getvalue().encode(encoding, errors="replace"), ".csv"


@st.composite
def jsonl_input(draw) -> tuple[bytes, str]:
    lines = []
    for key, text in draw(st.lists(st.tuples(st.sampled_from([1, "1", 2, "b", None]), CELL), max_size=8)):
        shape = draw(st.sampled_from(["ok", "no_text", "not_json", "list"]))
        record = {"key": key, "post": text} if shape != "no_text" else {"key": key}
        lines.append(
            "{broken"
            if shape == "not_json"
            else json.dumps([record] if shape == "list" else record, ensure_ascii=False)
        )
    return ("\n".join(lines) + "\n").encode("utf-8"), ".jsonl"


def records_in(data: bytes, suffix: str) -> int:
    """How many records a reader of the format sees (bytes that are not UTF-8 kept, as annotate marks their rows
    as errors)."""
    text = data.decode("utf-8-sig", errors="surrogateescape")
    if suffix == ".jsonl":  # every line is a row, a blank one an error row
        return len(text.splitlines())
    return max(0, len(list(csv.reader(io.StringIO(text, newline="")))) - 1)


@settings(
    max_examples=120, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=st.one_of(delimited_input(), jsonl_input()))
def test_every_input_is_a_one_line_error_or_fully_accounted_for(case, tmp_path_factory):
    data, suffix = case
    folder = tmp_path_factory.mktemp("case")
    source, out = folder / f"in{suffix}", folder / "out.jsonl"
    source.write_bytes(data)
    expected = records_in(data, suffix)
    try:
        annotate(source, out, fake_system(), "post", "key", chunk_size=3, progress=False)
    except AnnotuneError as exc:
        assert "\n" not in str(exc) and str(exc), f"not one line: {exc!r}"
        assert not out.exists(), "a refused run wrote its output"
        return
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == expected
    assert [r["row"] for r in rows] == sorted(r["row"] for r in rows)
    assert all(r["status"] in ("ok", "error") for r in rows)
    assert all(r["status"] == "error" or r["label"] in TASK.labels for r in rows)

"""annotate's input (annotune/workflows/annotate.py): the rows to label, read lazily from a CSV, TSV or JSONL of any
size.

The file is read by :mod:`annotune.data.readers`, prepare's reader too (UTF-8 with or without a byte order mark,
CRLF, quoted line breaks, cells of any length; a CSV / TSV header naming a column twice is refused). Each record
becomes an :class:`InputRow`: its 1-based row number (the data record's index, the header not counted; for JSONL
the line number), its id (the ``id_column`` value, else the row number), its columns, and the text to label, or
an error: an empty line or text, a missing column, a JSONL line that is no JSON object (or names a key twice), a
byte that is not UTF-8, a CSV record with another number of cells than the header. Error rows are never skipped:
they are labelled as errors at their place. Declared attributes (prepare.attributes) are read from their columns
as prepare reads them (a CSV / TSV without one of them is refused; a row with a bad value is an error row).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from annotune.config import attribute_values
from annotune.data import readers
from annotune.errors import DataError, MissingInputError
from annotune.systems.prompts import input_fields

_SURROGATE = re.compile("[\ud800-\udfff]")  # a JSON string can hold one (a \\udc.. escape): no text


@dataclass(frozen=True)
class InputRow:
    row: int
    id: str
    columns: dict
    text: str | None
    error: str | None = None
    attributes: dict | None = None  # the declared attributes' values; None: none declared (or an error row)

    def model_row(self) -> dict:
        """The row as systems read it (as instruct_format writes a record, without a label)."""
        return {"id": self.id, **input_fields(self.text, self.attributes), "label": None}


def _clean(value):
    """A string with a lone surrogate (a JSON escape of no character) with U+FFFD in its place."""
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


def _has_surrogates(value) -> bool:
    return isinstance(value, str) and _SURROGATE.search(value) is not None


def input_format(path: Path) -> str:
    return readers.file_format(path)


def _row(
    path: Path,
    number: int,
    record: readers.Record,
    columns: dict,
    text_column: str,
    id_column: str | None,
    error: str | None,
    attributes: dict[str, str],
) -> InputRow:
    where = f"{path.name} row {number}"
    row_id = str(number)
    if id_column is not None:
        value = columns.get(id_column)
        if value is None or str(value).strip() == "":
            error = error or f"{where}: empty or missing id in column {id_column!r}"
        else:
            row_id = str(_clean(value))
    text = columns.get(text_column)
    if error is None:
        if text_column not in columns:
            error = f"{where}: no column {text_column!r}"
        elif not isinstance(text, str):
            error = f"{where}: column {text_column!r} is not text ({type(text).__name__})"
        elif not text.strip():
            error = f"{where}: empty text in column {text_column!r}"
        elif (bad := record.bad_byte) is not None:
            error = f"{where}: not valid UTF-8 (line {bad.line}, byte {bad.column} of the line: 0x{bad.value:02x})"
        elif any(_has_surrogates(v) for v in columns.values()):
            error = f"{where}: not valid UTF-8"
    values = None
    if error is None and attributes:
        try:
            values = attribute_values(columns, attributes)
        except ValueError as exc:
            error = f"{where}: {exc}"
    cleaned = {_clean(k): _clean(v) for k, v in columns.items()}
    return InputRow(number, row_id, cleaned, None if error else text, error, values)


def _read_jsonl(path: Path, text_column: str, id_column: str | None, attributes: dict) -> Iterator[InputRow]:
    for record in readers.records(path):
        number, where = record.number, f"{path.name} row {record.number}"
        if record.blank:
            yield InputRow(number, str(number), {}, None, f"{where}: empty line")
        elif record.problem is not None:
            yield InputRow(number, str(number), {"raw": record.line}, None, f"{where}: {record.problem}")
        else:
            yield _row(path, number, record, record.values, text_column, id_column, None, attributes)


def _checked_header(path: Path, text_column: str, id_column: str | None, attributes: dict) -> tuple[int, list[str]]:
    found = readers.header(path)
    if found is None:
        raise DataError(f"{path}: empty file (no header row)")
    header = found[1]
    for column in (text_column, id_column, *attributes):
        if column is not None and column not in header:
            declared = " (a declared attribute, prepare.attributes)" if column in attributes else ""
            raise DataError(
                f"{path}: no column {column!r}{declared} in the header; columns: {', '.join(map(repr, header))}"
            )
    return found


def _read_delimited(path: Path, text_column: str, id_column: str | None, attributes: dict) -> Iterator[InputRow]:
    first, header = _checked_header(path, text_column, id_column, attributes)
    for record in readers.records(path):
        number = record.number - first  # the data record's index: the header's row is not one
        error = None
        if record.blank:
            error = f"{path.name} row {number}: empty line"
        elif record.problem is not None or record.cells < len(header):
            error = f"{path.name} row {number}: " + (
                record.problem or f"{record.cells} cells, the header has {len(header)}"
            )
        columns = {k: v for k, v in record.values.items() if v is not None}  # a short row: the cells it has
        yield _row(path, number, record, columns, text_column, id_column, error, attributes)


def _refuse_missing(path: Path) -> None:
    if not path.is_file():
        raise MissingInputError(f"{path}: input file not found" if not path.exists() else f"{path}: not a file")


def read_rows(
    path: Path, text_column: str, id_column: str | None = None, attributes: dict[str, str] | None = None
) -> Iterator[InputRow]:
    """Every record of ``path`` in order, lazily; bad records come back as rows with an error.
    ``attributes``: the declared attribute columns (prepare.attributes) -> kind."""
    path = Path(path)
    _refuse_missing(path)
    if input_format(path) == ".jsonl":
        return _read_jsonl(path, text_column, id_column, attributes or {})
    return _read_delimited(path, text_column, id_column, attributes or {})


def _first_record(path: Path) -> readers.Record | None:
    """The first line of a JSONL file that holds a JSON object; None if no line does."""
    with contextlib.closing(readers.records(path)) as records:
        return next((r for r in records if not r.blank and r.problem is None), None)


def check_input(
    path: Path, text_column: str, id_column: str | None = None, attributes: dict[str, str] | None = None
) -> None:
    """Refuse at once an input that cannot be labelled: missing, of another format, or without the text or id
    column in its header (CSV / TSV, declared attributes too) or its first record (JSONL: a wrong key would
    otherwise give an error row per record)."""
    path = Path(path)
    _refuse_missing(path)
    if input_format(path) != ".jsonl":
        _checked_header(path, text_column, id_column, attributes or {})
        return
    first = _first_record(path)
    if first is None:
        return  # no record to label: every line becomes an error row
    for column in (text_column, id_column):
        if column is not None and column not in first.values:
            keys = ", ".join(map(repr, first.values)) or "none"
            raise DataError(f"{path}: no key {column!r} in the first record (line {first.number}); its keys: {keys}")


def count_rows(path: Path, text_column: str, id_column: str | None = None) -> int:
    """Number of records (a streaming pass; used for the progress bar's total). With an ``id_column``, ids
    must be unique: a JSON ``1`` and ``"1"`` are the same id, as both are written ``"1"``. The pass keeps
    every id in memory (about 100 bytes per row) to name the first row holding a repeated one."""
    path = Path(path)
    if id_column is None and input_format(path) == ".jsonl":
        return readers.line_count(path)
    first_row_of: dict[str, int] = {}
    total = 0
    for row in read_rows(path, text_column, id_column):
        total += 1
        value = row.columns.get(id_column) if id_column is not None else None
        if value is None or str(value).strip() == "":
            continue  # no id of its own: the row number, unique (an empty id is an error row)
        first = first_row_of.setdefault(row.id, row.row)
        if first != row.row:
            raise DataError(
                f"{path}: rows {first} and {row.row} have the same id {row.id!r} (column {id_column!r}); "
                "ids must be unique"
            )
    return total

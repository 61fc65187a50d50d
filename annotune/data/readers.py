"""Reading CSV, TSV and JSONL files: the one reader of prepare (a declared table, annotune/data/datasets/table.py)
and of annotate (the file to label, annotune/workflows/annotate_input.py), so that both read a file the same way.

The rules:

- the format comes from the extension: ``.csv``, ``.tsv`` or ``.jsonl`` (any case);
- UTF-8, with or without a byte order mark (Excel's "CSV UTF-8" starts the file with one); a byte that is not
  UTF-8 is named by line, byte of the line and byte of the file (:class:`BadByte`), and read as U+FFFD;
- a line ends in ``\\n``, ``\\r\\n`` or a lone ``\\r`` (Python's universal newlines);
- CSV / TSV: the csv module's quoting (a quoted cell may hold the delimiter, quotes and line breaks), cells of
  any length (``csv.field_size_limit``). The header is the first line that is not blank; a header naming a
  column twice is refused. Rows are numbered as a spreadsheet numbers them (the header's row counts, a blank
  line is a row, a quoted cell spanning lines is one row). A row with fewer cells than the header reads the
  missing ones as None, one with more keeps the header's and is a :attr:`Record.problem`;
- JSONL: one JSON object per line, numbered by line; a line that is not JSON, not an object, names a key twice
  (in any object it holds) or nests too deeply to read is a :attr:`Record.problem`.

Records come one at a time (memory stays flat, whatever the file's size: annotate streams them; prepare lists
them). A record the reader could not read as written carries why; what that means is the caller's: prepare
refuses the file at the first one, annotate writes an error row in its place and goes on. What no record can
be read around (a header naming a column twice, a CSV the csv module cannot parse) is a :class:`ReadError`.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from annotune.errors import DataError

FORMATS = (".csv", ".tsv", ".jsonl")
DELIMITERS = {".csv": ",", ".tsv": "\t"}
BOM = b"\xef\xbb\xbf"
ENCODING_ADVICE = (
    "the file is in another encoding (Latin-1 / Windows-1252?): re-save it as UTF-8 (Excel: CSV UTF-8; or "
    "iconv -f latin1 -t utf-8)"
)
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")  # after a \r that ends a line on its own (not the \r of \r\n)


class ReadError(DataError):
    """A file no record can be read from as written; the message names the file and the line or row."""


def show(value, limit: int = 80) -> str:
    """A value for a one-line message: repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...({len(str(value))} characters)"


def file_format(path: Path) -> str:
    """The file's format (its extension, lower case), or an error naming the ones read."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ReadError(f"{path}: unsupported input format {Path(path).suffix!r}; use one of {', '.join(FORMATS)}")
    return suffix


@dataclass(frozen=True)
class BadByte:
    """Where the first byte of a record that is not UTF-8 is (1-based)."""

    line: int
    column: int  # the byte's place in its line (after a byte order mark)
    value: int
    offset: int  # the byte's place in the file (a byte order mark counted)

    def __str__(self) -> str:
        return (
            f"line {self.line}: byte {self.column} of the line (0x{self.value:02x}, byte {self.offset} of the file) "
            "is not UTF-8"
        )

    def refusal(self, path: Path) -> str:
        """The one-line message refusing the file."""
        return f"{path}, {self}; {ENCODING_ADVICE}"


@dataclass(frozen=True)
class Record:
    """One record of a file: a CSV / TSV row after the header, or a JSONL line."""

    number: int  # CSV / TSV: the row, as a spreadsheet numbers it; JSONL: the line
    values: dict  # column (JSON key) -> value; {} for a blank line or a line that holds no record (``problem``)
    blank: bool = False  # a blank line: no record at all
    cells: int | None = None  # CSV / TSV: the row's cells (those the header lacks are None in ``values``)
    problem: str | None = None  # why the line holds no record as written (a JSONL line, a row with extra cells)
    bad_byte: BadByte | None = None  # the record's first byte that is not UTF-8 (read as U+FFFD)
    line: str = ""  # JSONL: the line as read, without its end


class _Lines:
    """The lines of a file opened in binary, decoded, ends kept (what ``csv.reader`` reads), numbered; the first
    byte that is not UTF-8 since the last :meth:`take` is kept."""

    def __init__(self, fh):
        self.fh, self.number, self.offset, self.bad = fh, 0, 0, None

    def __iter__(self) -> Iterator[str]:
        for chunk in self.fh:  # cut after each \n
            yield from map(self._decoded, _pieces(chunk))

    def _decoded(self, raw: bytes) -> str:
        self.number += 1
        start, self.offset = self.offset, self.offset + len(raw)
        skip = len(BOM) if start == 0 and raw.startswith(BOM) else 0
        try:
            return raw[skip:].decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.bad is None:  # the line's bytes counted after a byte order mark, the file's with it
                at = skip + exc.start
                self.bad = BadByte(self.number, exc.start + 1, raw[at], start + at + 1)
            return raw[skip:].decode("utf-8", "replace")

    def take(self) -> BadByte | None:
        bad, self.bad = self.bad, None
        return bad


def _pieces(chunk: bytes) -> tuple[bytes, ...] | list[bytes]:
    """A binary line (cut after \\n) cut after each lone \\r too: universal newlines' lines."""
    at = chunk.find(b"\r")
    if at < 0 or (at == len(chunk) - 2 and chunk.endswith(b"\n")):  # no \r, or only the one of a final \r\n
        return (chunk,)
    return [piece for piece in _LONE_CR.split(chunk) if piece]


def line_count(path: Path) -> int:
    """How many lines the file has, as :func:`records` numbers a JSONL file's (without decoding them)."""
    with Path(path).open("rb") as fh:
        return sum(len(_pieces(chunk)) for chunk in fh)


def records(path: Path) -> Iterator[Record]:
    """Every record of ``path`` in order, lazily (see the module doc); CSV / TSV: the rows after the header."""
    path = Path(path)
    kind = file_format(path)
    with path.open("rb") as fh:
        lines = _Lines(fh)
        if kind == ".jsonl":
            for text in lines:
                yield _json_record(lines.number, text.rstrip("\r\n"), lines.take())
            return
        rows = _rows(path, lines)
        found = _header(path, rows)
        if found is None:
            return
        names = found[1]
        for number, fields, bad in rows:
            if not fields:
                yield Record(number, {}, blank=True, cells=0)
                continue
            problem = None
            if len(fields) > len(names):
                problem = (
                    f"{len(fields)} cells, the header has {len(names)}; a cell holding the delimiter "
                    f"({'tab' if kind == '.tsv' else 'comma'}) needs quotes, or the header lacks a column"
                )
            values = dict(zip(names, fields + [None] * (len(names) - len(fields)), strict=False))
            yield Record(number, values, cells=len(fields), problem=problem, bad_byte=bad)


def all_rows(path: Path) -> list[tuple[int, dict]]:
    """(number, values) of every record of ``path``, blank lines left out; refused (:class:`ReadError`) at the
    first record not read as written: a byte that is not UTF-8, extra cells, a JSONL line that is no object."""
    rows, unit = [], "line" if file_format(path) == ".jsonl" else "row"
    for record in records(path):
        if record.bad_byte is not None:
            raise ReadError(record.bad_byte.refusal(path))
        if record.problem is not None:
            raise ReadError(f"{path}, {unit} {record.number}: {record.problem}")
        if not record.blank:
            rows.append((record.number, record.values))
    return rows


def header(path: Path) -> tuple[int, list[str]] | None:
    """A CSV / TSV file's header: its row and the column names; None where no line is other than blank."""
    path = Path(path)
    file_format(path)
    with path.open("rb") as fh:
        return _header(path, _rows(path, _Lines(fh)))


def _rows(path: Path, lines: _Lines) -> Iterator[tuple[int, list[str], BadByte | None]]:
    """(row, cells, first bad byte) of every row of a CSV / TSV file, the header's and blank ones included."""
    kind = file_format(path)
    csv.field_size_limit(sys.maxsize)  # a long cell (a whole document) is data
    reader = csv.reader(lines, delimiter=DELIMITERS[kind])
    number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ReadError(f"{path}, line {reader.line_num}: unreadable {kind[1:].upper()} ({exc})") from None
        number += 1
        yield number, fields, lines.take()  # csv reads no line beyond the row's


def _header(path: Path, rows: Iterator[tuple[int, list[str], BadByte | None]]) -> tuple[int, list[str]] | None:
    for number, fields, bad in rows:
        if bad is not None:
            raise ReadError(bad.refusal(path))
        if not fields:
            continue
        for name in fields:
            if name and fields.count(name) > 1:
                places = [str(i + 1) for i, n in enumerate(fields) if n == name]
                raise ReadError(
                    f"{path}, row {number}: the header names column {show(name)} {len(places)} times (columns "
                    f"{', '.join(places)}); which one holds the data is ambiguous: rename or remove the others"
                )
        return number, fields
    return None


class _RepeatedKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    value = dict(pairs)
    if len(value) < len(pairs):
        keys = [k for k, _ in pairs]
        raise _RepeatedKey(min(k for k in keys if keys.count(k) > 1))
    return value


def _json_record(number: int, text: str, bad: BadByte | None) -> Record:
    if not text.strip():
        return Record(number, {}, blank=True, line=text)
    try:
        value = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        problem = f"not JSON ({exc.msg})"
    except _RepeatedKey as exc:
        problem = f"key {show(exc.args[0])} appears twice in one object; keep one"
    except RecursionError:
        problem = "JSON nested too deeply to read"
    else:
        if isinstance(value, dict):
            return Record(number, value, bad_byte=bad, line=text)
        problem = f'a JSON {type(value).__name__}, not an object; every line is one record {{"key": value, ...}}'
    return Record(number, {}, problem=problem, bad_byte=bad, line=text)

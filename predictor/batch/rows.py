"""A batch input file read as a stream of chunks: CSV with a header row (the HTTP CSV protocol's
rules) or JSONL (one JSON object per line).

A chunk is either numbered records, (data row number, record) pairs for the schema, or a
`Proven` block of consecutive rows that `csv_matrix` proved valid in bulk. The file is read in
blocks of whole lines; a CSV block with a quote (a cell may then hold a line break) sends the
rest of the file through the csv module.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import orjson

from ..errors import InvalidInput
from ..inputs import nan_token
from ..inputs.csv_matrix import NumericCsv
from ..inputs.protocols import check_csv_header, csv_cell
from ..inputs.schema import Features, json_type

Row = tuple[int, Any]  # (0-based data row number, record: a JSON object, or why it is not one)
Sized = tuple[int, Any, int]  # a Row and the characters of the file it was read from
MAX_LINE_BYTES = 1024 * 1024
# a CSV record may span lines (a quoted cell holds line breaks): it holds at most this many characters
MAX_RECORD_CHARS = MAX_LINE_BYTES
# a chunk's records hold at most this many characters of the file between them, whatever their count
MAX_CHUNK_CHARS = 2 * MAX_LINE_BYTES
BOM = b"\xef\xbb\xbf"  # UTF-8's byte-order mark, as Excel writes it


class UnreadableFile(InvalidInput):
    """The file as a whole cannot be read (no header, not UTF-8, not CSV): nothing to retry."""


class NotARecord:
    """A line that is not a JSON object: kept in the row stream so its error is reported."""

    def __init__(self, message: str):
        self.message = message


@dataclass(frozen=True)
class Proven:
    """Data rows `first`, `first + 1`, … proven valid: the model's matrix, and the key column's
    cells (None when the file has no key column)."""

    first: int
    matrix: np.ndarray
    keys: list[str] | None


def chunks(
    pieces: Iterable[bytes],
    kind: str,
    features: Features,
    size: int,
    key_field: str | None,
    ignored: dict[str, None] | None = None,
) -> Iterator[list[Row] | Proven]:
    """`pieces` (the file's bytes, in pieces of any size) as chunks of at most `size` rows.

    `ignored` (UNKNOWN_FEATURES=ignore): a CSV's columns the model does not take are dropped and
    recorded in it; else they make the file unreadable. JSONL records are the caller's to clean."""
    blocks = _line_blocks(pieces)
    if kind == "jsonl":
        return _sized(_jsonl_rows(_text_lines(blocks)), size)
    return _csv_chunks(blocks, features, size, key_field, ignored)


def _csv_chunks(
    blocks: Iterator[bytes],
    features: Features,
    size: int,
    key_field: str | None,
    ignored: dict[str, None] | None,
) -> Iterator[list[Row] | Proven]:
    first = next(blocks, b"")
    head = first[: first.find(b"\n") + 1]
    if _quoted(head):  # the header itself needs the csv module: so does the whole file
        lines = _text_lines(chain([first], blocks))
        header = _header(lines, features, key_field, ignored)
        yield from _sized(_csv_rows(lines, header, features, 0), size)
        return
    header = _header(_text_lines([head]), features, key_field, ignored)
    numeric = NumericCsv(header, features.names, key_field) if features.fast_path else None
    number = 0
    rest = chain([first[len(head) :]], blocks)
    for block in rest:
        if _quoted(block):
            yield from _sized(_csv_rows(_text_lines(chain([block], rest)), header, features, number), size)
            return
        for part in _parts(block.replace(b"\r\n", b"\n"), size):
            proven = numeric.read(part) if numeric else None
            if proven is not None:
                yield Proven(number, *proven)
                number += len(proven[0])
                continue
            for rows in _sized(_csv_rows(_text_lines([part]), header, features, number), size):
                yield rows
                number += len(rows)


def _header(
    lines: Iterator[str], features: Features, key_field: str | None, ignored: dict[str, None] | None
) -> list[str]:
    """The header row (the first record of `lines`, which are left at the next), checked; with
    `ignored`, the columns the model does not take are recorded there and named None in the
    header returned (their cells are then left out of each record)."""
    try:
        header = next(csv.reader(_Bounded(lines)), None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"the file cannot be read as UTF-8 CSV: {exc}") from None
    except RecordTooLong:
        raise UnreadableFile(f"the header row is longer than {MAX_RECORD_CHARS:,} characters") from None
    if not header or not any(cell.strip() for cell in header):
        raise UnreadableFile("the file is empty or has no header row; the first line names the columns")
    model_columns = [name for name in header if name != key_field] if key_field else header
    try:
        check_csv_header(model_columns, features, ignore_unknown=ignored is not None)
    except InvalidInput as exc:
        raise UnreadableFile(exc.message, exc.details) from None
    if ignored is None or not features.named:
        return header
    known = {*features.names, key_field}
    ignored.update((name, None) for name in header if name not in known)
    return [name if name in known else None for name in header]


def _csv_rows(lines: Iterator[str], header: list[str], features: Features, number: int) -> Iterator[Sized]:
    """The data records of `lines` (numbered from `number`), each with its length. A record longer
    than MAX_RECORD_CHARS (a quoted cell left open, say) is that row's error: the lines up to its
    closing quote are skipped unread, and the next record is read from there."""
    types = {c.name: c.type for c in features.columns}
    dropping = None in header  # columns the model does not take, named None by _header
    feed = _Bounded(lines)
    while True:
        try:
            for cells in csv.reader(feed):
                length, feed.length = feed.length, 0
                if not cells:
                    continue
                if len(cells) != len(header):
                    record = NotARecord(f"the line has {len(cells)} cells but the header has {len(header)}")
                elif dropping:
                    kept = {name: cell for name, cell in zip(header, cells) if name is not None}
                    record = {name: csv_cell(cell, types.get(name)) for name, cell in kept.items()}
                else:
                    record = {name: csv_cell(cell, types.get(name)) for name, cell in zip(header, cells)}
                yield number, record, length
                number += 1
            return
        except RecordTooLong as exc:
            too_long = exc.line
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _unreadable_after(number, exc) from None
        message = f"the record is longer than {MAX_RECORD_CHARS:,} characters (is a quote left open?)"
        yield number, NotARecord(message), MAX_RECORD_CHARS
        number += 1
        try:
            _skip_quoted(too_long, lines)
        except UnicodeDecodeError as exc:
            raise _unreadable_after(number - 1, exc) from None
        feed.length = 0


def _unreadable_after(number: int, exc: Exception) -> UnreadableFile:
    return UnreadableFile(f"the file cannot be read as UTF-8 CSV after data row {number}: {exc}")


class RecordTooLong(Exception):
    """A CSV record grew past MAX_RECORD_CHARS; `line` is the line that would have passed it."""

    def __init__(self, line: str):
        self.line = line


class _Bounded:
    """The lines handed to the csv module, counting the characters of the record being read
    (the reader of the records sets `length` back to 0 after each)."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self.length = 0

    def __iter__(self) -> _Bounded:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.length += len(line)
        if self.length > MAX_RECORD_CHARS:
            raise RecordTooLong(line)
        return line


def _skip_quoted(line: str, lines: Iterator[str]) -> None:
    """Skip to the end of a record whose quoted cell is open at the start of `line`: each quote
    opens or closes a quoted cell (a doubled one does both), and the record ends with the first
    line that ends outside quotes."""
    inside = True
    while True:
        inside ^= line.count('"') % 2 == 1
        if not inside:
            return
        line = next(lines, None)
        if line is None:
            return


def _jsonl_rows(lines: Iterator[str]) -> Iterator[Sized]:
    number = 0
    try:
        for line in lines:
            if not line.strip():
                continue
            try:
                record = nan_token.loads(line)  # a missing value: null, or MLflow's NaN
            except orjson.JSONDecodeError as exc:
                record = NotARecord(f"the line is not JSON: {exc}")
            if not isinstance(record, (dict, NotARecord)):
                record = NotARecord(f"expected a JSON object of features, got {json_type(record)}")
            yield number, record, len(line)
            number += 1
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"the file is not UTF-8 after data row {number}: {exc}") from None


def _line_blocks(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The file in blocks of whole lines, each ending in a line feed (one is added to a last
    line without it)."""
    rest, start = b"", True
    for piece in pieces:
        piece = rest + piece
        if start:  # a byte-order mark is not part of the header, as the HTTP CSV protocol reads it
            if len(piece) < len(BOM) and BOM.startswith(piece):
                rest = piece  # too short yet to tell
                continue
            piece, start = piece.removeprefix(BOM), False
        end = piece.rfind(b"\n") + 1
        rest = piece[end:]
        if len(rest) > MAX_LINE_BYTES:
            raise UnreadableFile(f"a line is longer than {MAX_LINE_BYTES:,} bytes: not a CSV or JSONL file")
        if end:
            yield piece[:end]
    if rest:
        yield rest + b"\n"


def _text_lines(blocks: Iterable[bytes]) -> Iterator[str]:
    """Lines as the csv module reads a file opened with newline="" (ends kept; CR, LF, CRLF)."""
    for block in blocks:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as exc:  # the whole lines before the bad byte first: the error
            whole = block[: block.rfind(b"\n", 0, exc.start) + 1]  # then names the row after them
            yield from io.StringIO(whole.decode("utf-8"), newline="")
            raise
        yield from io.StringIO(text, newline="")


def _quoted(block: bytes) -> bool:
    """A quote, or a carriage return that does not end a line: only the csv module reads it."""
    return b'"' in block or (b"\r" in block and block.count(b"\r") != block.count(b"\r\n"))


def _parts(block: bytes, size: int) -> Iterator[bytes]:
    """The block in runs of at most `size` lines."""
    ends = (np.flatnonzero(np.frombuffer(block, np.uint8) == ord("\n"))[size - 1 :: size] + 1).tolist()
    start = 0
    for end in ends:
        yield block[start:end]
        start = end
    if start < len(block):
        yield block[start:]


def _sized(rows: Iterator[Sized], size: int) -> Iterator[list[Row]]:
    """Rows in chunks of at most `size` rows and, unless a single row is longer, MAX_CHUNK_CHARS."""
    chunk: list[Row] = []
    length = 0
    for number, record, row_length in rows:
        if chunk and length + row_length > MAX_CHUNK_CHARS:
            yield chunk
            chunk, length = [], 0
        chunk.append((number, record))
        length += row_length
        if len(chunk) == size:
            yield chunk
            chunk, length = [], 0
    if chunk:
        yield chunk

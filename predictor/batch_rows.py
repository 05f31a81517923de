"""A batch input file read as a stream of chunks of (data row number, record) pairs: CSV with a
header row (the HTTP CSV protocol's rules) or JSONL (one JSON object per line)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, Any

import orjson

from .errors import InvalidInput
from .protocols import check_csv_header, csv_cell
from .schema import Features, json_type

Row = tuple[int, Any]  # (0-based data row number, record: a JSON object, or why it is not one)


class UnreadableFile(InvalidInput):
    """The file as a whole cannot be read (no header, not UTF-8, not CSV): nothing to retry."""


class NotARecord:
    """A line that is not a JSON object: kept in the row stream so its error is reported."""

    def __init__(self, message: str):
        self.message = message


def chunks(
    text: IO[str], kind: str, features: Features, size: int, key_field: str | None
) -> Iterator[list[Row]]:
    rows = _csv_rows(text, features, key_field) if kind == "csv" else _jsonl_rows(text)
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _csv_rows(text: IO[str], features: Features, key_field: str | None) -> Iterator[Row]:
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"the file cannot be read as UTF-8 CSV: {exc}") from None
    if not header or not any(cell.strip() for cell in header):
        raise UnreadableFile("the file is empty or has no header row; the first line names the columns")
    model_columns = [name for name in header if name != key_field] if key_field else header
    try:
        check_csv_header(model_columns, features, ignore_unknown=False)
    except InvalidInput as exc:
        raise UnreadableFile(exc.message, exc.details) from None
    types = {c.name: c.type for c in features.columns}
    number = 0
    try:
        for cells in reader:
            if not cells:
                continue
            if len(cells) != len(header):
                yield number, NotARecord(f"the line has {len(cells)} cells but the header has {len(header)}")
            else:
                yield number, {name: csv_cell(cell, types.get(name)) for name, cell in zip(header, cells)}
            number += 1
    except (csv.Error, UnicodeDecodeError) as exc:
        raise UnreadableFile(f"the file cannot be read as UTF-8 CSV after data row {number}: {exc}") from None


def _jsonl_rows(text: IO[str]) -> Iterator[Row]:
    number = 0
    try:
        for line in text:
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                record = NotARecord(f"the line is not JSON: {exc}")
            if not isinstance(record, (dict, NotARecord)):
                record = NotARecord(f"expected a JSON object of features, got {json_type(record)}")
            yield number, record
            number += 1
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"the file is not UTF-8 after data row {number}: {exc}") from None

"""A batch CSV file read in bulk (`csv_matrix`, through `batch_rows.chunks`) gives exactly what
the csv module, `csv_cell` and the schema give row by row: the same row numbers, the same
records for rows it leaves to the schema, and for rows it proves valid the same numbers to the
last bit and the same keys (hypothesis-generated files)."""

import csv
import io
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fastpath import EXAMPLES, FEATURES, NAMES

from predictor.batch.rows import NotARecord, Proven, UnreadableFile, chunks
from predictor.errors import InvalidInput
from predictor.inputs.csv_matrix import NumericCsv, json_numbers
from predictor.inputs.protocols import csv_cell
from predictor.scoring import model_input

JSON_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
NEAR_MISSES = ["+1", ".5", "1.", "01", "-01", "00", "1e", "1e+", "--1", "-", "1 ", " 1", "", "nan", "inf"]
NEAR_MISSES += ["1_0", "0x1", "1e400", "-1e400", "1e-400", "\u0661", "1.5.2", "1e5e5", "1e5.5", "1-2", "0.e1"]
number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.from_regex(JSON_NUMBER, fullmatch=True),
)
near_miss = st.one_of(st.sampled_from(NEAR_MISSES), st.text("0123456789.eE+- ", max_size=6))
cell = st.one_of(number, number, number, near_miss)
# finite when read: written out whole (no filter, whose retries were most of the generation's time)
finite = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(2**70), 2**70).map(str),
    st.from_regex(r"-?(?:0|[1-9][0-9]{0,20})(?:\.[0-9]{1,20})?(?:[eE][+-]?[0-9]{1,2})?", fullmatch=True),
)
key = st.text(st.characters(codec="utf-8", exclude_characters=',"\n'), max_size=6)
# no CR: nothing left to the csv module
plain_key = st.text(st.characters(codec="utf-8", exclude_characters=',"\n\r'), min_size=1, max_size=6)


def pieces(data: bytes, most: int) -> list[bytes]:
    """The file as a download may deliver it: pieces of at most `most` bytes."""
    return [data[start : start + most] for start in range(0, len(data), most)]


@st.composite
def files(draw, valid_only=False):
    """A CSV file's bytes, and its key column's name (or None)."""
    header = draw(st.permutations(NAMES))
    key_name = draw(st.sampled_from([None, "id"]))
    if key_name:
        header.insert(draw(st.integers(0, len(header))), key_name)
    lines = [",".join(header)]
    for _ in range(draw(st.integers(0, 12))):
        if valid_only:
            cells = [draw(plain_key) if name == key_name else draw(finite) for name in header]
        else:
            cells = [draw(key) if name == key_name else draw(cell) for name in header]
            shape = draw(st.sampled_from(["line"] * 8 + ["short", "long", "empty", "quoted"]))
            if shape == "short":
                cells = cells[:-1]
            elif shape == "long":
                cells.append(draw(cell))
            elif shape == "empty":
                cells = []
            elif shape == "quoted":
                cells[0] = '"' + cells[0].replace('"', "") + '"'
        lines.append(",".join(cells))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join(lines) + draw(st.sampled_from([ending, ""]))
    return text.encode(), key_name


def row_by_row(data: bytes, key_name):
    """What the csv module, `csv_cell` and the schema make of each data row: (record or None
    for a line of the wrong length, key, the model's row of numbers or None if invalid)."""
    reader = csv.reader(io.StringIO(data.decode(), newline=""))
    header = next(reader)
    types = {c.name: c.type for c in FEATURES.columns}
    rows = []
    for cells in reader:
        if not cells:
            continue
        if len(cells) != len(header):
            rows.append((None, None, None))
            continue
        record = {name: csv_cell(value, types.get(name)) for name, value in zip(header, cells)}
        rest = dict(record)
        row_key = rest.pop(key_name, None) if key_name else None
        try:
            values = model_input(FEATURES, FEATURES.validate([rest]), as_frame=False).astype(np.float64)[0]
        except InvalidInput:
            values = None
        rows.append((record, row_key, values))
    return rows


def in_bulk(data: bytes, key_name, size: int, most: int):
    """Each data row as `chunks` gives it: ("proven", numbers, key) or ("record", record)."""
    rows = []
    for chunk in chunks(pieces(data, most), "csv", FEATURES, size, key_name):
        if isinstance(chunk, Proven):
            assert chunk.first == len(rows)
            keys = chunk.keys if chunk.keys is not None else [None] * len(chunk.matrix)
            rows.extend(("proven", values, k) for values, k in zip(chunk.matrix, keys, strict=True))
        else:
            assert [number for number, _ in chunk] == list(range(len(rows), len(rows) + len(chunk)))
            rows.extend(("record", record) for _, record in chunk)
    return rows


def assert_rows_agree(got, expected):
    assert len(got) == len(expected)
    for mine, (record, row_key, values) in zip(got, expected, strict=True):
        if mine[0] == "proven":  # proven valid: valid row by row too, to the last bit, same key
            assert values is not None
            assert mine[1].tobytes() == values.tobytes()
            assert mine[2] == row_key
        elif record is None:
            assert isinstance(mine[1], NotARecord)
        else:
            assert mine[1] == record


@EXAMPLES
@given(file=files(), size=st.integers(1, 5), most=st.sampled_from([3, 16, 1 << 20]))
def test_bulk_and_row_by_row_agree(file, size, most):
    data, key_name = file
    assert_rows_agree(in_bulk(data, key_name, size, most), row_by_row(data, key_name))


@EXAMPLES
@given(file=files(), size=st.integers(1, 5), most=st.sampled_from([1, 2, 3, 16]))
def test_a_byte_order_mark_is_not_part_of_the_header(file, size, most):
    """Excel writes one; the HTTP CSV protocol drops it too."""
    data, key_name = file
    assert_rows_agree(in_bulk(b"\xef\xbb\xbf" + data, key_name, size, most), row_by_row(data, key_name))


@EXAMPLES
@given(file=files(valid_only=True), size=st.integers(1, 5))
def test_valid_files_are_read_in_bulk(file, size):
    data, key_name = file
    assert all(row[0] == "proven" for row in in_bulk(data, key_name, size, 1 << 20))


@EXAMPLES
@given(cells=st.lists(st.one_of(cell, st.text("0123456789.eE+-", max_size=8)), min_size=1, max_size=6))
def test_the_grammar_check_is_the_json_number_regex(cells):
    """On its own, whatever the parser after it would refuse anyway."""
    data = np.frombuffer(("\n" + ",".join(cells) + "\n").encode(), np.uint8)
    assert json_numbers(data) == all(re.fullmatch(JSON_NUMBER, text) for text in cells)


@pytest.mark.parametrize(
    "cells",
    [text for text in NEAR_MISSES if not re.fullmatch(JSON_NUMBER, text.strip())],
)
def test_cells_not_written_as_json_numbers_are_left_to_the_schema(cells):
    line = ",".join(["1.5"] * (len(NAMES) - 1) + [cells]) + "\n"
    assert NumericCsv(NAMES, NAMES, None).read(line.encode()) is None


def test_a_file_with_no_line_break_for_megabytes_is_unreadable():
    data = b",".join(name.encode() for name in NAMES) + b"\n" + b"1" * (2 << 20)
    with pytest.raises(UnreadableFile, match="longer than"):
        list(chunks([data], "csv", FEATURES, 10, None))


def chunk_rows(data: bytes, kind: str = "csv") -> list:
    rows = []
    for chunk in chunks([data], kind, FEATURES, 10, None):
        assert not isinstance(chunk, Proven)
        rows.extend(chunk)
    return rows


def test_a_quoted_header_sends_the_whole_file_to_the_csv_module():
    header = ",".join(f'"{name}"' for name in NAMES)
    rows = chunk_rows(f"{header}\n1,2,3,4\n5,6,7,8\n".encode())
    assert [record for _, record in rows] == [
        dict(zip(NAMES, [1.0, 2.0, 3.0, 4.0])),
        dict(zip(NAMES, [5.0, 6.0, 7.0, 8.0])),
    ]


@pytest.mark.parametrize(
    "kind, data, words",
    [
        ("csv", ",".join(NAMES).encode() + b'\n"1",2,3,4\n\xff\xfe,2,3,4\n', "after data row 1"),
        ("jsonl", b'{"pH": 3}\n\n\xff\xfe\n', "not UTF-8 after data row 1"),
    ],
)
def test_bytes_that_are_not_utf8_after_some_rows_make_the_file_unreadable(kind, data, words):
    with pytest.raises(UnreadableFile, match=words):
        chunk_rows(data, kind)

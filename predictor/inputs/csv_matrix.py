"""Blocks of numeric CSV lines straight to the float64 matrix, in bulk.

The fast path only ever says "valid", as `fastpath` does for JSON: it returns the matrix when a
block of whole lines (no quotes, no spaces, every line with the header's number of cells) holds
in each model column a number written as JSON writes it — exactly what `protocols.csv_cell`
turns into a float row by row — and every value is finite; otherwise None, and the caller reads
the block row by row with the csv module, which gives every message. The grammar is checked on
the bytes with numpy; pandas' C reader (one correctly rounded converter since pandas 3.1, the
same value as `float()`) then parses the cells it has proved.
"""

from __future__ import annotations

import io

import numpy as np

# byte classes: 0 is a byte no JSON number has (letters, spaces, quotes, CR, non-ASCII)
DIGIT, SEP, DOT, EXP, MINUS, PLUS = 1, 2, 3, 4, 5, 6
CLASS = np.zeros(256, np.uint8)
CLASS[ord("0") : ord("9") + 1] = DIGIT
CLASS[[ord(","), ord("\n")]] = SEP
CLASS[ord(".")] = DOT
CLASS[[ord("e"), ord("E")]] = EXP
CLASS[ord("-")] = MINUS
CLASS[ord("+")] = PLUS
NEWLINE, COMMA, ZERO, ONE = ord("\n"), ord(","), ord("0"), ord("1")


class NumericCsv:
    """The plan for one file's header, made once: where the model's columns and the key are."""

    def __init__(self, header: list[str], names: list[str], key_field: str | None):
        self.width = len(header)
        self.key = header.index(key_field) if key_field in header else None
        self.order = [header.index(name) for name in names]  # file positions, in model order

    def read(self, block: bytes) -> tuple[np.ndarray, list[str] | None] | None:
        """The block's rows as the model's matrix (and the key column's cells), or None if not
        provably valid. `block` is whole lines, each ending in a newline."""
        data = np.frombuffer(b"\n" + block, np.uint8)  # a separator before the first cell
        keys = None
        if self.key is not None:
            data, keys = self._keys(block, data)
            if keys is None:
                return None
        kind = np.take(CLASS, data)
        at = np.flatnonzero(kind != DIGIT)[1:]  # every non-digit but the leading separator
        lines = self._lines(data, at, kind[at] == SEP)
        if lines is None or not json_numbers(data, kind, at):
            return None
        matrix = self._parse(block, lines)
        return None if matrix is None else (matrix, keys)

    def _lines(self, data: np.ndarray, places: np.ndarray, separator: np.ndarray) -> int | None:
        """How many lines `data` holds, if each has the header's number of cells; `separator`
        says which of the bytes at `places` are commas or newlines."""
        count = int(np.count_nonzero(separator))
        lines = count // self.width
        if lines == 0 or count != lines * self.width:
            return None
        line_ends = places[np.flatnonzero(separator)[self.width - 1 :: self.width]]
        if not (data[line_ends] == NEWLINE).all():
            return None  # a line with more or fewer cells than the header
        return lines

    def _keys(self, block: bytes, data: np.ndarray):
        """The key column's cells, and the bytes with each key written as the number 1 (so the
        grammar check passes over it); None for keys if a key is empty or not UTF-8."""
        separators = np.flatnonzero((data == COMMA) | (data == NEWLINE))[1:]
        lines = self._lines(data, separators, np.ones(len(separators), bool))
        if lines is None:
            return data, None
        cells = separators.reshape(lines, self.width) - 1  # in `block`
        ends = cells[:, self.key]
        starts = cells[:, self.key - 1] + 1 if self.key else np.concatenate(([0], cells[:-1, -1] + 1))
        if (starts == ends).any():
            return data, None  # an empty key is null row by row: left to the csv module
        try:
            keys = [block[s:e].decode() for s, e in zip(starts.tolist(), ends.tolist())]
        except UnicodeDecodeError:
            return data, None
        inside = np.zeros(len(data) + 1, np.int8)
        inside[starts + 1] = 1
        inside[ends + 1] -= 1
        data = data.copy()
        data[np.cumsum(inside[:-1], dtype=np.int8).astype(bool)] = ONE
        return data, keys

    def _parse(self, block: bytes, lines: int) -> np.ndarray | None:
        import pandas as pd  # only the batch entry point reads CSV files

        try:
            frame = pd.read_csv(
                io.BytesIO(block), header=None, usecols=self.order, dtype=np.float64, na_filter=False
            )
        except ValueError:  # proved numbers parse; anything else pandas refuses is left to csv
            return None
        matrix = frame[self.order].to_numpy(np.float64)  # columns by file position, model order
        if matrix.shape != (lines, len(self.order)):
            return None
        # column-major, as the fast path for JSON lays it out: the same sums to the last bit
        matrix = np.asfortranarray(matrix)
        return matrix if np.isfinite(matrix).all() else None


def json_numbers(data: np.ndarray, kind: np.ndarray | None = None, at: np.ndarray | None = None) -> bool:
    """Every cell between separators in `data` (which starts and ends with one) is a JSON
    number: -?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)? — the grammar `csv_cell` requires.

    Each byte is checked against its neighbours (`_byte_fits`), each non-digit against the
    non-digits before it in its cell (`_order_fits`), then integer parts for a leading zero.
    `kind` and `at` (the byte classes, the non-digits' places) when the caller has them."""
    if kind is None or at is None:
        kind = np.take(CLASS, data)
        at = np.flatnonzero(kind != DIGIT)[1:]  # every non-digit but the leading separator
    if len(data) < 3 or kind[-1] != SEP or kind[-2] != DIGIT:
        return False
    if not np.take(BYTE_FITS, _code(kind[:-2], kind[1:-1], kind[2:])).all():
        return False
    this = kind[at]
    previous = np.concatenate(([SEP], this[:-1]))
    second = np.concatenate(([SEP, SEP], this[:-2]))[: len(this)]
    if not np.take(ORDER_FITS, _code(second, previous, this)).all():
        return False
    # an integer part starts after a separator or a leading minus: not '0' then a digit
    before, ahead = kind[:-2], kind[2:]  # of each byte from the second to the last but one
    second_before = np.concatenate(([SEP], kind[:-3]))
    opening = (before == SEP) | ((before == MINUS) & (second_before == SEP))
    return not ((data[1:-1] == ZERO) & (ahead == DIGIT) & opening).any()


def _code(first: np.ndarray, second: np.ndarray, third: np.ndarray) -> np.ndarray:
    """Three classes (each < 8) as one index into a flattened 8x8x8 table."""
    return (first.astype(np.uint16) << 6) | (second.astype(np.uint16) << 3) | third


def _byte_fits(before: int, this: int, after: int) -> bool:
    """What may stand on either side of each byte."""
    if this == DIGIT:
        return True
    if this == SEP:
        return before == DIGIT  # not an empty cell, nor one ending in '.', 'e' or a sign
    if this == DOT:
        return before == DIGIT and after == DIGIT
    if this == EXP:
        return before == DIGIT and after in (DIGIT, MINUS, PLUS)
    if this == MINUS:
        return before in (SEP, EXP) and after == DIGIT
    if this == PLUS:
        return before == EXP and after == DIGIT
    return False  # a byte no JSON number has


def _order_fits(second: int, previous: int, this: int) -> bool:
    """A cell's non-digits in order: a leading '-', one '.', then one exponent."""
    opening = previous == SEP or (previous == MINUS and second == SEP)
    if this == DOT:
        return opening
    if this == EXP:
        return opening or previous == DOT
    return True


CLASSES = range(8)
BYTE_FITS = np.array([_byte_fits(b, t, a) for b in CLASSES for t in CLASSES for a in CLASSES])
ORDER_FITS = np.array([_order_fits(s, p, t) for s in CLASSES for p in CLASSES for t in CLASSES])

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
        cells = np.flatnonzero((data == COMMA) | (data == NEWLINE))[1:] - 1  # in `block`
        lines = len(cells) // self.width
        if lines == 0 or len(cells) != lines * self.width:
            return None
        cells = cells.reshape(lines, self.width)
        if not (data[cells[:, -1] + 1] == NEWLINE).all():
            return None  # a line with more or fewer cells than the header
        keys = None
        if self.key is not None:
            data, keys = self._keys(block, data, cells)
            if keys is None:
                return None
        if not json_numbers(data):
            return None
        matrix = self._parse(block, lines)
        return None if matrix is None else (matrix, keys)

    def _keys(self, block: bytes, data: np.ndarray, cells: np.ndarray):
        """The key column's cells, and the bytes with each key written as the number 1 (so the
        grammar check passes over it); None for keys if a key is empty or not UTF-8."""
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


def json_numbers(data: np.ndarray) -> bool:
    """Every cell between separators in `data` (which starts with one) is a JSON number:
    -?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)? — the grammar `csv_cell` requires."""
    kind = CLASS[data]
    if not kind.all():
        return False
    at = np.flatnonzero(kind != DIGIT)[1:]  # every non-digit but the leading separator
    this, before = kind[at], kind[at - 1]
    after = kind[np.minimum(at + 1, len(kind) - 1)]
    digit_before, digit_after = before == DIGIT, after == DIGIT
    # what may stand on either side of each non-digit byte
    if not np.where(this == SEP, digit_before, True).all():
        return False  # an empty cell, or one ending in '.', 'e' or a sign
    if not np.where(this == DOT, digit_before & digit_after, True).all():
        return False
    if not np.where(this == EXP, digit_before & np.isin(after, (DIGIT, MINUS, PLUS)), True).all():
        return False
    signs = (this == MINUS) | (this == PLUS)
    sign_place = (before == EXP) | ((this == MINUS) & (before == SEP))
    if not np.where(signs, sign_place & digit_after, True).all():
        return False
    # the order of the non-digits within a cell: one '-' first, one '.', then one exponent
    previous = np.concatenate(([SEP], this[:-1]))
    second = np.concatenate(([SEP, SEP], this[:-2]))[: len(this)]
    opening = (previous == SEP) | ((previous == MINUS) & (second == SEP))
    if not np.where(this == DOT, opening, True).all():
        return False
    if not np.where(this == EXP, opening | (previous == DOT), True).all():
        return False
    return not _leading_zero(data, kind)


def _leading_zero(data: np.ndarray, kind: np.ndarray) -> bool:
    """A number's integer part starting with 0 and going on with a digit ('01', '-007')."""
    zeros = np.flatnonzero(data[1:-1] == ZERO) + 1
    zeros = zeros[kind[zeros + 1] == DIGIT]
    before = kind[zeros - 1]
    opening = (before == SEP) | ((before == MINUS) & (kind[np.maximum(zeros - 2, 0)] == SEP))
    return bool(opening.any())

"""MLflow's `NaN` token read as JSON's `null`: both are a missing value here.

MLflow's own clients write a missing value as `NaN` (Python's `json.dumps` does), which is not
JSON and which orjson refuses. `nan_as_null` rewrites each `NaN` token outside strings as `null`
on the bytes, with numpy (a string's quotes found by parity, escaped quotes excepted), so the
body is then parsed by orjson as any other, with its bounds and its errors. `Infinity` is not
rewritten: it stays refused, as no model takes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import numpy as np

QUOTE, BACKSLASH, N, A = ord('"'), ord("\\"), ord("N"), ord("a")


def loads(data: bytes | str) -> Any:
    """orjson's parse of a JSON text, or of the text with its NaN tokens as null (tried only if
    the first fails); raises the first `orjson.JSONDecodeError` when neither parses."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        rewritten = nan_as_null(raw)
        if rewritten is None:
            raise
        try:
            return orjson.loads(rewritten)
        except orjson.JSONDecodeError:
            raise error from None


def nan_as_null(data: bytes) -> bytes | None:
    """`data` with every `NaN` outside a string written `null`, or None if it has none."""
    if b"NaN" not in data:
        return None
    import numpy as np  # not at import: main imports the body's reader before any model library

    text = np.frombuffer(data, np.uint8)
    starts = np.flatnonzero(text[:-2] == N)
    starts = starts[(text[starts + 1] == A) & (text[starts + 2] == N)]
    quotes = np.flatnonzero(text == QUOTE)
    if b"\\" in data:
        quotes = quotes[~_escaped(text, quotes)]
    inside = np.searchsorted(quotes, starts) % 2 == 1  # after an odd number of quotes
    starts = starts[~inside]
    if not starts.size:
        return None
    ends = np.append(starts, len(data))
    begins = np.concatenate(([0], starts + 3))
    return b"null".join(data[begin:end] for begin, end in zip(begins.tolist(), ends.tolist()))


def _escaped(text: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """Which `quotes` follow an odd run of backslashes (`\\"` inside a string)."""
    import numpy as np

    index = np.arange(len(text))
    last_other = np.maximum.accumulate(np.where(text != BACKSLASH, index, -1))
    before = quotes - 1
    run = np.where(before >= 0, before - last_other[np.maximum(before, 0)], 0)
    return run % 2 == 1

"""The predictions file's lines, built in bulk, are byte for byte what one `orjson.dumps` per
line gives, whatever the predictions and keys hold (commas included)."""

import orjson
from hypothesis import given
from hypothesis import strategies as st
from test_fastpath import EXAMPLES

from predictor.batch import lines as batch_lines

json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=4,
)


def one_dump_per_line(numbers, outputs, keys):
    if keys is None:
        return b"".join(orjson.dumps({"row": n, "prediction": p}) + b"\n" for n, p in zip(numbers, outputs))
    return b"".join(
        orjson.dumps({"row": n, "prediction": p, "key": k}) + b"\n" for n, p, k in zip(numbers, outputs, keys)
    )


@EXAMPLES
@given(
    first=st.integers(0, 10**9),
    table=st.lists(
        st.tuples(st.one_of(st.floats(allow_nan=False, allow_infinity=False), json_value), json_value)
    ),
    keyed=st.booleans(),
)
def test_lines_in_bulk_are_one_dump_per_line(first, table, keyed):
    numbers = range(first, first + len(table))
    outputs = [output for output, _ in table]
    keys = [key for _, key in table] if keyed else None
    assert batch_lines.predictions(numbers, outputs, keys) == one_dump_per_line(numbers, outputs, keys)

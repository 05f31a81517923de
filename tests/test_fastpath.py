"""The whole-batch fast paths and the marshmallow schema accept and reject exactly the same
payloads, with the same errors and the same numbers (hypothesis-generated payloads): lists of
records, and `dataframe_split` columns with rows of values."""

import json
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from predictor.errors import InvalidInput
from predictor.inputs import fastpath
from predictor.inputs.oip import data_proof, rows_from_infer
from predictor.inputs.protocols import from_json
from predictor.inputs.schema import features_for
from predictor.scoring import model_input

NAMES = ["fixed acidity", "citric acid", "pH", "alcohol"]
FEATURES = features_for(
    object(), {"inputs": [{"type": "double", "name": n, "required": True} for n in NAMES]}
)

finite = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1))
missing = st.one_of(st.none(), st.just(math.nan))  # a missing value: null, or NaN once parsed
valid_value = st.one_of(finite, finite, finite, missing)  # what a valid row holds
junk = st.recursive(
    st.none() | st.booleans() | st.text(max_size=5) | st.floats() | st.integers(-(2**70), 2**70),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=5,
)
value = st.one_of(finite, finite, junk)
valid_row = st.fixed_dictionaries({name: valid_value for name in NAMES})
any_row = st.one_of(
    valid_row,
    st.fixed_dictionaries({name: value for name in NAMES}),  # every key, some values wrong
    st.dictionaries(
        st.sampled_from([*NAMES, "ph", "PH", "alcohol ", "colour"]), value, max_size=6
    ),  # missing, unknown
    st.lists(finite, min_size=4, max_size=4),  # an array where an object belongs
    junk,
)
payloads = st.one_of(st.lists(valid_row, max_size=20), st.lists(any_row, max_size=8))
# 500 examples per property in `make test`; PROPERTY_EXAMPLES scales it (`make fuzz`: 5,000)
EXAMPLES = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "500")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
PROOFS = [fastpath.ANYTHING, fastpath.NO_BOOLEANS, fastpath.NUMBERS_ONLY]  # data_proof's answers


def marshmallow_path(rows):
    """What the schema alone makes of `rows`: the model's input matrix, or the error."""
    try:
        return model_input(FEATURES, FEATURES.validate(rows), as_frame=False).astype(np.float64), None
    except InvalidInput as error:
        return None, error


def assert_same_as_the_schema(rows, records):
    """A protocol's rows (a proven matrix, or records) check out exactly as `records` do through
    the schema alone: the same numbers, or the same error."""
    expected, expected_error = marshmallow_path(records)
    if isinstance(rows, np.ndarray):  # proven valid: the schema agrees, number for number
        assert expected_error is None
        np.testing.assert_array_equal(rows, expected)
    try:
        checked = FEATURES.check(rows)
    except InvalidInput as error:
        assert expected_error is not None
        assert (error.message, error.details) == (expected_error.message, expected_error.details)
        return
    assert expected_error is None
    np.testing.assert_array_equal(model_input(FEATURES, checked, as_frame=False), expected)


@EXAMPLES
@given(rows=payloads)
def test_fast_path_and_marshmallow_agree(rows):
    expected, expected_error = marshmallow_path(rows)
    fast = FEATURES.fast_path.matrix(rows)
    if fast is not None:  # the fast path only accepts what the schema accepts, with the same numbers
        assert expected_error is None
        np.testing.assert_array_equal(fast, expected)
    try:
        checked = FEATURES.check(rows)
    except InvalidInput as error:  # rejected exactly when the schema rejects, with its errors
        assert expected_error is not None
        assert (error.message, error.details) == (expected_error.message, expected_error.details)
        return
    assert expected_error is None
    np.testing.assert_array_equal(model_input(FEATURES, checked, as_frame=False), expected)


@st.composite
def splits(draw, valid_only=False):
    """A `dataframe_split` table: the model's columns in any order (or wrong ones), with rows
    of values (valid ones, or anything)."""
    if valid_only:
        columns = draw(st.permutations(NAMES))
    else:
        columns = draw(
            st.one_of(st.permutations(NAMES), st.lists(st.sampled_from([*NAMES, "ph", "colour"]), max_size=6))
        )
    cell = valid_value if valid_only else draw(st.sampled_from([valid_value, value]))
    data = draw(st.lists(st.lists(cell, min_size=len(columns), max_size=len(columns)), max_size=12))
    return list(columns), data


@EXAMPLES
@given(table=splits())
def test_dataframe_split_fast_path_and_marshmallow_agree(table):
    columns, data = table
    if len(set(columns)) < len(columns):  # a column named twice is refused before any row
        with pytest.raises(InvalidInput, match="is given twice"):
            from_json({"dataframe_split": {"columns": columns, "data": data}}, FEATURES)
        return
    request = from_json({"dataframe_split": {"columns": columns, "data": data}}, FEATURES)
    if isinstance(request.rows, np.ndarray):
        assert request.rows.flags.f_contiguous
    assert_same_as_the_schema(request.rows, [dict(zip(columns, row)) for row in data])


@EXAMPLES
@given(table=splits(valid_only=True))
def test_valid_dataframe_splits_take_the_fast_path(table):
    columns, data = table
    request = from_json({"dataframe_split": {"columns": columns, "data": data}}, FEATURES)
    assert isinstance(request.rows, np.ndarray) and request.rows.shape == (len(data), len(NAMES))


@st.composite
def tensors(draw, valid_only=False):
    """An Open Inference Protocol request: one [N, features] FP64 tensor in model order, or one
    tensor per feature (any order, [N] or [N, 1]); values valid, or anything."""
    # a list inside 'data' is nesting, which the protocol refuses before any row exists
    cell = (
        valid_value
        if valid_only
        else draw(st.sampled_from([valid_value, value.filter(lambda v: not isinstance(v, list))]))
    )
    count = draw(st.integers(0, 12))
    if draw(st.booleans()):
        data = draw(st.lists(cell, min_size=count * len(NAMES), max_size=count * len(NAMES)))
        if draw(st.booleans()):  # nested as rows, as most clients send it
            data = [data[i : i + len(NAMES)] for i in range(0, len(data), len(NAMES))]
        return {"inputs": [{"name": "x", "shape": [count, len(NAMES)], "datatype": "FP64", "data": data}]}
    columns = draw(st.permutations(NAMES))
    shaped = draw(st.sampled_from([[count], [count, 1]]))
    return {
        "inputs": [
            {
                "name": name,
                "shape": shaped,
                "datatype": "FP64",
                "data": draw(st.lists(cell, min_size=count, max_size=count)),
            }
            for name in columns
        ]
    }


def as_records(body):
    """The same request as records, the way the schema alone would see it."""
    tensors = body["inputs"]
    if len(tensors) == 1:
        data = [v for row in tensors[0]["data"] for v in (row if isinstance(row, list) else [row])]
        return [dict(zip(NAMES, data[i : i + len(NAMES)])) for i in range(0, len(data), len(NAMES))]
    names = [t["name"] for t in tensors]
    return [dict(zip(names, row)) for row in zip(*(t["data"] for t in tensors))]


def proven(body) -> str:
    """What the endpoint tells `rows_from_infer`: what the request's JSON text proves its data
    cannot hold."""
    return data_proof(json.dumps(body).encode(), body)


@EXAMPLES
@given(body=tensors())
def test_tensor_fast_path_and_marshmallow_agree(body):
    rows, _ = rows_from_infer(body, FEATURES, proven(body))
    assert_same_as_the_schema(rows, as_records(body))


@EXAMPLES
@given(body=tensors())
def test_tensors_read_as_if_they_might_hold_booleans_agree_too(body):
    rows, _ = rows_from_infer(body, FEATURES, fastpath.ANYTHING)
    assert_same_as_the_schema(rows, as_records(body))


@EXAMPLES
@given(body=tensors(valid_only=True), proof=st.sampled_from(PROOFS))
def test_valid_tensors_take_the_fast_path(body, proof):
    rows, _ = rows_from_infer(body, FEATURES, proof)
    assert isinstance(rows, np.ndarray) and rows.shape[1] == len(NAMES)


@EXAMPLES
@given(rows=st.lists(valid_row, min_size=1, max_size=20))
def test_valid_batches_take_the_fast_path(rows):
    assert FEATURES.fast_path.matrix(rows) is not None


@pytest.mark.parametrize(
    "row",
    [
        {**dict.fromkeys(NAMES, 1.0), "pH": True},
        {**dict.fromkeys(NAMES, 1.0), "pH": "3.3"},
        {**dict.fromkeys(NAMES, 1.0), "pH": 1e308 * 10},
        {**dict.fromkeys(NAMES, 1.0), "ph": 3.3},
        dict.fromkeys(NAMES[:-1], 1.0),
        [1.0, 2.0, 3.0, 4.0],
    ],
)
def test_the_fast_path_declines_anything_doubtful(row):
    assert FEATURES.fast_path.matrix([dict.fromkeys(NAMES, 1.0), row]) is None


@pytest.mark.parametrize("value", [None, math.nan])
def test_a_missing_value_takes_the_fast_path_as_nan(value):
    matrix = FEATURES.fast_path.matrix(
        [dict.fromkeys(NAMES, 1.0), {**dict.fromkeys(NAMES, 1.0), "pH": value}]
    )
    assert matrix is not None and np.isnan(matrix[1, NAMES.index("pH")]) and np.isnan(matrix).sum() == 1


@pytest.mark.parametrize(
    "signature",
    [
        {"inputs": [{"type": "float", "name": "a"}]},
        {"inputs": [{"type": "long", "name": "a"}]},
        {"inputs": [{"type": "double", "name": "a", "required": False}]},
    ],
)
def test_only_all_required_double_models_have_a_fast_path(signature):
    assert features_for(object(), signature).fast_path is None


@pytest.mark.parametrize(
    "data",
    [
        [[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0]],  # rows of different lengths
        [[1.0, 2.0, 3.0, [4.0]]] * 2,  # a value nested deeper
        [[1.0, 2.0, 3.0, 10**400]],  # an integer past float64
        [[1.0, 2.0, 3.0, "4"]],
        [[1.0, 2.0, 3.0, {}]],
    ],
)
@pytest.mark.parametrize("as_proven", [False, True], ids=["nothing proven", "as the text proves"])
@pytest.mark.parametrize("form", ["nested", "flat"])
def test_doubtful_tensor_rows_are_left_to_the_schema(data, as_proven, form):
    sent = data if form == "nested" else [value for row in data for value in row]
    body = {"inputs": [{"name": "x", "shape": [len(data), len(NAMES)], "datatype": "FP64", "data": sent}]}
    proof = proven(body) if as_proven else fastpath.ANYTHING
    if form == "flat":
        assert FEATURES.fast_path.matrix_from_flat(sent, len(data), proof) is None
    try:
        rows, _ = rows_from_infer(body, FEATURES, proof)
    except InvalidInput:
        return  # refused by the protocol's own checks, as the schema would be
    assert not isinstance(rows, np.ndarray)
    assert FEATURES.fast_path.matrix_from_arrays(data, NAMES) is None


@EXAMPLES
@given(
    rows=st.lists(st.lists(valid_value, min_size=len(NAMES), max_size=len(NAMES)), max_size=20),
    proof=st.sampled_from(PROOFS),
)
def test_a_flat_tensor_is_proven_whole_to_the_same_matrix(rows, proof):
    """Flat row-major data (tritonclient's form) gives the matrix the rows would, to the bit."""
    flat = [value for row in rows for value in row]
    matrix = FEATURES.fast_path.matrix_from_flat(flat, len(rows), proof)
    expected = FEATURES.fast_path.matrix_from_arrays(rows, NAMES)
    assert matrix is not None and expected is not None
    assert matrix.tobytes("F") == expected.tobytes("F") and matrix.flags.f_contiguous


pieces = st.sampled_from(
    [b"true", b"false", b"tru", b"alse", b"u", b"f", b"t", b"e", b"1.5,", b"[", b'"s"', b" "]
)


@EXAMPLES
@given(
    st.lists(pieces, max_size=40),
    st.sampled_from([0, fastpath.SCAN_BYTES - 3, fastpath.SCAN_BYTES, 3 * fastpath.SCAN_BYTES]),
    st.integers(0, 2),
)
def test_boolean_words_are_counted_as_bytes_count_counts_them(parts, padding, where):
    """Long bodies go to numpy, short ones to `count`: either way the answer is `count`'s,
    wherever the words (or parts of them) sit: at the start, the end, either side of the padding."""
    filler = b"0" * padding
    middle = b"".join(parts)
    data = [middle + filler, filler + middle, filler[: padding // 2] + middle + filler[padding // 2 :]][where]
    assert fastpath.boolean_words(data) == data.count(b"true") + data.count(b"false")


@EXAMPLES
@given(body=tensors())
def test_what_the_text_proves_holds_for_the_data(body):
    """No boolean in data the text proves free of them; neither a string where it proves numbers only."""
    proof = proven(body)
    data = [v for t in body["inputs"] for row in t["data"] for v in (row if isinstance(row, list) else [row])]
    if proof != fastpath.ANYTHING:
        assert not any(isinstance(v, bool) for v in data)
    if proof == fastpath.NUMBERS_ONLY:
        assert not any(isinstance(v, str) for v in data)


FLAT = b'{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": '
TRITON_OUTPUT = b'"outputs": [{"name": "predict", "parameters": {"binary_data": false}}]'


@pytest.mark.parametrize(
    "text, expected",
    [
        (b'{"inputs": [' + FLAT + b"[1.5, 2]}]}", fastpath.NUMBERS_ONLY),
        (b'{"inputs": [' + FLAT + b"[1.5, 2]}], " + TRITON_OUTPUT + b"}", fastpath.NUMBERS_ONLY),
        (b'{"inputs": [' + FLAT + b'[1.5, "2"]}]}', fastpath.NO_BOOLEANS),
        (b'{"inputs": [' + FLAT + b'[1.5, "true"]}]}', fastpath.ANYTHING),
        (b'{"inputs": [' + FLAT + b"[1.5, false]}], " + TRITON_OUTPUT + b"}", fastpath.ANYTHING),
        (b'{"id": "a\\"b", "inputs": [' + FLAT + b"[1.5, 2]}]}", fastpath.NO_BOOLEANS),
        (b'{"id": "\\u0074rue", "inputs": [' + FLAT + b"[1.5, true]}]}", fastpath.ANYTHING),
        (b'{"id": "\\u0022", "inputs": [' + FLAT + b'[1.5, "2"]}]}', fastpath.NO_BOOLEANS),
        (b"[" + FLAT + b"[1.5, 2]}]", fastpath.NO_BOOLEANS),
    ],
    ids=[
        "numbers",
        "tritonclient's binary_data: false",
        "a string in the data",
        "a word in a string in the data",
        "a boolean in the data",
        "an escaped quote",
        "an escape spelling the word the data holds",
        "an escape spelling a quote",
        "not an object",
    ],
)
def test_what_the_text_proves(text, expected):
    assert data_proof(text, json.loads(text)) == expected

import numpy as np
import pytest

from predictor.errors import InvalidInput
from predictor.inputs.protocols import from_csv, from_json
from predictor.inputs.schema import features_for

NAMES = ["fixed acidity", "pH", "alcohol"]
SIGNATURE = {"inputs": [{"type": "double", "name": n} for n in NAMES]}
RECORD = {"fixed acidity": 6.2, "pH": 3.33, "alcohol": 12.8}
ARRAY = [6.2, 3.33, 12.8]


@pytest.fixture(scope="module")
def features():
    return features_for(object(), SIGNATURE)


@pytest.mark.parametrize(
    "body, rows, params, wrapped",
    [
        ([RECORD], [RECORD], {}, False),
        ([ARRAY], [RECORD], {}, False),
        ({"dataframe_split": {"columns": NAMES, "data": [ARRAY]}}, [RECORD], {}, True),
        (
            {"dataframe_split": {"columns": NAMES[::-1], "data": [ARRAY[::-1]], "index": [7]}},
            [RECORD],
            {},
            True,
        ),
        ({"dataframe_records": [RECORD, RECORD]}, [RECORD, RECORD], {}, True),
        ({"instances": [RECORD]}, [RECORD], {}, True),
        ({"instances": [ARRAY], "parameters": {"output": "proba"}}, [RECORD], {"output": "proba"}, True),
        ({"inputs": [ARRAY]}, [RECORD], {}, True),
        ({"inputs": {n: [v] for n, v in RECORD.items()}, "params": {"a": 1}}, [RECORD], {"a": 1}, True),
        ({"instances": []}, [], {}, True),
    ],
)
def test_every_shape_becomes_the_same_rows(features, body, rows, params, wrapped):
    request = from_json(body, features)
    got = request.rows
    if isinstance(got, np.ndarray):  # already the model's matrix (dataframe_split's fast path)
        got = [dict(zip(features.names, row)) for row in got.tolist()]
    assert (got, request.params, request.reply_key) == (rows, params, "predictions" if wrapped else None)


@pytest.mark.parametrize(
    "body, words",
    [
        ("text", "expected a JSON list of records or an object with one of"),
        ({}, "expected exactly one of dataframe_split, dataframe_records, instances, inputs; got keys: none"),
        (
            {"instances": [], "inputs": []},
            (
                "expected exactly one of dataframe_split, dataframe_records, instances, inputs; "
                "got instances, inputs"
            ),
        ),
        ({"data": []}, "got keys: data"),
        ({"instances": [], "extra": 1}, "unknown top-level key(s) 'extra' beside 'instances'"),
        ({"instances": {"a": 1}}, "must map each feature to a list of values"),
        (
            {"instances": {"a": [1], "b": [1, 2]}},
            "must map each feature to a list of values, all of one length",
        ),
        ({"dataframe_records": {"a": 1}}, "'dataframe_records' must be a list of rows, got object"),
        (
            {"dataframe_split": [ARRAY]},
            "'dataframe_split' must be an object with 'columns' and 'data', got array",
        ),
        (
            {"dataframe_split": {"columns": "pH", "data": []}},
            "'dataframe_split.columns' must be left out or be a list of feature names",
        ),
        (
            {"dataframe_split": {"columns": NAMES, "data": {}}},
            "'dataframe_split.data' must be a list of rows, got object",
        ),
        (
            {"dataframe_split": {"columns": NAMES, "data": [ARRAY, [1, 2]]}},
            "'dataframe_split.data' row 1 has 2 values, but there are 3 columns",
        ),
        (
            {"dataframe_split": {"columns": NAMES, "data": [ARRAY, 5]}},
            "row 1 has number, but there are 3 columns",
        ),
        (
            {"dataframe_split": {"columns": NAMES, "data": [ARRAY], "index": [1, 2]}},
            "'dataframe_split.index' must be a list as long as",
        ),
        (
            {"dataframe_split": {"columns": NAMES, "data": [], "orient": "split"}},
            "unknown key(s) in 'dataframe_split': 'orient'",
        ),
        ({"instances": [], "params": [1]}, "'params' must be an object, got array"),
        ({"instances": [], "params": {}, "parameters": {}}, "not both"),
    ],
)
def test_malformed_envelopes_are_400_with_a_precise_message(features, body, words):
    with pytest.raises(InvalidInput) as caught:
        from_json(body, features)
    assert words in caught.value.message


@pytest.mark.parametrize(
    "text, rows",
    [
        ("fixed acidity,pH,alcohol\n6.2,3.33,12.8\n", [RECORD]),
        ("alcohol,pH,fixed acidity\r\n12.8,3.33,6.2\r\n\r\n", [RECORD]),
        ("fixed acidity,pH,alcohol\n6.2,x,\n", [{"fixed acidity": 6.2, "pH": "x", "alcohol": None}]),
        ("fixed acidity,pH\n 6.2 ,3\n", [{"fixed acidity": 6.2, "pH": 3.0}]),  # spaces around a number
    ],
)
def test_csv_cells_take_their_column_types(features, text, rows):
    request = from_csv(text, features)
    assert request.rows == rows and request.reply_key == "predictions"


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "the CSV body is empty"),
        ("pH,alcohol\n1\n", "CSV line 2 has 1 cells but the header has 2"),
        # a header is checked even when no row follows (a JSON body sent as text/csv, say)
        ('[{"pH": 3.3}, {"pH": 3.1}]', "the CSV header has 2 unknown column(s); '[{\"pH\": 3.3}': unknown"),
        ('"fixed acidity",ph\n6.2,3\n', "1 unknown column(s); 'ph': unknown feature; did you mean 'pH'?"),
        ("pH,alcohol,pH\n1,2,3\n", "CSV column 'pH' is given twice"),
        ('pH,alcohol\n1,"' + "9" * 1_100_000 + '"\n', "the CSV body cannot be read: field larger than"),
    ],
)
def test_bad_csv(features, text, words):
    with pytest.raises(InvalidInput) as caught:
        from_csv(text, features)
    assert words in caught.value.message


def test_csv_types_follow_the_signature():
    features = features_for(
        object(),
        {
            "inputs": [
                {"type": "long", "name": "n"},
                {"type": "boolean", "name": "b"},
                {"type": "string", "name": "s"},
            ]
        },
    )
    assert from_csv("n,b,s\n3,TRUE,7\n", features).rows == [{"n": 3, "b": True, "s": "7"}]


BIGQUERY = {
    "requestId": "r1",
    "caller": "//bigquery.googleapis.com/projects/p/jobs/j",
    "sessionUser": "a@b.c",
}


@pytest.mark.parametrize(
    "calls, context, rows",
    [
        ([ARRAY, ARRAY], None, [RECORD, RECORD]),
        ([[RECORD]], {}, [RECORD]),
        ([[__import__("json").dumps(RECORD)]], {"output": "proba"}, [RECORD]),
        ([], None, []),
    ],
)
def test_bigquery_calls(features, calls, context, rows):
    body = {**BIGQUERY, "calls": calls, **({"userDefinedContext": context} if context is not None else {})}
    request = from_json(body, features)
    assert (request.rows, request.params, request.reply_key, request.row_noun) == (
        rows,
        context or {},
        "replies",
        "call",
    )
    assert request.reply([1.5]) == {"replies": [1.5]}


@pytest.mark.parametrize(
    "body, words",
    [
        ({"calls": {}}, "'calls' must be a list of argument lists, got object"),
        ({"calls": [ARRAY], "userDefinedContext": "x"}, "'userDefinedContext' must be an object"),
        ({"calls": [ARRAY, 7]}, "call 1 must be a list of arguments, got number"),
        (
            {"calls": [ARRAY, [1, 2]]},
            (
                "call 1 has 2 arguments; expected 3 (the features in order: fixed acidity, pH, alcohol) "
                "or 1 JSON object"
            ),
        ),
        ({"calls": [[5]]}, "call 0: expected a JSON object of features, got number"),
        ({"calls": [["{oops"]]}, "call 0: the argument is a string but not a JSON object"),
    ],
)
def test_bad_bigquery_calls(features, body, words):
    with pytest.raises(InvalidInput) as caught:
        from_json(body, features)
    assert words in caught.value.message

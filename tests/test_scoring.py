import numpy as np
import pandas as pd
import pytest

from predictor.schema import features_for
from predictor.scoring import model_input

SIGNATURE = {
    "inputs": [
        {"type": "double", "name": "d"},
        {"type": "float", "name": "f"},
        {"type": "long", "name": "l"},
        {"type": "integer", "name": "i"},
        {"type": "boolean", "name": "b"},
        {"type": "string", "name": "s"},
        {"type": "double", "name": "maybe", "required": False},
    ]
}
ROWS = [
    {"d": 1, "f": 0.5, "l": 2**40, "i": -3, "b": True, "s": "red", "maybe": 2.5},
    {"s": "white", "b": False, "i": 7, "l": 0, "f": 1, "d": 0.25},
]


@pytest.fixture(scope="module")
def features():
    return features_for(object(), SIGNATURE)


@pytest.mark.parametrize(
    "column, dtype, values",
    [
        ("d", "float64", [1.0, 0.25]),
        ("f", "float32", [0.5, 1.0]),
        ("l", "int64", [2**40, 0]),
        ("i", "int32", [-3, 7]),
        ("b", "bool", [True, False]),
        ("s", None, ["red", "white"]),  # pandas' own string dtype, as in the training frame
        ("maybe", "float64", [2.5, np.nan]),
    ],
)
def test_columns_get_their_signature_dtypes(features, column, dtype, values):
    frame = model_input(features, features.validate(ROWS), as_frame=True)
    assert list(frame.columns) == [c["name"] for c in SIGNATURE["inputs"]]
    expected = pd.Series(values, name=column, dtype=dtype)
    assert frame[column].dtype == expected.dtype
    pd.testing.assert_series_equal(frame[column], expected)


def test_models_fitted_without_names_get_an_array(features):
    X = model_input(features, features.validate(ROWS), as_frame=False)
    assert isinstance(X, np.ndarray) and X.shape == (2, 7)

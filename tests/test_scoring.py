import numpy as np
import pandas as pd
import pytest

from predictor.inputs.schema import features_for
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


# The lean path: a model fitted on a DataFrame gets the checked matrix without scikit-learn's
# per-call column-name check, only where that gives exactly the same answers.


def wine_features(estimator):
    return features_for(estimator, None)


def test_a_model_fitted_on_a_dataframe_takes_the_matrix_and_answers_bit_for_bit(trained):
    from predictor.scoring import matrix_estimator

    model, X = trained.model, trained.test_x
    features = wine_features(model)
    lean = matrix_estimator(model, features)
    assert lean is not None and lean is not model
    assert not hasattr(lean, "feature_names_in_") and hasattr(model, "feature_names_in_")
    matrix = features.check(X.to_dict(orient="records"))
    assert isinstance(matrix, np.ndarray)
    assert lean.predict(matrix).tobytes() == model.predict(X).tobytes()


def test_a_pipeline_sheds_the_names_of_its_first_step(wine_data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from predictor.scoring import matrix_estimator

    X, y = wine_data.drop(columns=["quality"]), wine_data["quality"]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, y)
    features = wine_features(pipeline)
    lean = matrix_estimator(pipeline, features)
    assert (
        lean is not None and hasattr(pipeline, "feature_names_in_") and not hasattr(lean, "feature_names_in_")
    )
    matrix = features.check(X.head(200).to_dict(orient="records"))
    assert lean.predict_proba(matrix).tobytes() == pipeline.predict_proba(X.head(200)).tobytes()


def test_a_model_that_selects_columns_by_name_keeps_its_dataframe(wine_data):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from predictor.scoring import matrix_estimator

    X, y = wine_data.drop(columns=["quality"]), wine_data["quality"]
    by_name = make_column_transformer((StandardScaler(), ["alcohol", "pH"]), remainder="passthrough")
    pipeline = make_pipeline(by_name, Ridge()).fit(X, y)
    assert matrix_estimator(pipeline, wine_features(pipeline)) is None


def test_a_model_fitted_on_arrays_is_used_as_it_is(wine_data):
    from sklearn.linear_model import Ridge

    from predictor.scoring import matrix_estimator

    X, y = wine_data.drop(columns=["quality"]), wine_data["quality"]
    model = Ridge().fit(X.to_numpy(), y)
    names = {"inputs": [{"type": "double", "name": n} for n in X.columns]}
    assert matrix_estimator(model, features_for(model, names)) is model

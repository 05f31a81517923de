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


# The linear kernel: a linear regressor's arithmetic without scikit-learn's per-call checks,
# only where it gives predict's own bits.


@pytest.mark.parametrize("rows", [1, 7, 1225])
def test_a_linear_regressor_predicts_with_its_arithmetic_alone_bit_for_bit(trained, rows):
    from predictor.scoring import linear_kernel, matrix_estimator

    model, X = trained.model, trained.test_x.head(rows)
    features = wine_features(model)
    kernel = linear_kernel(matrix_estimator(model, features), len(features.columns))
    assert kernel is not None
    matrix = features.check(X.to_dict(orient="records"))
    assert kernel(matrix).tobytes() == model.predict(X).tobytes()


def test_a_multi_output_linear_regressor_gets_the_kernel_too(wine_data):
    from sklearn.linear_model import Ridge

    from predictor.scoring import linear_kernel

    X = wine_data.drop(columns=["quality", "alcohol"]).to_numpy()
    y = wine_data[["quality", "alcohol"]].to_numpy()
    model = Ridge().fit(X, y)
    kernel = linear_kernel(model, X.shape[1])
    matrix = np.asfortranarray(X[:300])
    assert kernel is not None and kernel(matrix).tobytes() == model.predict(matrix).tobytes()


@pytest.mark.parametrize("kind", ["classifier", "predict overridden", "pipeline"])
def test_models_whose_predict_is_not_the_plain_arithmetic_keep_it(wine_data, kind):
    from sklearn.linear_model import Ridge, RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from predictor.scoring import linear_kernel

    class Shifted(Ridge):  # a LinearModel whose predict is more than X @ coef_ + intercept_
        def predict(self, X):
            return super().predict(X) + 1

    X, y = wine_data.drop(columns=["quality"]).to_numpy(), wine_data["quality"].to_numpy()
    model = {
        "classifier": RidgeClassifier,  # a LinearModel too, but its predict gives labels
        "predict overridden": Shifted,
        "pipeline": lambda: make_pipeline(StandardScaler(), Ridge()),
    }[kind]().fit(X, y)
    assert linear_kernel(model, X.shape[1]) is None


def test_a_linear_model_that_refuses_the_probe_keeps_its_own_predict(wine_data):
    from sklearn.linear_model import Ridge

    from predictor.scoring import linear_kernel

    X, y = wine_data.drop(columns=["quality"]).to_numpy(), wine_data["quality"].to_numpy()
    model = Ridge().fit(X, y)
    assert linear_kernel(model, X.shape[1] - 1) is None  # its predict raises on the wrong width

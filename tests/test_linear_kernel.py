"""The linear kernel: a linear regressor or classifier, alone or after standard scaling in a
pipeline, answered as scikit-learn's predict answers, to the bit, for every kind it takes;
refused for what it does not know and when it is a bit off."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import (
    ElasticNet,
    LinearRegression,
    LogisticRegression,
    Ridge,
    RidgeClassifier,
    SGDClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVR

from predictor.inputs.schema import features_for
from predictor.kernels.linear import (
    LinearExpression,
    LinearLabels,
    PipelineKernel,
    StandardScaling,
    linear_kernel,
)
from predictor.scoring import matrix_estimator
from support import QUICK, kernels_one_bit_off

GRADES = np.array(["poor", "fair", "good"])
# unscaled inputs: lbfgs stops short of converging, and the kernel answers as the model does
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def data(wine_data):
    return wine_data.drop(columns=["quality"]), wine_data["quality"]


KINDS = {
    "scaler + logistic regression, seven classes": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        lambda y: y,
    ),
    "scaler + logistic regression, two classes": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        lambda y: (y > 6).astype(int),
    ),
    "logistic regression alone, boolean labels": (lambda: LogisticRegression(max_iter=300), lambda y: y > 6),
    "scaler + logistic regression, string labels": (
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        lambda y: GRADES[np.digitize(y, [5.5, 6.5])],
    ),
    "scaler without centring + SGD classifier": (
        lambda: make_pipeline(StandardScaler(with_mean=False), SGDClassifier(random_state=0)),
        lambda y: y,
    ),
    "two scalers + logistic regression": (
        lambda: make_pipeline(
            StandardScaler(), StandardScaler(with_std=False), LogisticRegression(max_iter=1000)
        ),
        lambda y: y,
    ),
    "scaler + ridge regression": (lambda: make_pipeline(StandardScaler(), Ridge()), lambda y: y),
    "scaler + linear regression": (lambda: make_pipeline(StandardScaler(), LinearRegression()), lambda y: y),
    "elastic net alone": (lambda: ElasticNet(alpha=0.42, l1_ratio=0.1), lambda y: y),
    "linear regression alone": (lambda: LinearRegression(), lambda y: y),
    "linear support vector regression alone": (lambda: LinearSVR(random_state=0), lambda y: y),
}
# what each kind's kernel is: the final model alone needs no pipeline around it
ALONE = {
    "logistic regression alone, boolean labels": LinearLabels,
    "elastic net alone": LinearExpression,
    "linear regression alone": LinearExpression,
    "linear support vector regression alone": LinearExpression,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_answers_as_its_own_predict_to_the_bit(wine_data, kind):
    X, y = data(wine_data)
    make, target = KINDS[kind]
    model = make().fit(X, target(y))
    lean = matrix_estimator(model, features_for(model, None))
    kernel = linear_kernel(lean, X.shape[1])
    assert isinstance(kernel, ALONE.get(kind, PipelineKernel))
    for count in (1, 5, 33, 1000, 4898):
        rows = X.head(count)
        mine, theirs = kernel(np.asfortranarray(rows.to_numpy())), model.predict(rows)
        assert mine.dtype == theirs.dtype
        assert np.array_equal(mine, theirs), count


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_pipeline(MinMaxScaler(), LogisticRegression(max_iter=1000)),  # a step it does not know
        lambda: RidgeClassifier(),  # a LinearModel too, with its own predict (for several outputs)
        lambda: PLSRegression(),  # coefficients, but its predict centres and scales first
    ],
    ids=["an unknown step", "a classifier with its own predict", "a regressor of another kind"],
)
def test_what_it_does_not_know_is_left_to_scikit_learn(wine_data, make):
    X, y = data(wine_data)
    model = make().fit(X.to_numpy(), y)
    assert linear_kernel(model, X.shape[1]) is None


def test_pipelines_it_cannot_prove_are_left_to_scikit_learn(wine_data, tmp_path):
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    X, y = data(wine_data)
    fitted = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X.to_numpy(), y)
    cached = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000), memory=str(tmp_path))
    unfitted_scaler = Pipeline([("scale", StandardScaler()), ("model", fitted[-1])])
    tree = make_pipeline(StandardScaler(), DecisionTreeClassifier(max_depth=3)).fit(X.to_numpy(), y)
    assert linear_kernel(cached.fit(X.to_numpy(), y), X.shape[1]) is None  # its own caching
    assert linear_kernel(Pipeline([("nothing", "passthrough")]), X.shape[1]) is None
    assert linear_kernel(unfitted_scaler, X.shape[1]) is None
    assert linear_kernel(tree, X.shape[1]) is None  # no coefficients
    assert linear_kernel(fitted, X.shape[1] - 1) is None  # its predict raises on the wrong width
    passthrough = Pipeline([("scale", fitted[0]), ("nothing", "passthrough"), ("model", fitted[-1])])
    kernel = linear_kernel(passthrough, X.shape[1])
    assert kernel is not None
    assert np.array_equal(
        kernel(np.asfortranarray(X.head(9).to_numpy())), fitted.predict(X.head(9).to_numpy())
    )


@pytest.mark.parametrize("base", [LogisticRegression, Ridge], ids=["a classifier", "a regressor"])
def test_a_model_with_its_own_predict_is_left_to_it(wine_data, base):
    class Shifted(base):  # the arithmetic it copies is not what its predict answers
        def predict(self, X):
            return super().predict(X) + 1

    X, y = data(wine_data)
    model = Shifted(**({"max_iter": 300} if base is LogisticRegression else {})).fit(X.to_numpy(), y)
    assert linear_kernel(model, X.shape[1]) is None


def test_a_multi_output_regressor_gets_the_kernel_too(wine_data):
    X = wine_data.drop(columns=["quality", "alcohol"]).to_numpy()
    y = wine_data[["quality", "alcohol"]].to_numpy()
    model = Ridge().fit(X, y)
    kernel = linear_kernel(model, X.shape[1])
    matrix = np.asfortranarray(X[:300])
    assert kernel is not None and kernel(matrix).tobytes() == model.predict(matrix).tobytes()


@pytest.mark.parametrize("rows", [1, 7, 1225])
def test_the_served_wine_model_takes_its_checked_matrix_bit_for_bit(trained, rows):
    """The matrix the fast path builds from JSON rows, through the model fitted on a DataFrame."""
    model, X = trained.model, trained.test_x.head(rows)
    features = features_for(model, None)
    kernel = linear_kernel(matrix_estimator(model, features), len(features.columns))
    assert kernel is not None
    matrix = features.check(X.to_dict(orient="records"))
    assert kernel(matrix).tobytes() == model.predict(X).tobytes()


@pytest.mark.parametrize("part", [LinearExpression, StandardScaling], ids=["the scores", "the scaling"])
def test_a_kernel_one_bit_off_is_not_used(wine_data, monkeypatch, part):
    """Labels hide a score a bit off on most rows: the proof compares the scores and the scaled
    matrix themselves."""
    X, y = data(wine_data)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X.to_numpy(), y)
    kernels_one_bit_off(part, monkeypatch)
    assert linear_kernel(model, X.shape[1]) is None


def test_a_served_pipeline_answers_through_the_kernel(wine_data, tmp_path):
    import mlflow.sklearn
    import skops.io

    from predictor.loading.load import load_served_model

    X, y = data(wine_data)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    mlflow.sklearn.save_model(
        model,
        tmp_path / "pipeline",
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
        input_example=X.head(2),
        **QUICK,
    )
    served = load_served_model(str(tmp_path / "pipeline"))
    assert isinstance(served.kernel, PipelineKernel)
    rows = X.head(8)
    assert served.predict(rows.to_numpy(dtype=np.float64)) == model.predict(rows).tolist()

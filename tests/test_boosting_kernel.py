"""Histogram gradient boosting's trees walked together for small batches
(predictor/kernels/boosting.py): scikit-learn's own answer to the bit, gaps included, and only
for the models whose predict it is."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from predictor.inputs.schema import features_for
from predictor.kernels import boosting
from predictor.kernels.boosting import BoostingKernel, boosting_kernel
from predictor.scoring import matrix_estimator
from support import QUICK, kernels_one_bit_off


def data(wine_data, gaps=0.0):
    X = wine_data.drop(columns=["quality"])
    if gaps:
        X = X.mask(np.random.default_rng(0).random(X.shape) < gaps)
    return X, wine_data["quality"]


KINDS = {
    "squared error": {"max_iter": 50},
    "poisson loss (an exp link)": {"loss": "poisson", "max_iter": 30},
    "deep trees": {"max_iter": 20, "max_leaf_nodes": None, "max_depth": 15},
    "absolute error, one tree": {"loss": "absolute_error", "max_iter": 1},
}


@pytest.mark.parametrize("gaps", [0.0, 0.15])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_small_batches_answer_as_its_own_predict_to_the_bit(wine_data, kind, gaps):
    X, y = data(wine_data, gaps)
    model = HistGradientBoostingRegressor(random_state=0, **KINDS[kind]).fit(X, y)
    lean = matrix_estimator(model, features_for(model, None))
    kernel = boosting_kernel(lean, X.shape[1])
    assert kernel is not None and kernel.takes_missing
    rows = X.sample(300, replace=True, random_state=1)
    for count in (
        1,
        5,
        boosting.WALK_UP_TO_ROWS,
        boosting.WALK_UP_TO_ROWS + 1,
        200,
        boosting.DIRECT_UP_TO_ROWS,
        boosting.DIRECT_UP_TO_ROWS + 1,
    ):
        matrix = np.asfortranarray(rows.head(count).to_numpy(dtype=np.float64))
        assert kernel(matrix).tobytes() == model.predict(rows.head(count)).tobytes()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_scikit_learn_answers_each_row_alone_as_the_load_time_proof_assumes(wine_data, kind):
    """The proof asks the model's own predict once, for every probe stacked, and compares each
    probe's slice: sound only if a row's answer never depends on the rows beside it."""
    X, y = data(wine_data, gaps=0.15)
    model = HistGradientBoostingRegressor(random_state=0, **KINDS[kind]).fit(X.to_numpy(), y)
    stacked = X.sample(300, replace=True, random_state=2).to_numpy()
    whole = model.predict(stacked)
    for start, stop in ((0, 1), (1, 3), (3, 19), (19, 300)):
        assert model.predict(stacked[start:stop]).tobytes() == whole[start:stop].tobytes()


def test_the_walk_is_what_answers_small_batches(wine_data, monkeypatch):
    X, y = data(wine_data)
    model = HistGradientBoostingRegressor(max_iter=10).fit(X.to_numpy(), y)
    kernel = boosting_kernel(model, X.shape[1])
    monkeypatch.setattr(model, "predict", lambda X: pytest.fail("its own predict was called"))
    kernel(X.to_numpy()[:3])


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: HistGradientBoostingClassifier(max_iter=5).fit(X, y),  # several trees per iteration
        lambda X, y: HistGradientBoostingRegressor(max_iter=5, categorical_features=[0]).fit(
            np.c_[np.clip(y - 3, 0, 5), X[:, 1:]], y
        ),  # a categorical split (on a category that says much of the target)
        lambda X, y: HistGradientBoostingRegressor(),  # not fitted
    ],
    ids=["classifier", "categorical", "unfitted"],
)
def test_other_models_keep_their_own_predict(wine_data, make):
    X, y = data(wine_data)
    assert boosting_kernel(make(X.to_numpy(), y), X.shape[1]) is None


def test_a_tree_with_a_categorical_split_keeps_its_own_predict(wine_data):
    """However it came there (scikit-learn's own categorical models also carry a preprocessor)."""
    X, y = data(wine_data)
    model = HistGradientBoostingRegressor(max_iter=5).fit(X.to_numpy(), y)
    nodes = model._predictors[2][0].nodes
    nodes["is_categorical"][np.flatnonzero(~nodes["is_leaf"].astype(bool))[0]] = 1
    assert boosting_kernel(model, X.shape[1]) is None


def test_a_model_that_refuses_the_probe_keeps_its_own_predict(wine_data):
    X, y = data(wine_data)
    model = HistGradientBoostingRegressor(max_iter=5).fit(X.to_numpy(), y)
    assert boosting_kernel(model, X.shape[1] - 1) is None  # its predict raises on the wrong width


def test_a_walk_one_bit_off_is_not_used(wine_data, monkeypatch):
    """The proof at load is what lets the kernel answer: one that is off by a bit is refused."""
    X, y = data(wine_data)
    model = HistGradientBoostingRegressor(max_iter=5).fit(X.to_numpy(), y)
    kernels_one_bit_off(BoostingKernel, monkeypatch)
    assert boosting_kernel(model, X.shape[1]) is None


def test_a_served_model_with_gaps_answers_through_the_kernel(wine_data, tmp_path):
    import mlflow.sklearn
    import skops.io

    from predictor.loading.load import load_served_model

    X, y = data(wine_data, gaps=0.1)
    model = HistGradientBoostingRegressor(max_iter=40, random_state=0).fit(X, y)
    mlflow.sklearn.save_model(
        model,
        tmp_path / "boosting",
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
        input_example=X.dropna().head(2),  # every input a required double: the fast path's
        **QUICK,
    )
    served = load_served_model(str(tmp_path / "boosting"))
    assert served.kernel is not None
    rows = X.head(8)
    assert served.predict(rows.to_numpy(dtype=np.float64)) == model.predict(rows).tolist()

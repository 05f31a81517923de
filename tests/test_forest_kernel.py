"""A forest's trees walked without the forest's per-call checks and dispatch
(predictor/kernels/forest.py): scikit-learn's own answer to the bit, on one thread or several,
and only for the forests whose predict it is."""

import copy

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeRegressor

from predictor.inputs.schema import features_for
from predictor.kernels import forest, forest_walk
from predictor.kernels.forest import ForestKernel, forest_kernel
from predictor.scoring import matrix_estimator
from support import QUICK, kernels_one_bit_off

GRADES = np.array(["poor", "fair", "good", "fine"])


def data(wine_data):
    X = wine_data.drop(columns=["quality"])
    return X, wine_data["quality"]


KINDS = {
    "random forest regressor": lambda X, y: RandomForestRegressor(30, max_depth=10, random_state=0).fit(X, y),
    "extra trees regressor": lambda X, y: ExtraTreesRegressor(20, random_state=0).fit(X, y),
    "random forest, several jobs": lambda X, y: RandomForestRegressor(20, n_jobs=2, random_state=0).fit(X, y),
    "random forest classifier, integer labels": lambda X, y: RandomForestClassifier(20, random_state=0).fit(
        X, y
    ),
    "extra trees classifier, string labels": lambda X, y: ExtraTreesClassifier(20, random_state=0).fit(
        X, GRADES[np.clip(y.to_numpy() - 4, 0, 3)]
    ),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_forest_answers_as_its_own_predict_to_the_bit(wine_data, kind, threads):
    X, y = data(wine_data)
    model = KINDS[kind](X, y)
    features = features_for(model, None)
    lean = matrix_estimator(model, features)  # fitted on a DataFrame: the name-free copy
    kernel = forest_kernel(lean, X.shape[1], threads)
    assert kernel is not None
    rows = X.sample(4000, replace=True, random_state=1)  # 4,000 rows x 20-30 trees: shared when threads > 1
    # several jobs add the trees as they finish (the bits vary run to run): compared with one
    reference = copy.copy(model).set_params(n_jobs=None)
    for count in (1, 7, 4000):
        matrix = np.asfortranarray(rows.head(count).to_numpy(dtype=np.float64))
        expected, answer = reference.predict(rows.head(count)), kernel(matrix)
        assert answer.dtype == expected.dtype and answer.tolist() == expected.tolist()
        if expected.dtype.kind == "f":
            assert answer.tobytes() == expected.tobytes()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_scikit_learn_answers_each_row_alone_as_the_load_time_proof_assumes(wine_data, kind):
    """The proof asks a forest's own predict once, for every probe stacked, and compares each
    probe's slice: sound only if a row's answer never depends on the rows beside it."""
    X, y = data(wine_data)
    reference = copy.copy(KINDS[kind](X, y)).set_params(n_jobs=None)
    stacked = X.sample(300, replace=True, random_state=2)
    whole = reference.predict(stacked)
    for start, stop in ((0, 1), (1, 3), (3, 19), (19, 300)):
        alone = reference.predict(stacked.iloc[start:stop])
        assert alone.tobytes() == whole[start:stop].tobytes()
    if hasattr(reference, "predict_proba"):
        seven = reference.predict_proba(stacked.iloc[:7])
        assert seven.tobytes() == reference.predict_proba(stacked)[:7].tobytes()


def test_large_batches_are_shared_among_threads(wine_data, monkeypatch):
    """The shared path is the one taken (not the single loop) once rows x trees reach the bound."""
    X, y = data(wine_data)
    model = RandomForestRegressor(10, random_state=0).fit(X.to_numpy(), y)
    kernel = forest_kernel(model, X.shape[1], threads=2)
    calls = []
    shared = forest._shared
    monkeypatch.setattr(forest, "_shared", lambda *a: calls.append(len(a[1])) or shared(*a))
    matrix = np.tile(X.to_numpy(), (3, 1))[: forest.SHARED_FROM // 10 + 5]  # over one block
    assert kernel(matrix).tobytes() == model.predict(matrix).tobytes()
    assert len(calls) == 2 and sum(calls) == len(matrix)
    calls.clear()
    kernel(matrix[:10])
    assert calls == []


@pytest.mark.parametrize("depth", [4, 12, None])
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_small_batches_walk_every_tree_at_once_to_the_bit(wine_data, depth, kind):
    """Up to the walk's bound of (row, tree) pairs every tree is walked at once in numpy, beyond
    it each tree's compiled walk: the same bits on either side of the bound, whatever the depth."""
    X, y = data(wine_data)
    make = RandomForestRegressor if kind == "regressor" else RandomForestClassifier
    model = make(25, max_depth=depth, random_state=0).fit(X.to_numpy(), y)
    kernel = forest_kernel(model, X.shape[1])
    walk = kernel.walk
    most = forest_walk.WALK_PAIRS // walk.trees
    assert walk.takes(most) and not walk.takes(most + 1)
    rows = X.sample(most + 1, random_state=3).to_numpy()
    for count in sorted({1, 2, max(most - 1, 1), most, most + 1}):
        matrix = np.asfortranarray(rows[:count])
        summed = walk.summed(matrix.astype(np.float32)) if walk.takes(count) else None
        if summed is not None:
            assert summed.shape == ((count,) if kind == "regressor" else (count, len(model.classes_)))
        assert kernel(matrix).tobytes() == model.predict(matrix).tobytes(), count


def test_trees_deeper_than_the_walk_takes_keep_no_copy_of_their_nodes(wine_data, monkeypatch):
    X, y = data(wine_data)
    model = RandomForestRegressor(10, max_depth=8, random_state=0).fit(X.to_numpy(), y)
    monkeypatch.setattr(forest, "MAX_WALK_DEPTH", 7)  # a walk of 8 levels is past it
    kernel = forest_kernel(model, X.shape[1])
    assert kernel is not None and kernel.walk is None
    matrix = np.asfortranarray(X.head(3).to_numpy())
    assert kernel(matrix).tobytes() == model.predict(matrix).tobytes()


def test_the_walk_adds_to_zero_as_the_forest_does():
    """A first leaf of -0.0 gives 0.0 (zeros + -0.0), as the forest's sum from zeros does."""
    from sklearn.tree._tree import NODE_DTYPE

    nodes = np.zeros(1, dtype=NODE_DTYPE)
    nodes[["left_child", "right_child", "feature"]] = (-1, -1, -2)
    nodes["threshold"] = -2.0
    leaf = forest_walk.TreeNodes(nodes, np.array([[[-0.0]]]), 0)
    summed = forest_walk.ForestWalk([leaf, leaf], None).summed(np.zeros((1, 3), dtype=np.float32))
    assert summed.tobytes() == (np.zeros(1) + -0.0 + -0.0).tobytes()


class Rounded(RandomForestRegressor):
    def predict(self, X):
        return np.round(super().predict(X))


class Sharpened(RandomForestClassifier):
    def predict_proba(self, X):
        return super().predict_proba(X) ** 2


@pytest.mark.parametrize(
    "make",
    [
        lambda X, y: Rounded(5, random_state=0).fit(X, y),  # its own predict: not the forest's
        lambda X, y: Sharpened(5, random_state=0).fit(X, y),  # its own probabilities
        lambda X, y: RandomForestRegressor(5, random_state=0).fit(X, np.c_[y, y]),  # two outputs
        lambda X, y: GradientBoostingRegressor(n_estimators=5).fit(X, y),  # not a forest
        lambda X, y: DecisionTreeRegressor().fit(X, y),
    ],
    ids=[
        "predict overridden",
        "predict_proba overridden",
        "two outputs",
        "gradient boosting",
        "a single tree",
    ],
)
def test_other_models_keep_their_own_predict(wine_data, make):
    X, y = data(wine_data)
    assert forest_kernel(make(X.to_numpy(), y), X.shape[1]) is None


def test_a_forest_whose_trees_were_swapped_keeps_its_own_predict(wine_data):
    X, y = data(wine_data)
    model = RandomForestRegressor(5, random_state=0).fit(X.to_numpy(), y)
    model.estimators_[2] = GradientBoostingRegressor(n_estimators=2).fit(X.to_numpy(), y)
    assert forest_kernel(model, X.shape[1]) is None


def test_a_forest_that_refuses_the_probe_keeps_its_own_predict(wine_data):
    X, y = data(wine_data)
    model = RandomForestRegressor(5, random_state=0).fit(X.to_numpy(), y)
    assert forest_kernel(model, X.shape[1] - 1) is None  # its predict raises on the wrong width


def test_a_served_forest_uses_the_kernel_and_answers_as_mlflow_saved_it(wine_data, tmp_path):
    """MLflow 3's default format, loaded as the function loads it (read without scikit-learn):
    the kernel is in use, on PREDICT_THREADS threads, and the function's answers are the
    model's own."""
    import mlflow.sklearn
    import skops.io

    from predictor.loading.load import load_served_model

    X, y = data(wine_data)
    model = RandomForestRegressor(20, max_depth=8, random_state=0).fit(X, y)
    mlflow.sklearn.save_model(
        model,
        tmp_path / "forest",
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
        input_example=X.head(2),
        **QUICK,
    )
    served = load_served_model(str(tmp_path / "forest"), predict_threads=2)
    assert served.kernel is served.estimator.kernel and served.kernel.threads == 2
    matrix = np.tile(X.to_numpy(), (2, 1))  # 9,796 rows x 20 trees: shared among the threads
    assert served.predict(matrix) == model.predict(pd.concat([X, X])).tolist()


def test_a_kernel_one_bit_off_is_not_used(wine_data, monkeypatch):
    """The proof at load is what lets the kernel answer: one that is off by a bit is refused."""
    X, y = data(wine_data)
    model = RandomForestRegressor(5, random_state=0).fit(X.to_numpy(), y)
    kernels_one_bit_off(ForestKernel, monkeypatch)
    assert forest_kernel(model, X.shape[1]) is None

"""The kinds of model MLflow users log in its default format (skops) load with no setting when
they hold only data types reviewed in `skops_data_types.txt`; every entry there is one such a
kind needs; MLmodel's `skops_trusted_types` is never taken on its word."""

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.ensemble import VotingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from predictor.errors import UntrustedArtifact
from predictor.loading.artifact import data_types, load_artifact
from support import QUICK

RNG = np.random.default_rng(3)
X = pd.DataFrame(RNG.normal(0, 2, (120, 4)), columns=["a", "b", "c", "d"])
Y = X.to_numpy() @ [1.0, -2.0, 0.5, 3.0] + RNG.normal(0, 0.1, 120)
LABELS = np.where(Y > 0, "high", "low")
GAPS = X.mask(RNG.random(X.shape) < 0.1)  # an imputer's input: some cells missing

KINDS = {
    "imputing pipeline": lambda: make_pipeline(SimpleImputer(), StandardScaler(), Ridge()).fit(GAPS, Y),
    "grid search, regressor": lambda: GridSearchCV(Ridge(), {"alpha": [0.1, 1.0]}, cv=3).fit(X, Y),
    "grid search, classifier": lambda: GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=3).fit(
        X, LABELS
    ),
    "voting regressor": lambda: VotingRegressor([("r", Ridge()), ("e", ElasticNet(alpha=0.1))]).fit(X, Y),
}


@pytest.fixture(scope="module")
def fitted():
    return {name: build() for name, build in KINDS.items()}


def untrusted(model) -> set[str]:
    return set(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def test_each_reviewed_type_is_one_these_kinds_need(fitted):
    needed = set().union(*(untrusted(model) for model in fitted.values()))
    assert needed == data_types()  # nothing the kinds need is missing, nothing listed is stale


def rows_for(kind):
    return (GAPS if kind == "imputing pipeline" else X).head(25)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_kind_in_a_skops_file_loads_with_no_setting(fitted, tmp_path, kind):
    model = fitted[kind]
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    loaded = load_artifact(path).estimator
    assert loaded.predict(rows_for(kind)).tolist() == model.predict(rows_for(kind)).tolist()


def test_a_kind_saved_by_mlflow_loads_with_no_setting(fitted, tmp_path):
    """MLflow 3's own folder: it asks for the types at log time and records them in MLmodel."""
    model = fitted["imputing pipeline"]
    folder = tmp_path / "model"
    trusted = sorted(untrusted(model))
    mlflow.sklearn.save_model(
        model, folder, serialization_format="skops", skops_trusted_types=trusted, **QUICK
    )
    loaded = load_artifact(folder).estimator
    assert loaded.predict(rows_for("imputing pipeline")).tolist() == model.predict(GAPS.head(25)).tolist()


def test_mlmodels_skops_trusted_types_is_not_taken_on_its_word(tmp_path):
    """A crafted MLmodel could list anything (MLflow itself once trusted that list)."""
    model = make_pipeline(FunctionTransformer(np.round), Ridge()).fit(X, Y)
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(
        model, folder, serialization_format="skops", skops_trusted_types=["numpy.round"], **QUICK
    )
    assert "numpy.round" in (folder / "MLmodel").read_text()
    with pytest.raises(UntrustedArtifact, match="numpy.round"):
        load_artifact(folder)


def test_a_nearest_neighbour_index_still_needs_the_setting(tmp_path):
    """Its node indices are followed without bounds checks and are not proven at load (trees'
    are: tests/test_tree_checks.py)."""
    model = KNeighborsRegressor(n_neighbors=3, algorithm="kd_tree").fit(X, Y)
    path = tmp_path / "neighbours.skops"
    skops.io.dump(model, path)
    with pytest.raises(UntrustedArtifact, match=r"sklearn\.neighbors\._kd_tree\.KDTree.*SKOPS_TRUSTED_TYPES"):
        load_artifact(path)
    loaded = load_artifact(path, trusted_types=untrusted(model)).estimator
    assert loaded.predict(X).tolist() == model.predict(X).tolist()

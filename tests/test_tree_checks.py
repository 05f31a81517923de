"""Trees, forests and boosting in MLflow 3's default format (skops) load with no setting once
their node arrays are proven sound (`predictor/loading/tree_checks.py`); a crafted file whose
indices scikit-learn would follow out of bounds is refused, naming what is wrong, unless
SKOPS_TRUSTED_TYPES vouches for it."""

import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.ensemble import (
    AdaBoostRegressor,
    BaggingRegressor,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.multioutput import MultiOutputRegressor
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from predictor.errors import UntrustedArtifact
from predictor.loading.artifact import load_artifact
from predictor.loading.tree_checks import CHECKED_TYPES
from support import QUICK

RNG = np.random.default_rng(5)
X = pd.DataFrame(RNG.normal(0, 2, (150, 4)), columns=["a", "b", "c", "d"])
Y = X.to_numpy() @ [1.0, -2.0, 0.5, 3.0] + RNG.normal(0, 0.1, 150)
CLASSES = np.digitize(Y, [-2, 2])  # three classes
GAPS = X.mask(RNG.random(X.shape) < 0.1)  # trees and histogram boosting take NaN as it is

KINDS = {
    "decision tree, gaps": lambda: DecisionTreeRegressor(max_depth=6).fit(GAPS, Y),
    "decision tree classifier": lambda: DecisionTreeClassifier(max_depth=4).fit(X, CLASSES),
    "random forest, gaps": lambda: RandomForestRegressor(12, max_depth=6, random_state=0).fit(GAPS, Y),
    "extra trees classifier": lambda: ExtraTreesClassifier(8, random_state=0).fit(X, CLASSES),
    "gradient boosting": lambda: GradientBoostingRegressor(n_estimators=20).fit(X, Y),
    "gradient boosting, 3 classes": lambda: GradientBoostingClassifier(n_estimators=10).fit(X, CLASSES),
    "histogram boosting, gaps": lambda: HistGradientBoostingRegressor(max_iter=20).fit(GAPS, Y),
    "histogram boosting, 3 classes": lambda: HistGradientBoostingClassifier(max_iter=10).fit(GAPS, CLASSES),
    "isolation forest, 2 of 4 features": lambda: IsolationForest(
        n_estimators=10, max_features=2, random_state=0
    ).fit(X),
    "AdaBoost": lambda: AdaBoostRegressor(n_estimators=5, random_state=0).fit(X, Y),
    "bagged trees, 3 of 4 features": lambda: BaggingRegressor(
        DecisionTreeRegressor(), n_estimators=5, max_features=3, random_state=0
    ).fit(X, Y),
    "multi-output trees": lambda: MultiOutputRegressor(DecisionTreeRegressor(max_depth=3)).fit(
        X, np.c_[Y, -Y]
    ),
    "imputer and forest": lambda: make_pipeline(
        SimpleImputer(), RandomForestRegressor(5, random_state=0)
    ).fit(GAPS, Y),
    "grid search over trees": lambda: GridSearchCV(DecisionTreeRegressor(), {"max_depth": [2, 4]}, cv=3).fit(
        X, Y
    ),
}


def untrusted(model) -> list[str]:
    return sorted(skops.io.get_untrusted_types(data=skops.io.dumps(model)))


def answers(model, fitted=None):
    """`model`'s answers to rows with missing values if `fitted` (the model as fitted; a forest
    may be read without scikit-learn) takes them, else to rows without."""
    rows = GAPS.head(40)
    if "IsolationForest" in type(model).__name__:
        return model.score_samples(X.head(40)).tolist()
    return model.predict(rows if _takes_gaps(fitted or model) else X.head(40)).tolist()


def _takes_gaps(model) -> bool:
    return model.__sklearn_tags__().input_tags.allow_nan


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_tree_kind_saved_by_mlflow_loads_with_no_setting(tmp_path, kind):
    """MLflow 3's default format; the types it asks the user to trust are recorded, not used."""
    model = KINDS[kind]()
    assert set(untrusted(model)) & CHECKED_TYPES  # a kind skops alone would not load
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(model, folder, skops_trusted_types=untrusted(model), **QUICK)
    assert "model.skops" in {p.name for p in folder.iterdir()}
    loaded = load_artifact(folder).estimator
    assert answers(loaded, model) == answers(model)  # bit for bit


def first_split(nodes) -> int:
    return int(np.flatnonzero(nodes["left_child"] != -1)[0])


def retree(tree, change):
    """Rewrite a fitted tree's state as a crafted file could hold it."""
    state = tree.__getstate__()
    state["nodes"] = state["nodes"].copy()
    change(state)
    tree.__setstate__(state)


def child_before_parent(model):
    def change(state):
        inner = np.flatnonzero(state["nodes"]["left_child"] != -1)
        state["nodes"]["left_child"][inner[1]] = 0  # back to the root: a walk never ends

    retree(model.tree_, change)


def child_outside(model):
    def change(state):
        state["nodes"]["right_child"][0] = len(state["nodes"]) + 7

    retree(model.tree_, change)


def feature_outside(model):
    retree(model.tree_, lambda state: state["nodes"]["feature"].__setitem__(0, 1000))


def negative_feature(model):
    retree(model.tree_, lambda state: state["nodes"]["feature"].__setitem__(0, -3))


def shallower_than_it_is(model):
    retree(model.tree_, lambda state: state.__setitem__("max_depth", 1))


def two_parents(model):
    def change(state):
        nodes = state["nodes"]
        grandchild = nodes["left_child"][nodes["left_child"][0]]
        nodes["right_child"][0] = grandchild

    retree(model.tree_, change)


def no_width(model):
    del model.n_features_in_


def narrower_tree(model):
    model.n_features_in_ = 3


def stray_tree(model):
    model.spare_ = DecisionTreeRegressor(max_depth=2).fit(X, Y).tree_


def narrow_forest_member(model):
    model.estimators_[3] = DecisionTreeRegressor(max_depth=3).fit(X[["a", "b", "c"]].to_numpy(), Y)


def boosting_stage_too_wide(model):
    model.estimators_ = np.concatenate([model.estimators_, model.estimators_], axis=1)


def isolation_features_mismatch(model):
    model.estimators_features_[0] = model.estimators_features_[0][:1]


def hist_feature_outside(model):
    nodes = model._predictors[0][0].nodes
    nodes["feature_idx"][np.flatnonzero(nodes["is_leaf"] == 0)[0]] = 99


def hist_child_before_parent(model):
    nodes = model._predictors[2][0].nodes
    nodes["left"][np.flatnonzero(nodes["is_leaf"] == 0)[-1]] = 0


def hist_categorical_split(model):
    nodes = model._predictors[0][0].nodes
    nodes["is_categorical"][0] = 1


def hist_predictor_missing(model):
    model._predictors[1] = []


CRAFTED = [
    # (model, how the file was crafted, what the refusal says)
    ("decision tree, gaps", child_before_parent, r"node \d+ of \d+ has children 0 and"),
    ("decision tree, gaps", child_outside, r"node 0 of (\d+) has children \d+ and \d+"),
    ("decision tree, gaps", feature_outside, "node 0 splits on feature 1000 of 4"),
    ("decision tree, gaps", negative_feature, "node 0 splits on feature -3 of 4"),
    ("decision tree, gaps", shallower_than_it_is, "records a depth of 1 but has leaves deeper than that"),
    ("decision tree, gaps", two_parents, r"node \d+ has two parents"),
    ("decision tree classifier", no_width, r"model records no number of input features"),
    ("decision tree classifier", narrower_tree, "model's tree is 4 features wide, its estimator 3"),
    ("decision tree classifier", stray_tree, r"model\.spare_ is a tree no estimator owns"),
    ("random forest, gaps", narrow_forest_member, r"estimators_\[3\] is 3 features wide, not 4"),
    ("gradient boosting", boosting_stage_too_wide, "has 2 trees per stage for 1 outputs"),
    ("isolation forest, 2 of 4 features", isolation_features_mismatch, "is 2 features wide, sampled 1"),
    ("histogram boosting, gaps", hist_feature_outside, r"_predictors\[0\]\[0\] splits on feature 99 of 4"),
    (
        "histogram boosting, gaps",
        hist_child_before_parent,
        r"_predictors\[2\]\[0\] node \d+ of \d+ has children 0 ",
    ),
    ("histogram boosting, gaps", hist_categorical_split, "splits on a categorical feature"),
    ("histogram boosting, 3 classes", hist_predictor_missing, "iteration 1 has 0 trees, not 3"),
]


@pytest.mark.parametrize(
    ("kind", "craft", "says"), CRAFTED, ids=[f"{kind}: {craft.__name__}" for kind, craft, _ in CRAFTED]
)
def test_a_crafted_tree_is_refused_naming_what_is_wrong(tmp_path, kind, craft, says):
    model = KINDS[kind]()
    types = untrusted(model)
    path = tmp_path / "model.skops"
    craft(model)
    skops.io.dump(model, path)
    with pytest.raises(UntrustedArtifact, match=says) as refused:
        load_artifact(path)
    assert "could not have made" in str(refused.value)
    assert "SKOPS_TRUSTED_TYPES=" in str(refused.value)
    load_artifact(path, trusted_types=types)  # the user's word loads it unchecked (never predicted)


def test_the_sound_file_of_each_crafted_kind_loads(tmp_path):
    """The refusals above are for what was crafted, not for the kind."""
    for kind in {kind for kind, _, _ in CRAFTED}:
        path = tmp_path / "model.skops"
        skops.io.dump(KINDS[kind](), path)
        load_artifact(path)

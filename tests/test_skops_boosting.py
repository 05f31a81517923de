"""Histogram gradient boosting regressors read from skops files without scikit-learn
(predictor/loading/skops_boosting.py): bit for bit what the same file loaded by skops predicts,
for every loss read, with and without missing values, small batches and large (walked in numpy,
or by the compiled predictors built once beside the requests); and every file this does not
read as scikit-learn would, left to skops."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from test_skops_forest import bits, change, drop, edited, probes

from predictor.errors import UntrustedArtifact
from predictor.loading import boosting_models, skops_boosting, skops_reader
from predictor.loading.artifact import load_artifact

pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")  # probes: matrices

NAMES = [f"feature {i}" for i in range(5)]
RNG = np.random.default_rng(5)
TRAIN = pd.DataFrame(RNG.normal(0, 3, (400, len(NAMES))), columns=NAMES)
TRAIN_GAPS = TRAIN.mask(RNG.random(TRAIN.shape) < 0.15)
SCORE = np.nan_to_num(TRAIN_GAPS.to_numpy()) @ RNG.normal(0, 1, len(NAMES)) + RNG.normal(0, 0.5, 400)
POSITIVE = np.exp(SCORE / 8)
LOSSES = {  # loss: its parameters and target
    "squared_error": ({}, SCORE),
    "absolute_error": ({}, SCORE),
    "quantile": ({"quantile": 0.8}, SCORE),
    "poisson": ({}, POSITIVE),
    "gamma": ({}, POSITIVE),
}


def fitted(loss="squared_error", gaps=True, fitted_on="frame", **params):
    X = TRAIN_GAPS if gaps else TRAIN
    extra, target = LOSSES[loss]
    model = HistGradientBoostingRegressor(loss=loss, random_state=0, **{"max_iter": 40, **extra, **params})
    return model.fit(X if fitted_on == "frame" else X.to_numpy(), target)


def round_trip(model):
    data = skops.io.dumps(model)
    return skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data)), skops_reader.read(data)


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("fitted_on", ["frame", "array"])
@pytest.mark.parametrize("gaps", [True, False], ids=["fitted with gaps", "fitted without"])
def test_read_without_scikit_learn_answers_bit_for_bit(loss, fitted_on, gaps):
    loaded, read = round_trip(fitted(loss, gaps, fitted_on))
    assert isinstance(read, boosting_models.ReadBoosting) and type(read).__name__ == type(loaded).__name__
    assert (fitted_on == "frame") == hasattr(read, "feature_names_in_")
    for rows in (1, 2, 33, 256, 700):
        for X in (probes(rows), probes(rows, gaps=0)):
            assert bits(read.predict(X)) == bits(loaded.predict(X)), rows
    edges = probes(4, gaps=0)
    edges[0, 1], edges[1, 2] = np.inf, -np.inf  # histogram boosting takes infinities, as it compares them
    assert bits(read.predict(edges)) == bits(loaded.predict(edges))


CLASSES = {  # labels: of two classes (one tree per iteration), three, eight (one tree per class)
    "booleans": SCORE > 0,
    "strings": np.where(SCORE > 1, "high", np.where(SCORE < -1, "low", "middle")),
    "integers": np.digitize(SCORE, [-3, -2, -1, 0, 1, 2, 3]),
}


def classifier(labels, fitted_on="frame", max_iter=25):
    X = TRAIN_GAPS if fitted_on == "frame" else TRAIN_GAPS.to_numpy()
    return HistGradientBoostingClassifier(max_iter=max_iter, random_state=0).fit(X, CLASSES[labels])


@pytest.mark.parametrize("labels", sorted(CLASSES))
@pytest.mark.parametrize("fitted_on", ["frame", "array"])
@pytest.mark.parametrize("threads", [1, 2])
def test_classifiers_read_without_scikit_learn_answer_bit_for_bit(labels, fitted_on, threads):
    """Labels, probabilities (scipy's expit for two classes, the softmax for more) and the
    decision function, walked and then compiled."""
    loaded, read = round_trip(classifier(labels, fitted_on))
    assert isinstance(read, boosting_models.ReadBoostingClassifier)
    assert list(read.classes_) == list(loaded.classes_)
    read.use_threads(threads)
    large = boosting_models.COMPILED_FROM // (25 * len(read.raw.walks) * threads) + 3
    for rows in (1, 40, large):
        X = probes(rows)
        assert bits(read.predict(X)) == bits(loaded.predict(X)), rows
        assert bits(read.predict_proba(X)) == bits(loaded.predict_proba(X)), rows
        assert bits(read.decision_function(X)) == bits(loaded.decision_function(X)), rows
    assert read.raw.compiled.get(wait=True) is not None
    X = probes(large)
    assert bits(read.predict(X)) == bits(loaded.predict(X))
    assert bits(read.predict_proba(X)) == bits(loaded.predict_proba(X))


@pytest.mark.parametrize("threads", [1, 2])
def test_large_batches_answer_the_same_walked_or_compiled(threads):
    loaded, read = round_trip(fitted("poisson"))
    read.use_threads(threads)
    X = probes(boosting_models.COMPILED_FROM // 40 + 3)
    expected = bits(loaded.predict(X))
    assert bits(read.kernel(X)) == expected  # walked, the build started
    assert read.raw.compiled.get(wait=True) is not None
    assert bits(read.kernel(X)) == expected  # compiled
    assert bits(read.predict(X[:5])) == bits(loaded.predict(X[:5]))  # small batches stay walked


@pytest.mark.parametrize("shape", [(3,), (2, 4), (2, 6)])
def test_an_input_of_another_shape_is_refused(shape):
    _, read = round_trip(fitted())
    with pytest.raises(ValueError, match="5 features"):
        read.predict(np.zeros(shape))


SMALL = fitted(max_iter=3)
BINARY = HistGradientBoostingClassifier(max_iter=3).fit(TRAIN, SCORE > 0)


def state(schema):
    return schema["content"]["content"]


def loss_state(schema):
    return state(schema)["_loss"]["content"]["content"]


def first_predictor(schema):
    return state(schema)["_predictors"]["content"][0]["content"][0]["content"]["content"]


def nodes_changed(field, node, value):
    def arrays(schema, source):
        import io

        name = first_predictor(schema)["nodes"]["file"]
        records = np.load(io.BytesIO(source.read(name))).copy()
        records[field][node] = value
        return {name: records}

    return edited(SMALL, arrays=arrays)


def no_nodes(schema, source):
    return {first_predictor(schema)["nodes"]["file"]: np.zeros(0, dtype=SMALL._predictors[0][0].nodes.dtype)}


def other_layout(schema, source):
    return {first_predictor(schema)["nodes"]["file"]: np.zeros(3, dtype=[("value", "<f8")])}


ODD = {
    "two trees per iteration recorded": edited(
        SMALL, lambda s: change(state(s)["n_trees_per_iteration_"], content="2")
    ),
    "names of another width": edited(SMALL, lambda s: change(state(s)["n_features_in_"], content="7")),
    "a baseline of another shape": edited(
        SMALL, arrays=lambda s, source: {state(s)["_baseline_prediction"]["file"]: np.zeros(2)}
    ),
    "no iterations": edited(SMALL, lambda s: state(s)["_predictors"].update(content=[])),
    "a predictor holding more": edited(
        SMALL, lambda s: first_predictor(s).update(extra=first_predictor(s)["nodes"])
    ),
    "node records of another layout": edited(SMALL, arrays=other_layout),
    "no nodes": edited(SMALL, arrays=no_nodes),
    "no binning recorded": edited(SMALL, lambda s: drop(s["content"], "_bin_mapper")),
    "a categorical split": nodes_changed("is_categorical", 0, 1),
}
UNSOUND = {
    "a child outside the tree": nodes_changed("left", 0, 500),
    "a split on a feature past the width": nodes_changed("feature_idx", 0, 9),
}


def categorical():
    X = TRAIN.assign(colour=pd.Categorical(RNG.choice(["red", "blue"], len(TRAIN))))
    return HistGradientBoostingRegressor(max_iter=3).fit(X, SCORE)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            edited(BINARY, lambda s: state(s)["_loss"].update(__class__="HalfMultinomialLoss")),
            id="a classifier's loss for more classes",
        ),
        pytest.param(
            edited(BINARY, lambda s: drop(s["content"], "classes_")), id="a classifier without classes"
        ),
        pytest.param(
            edited(BINARY, arrays=lambda s, source: {state(s)["classes_"]["file"]: np.zeros((2, 2))}),
            id="classes in two dimensions",
        ),
        pytest.param(skops.io.dumps(categorical()), id="a categorical feature"),
        pytest.param(
            edited(SMALL, lambda s: change(state(s)["_preprocessor"], content="1")),
            id="a preprocessor of data",
        ),
        pytest.param(
            edited(SMALL, lambda s: state(s)["_loss"].update(__class__="HalfTweedieLoss")), id="another loss"
        ),
        pytest.param(
            edited(SMALL, lambda s: loss_state(s)["link"].update(__class__="LogLink")),
            id="another link for the loss",
        ),
        pytest.param(
            edited(SMALL, lambda s: change(state(s)["learning_rate"], __loader__="ObjectNode")),
            id="a field that is not data",
        ),
        pytest.param(
            edited(
                SMALL,
                arrays=lambda schema, source: {
                    first_predictor(schema)["raw_left_cat_bitsets"]["file"]: np.zeros((1, 4), np.uint32)
                },
            ),
            id="bitsets of another shape",
        ),
        pytest.param(
            edited(SMALL, lambda s: state(s)["_predictors"]["content"][0]["content"].append({})),
            id="two trees in an iteration",
        ),
        pytest.param(
            edited(SMALL, lambda s: state(s)["n_features_in_"].update(content=json.dumps(7))),
            id="another width",
        ),
        *(pytest.param(data, id=name) for name, data in {**ODD, **UNSOUND}.items()),
    ],
)
def test_anything_else_is_left_to_skops(data):
    assert skops_reader.read(data) is None


@pytest.mark.parametrize("name", sorted(UNSOUND))
def test_an_unsound_tree_is_refused_by_the_skops_path_as_before(name, tmp_path):
    path = tmp_path / "boosting.skops"
    path.write_bytes(UNSOUND[name])
    with pytest.raises(UntrustedArtifact):
        load_artifact(path)


def test_the_reader_names_the_model_its_losses_and_links_as_scikit_learn_does():
    model = fitted()
    assert (type(model).__module__, type(model).__name__) == skops_boosting.REGRESSOR
    assert (type(BINARY).__module__, type(BINARY).__name__) == skops_boosting.CLASSIFIER
    assert (type(model._predictors[0][0]).__module__, "TreePredictor") == skops_boosting.PREDICTOR
    losses = [fitted(loss, max_iter=2)._loss for loss in LOSSES]
    for own in losses:
        link_class, name = skops_boosting.LOSSES[(type(own).__module__, type(own).__name__)]
        assert (type(own.link).__module__, type(own.link).__name__) == link_class
        inverse = boosting_models.LINKS[name]
        raw = np.linspace(-2, 2, 9)
        assert bits(own.link.inverse(raw.copy())) == bits(raw if inverse is None else inverse(raw))
    for labels, name in (("booleans", "logit"), ("strings", "softmax")):  # their answers: above
        own = classifier(labels, max_iter=2)._loss
        link_class, read_as = skops_boosting.LOSSES[(type(own).__module__, type(own).__name__)]
        assert (type(own.link).__module__, type(own.link).__name__) == link_class and read_as == name

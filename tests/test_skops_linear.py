"""A linear model read from a skops file without scikit-learn (a regressor or a logistic
regression, alone or after StandardScalers) answers bit for bit as the same file loaded by skops
does; every other file is left to skops."""

import ast
import importlib
import inspect
import io
import json
import textwrap
import zipfile

import numpy as np
import pandas as pd
import pytest
import sklearn
import skops.io
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge, SGDClassifier
from sklearn.linear_model._base import LinearModel
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from predictor.loading import skops_linear, skops_reader

NAMES = [f"feature {i}" for i in range(6)]
RNG = np.random.default_rng(7)
TRAIN = pd.DataFrame(RNG.normal(0, 3, (80, len(NAMES))), columns=NAMES)
TARGETS = TRAIN.to_numpy() @ RNG.normal(0, 2, (len(NAMES), 2)) + RNG.normal(0, 0.5, (80, 2))
CLASSES = {
    "LinearRegression": LinearRegression,
    "Ridge": Ridge,
    "Lasso": lambda **kw: Lasso(alpha=0.05, **kw),
    "ElasticNet": lambda **kw: ElasticNet(alpha=0.05, l1_ratio=0.3, **kw),
}


def round_trip(model):
    """The model as skops loads its file, and as `skops_linear` reads it."""
    data = skops.io.dumps(model)
    return skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data)), skops_reader.read(data)


def inputs(rows):
    """Probe matrices in both memory orders (scikit-learn's BLAS calls differ by size and order)."""
    X = RNG.normal(0, 10, (rows, len(NAMES)))
    return [np.ascontiguousarray(X), np.asfortranarray(X)]


def bits(a):
    a = np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


def passes_through(function, name):
    """`function`'s body (its docstring aside) is `return super().<name>(X)`."""
    body = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0].body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return len(body) == 1 and ast.unparse(body[0]) == f"return super().{name}(X)"


def test_every_allowed_class_predicts_with_linear_models_own_expression():
    """If scikit-learn moves or overrides one of them, this fails before a wrong answer does."""
    from sklearn.base import is_regressor

    assert {name for _, name in skops_linear.REGRESSORS} == set(CLASSES)
    for module, name in skops_linear.REGRESSORS:
        cls = vars(importlib.import_module(module))[name]
        assert issubclass(cls, LinearModel) and is_regressor(cls())
        for base in cls.__mro__[: cls.__mro__.index(LinearModel)]:
            if "predict" in vars(base):
                assert passes_through(base.predict, "predict"), base
            if "_decision_function" in vars(base):  # ElasticNet's: sparse inputs apart, super()'s
                assert base._decision_function is ElasticNet._decision_function, base


def test_the_classifier_and_scaler_read_predict_with_the_arithmetic_they_copy():
    """If scikit-learn moves or overrides them, this fails before a wrong answer does (their
    probabilities and scaling are proven bit for bit below)."""
    from sklearn.linear_model._base import LinearClassifierMixin

    assert skops_linear.CLASSIFIERS == {(LogisticRegression.__module__, "LogisticRegression")}
    assert LogisticRegression.predict is LinearClassifierMixin.predict
    assert LogisticRegression.decision_function is LinearClassifierMixin.decision_function
    assert skops_linear.SCALER == (StandardScaler.__module__, "StandardScaler")
    assert skops_linear.PIPELINE == (Pipeline.__module__, "Pipeline")


@pytest.mark.parametrize("name", sorted(CLASSES))
@pytest.mark.parametrize("fitted_on", ["frame", "array"])
@pytest.mark.parametrize("targets", [1, 2])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_read_without_scikit_learn_answers_bit_for_bit(name, fitted_on, targets, fit_intercept):
    X = TRAIN if fitted_on == "frame" else TRAIN.to_numpy()
    y = TARGETS[:, 0] if targets == 1 else TARGETS
    loaded, read = round_trip(CLASSES[name](fit_intercept=fit_intercept).fit(X, y))
    assert read is not None
    assert type(read).__name__ == name and read.n_features_in_ == loaded.n_features_in_
    assert read.saved_with == sklearn.__version__
    if fitted_on == "frame":
        assert read.feature_names_in_.tolist() == loaded.feature_names_in_.tolist()
        assert read.feature_names_in_.dtype == object
    else:
        assert not hasattr(read, "feature_names_in_")
    for rows in (1, 2, 7, 100, 1000):
        for matrix in inputs(rows):
            given = pd.DataFrame(matrix, columns=NAMES) if fitted_on == "frame" else matrix
            expected = bits(loaded.predict(given))
            assert bits(read.predict(given)) == expected
            if fitted_on == "array" or matrix.flags.f_contiguous:  # the fast path's are, as a DataFrame's
                assert bits(read.kernel(matrix)) == expected


LABELS = {
    "two boolean classes": lambda y: y > 0,
    "two string classes": lambda y: np.where(y > 0, "up", "down"),
    "three integer classes": lambda y: np.digitize(y, [-2.0, 2.0]),
    "four string classes": lambda y: np.array(["a", "b", "c", "d"], dtype=object)[np.digitize(y, [-3, 0, 3])],
}
SCALED = {
    "logistic regression": lambda: LogisticRegression(max_iter=500),
    "scaler + logistic regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)),
    "two scalers + logistic regression": lambda: make_pipeline(
        StandardScaler(with_std=False), StandardScaler(with_mean=False), LogisticRegression(max_iter=500)
    ),
    "scaler + ridge": lambda: make_pipeline(StandardScaler(), Ridge()),
    "scaler + elastic net": lambda: make_pipeline(StandardScaler(), ElasticNet(alpha=0.05)),
}


# each classifier with each kind of labels; a regressor with the numbers
CASES = [
    (kind, labels) for kind in sorted(SCALED) for labels in (LABELS if "logistic" in kind else ["numbers"])
]


@pytest.mark.parametrize("kind, labels", CASES)
@pytest.mark.parametrize("fitted_on", ["frame", "array"])
@pytest.mark.filterwarnings("ignore:divide by zero encountered in log")  # a probability of 0, both sides
def test_classifiers_and_scaled_models_read_without_scikit_learn_answer_bit_for_bit(kind, labels, fitted_on):
    regressor = labels == "numbers"
    X = TRAIN if fitted_on == "frame" else TRAIN.to_numpy()
    y = TARGETS[:, 0] if regressor else LABELS[labels](TARGETS[:, 0])
    loaded, read = round_trip(SCALED[kind]().fit(X, y))
    assert read is not None
    assert type(read).__name__ == type(loaded).__name__ and read.n_features_in_ == loaded.n_features_in_
    assert hasattr(read, "feature_names_in_") == (fitted_on == "frame")
    methods = ["predict"] if regressor else ["predict", "predict_proba", "predict_log_proba"]
    assert not regressor or not hasattr(read, "predict_proba")
    if not regressor:
        assert bits(read.classes_) == bits(loaded.classes_)
    for rows in (1, 2, 7, 100, 1000):
        for matrix in inputs(rows):
            given = pd.DataFrame(matrix, columns=NAMES) if fitted_on == "frame" else matrix
            for method in methods:
                assert bits(getattr(read, method)(given)) == bits(getattr(loaded, method)(given)), method
            if fitted_on == "array" or matrix.flags.f_contiguous:  # the fast path's are, as a DataFrame's
                assert bits(read.kernel(matrix)) == bits(loaded.predict(given))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((2, len(NAMES)), np.nan), "NaN"),
        (np.full((2, len(NAMES)), np.inf), "infinity"),
        (np.ones((2, len(NAMES) + 1)), "features"),
        (np.ones((0, len(NAMES))), "features"),
    ],
)
def test_an_input_scikit_learn_refuses_is_refused_with_a_value_error(bad, message):
    loaded, read = round_trip(ElasticNet(alpha=0.05).fit(TRAIN.to_numpy(), TARGETS[:, 0]))
    with pytest.raises(ValueError):
        loaded.predict(bad)
    with pytest.raises(ValueError, match=message):
        read.predict(bad)


def with_attribute(**attributes):
    model = Ridge().fit(TRAIN, TARGETS[:, 0])
    for key, value in attributes.items():
        setattr(model, key, value)
    return model


def edited(model, edit, texts=None):
    """The model's skops file with its schema changed by `edit`, then in its text by `texts`."""
    source = zipfile.ZipFile(io.BytesIO(skops.io.dumps(model)))
    schema = json.loads(source.read("schema.json"))
    edit(schema)
    text = json.dumps(schema)
    for old, new in (texts or {}).items():
        text = text.replace(old, new)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            target.writestr(item, text if item == "schema.json" else source.read(item))
    return out.getvalue()


FITTED = Ridge().fit(TRAIN, TARGETS[:, 0])
# a pipeline whose final model was fitted apart, on the names: not what the scalers hand it
SCALER_FIRST = Pipeline(
    [("scale", StandardScaler().fit(TRAIN)), ("model", Ridge().fit(TRAIN, TARGETS[:, 0]))]
)


def with_classes(classes):
    model = LogisticRegression().fit(TRAIN, TARGETS[:, 0] > 0)
    model.classes_ = classes
    return model


def scaled_by(dtype):
    model = make_pipeline(StandardScaler(), Ridge()).fit(TRAIN, TARGETS[:, 0])
    model[0].scale_ = model[0].scale_.astype(dtype)
    return model


def nested(depth):
    """The JSON text of a list node `depth` lists deep (too deep for json.dumps to write)."""
    node = '{"__class__": "list", "__module__": "builtins", "__loader__": "ListNode", "content": ['
    return node * depth + "]}" * depth


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(skops.io.dumps(SGDClassifier().fit(TRAIN, TARGETS[:, 0] > 0)), id="another classifier"),
        pytest.param(skops.io.dumps(DecisionTreeRegressor().fit(TRAIN, TARGETS[:, 0])), id="a tree"),
        pytest.param(
            skops.io.dumps(make_pipeline(MinMaxScaler(), Ridge()).fit(TRAIN, TARGETS[:, 0])),
            id="a pipeline with another step",
        ),
        pytest.param(
            skops.io.dumps(
                make_pipeline(StandardScaler(), DecisionTreeRegressor()).fit(TRAIN, TARGETS[:, 0])
            ),
            id="a pipeline with another final model",
        ),
        pytest.param(
            skops.io.dumps(make_pipeline(Ridge()).fit(TRAIN, TARGETS[:, 0])), id="a pipeline of one"
        ),
        pytest.param(
            skops.io.dumps(
                Pipeline([("scale", StandardScaler()), ("nothing", "passthrough"), ("model", Ridge())]).fit(
                    TRAIN, TARGETS[:, 0]
                )
            ),
            id="a passthrough step",
        ),
        pytest.param(
            skops.io.dumps(
                make_pipeline(StandardScaler(), Ridge(), memory="cache").fit(TRAIN, TARGETS[:, 0])
            ),
            id="a caching pipeline",
        ),
        pytest.param(skops.io.dumps(SCALER_FIRST), id="a final model fitted on names"),
        pytest.param(
            skops.io.dumps(with_classes(np.array([0.5, 1.5]))), id="classes the reader does not take (floats)"
        ),
        pytest.param(skops.io.dumps(with_classes(np.array(["a", "b", "c"]))), id="three classes, one row"),
        pytest.param(
            skops.io.dumps(
                make_pipeline(StandardScaler(), LogisticRegression())
                .fit(TRAIN, TARGETS[:, 0] > 0)
                .set_params(standardscaler__with_mean="yes")
            ),
            id="a scaler whose with_mean is not a boolean",
        ),
        pytest.param(skops.io.dumps(scaled_by(np.float32)), id="a float32 scale"),
        pytest.param(
            skops.io.dumps(ElasticNet(random_state=np.random.RandomState(0)).fit(TRAIN, TARGETS[:, 0])),
            id="a random state",
        ),
        pytest.param(skops.io.dumps(with_attribute(link_=np.log)), id="a function inside"),
        pytest.param(
            skops.io.dumps(with_attribute(coef_=FITTED.coef_.astype(np.float32))), id="float32 weights"
        ),
        pytest.param(skops.io.dumps(with_attribute(n_features_in_=3)), id="inconsistent widths"),
        pytest.param(
            skops.io.dumps(with_attribute(intercept_=np.zeros(3))), id="three intercepts, one target"
        ),
        pytest.param(edited(FITTED, lambda s: s.update(protocol=3)), id="another protocol"),
        pytest.param(edited(FITTED, lambda s: s.update(__class__="RidgeCV")), id="another class"),
        pytest.param(edited(FITTED, lambda s: s.update(__module__="elsewhere")), id="another module"),
        pytest.param(edited(FITTED, lambda s: s["content"]["content"].pop("coef_")), id="no weights"),
        pytest.param(skops.io.dumps(with_attribute(coef_=FITTED.coef_.tolist())), id="weights as a list"),
        pytest.param(skops.io.dumps(with_attribute(intercept_=1)), id="an integer intercept"),
        pytest.param(skops.io.dumps(with_attribute(n_features_in_=np.int64(6))), id="a numpy width"),
        pytest.param(
            skops.io.dumps(with_attribute(intercept_=np.float32(FITTED.intercept_))), id="a float32 intercept"
        ),
        pytest.param(
            skops.io.dumps(with_attribute(feature_names_in_=np.array(NAMES))), id="names as a unicode array"
        ),
        pytest.param(
            edited(
                FITTED,
                lambda s: s["content"]["content"]["feature_names_in_"]["content"][0].update(content="1"),
            ),
            id="a name that is not a string",
        ),
        pytest.param(
            edited(FITTED, lambda s: s["content"]["content"]["coef_"].update(type="pickle")),
            id="a pickled array",
        ),
        pytest.param(
            edited(FITTED, lambda s: s["content"]["content"]["feature_names_in_"]["content"].append(7)),
            id="a node that is not one",
        ),
        pytest.param(
            edited(FITTED, lambda s: s["content"]["content"].update(deep="DEEP"), {'"DEEP"': nested(5000)}),
            id="nested past recursion",
        ),
        pytest.param(b"not a zip file", id="not a zip"),
        *[
            pytest.param(
                edited(FITTED, lambda s, k=key, c=change: s["content"]["content"][k].update(c)), id=label
            )
            for key, change, label in [
                ("coef_", {"__class__": "float32"}, "weights that say float32"),
                ("coef_", {"__class__": "matrix"}, "weights that say matrix"),
                ("coef_", {"__module__": "numpy.ma"}, "weights from another module"),
                ("intercept_", {"__class__": "float16"}, "an intercept that says float16"),
                ("n_features_in_", {"__class__": "bytes"}, "a width that says bytes"),
                ("feature_names_in_", {"__class__": "recarray"}, "names that say recarray"),
            ]
        ],
        pytest.param(
            edited(FITTED, lambda s: s["content"]["key_types"]["content"].pop()),
            id="fewer key types than keys",
        ),
        pytest.param(
            edited(FITTED, lambda s: s["content"]["key_types"]["content"][0].update(__class__="int")),
            id="a key typed int",
        ),
        pytest.param(
            edited(
                FITTED,
                lambda s: s["content"]["content"]["coef_"].update(
                    __id__=s["content"]["content"]["intercept_"]["__id__"]
                ),
            ),
            id="weights sharing the intercept's id",
        ),
        pytest.param(
            edited(
                FITTED,
                lambda s: s["content"]["content"]["feature_names_in_"]["shape"]["content"][0].update(
                    content="2"
                ),
            ),
            id="names of another shape",
        ),
    ],
)
def test_anything_else_is_left_to_skops(data):
    assert skops_reader.read(data) is None

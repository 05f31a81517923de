"""Import only what serving needs: the master process imports the HTTP layer alone, and a
model loads with the libraries its source and format need, no more (each case in a fresh
process, as served)."""

import json

import pytest
import skops.io
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from support import records, run_python

HEAVY = [
    "numpy",
    "pandas",
    "sklearn",
    "scipy",
    "marshmallow",
    "apispec",
    "google.cloud.storage",
    "skops.io",
    "mlflow",
]
SCRIPT = """
import json, sys
import functions_framework
heavy, rows, path = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
client = functions_framework.create_app("predict", "main.py").test_client()
after_import = sorted(m for m in heavy if m in sys.modules)
answer = None if rows is None else client.post(path, json=rows).get_json()
loaded = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({"import": after_import, "load": loaded, "answer": answer}))
"""


def loaded(env, rows=None, path="/predict"):
    """The heavy modules in a fresh process after main.py is imported, and after it answered `rows`."""
    done = run_python(SCRIPT, json.dumps(HEAVY), json.dumps(rows), path, **env)
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_main_loads_no_model_library():
    assert loaded({"MODEL_URI": "examples/wine-quality"})["import"] == []


@pytest.fixture(scope="module")
def other_skops(trained, tmp_path_factory):
    """skops files of other models: pipelines `skops_linear` reads (scalers, then a linear
    regressor or a logistic regression), and two it leaves to skops: a pipeline with another
    step, and the linear model fitted on an array (positional columns, so no fast path)."""
    root = tmp_path_factory.mktemp("other-skops")
    X, y = trained.train_x, trained.model.predict(trained.train_x)
    models = {
        "skops pipeline": make_pipeline(StandardScaler(), ElasticNet(alpha=0.42, l1_ratio=0.1)).fit(X, y),
        "skops classifier": make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y > 6),
        "skops min-max pipeline": make_pipeline(MinMaxScaler(), ElasticNet(alpha=0.42)).fit(X, y),
        "skops on an array": ElasticNet(alpha=0.42, l1_ratio=0.1).fit(X.to_numpy(), y),
        "skops forest": RandomForestRegressor(20, max_depth=6, random_state=0).fit(X, y),
        "skops forest classifier": ExtraTreesClassifier(10, random_state=0).fit(X, y > 6),
        "skops boosting": HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X, y),
        "skops boosting classifier": HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(
            X, y > 6
        ),
    }
    for kind, model in models.items():
        skops.io.dump(model, root / f"{kind}.skops")
    return {kind: (root / f"{kind}.skops", model) for kind, model in models.items()}


SERVING = {"numpy", "marshmallow"}
NOT_SERVING = {"google.cloud.storage", "mlflow", "apispec"}


@pytest.mark.parametrize(
    "kind, present, absent",
    [
        ("cloudpickle file", SERVING | {"sklearn", "pandas"}, NOT_SERVING | {"skops.io"}),
        ("mlflow skops", SERVING, set(HEAVY) - SERVING),  # read by skops_linear
        ("skops file", SERVING, set(HEAVY) - SERVING),
        ("skops pipeline", SERVING, set(HEAVY) - SERVING),  # read by skops_linear
        ("skops classifier", SERVING, set(HEAVY) - SERVING),  # read by skops_linear
        ("skops forest", SERVING, set(HEAVY) - SERVING),  # read by skops_forest
        ("skops forest classifier", SERVING, set(HEAVY) - SERVING),  # read by skops_forest
        ("skops boosting", SERVING, set(HEAVY) - SERVING),  # read by skops_boosting
        ("skops boosting classifier", SERVING, set(HEAVY) - SERVING),  # read by skops_boosting
        ("skops min-max pipeline", SERVING | {"sklearn", "skops.io"}, NOT_SERVING),
        ("skops on an array", SERVING | {"sklearn", "skops.io"}, NOT_SERVING),
    ],
)
def test_a_local_model_loads_and_answers_with_the_libraries_it_needs_alone(
    artifacts, other_skops, trained, kind, present, absent
):
    path, model = other_skops[kind] if kind in other_skops else (artifacts[kind], trained.model)
    X = trained.test_x.head(5)
    rows = records(X) if kind != "skops on an array" else X.to_numpy().tolist()
    result = loaded({"MODEL_URI": str(path)}, rows)
    assert result["answer"] == model.predict(X if kind != "skops on an array" else X.to_numpy()).tolist()
    modules = set(result["load"])
    assert present <= modules and not absent & modules, modules


def test_a_classifier_read_without_scikit_learn_gives_probabilities_without_it(other_skops, trained):
    """Two classes' probabilities are scipy's logistic function, as scikit-learn computes them:
    scipy.special alone comes in, on the first such request."""
    path, model = other_skops["skops classifier"]
    X = trained.test_x.head(5)
    result = loaded({"MODEL_URI": str(path)}, records(X), "/predict?output=proba")
    expected = [dict(zip(["False", "True"], row)) for row in model.predict_proba(X).tolist()]
    assert result["answer"] == expected
    assert "sklearn" not in result["load"] and "scipy" in result["load"]

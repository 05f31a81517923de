"""Import only what serving needs: the master process imports the HTTP layer alone, and a
model loads with the libraries its source and format need, no more (each case in a fresh
process, as served)."""

import json

import pytest
import skops.io
from sklearn.linear_model import ElasticNet
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

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
heavy, rows = json.loads(sys.argv[1]), json.loads(sys.argv[2])
client = functions_framework.create_app("predict", "main.py").test_client()
after_import = sorted(m for m in heavy if m in sys.modules)
answer = None if rows is None else client.post("/predict", json=rows).get_json()
loaded = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({"import": after_import, "load": loaded, "answer": answer}))
"""


def loaded(env, rows=None):
    """The heavy modules in a fresh process after main.py is imported, and after it answered `rows`."""
    done = run_python(SCRIPT, json.dumps(HEAVY), json.dumps(rows), **env)
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_main_loads_no_model_library():
    assert loaded({"MODEL_URI": "examples/wine-quality"})["import"] == []


@pytest.fixture(scope="module")
def other_skops(trained, tmp_path_factory):
    """skops files that `skops_linear` leaves to skops: a pipeline, and the linear model fitted
    on an array (positional columns, so no fast path)."""
    root = tmp_path_factory.mktemp("other-skops")
    X, y = trained.train_x, trained.model.predict(trained.train_x)
    pipeline = make_pipeline(StandardScaler(), ElasticNet(alpha=0.42, l1_ratio=0.1)).fit(X, y)
    on_array = ElasticNet(alpha=0.42, l1_ratio=0.1).fit(X.to_numpy(), y)
    skops.io.dump(pipeline, root / "pipeline.skops")
    skops.io.dump(on_array, root / "array.skops")
    return {
        "skops pipeline": (root / "pipeline.skops", pipeline),
        "skops on an array": (root / "array.skops", on_array),
    }


SERVING = {"numpy", "marshmallow"}
NOT_SERVING = {"google.cloud.storage", "mlflow", "apispec"}


@pytest.mark.parametrize(
    "kind, present, absent",
    [
        ("cloudpickle file", SERVING | {"sklearn", "pandas"}, NOT_SERVING | {"skops.io"}),
        ("mlflow skops", SERVING, set(HEAVY) - SERVING),  # read by skops_linear
        ("skops file", SERVING, set(HEAVY) - SERVING),
        ("skops pipeline", SERVING | {"sklearn", "skops.io"}, NOT_SERVING),
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

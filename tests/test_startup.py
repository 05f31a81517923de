"""Import only what serving needs: the master process imports the HTTP layer alone, and a
model loads with the libraries its source and format need, no more (each case in a fresh
process, as served)."""

import json

import pytest

from support import run_python

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
import main
after_import = sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)
if len(sys.argv) > 2:
    main.service.lifecycle.model()
loaded = sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)
print(json.dumps({"import": after_import, "load": loaded}))
"""


def loaded(env, load=True):
    done = run_python(SCRIPT, json.dumps(HEAVY), *(["load"] if load else []), **env)
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_main_loads_no_model_library():
    assert loaded({"MODEL_URI": "examples/wine-quality"}, load=False)["import"] == []


@pytest.mark.parametrize(
    "kind, absent",
    [
        ("cloudpickle file", ["google.cloud.storage", "skops.io", "mlflow", "apispec"]),
        ("mlflow skops", ["google.cloud.storage", "mlflow", "apispec"]),
    ],
)
def test_a_local_model_loads_without_the_storage_client_or_other_formats(artifacts, kind, absent):
    modules = loaded({"MODEL_URI": str(artifacts[kind])})["load"]
    assert {"numpy", "sklearn"} <= set(modules)
    assert not set(absent) & set(modules), modules

"""skops imported for serving: the same trust lists and answers as skops' own import, without
its import-time walks."""

import json
import os
import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest
import scipy.special
import skops.io
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skops.io._utils import whichmodule

from predictor.loading.skops_import import first_holder
from support import ROOT

TRUST_LISTS = (
    "SKLEARN_ESTIMATOR_TYPE_NAMES",
    "PRIMITIVE_TYPE_NAMES",
    "CONTAINER_TYPE_NAMES",
    "SKLEARN_INTERNAL_TYPE_NAMES",
    "SCIPY_UFUNC_TYPE_NAMES",
    "NUMPY_UFUNC_TYPE_NAMES",
    "NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES",
    "NUMPY_DTYPE_TYPE_NAMES",
)


def double(X):
    return X * 2


def public_ufuncs(module):
    found = ((name, getattr(module, name)) for name in dir(module))
    return [(name, value) for name, value in found if isinstance(value, np.ufunc)]


def test_first_holder_answers_as_skops_for_every_numpy_and_scipy_ufunc():
    ufuncs = public_ufuncs(scipy.special) + public_ufuncs(np)
    assert len(ufuncs) > 200
    for name, ufunc in ufuncs:
        assert first_holder(whichmodule, ufunc, name) == whichmodule(ufunc, name), name


def plain(**attributes):
    module = ModuleType("plain")
    module.__dict__.update(attributes)
    return module


def hooked(**attributes):
    module = ModuleType("hooked")
    module.__getattr__ = lambda name: attributes[name] if name in attributes else throw(AttributeError(name))
    return module


def throw(error):
    raise error


class Subclassed(ModuleType):
    def __getattribute__(self, name):
        return TARGET if name == "target" else super().__getattribute__(name)


TARGET = object()  # has no __module__, like a scipy ufunc


class Holder:
    """Not a module, yet in sys.modules."""

    target = TARGET


@pytest.mark.parametrize(
    "modules",
    [
        pytest.param([plain(target=TARGET), hooked(target=TARGET)], id="a plain module first"),
        pytest.param([hooked(target=TARGET), plain(target=TARGET)], id="a getattr hook first"),
        pytest.param([hooked(), plain(target=object()), plain(target=TARGET)], id="same name, other object"),
        pytest.param([plain(), Holder, plain(target=TARGET)], id="a class in sys.modules"),
        pytest.param([Subclassed("subclassed"), plain(target=TARGET)], id="a module subclass first"),
        pytest.param([hooked(), plain()], id="held nowhere"),
        pytest.param(
            [plain(__getattr__=lambda name: throw(ImportError(name))), plain(target=TARGET)],
            id="a hook that raises ImportError",
        ),
    ],
)
def test_first_holder_answers_as_skops_whatever_is_loaded(monkeypatch, modules):
    for position, module in enumerate(modules):
        monkeypatch.setitem(sys.modules, f"_first_holder_case_{position}", module)
    expected = whichmodule(TARGET, "target")
    assert first_holder(whichmodule, TARGET, "target") == expected
    assert expected.startswith("_first_holder_case_") or expected == "__main__"


def test_skops_imported_for_serving_has_skops_own_trust_lists_and_walks_nothing(artifacts, trained, tmp_path):
    """In fresh processes: skops imported as served has the trust lists a plain `import
    skops.io` makes (the estimators from predictor/loading/skops_estimators.txt: this is the check that
    the reviewed copy is skops' own list), loads the model, refuses foreign types, puts back
    what it swapped, and does not import every scikit-learn module."""
    untrusted = tmp_path / "untrusted.skops"
    skops.io.dump(make_pipeline(FunctionTransformer(double), trained.model), untrusted)
    lists = f"{{name: getattr(sys.modules['skops.io._trusted_types'], name) for name in {TRUST_LISTS!r}}}"
    plain_import = (
        f"import json, sys\nimport predictor, sklearn.utils\nimport skops.io\nprint(json.dumps({lists}))\n"
    )
    served = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import predictor, sklearn.utils\n"
        "from predictor.loading.artifact import load_artifact\n"
        "from predictor.errors import UntrustedArtifact\n"
        "walk, finders = sklearn.utils.all_estimators, list(sys.meta_path)\n"
        "model = load_artifact(Path(sys.argv[1])).estimator\n"
        "try:\n"
        "    load_artifact(Path(sys.argv[2]))\n"
        "    refused = []\n"
        "except UntrustedArtifact as error:\n"
        "    refused = error.details['untrusted_types']\n"
        "from skops.io import _utils\n"
        "print(json.dumps({'predictions': model.predict(json.loads(sys.stdin.read())).tolist(),\n"
        "                  'refused': refused, 'walked': 'sklearn.neural_network' in sys.modules,\n"
        "                  'restored': sklearn.utils.all_estimators is walk and sys.meta_path == finders\n"
        "                              and _utils.whichmodule.__module__ == 'skops.io._utils',\n"
        f"                  'lists': {lists}}}))\n"
    )
    values = trained.test_x.head(50).to_numpy().tolist()

    def run(script, *args):
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            input=json.dumps(values),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"},
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    result = run(served, str(artifacts["skops file"]), str(untrusted))
    with pytest.warns(UserWarning, match="feature names"):  # bare lists, as the subprocess sent them
        expected = trained.model.predict(np.array(values)).tolist()
    assert result["predictions"] == expected
    assert result["refused"] == [f"{__name__}.double"]
    assert result["restored"] and not result["walked"]
    assert result["lists"] == run(plain_import)
    assert len(result["lists"]["SCIPY_UFUNC_TYPE_NAMES"]) > 200

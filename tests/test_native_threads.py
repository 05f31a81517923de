"""Native threads (predictor/native_threads.py): one by default, as set before the libraries
load, and PREDICT_THREADS for the length of a large request."""

import json
import os
import subprocess
import sys

import pytest

from predictor.native_threads import PARALLEL_FROM_ROWS, VARIABLES, NativeThreads, one_by_default
from support import ROOT, run_python


def test_one_thread_unless_the_deployer_set_otherwise():
    environ = {"OMP_NUM_THREADS": "3"}
    one_by_default(environ)
    assert environ == {"OMP_NUM_THREADS": "3", **{v: "1" for v in VARIABLES if v != "OMP_NUM_THREADS"}}


def test_the_worker_loads_its_libraries_with_one_thread():
    """In a fresh process, as the function's worker starts: the service is made first, then
    scikit-learn's OpenMP and numpy's BLAS load with one thread each."""
    script = """
import json, main
import sklearn.ensemble
from threadpoolctl import threadpool_info
print(json.dumps(sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()})))
"""
    environ = {k: v for k, v in os.environ.items() if k not in VARIABLES}  # none set beforehand
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**environ, "PYTHONPATH": str(ROOT), "MODEL_URI": "examples/wine-quality"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = dict(map(tuple, json.loads(done.stdout.splitlines()[-1])))
    assert found.keys() >= {"openmp", "openblas"} and set(found.values()) == {1}


@pytest.mark.parametrize("rows, expected", [(1, 1), (PARALLEL_FROM_ROWS - 1, 1), (PARALLEL_FROM_ROWS, 2)])
def test_a_large_request_gets_the_threads(rows, expected):
    import sklearn.ensemble  # noqa: F401 - its OpenMP runtime loaded
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(1):
        with NativeThreads(2).limit(rows):
            inside = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
        after = {i["internal_api"]: i["num_threads"] for i in threadpool_info()}
    assert inside["openmp"] == inside["openblas"] == expected
    assert after["openmp"] == after["openblas"] == 1


SHARED = """
import sys
import types
import sklearn.ensemble  # a model's libraries, loaded first as in the function
from predictor.native_threads import NativeThreads
first, second = NativeThreads(2), NativeThreads(2)
sys.modules["a_library_loaded_since"] = types.ModuleType("a_library_loaded_since")
print(first._controller is second._controller, NativeThreads(2)._controller is not first._controller)
"""


def test_models_share_one_controller_until_a_module_is_imported():
    """Making a controller costs ~5 ms a load; one made before a library loaded would not see it."""
    assert run_python(SHARED).stdout.split() == ["True", "True"]

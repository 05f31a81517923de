"""A linear regressor read from a skops file without scikit-learn: its fitted coefficients taken
straight from the file's schema and arrays, so serving it imports neither scikit-learn, scipy,
pandas nor skops (a second of a cold start, and most of the memory).

Only a file that holds nothing but data, written as skops writes these estimators, qualifies:
one of `ALLOWED` at the top, and below it only the node kinds in `PROVEN` (JSON values, lists,
tuples, dicts keyed by strings, float64 numpy arrays stored as .npy files and read without
pickle, string arrays), each node the same as any other with its `__id__` (skops gives every
node of an `__id__` the first one's value). Anything else (another class, a random state, a
function, another skops protocol, a node saying another type) gives None, and the file is
loaded by skops as before. The predictions are scikit-learn's own expression for a dense matrix
(`LinearModel._decision_function`: `X @ coef_ + intercept_`, `coef_.T` for several targets);
tests/test_skops_linear.py proves them bit for bit equal to `predict` of the same file loaded
by skops, for each class.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from typing import Any

import numpy as np

from ..kernels.linear import LinearExpression

ALLOWED = frozenset(
    {
        ("sklearn.linear_model._base", "LinearRegression"),
        ("sklearn.linear_model._ridge", "Ridge"),
        ("sklearn.linear_model._coordinate_descent", "Lasso"),
        ("sklearn.linear_model._coordinate_descent", "ElasticNet"),
    }
)
PROTOCOLS = frozenset({2})  # skops' schema versions this reader was proven against
# (loader, module, class, type) of every node kind skops writes below these estimators, and
# nothing else: skops builds a node of another class by calling that class on its content
PROVEN = frozenset(
    {
        ("DictNode", "builtins", "dict", None),
        ("ListNode", "builtins", "list", None),
        ("TupleNode", "builtins", "tuple", None),
        ("JsonNode", "builtins", "str", None),
        ("TypeNode", "builtins", "str", None),  # a dict's key type
        ("NdArrayNode", "numpy", "ndarray", "numpy"),  # an array, as .npy
        ("NdArrayNode", "numpy", "float64", "numpy"),  # a numpy float, as a 0-d .npy
        ("NdArrayNode", "numpy", "ndarray", "json"),  # an object array, as a list of nodes
    }
)
ARRAY = ("NdArrayNode", "numpy", "ndarray", "numpy")
SCALAR = ("NdArrayNode", "numpy", "float64", "numpy")
OBJECTS = ("NdArrayNode", "numpy", "ndarray", "json")
JSON = ("JsonNode", "builtins", "str", None)


class LinearRegressor:
    """A fitted linear regressor's coefficients; predicts as scikit-learn does for a dense
    matrix. Each instance's class bears the name of the estimator it was read from."""

    def __init__(self, coef: np.ndarray, intercept: Any, names: np.ndarray | None, saved_with: str | None):
        self.coef_, self.intercept_ = coef, intercept
        self.n_features_in_ = coef.shape[-1]
        if names is not None:
            self.feature_names_in_ = names
        self.saved_with = saved_with  # the scikit-learn version that saved it
        # the prediction of a float64 matrix already proven finite and `n_features_in_` wide
        self.kernel = LinearExpression(coef, intercept)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by its estimator's name (its class is made as it is read): the loader process
        hands it back so (loading/loader_process.py)."""
        names = getattr(self, "feature_names_in_", None)
        return _rebuilt, (type(self).__name__, self.coef_, self.intercept_, names, self.saved_with)

    def predict(self, X: Any) -> np.ndarray:
        """scikit-learn's checks of a dense input (2-D, as wide as fitted, finite), then the kernel."""
        X = np.asarray(X)  # a DataFrame of doubles gives the array scikit-learn's checks give
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected a 2-D input of {self.n_features_in_} features, got shape {X.shape}")
        if X.dtype.kind in "fc" and not np.isfinite(X).all():
            raise ValueError(f"Input X contains {'NaN' if np.isnan(X).any() else 'infinity'}.")
        return self.kernel(X)


def read(data: bytes) -> LinearRegressor | None:
    """The regressor in a skops file's bytes, or None when the file is not one this reads."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _regressor(json.loads(archive.read("schema.json")), archive)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, OSError, RecursionError):
        return None  # skops loads it, or says what is wrong with it


def _regressor(schema: dict, archive: zipfile.ZipFile) -> LinearRegressor | None:
    top = (schema.get("__module__"), schema.get("__class__"))
    if (
        schema.get("__loader__") != "ObjectNode"
        or top not in ALLOWED
        or schema.get("protocol") not in PROTOCOLS
    ):
        return None
    state = schema["content"]
    if (
        _kind(state) != ("DictNode", "builtins", "dict", None)
        or not _data_only(state)
        or not _unaliased(schema)
    ):
        return None
    fields = state["content"]
    coef = _array(fields["coef_"], archive)
    intercept = _number(fields["intercept_"], archive)
    if coef.dtype != np.float64 or coef.ndim not in (1, 2) or intercept is None:
        return None
    targets = coef.shape[0] if coef.ndim == 2 else 1
    if np.ndim(intercept) > 1 or np.size(intercept) not in (1, targets):  # as `predict` broadcasts it
        return None
    names = _names(fields["feature_names_in_"]) if "feature_names_in_" in fields else None
    if _json(fields["n_features_in_"]) != coef.shape[-1] or (
        names is not None and len(names) != coef.shape[-1]
    ):
        return None
    saved_with = _json(fields["_sklearn_version"]) if "_sklearn_version" in fields else None
    return _named(top[1])(coef, intercept, names, saved_with if isinstance(saved_with, str) else None)


def _kind(node: Any) -> tuple[Any, ...] | None:
    if not isinstance(node, dict):
        return None
    return (node.get("__loader__"), node.get("__module__"), node.get("__class__"), node.get("type"))


def _data_only(node: Any) -> bool:
    """Every node beneath is one of the PROVEN kinds: nothing skops would build by calling a
    type or a function, and every dict keyed by strings (skops applies its key types)."""
    if _kind(node) not in PROVEN:
        return False
    if node["__loader__"] == "DictNode" and not _keyed_by_strings(node):
        return False
    children = [value for key, value in node.items() if isinstance(value, dict) and "__loader__" in value]
    content = node.get("content")
    if isinstance(content, dict) and node["__loader__"] == "DictNode":
        children += list(content.values())
    elif isinstance(content, list):
        children += content
    return all(_data_only(child) for child in children)


def _keyed_by_strings(node: dict) -> bool:
    """A dict node with one string key type per key (skops pairs them up, dropping the keys past
    the last type)."""
    types, content = node.get("key_types"), node.get("content")
    return (
        isinstance(content, dict)
        and _kind(types) == ("ListNode", "builtins", "list", None)
        and isinstance(types.get("content"), list)
        and len(types["content"]) == len(content)
        and all(_kind(kind) == ("TypeNode", "builtins", "str", None) for kind in types["content"])
    )


def _unaliased(schema: dict) -> bool:
    """Every node that shares its `__id__` with another is the same as that other: skops reads
    the first of them for all."""
    seen: dict[Any, str] = {}
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if "__id__" in node:
                text = json.dumps(node, sort_keys=True)
                if seen.setdefault(node["__id__"], text) != text:
                    return False
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return True


def _array(node: dict, archive: zipfile.ZipFile, kinds: tuple[tuple, ...] = (ARRAY,)) -> np.ndarray:
    if _kind(node) not in kinds:
        raise ValueError("not an array stored as .npy")
    return np.load(io.BytesIO(archive.read(node["file"])), allow_pickle=False)


def _number(node: dict, archive: zipfile.ZipFile) -> Any:
    """A float64 array or numpy float from .npy, or a JSON float (a model fitted without intercept)."""
    if _kind(node) == JSON:
        value = _json(node)
        return value if type(value) is float else None
    value = _array(node, archive, (ARRAY, SCALAR))
    return value if value.dtype == np.float64 else None


def _names(node: dict) -> np.ndarray:
    """`feature_names_in_`: a 1-d object array of strings, as scikit-learn keeps it."""
    if _kind(node) != OBJECTS or not isinstance(node.get("content"), list):
        raise ValueError("feature names not stored as JSON")
    shape = node.get("shape")
    if _kind(shape) != ("TupleNode", "builtins", "tuple", None) or [_json(d) for d in shape["content"]] != [
        len(node["content"])
    ]:
        raise ValueError("feature names not a list of their own length")
    names = [_json(item) for item in node["content"]]
    if not all(isinstance(name, str) for name in names):
        raise ValueError("feature names that are not strings")
    return np.array(names, dtype=object)


def _json(node: dict) -> Any:
    if _kind(node) != JSON or not node.get("is_json"):
        raise ValueError("not a JSON value")
    return json.loads(node["content"])


def _rebuilt(name: str, *fields: Any) -> LinearRegressor:
    return _named(name)(*fields)


@functools.cache
def _named(name: str) -> type[LinearRegressor]:
    return type(name, (LinearRegressor,), {"__doc__": f"{name}'s coefficients, read without scikit-learn."})

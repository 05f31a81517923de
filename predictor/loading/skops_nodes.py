"""A skops file's schema read as data: the node kinds that hold nothing but data (JSON values,
lists, tuples, dicts keyed by strings, numpy arrays stored as .npy and read without pickle),
each checked before it is read. skops builds a node of any other kind by calling a type or a
function; these readers build nothing (loading/skops_linear.py reads estimators with them)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

# (loader, module, class, type) of every node kind read as data, and nothing else
PROVEN = frozenset(
    {
        ("DictNode", "builtins", "dict", None),
        ("ListNode", "builtins", "list", None),
        ("TupleNode", "builtins", "tuple", None),
        ("JsonNode", "builtins", "str", None),
        ("TypeNode", "builtins", "str", None),  # a dict's key type
        ("NdArrayNode", "numpy", "ndarray", "numpy"),  # an array, as .npy
        ("NdArrayNode", "numpy", "float64", "numpy"),  # a numpy float, as a 0-d .npy
        ("NdArrayNode", "numpy", "int64", "numpy"),  # a numpy integer, as a 0-d .npy
        ("NdArrayNode", "numpy", "ndarray", "json"),  # an object array, as a list of nodes
    }
)
DICT = ("DictNode", "builtins", "dict", None)
LIST = ("ListNode", "builtins", "list", None)
TUPLE = ("TupleNode", "builtins", "tuple", None)
ARRAY = ("NdArrayNode", "numpy", "ndarray", "numpy")
SCALAR = ("NdArrayNode", "numpy", "float64", "numpy")
OBJECTS = ("NdArrayNode", "numpy", "ndarray", "json")
JSON = ("JsonNode", "builtins", "str", None)


def kind(node: Any) -> tuple[Any, ...] | None:
    if not isinstance(node, dict):
        return None
    return (node.get("__loader__"), node.get("__module__"), node.get("__class__"), node.get("type"))


def object_class(node: Any) -> tuple[Any, Any] | None:
    """(module, class) of an object node, else None."""
    if not isinstance(node, dict) or node.get("__loader__") != "ObjectNode":
        return None
    return node.get("__module__"), node.get("__class__")


def state_of(node: dict) -> dict[str, Any] | None:
    """An object node's fields, if its state is a dict keyed by strings; else None."""
    state = node.get("content")
    if kind(state) != DICT or not keyed_by_strings(state):
        return None
    return state["content"]


def data_only(node: Any) -> bool:
    """Every node beneath is one of the PROVEN kinds: nothing skops would build by calling a
    type or a function, and every dict keyed by strings (skops applies its key types)."""
    if kind(node) not in PROVEN:
        return False
    if node["__loader__"] == "DictNode" and not keyed_by_strings(node):
        return False
    children = [value for key, value in node.items() if isinstance(value, dict) and "__loader__" in value]
    content = node.get("content")
    if isinstance(content, dict) and node["__loader__"] == "DictNode":
        children += list(content.values())
    elif isinstance(content, list):
        children += content
    return all(data_only(child) for child in children)


def keyed_by_strings(node: dict) -> bool:
    """A dict node with one string key type per key (skops pairs them up, dropping the keys past
    the last type)."""
    types, content = node.get("key_types"), node.get("content")
    return (
        isinstance(content, dict)
        and kind(types) == LIST
        and isinstance(types.get("content"), list)
        and len(types["content"]) == len(content)
        and all(kind(key) == ("TypeNode", "builtins", "str", None) for key in types["content"])
    )


def unaliased(schema: dict) -> bool:
    """Every node that shares its `__id__` with another is the same as that other, but for the
    `__id__`s within (skops numbers nodes by the ids of objects, some of them made while saving,
    whose ids are then reused): skops reads the first of them for all."""
    shared: dict[Any, list[dict]] = {}
    pending: list[Any] = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if "__id__" in node:
                shared.setdefault(node["__id__"], []).append(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for group in shared.values():
        if len(group) > 1:
            first = _without_ids(group[0])
            if any(_without_ids(node) != first for node in group[1:]):
                return False
    return True


def _without_ids(node: Any) -> Any:
    """`node` to compare with another: its `__id__`s left out, each number and boolean with its
    type (so 1, 1.0 and true differ, as their JSON does)."""
    if isinstance(node, dict):
        return {key: _without_ids(value) for key, value in node.items() if key != "__id__"}
    if isinstance(node, list):
        return [_without_ids(value) for value in node]
    if isinstance(node, str):
        return node
    return type(node).__name__, node


def array(node: dict, archive: zipfile.ZipFile, kinds: tuple[tuple, ...] = (ARRAY,)) -> np.ndarray:
    if kind(node) not in kinds:
        raise ValueError("not an array stored as .npy")
    return np.load(io.BytesIO(archive.read(node["file"])), allow_pickle=False)


def number(node: dict, archive: zipfile.ZipFile) -> Any:
    """A float64 array or numpy float from .npy, or a JSON float (a model fitted without intercept)."""
    if kind(node) == JSON:
        value = json_value(node)
        return value if type(value) is float else None
    value = array(node, archive, (ARRAY, SCALAR))
    return value if value.dtype == np.float64 else None


def strings(node: dict) -> np.ndarray:
    """A 1-d object array of strings stored as JSON (`feature_names_in_`, string class labels)."""
    if kind(node) != OBJECTS or not isinstance(node.get("content"), list):
        raise ValueError("strings not stored as JSON")
    shape = node.get("shape")
    if kind(shape) != TUPLE or [json_value(d) for d in shape["content"]] != [len(node["content"])]:
        raise ValueError("strings not a list of their own length")
    values = [json_value(item) for item in node["content"]]
    if not all(isinstance(value, str) for value in values):
        raise ValueError("values that are not strings")
    return np.array(values, dtype=object)


def labels(node: dict, archive: zipfile.ZipFile) -> np.ndarray:
    """A classifier's `classes_`: strings stored as JSON, or an array stored as .npy."""
    return strings(node) if kind(node) == OBJECTS else array(node, archive)


def classes(fields: dict[str, Any], archive: zipfile.ZipFile) -> np.ndarray | None:
    """A fitted classifier's `classes_` of numbers or strings, one or more; else None."""
    if "classes_" not in fields:
        return None
    found = labels(fields["classes_"], archive)
    return found if found.ndim == 1 and found.dtype.kind in "biufUO" and len(found) else None


def json_value(node: dict) -> Any:
    if kind(node) != JSON or not node.get("is_json"):
        raise ValueError("not a JSON value")
    return json.loads(node["content"])

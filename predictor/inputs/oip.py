"""Open Inference Protocol v2 (KServe, MLServer and Triton clients): the rows an inference request's
tensors hold (`oip_replies` writes the answers)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .fastpath import ANYTHING, NO_BOOLEANS, NUMBERS_ONLY, boolean_words
from .schema import Features, brief, check_unique, json_type, shown

DATATYPE_FOR_TYPE = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "datetime": "BYTES",
}
NUMBERS = {"FP64", "FP32", "INT64", "INT32"}
ACCEPTED = {
    "double": NUMBERS,
    "float": NUMBERS,
    "long": {"INT64", "INT32"},
    "integer": {"INT64", "INT32"},
    "boolean": {"BOOL"},
    "string": {"BYTES"},
    "datetime": {"BYTES"},
}
DATATYPES = sorted(set(DATATYPE_FOR_TYPE.values()))
MAX_RANK = 2


def rows_from_infer(
    body: Any, features: Features, proof: str = ANYTHING
) -> tuple[list[Any] | np.ndarray, dict[str, Any]]:
    """The rows an infer request holds, and its `parameters`.

    Either one tensor per feature (shape [N] or [N, 1]), or one [N, features] tensor with the
    columns in the model's order. Rows the fast path proves valid come as the model's matrix
    (as `dataframe_split` does: the same check, `NumericRows.matrix_from_arrays`, or, when the
    JSON text proves the data holds no booleans (`proof`, from `data_proof`), numpy's reading
    of it); anything else as records, for the schema to check and word.
    """
    if not isinstance(body, dict):
        raise InvalidInput(f"expected an inference request object with 'inputs', got {json_type(body)}")
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    parameters = body.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInput(f"'parameters' must be an object, got {json_type(parameters)}")
    if not isinstance(body.get("id", ""), str):  # echoed in the reply: the spec's string only
        raise InvalidInput(f"'id' must be a string, got {json_type(body['id'])}")
    count = len(features.columns)
    matrix = _matrix(tensors, features, proof)
    if matrix is not None:
        return matrix, parameters
    decoded = [_tensor(t, i) for i, t in enumerate(tensors)]
    if len(decoded) == 1 and len(decoded[0][1]) == 2 and (count > 1 or not features.named):
        name, shape, datatype, values = decoded[0]
        if shape[1] != count:
            raise InvalidInput(f"{_label(name)} has shape {shape}; the model takes {count} features per row")
        for column in features.columns:
            _check_datatype(name, datatype, column.type)
        rows = [values[i : i + count] for i in range(0, len(values), count)]
        if not features.named:
            return rows, parameters
        fast = features.fast_path.matrix_from_arrays(rows, features.names) if features.fast_path else None
        return (fast if fast is not None else [dict(zip(features.names, row)) for row in rows]), parameters
    if not features.named:
        raise InvalidInput(f"this model takes one [N, {count}] tensor")
    return _columns_to_rows(decoded, features), parameters


def data_proof(text: bytes, body: Any) -> str:
    """What an inference request's JSON text proves its inputs' `data` cannot hold
    (`fastpath.ANYTHING`, `NO_BOOLEANS` or `NUMBERS_ONLY`). The text's `true`/`false` words and its quotes
    are counted and set against the parsed request outside the inputs' data (keys, strings,
    booleans: tritonclient's `"binary_data": false`, say): what the rest accounts for is not in
    the data. A text with a backslash proves no more than the absence of the words (an escape
    could spell a word or a quote the text does not show)."""
    plain = isinstance(body, dict) and b"\\" not in text
    outside = list(_outside_data(body)) if plain else []
    words = boolean_words(text)
    if words and not (plain and words == sum(map(_words, outside))):
        return ANYTHING
    strings = sum(type(part) is str for part in outside)
    # bytes.count of one byte takes 0.19 ms for a 10,000-row tensor; dropping it and measuring what
    # is left, 0.03 ms
    if plain and len(text) - len(text.replace(b'"', b"")) == 2 * strings:
        return NUMBERS_ONLY
    return NO_BOOLEANS


def _words(part: Any) -> int:
    """`true`/`false` as the JSON text spells a key or a scalar value."""
    if part is True or part is False:
        return 1
    return part.count("true") + part.count("false") if isinstance(part, str) else 0


def _outside_data(value: Any, request: bool = True) -> Iterator[Any]:
    """Every key and scalar value of a parsed request but its inputs' `data`."""
    if isinstance(value, list):
        for item in value:
            yield from _outside_data(item, False)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            if request and key == "inputs" and isinstance(item, list):
                for tensor in item:
                    if isinstance(tensor, dict):
                        for name, part in tensor.items():
                            yield name
                            if name != "data":
                                yield from _outside_data(part, False)
                    else:
                        yield from _outside_data(tensor, False)
            else:
                yield from _outside_data(item, False)
    else:
        yield value


def _matrix(tensors: list[Any], features: Features, proof: str) -> np.ndarray | None:
    """One well-formed [N, features] numeric tensor straight to the matrix, its 'data' nested as
    rows (checked as they are, not flattened and cut up again) or flat (proven whole, then
    reshaped by its shape). None: the full path."""
    tensor = tensors[0]
    if features.fast_path is None or len(tensors) != 1 or not isinstance(tensor, dict):
        return None
    shape, data = tensor.get("shape"), tensor.get("data")
    count = len(features.columns)
    if not (
        count > 1
        and isinstance(tensor.get("name"), str)
        and isinstance(tensor.get("datatype"), str)
        and tensor.get("datatype") in NUMBERS
        and isinstance(shape, list)
        and len(shape) == 2
        and all(type(d) is int for d in shape)
        and shape[1] == count
        and isinstance(data, (list, np.ndarray))
    ):
        return None
    if isinstance(data, np.ndarray):  # binary data: numbers read, not parsed (`oip_binary`)
        return features.fast_path.matrix_from_binary(data, shape[0])
    if data and type(data[0]) is not list:  # flat: a nested row would need the full path's words
        return features.fast_path.matrix_from_flat(data, shape[0], proof)
    if len(data) != shape[0]:
        return None
    if proof != ANYTHING:
        return features.fast_path.matrix_from_numbers(data, proof)
    return features.fast_path.matrix_from_arrays(data, features.names)


def _columns_to_rows(
    decoded: list[tuple[str, list[int], str, list[Any]]], features: Features
) -> list[Any] | np.ndarray:
    by_name = {c.name: c for c in features.columns}
    check_unique("input", [name for name, *_ in decoded])
    unknown = [name for name, *_ in decoded if name not in by_name]
    if unknown:
        raise InvalidInput(
            f"unknown input(s) {shown(unknown)}; the model takes "
            f"{', '.join(features.names)} (one tensor each) or one [N, {len(by_name)}] tensor"
        )
    lengths = set()
    for name, shape, datatype, values in decoded:
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput(f"{_label(name)} has shape {shape}; a feature column is [N] or [N, 1]")
        _check_datatype(name, datatype, by_name[name].type)
        lengths.add(len(values))
    if len(lengths) > 1:
        raise InvalidInput(f"the inputs hold different numbers of rows: {sorted(lengths)}")
    names = [name for name, *_ in decoded]
    rows = list(map(list, zip(*(values for *_, values in decoded))))
    fast = features.fast_path.matrix_from_arrays(rows, names) if features.fast_path else None
    return fast if fast is not None else [dict(zip(names, row)) for row in rows]


def _tensor(tensor: Any, index: int) -> tuple[str, list[int], str, list[Any]]:
    if not isinstance(tensor, dict):
        raise InvalidInput(f"inputs[{index}] must be a tensor object, got {json_type(tensor)}")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise InvalidInput(f"inputs[{index}] needs a string 'name', got {json_type(name)}")
    label = _label(name)
    datatype, shape, data = tensor.get("datatype"), tensor.get("shape"), tensor.get("data")
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise InvalidInput(f"{label} has datatype {brief(datatype)}; supported: {', '.join(DATATYPES)}")
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"{label} needs 'shape', a list of non-negative integers")
    if len(shape) > MAX_RANK:  # also bounds how deep nested 'data' is walked
        raise InvalidInput(
            f"{label} has {len(shape)} dimensions; a tensor here is [N], [N, 1] or [N, features]"
        )
    if isinstance(data, np.ndarray):  # binary data that took no fast path: values as JSON gives them
        data = data.tolist()
    if not isinstance(data, list):
        raise InvalidInput(f"{label} needs 'data', a list")
    values = _flatten(data, shape, label)
    if len(values) != math.prod(shape):
        raise InvalidInput(
            f"{label}: shape {shape} holds {math.prod(shape)} values but 'data' has {len(values)}",
            {"input": name, "shape": shape, "values": len(values)},
        )
    return name, shape, datatype, values


def _label(name: str) -> str:
    """An input tensor, named in a message (its name cut short)."""
    return f"input {brief(name)}"


def _flatten(data: list[Any], shape: list[int], label: str) -> list[Any]:
    """Flat data as it is; nested data must nest exactly as `shape` says."""
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[Any] = []

    def walk(item: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(item, list):
                raise InvalidInput(f"{label}: 'data' nests deeper than shape {shape}")
            flat.append(item)
            return
        if not isinstance(item, list) or len(item) != shape[depth]:
            raise InvalidInput(f"{label}: nested 'data' does not match shape {shape} at depth {depth}")
        for child in item:
            walk(child, depth + 1)

    walk(data, 0)
    return flat


def _check_datatype(name: str, datatype: str, column_type: str) -> None:
    if datatype not in ACCEPTED[column_type]:
        raise InvalidInput(
            f"{_label(name)} has datatype {datatype}; the model takes {DATATYPE_FOR_TYPE[column_type]} there"
        )

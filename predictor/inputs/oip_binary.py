"""Triton's binary tensor data extension (KServe takes it too): an inference request's JSON
header, `Inference-Header-Content-Length` bytes long, followed by raw little-endian tensors, one
per input whose `parameters.binary_data_size` says how many bytes it takes, in input order; and
the same for outputs a request asks for in binary. A 10,000-row FP64 request is then 880 KB of
doubles and no number parsing. Every mismatch is a 400 naming the input."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .schema import brief, json_type

HEADER = "Inference-Header-Content-Length"
FIXED = {  # datatype: little-endian numpy dtype
    "FP64": "<f8",
    "FP32": "<f4",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "i1",
    "UINT8": "u1",
    "BOOL": "?",
}


def split(data: bytes, header: str) -> tuple[bytes, memoryview]:
    """The JSON header and the binary part of a body, as `Inference-Header-Content-Length` says."""
    size = int(header) if header.strip().isdigit() else -1
    if not 0 < size <= len(data):
        raise InvalidInput(
            f"{HEADER} is {brief(header)}; it must be the JSON header's length in bytes, at most the "
            f"body's {len(data):,}",
            {"header": HEADER, "body_bytes": len(data)},
        )
    return data[:size], memoryview(data)[size:]


def attach(body: Any, binary: memoryview) -> None:
    """Give each input that has `binary_data_size` its values from `binary`, in input order:
    a numpy array for numbers and booleans, a list of strings for BYTES."""
    tensors = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(tensors, list):
        raise InvalidInput("'inputs' must be a non-empty list of tensors")
    offset = 0
    for index, tensor in enumerate(tensors):
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
            continue
        label = (
            f"input {brief(tensor.get('name'))}"
            if isinstance(tensor.get("name"), str)
            else f"inputs[{index}]"
        )
        size = parameters["binary_data_size"]
        if type(size) is not int or size < 0:
            raise InvalidInput(f"{label}: binary_data_size must be a byte count, got {json_type(size)}")
        if "data" in tensor:
            raise InvalidInput(f"{label} has both 'data' and binary_data_size; send one")
        if offset + size > len(binary):
            raise InvalidInput(
                f"{label}: binary_data_size is {size:,} but {len(binary) - offset:,} bytes of binary "
                "data remain",
                {"input": tensor.get("name"), "binary_data_size": size},
            )
        tensor["data"] = _values(binary[offset : offset + size], tensor, label)
        offset += size
    if offset != len(binary):
        raise InvalidInput(
            f"the body holds {len(binary) - offset:,} bytes after the inputs' binary data; "
            f"{HEADER} or a binary_data_size is wrong",
            {"extra_bytes": len(binary) - offset},
        )


def _values(chunk: memoryview, tensor: dict[str, Any], label: str) -> Any:
    datatype, shape = tensor.get("datatype"), tensor.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"{label} needs 'shape', a list of non-negative integers")
    count = math.prod(shape)
    if datatype == "BYTES":
        return _strings(chunk, count, label)
    if datatype not in FIXED:
        raise InvalidInput(
            f"{label} has datatype {brief(datatype)}; binary data is {', '.join([*FIXED, 'BYTES'])}"
        )
    dtype = np.dtype(FIXED[datatype])
    if len(chunk) != count * dtype.itemsize:
        raise InvalidInput(
            f"{label}: shape {shape} of {datatype} is {count * dtype.itemsize:,} bytes, but binary_data_size "
            f"is {len(chunk):,}",
            {"input": tensor.get("name"), "expected_bytes": count * dtype.itemsize},
        )
    return np.frombuffer(chunk, dtype)


def _strings(chunk: memoryview, count: int, label: str) -> list[str]:
    """BYTES: each element a 4-byte little-endian length, then that many bytes (UTF-8 here)."""
    values, offset, raw = [], 0, bytes(chunk)
    while offset < len(raw) and len(values) < count:
        if offset + 4 > len(raw):
            break
        (length,) = struct.unpack_from("<I", raw, offset)
        if offset + 4 + length > len(raw):
            break
        try:
            values.append(raw[offset + 4 : offset + 4 + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"{label}: element {len(values)} is not UTF-8 text") from None
        offset += 4 + length
    if len(values) != count or offset != len(raw):
        raise InvalidInput(
            f"{label}: the binary data does not hold {count} length-prefixed BYTES elements exactly",
            {"elements_expected": count},
        )
    return values


def encode(values: np.ndarray, datatype: str) -> bytes:
    """An output's values as the binary data a client reads back."""
    if datatype == "BYTES":
        parts = [str(value).encode("utf-8") for value in values.ravel().tolist()]
        return b"".join(struct.pack("<I", len(part)) + part for part in parts)
    return np.ascontiguousarray(values, dtype=FIXED[datatype]).tobytes()

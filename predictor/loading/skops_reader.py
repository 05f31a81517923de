"""A skops file read without scikit-learn, where it holds an estimator a reader here proves it
can predict as scikit-learn does from its arrays alone: a linear model, alone or after standard
scaling (skops_linear.py), a random forest or extra trees (skops_forest.py), or histogram
gradient boosting (skops_boosting.py). Anything else gives None: skops loads the file,
or says what is wrong with it."""

from __future__ import annotations

import io
import json
import zipfile

from . import skops_boosting, skops_forest, skops_linear
from . import skops_nodes as nodes
from .read_model import ReadModel

PROTOCOLS = frozenset({2})  # skops' schema versions these readers were proven against


def read(data: bytes) -> ReadModel | None:
    """The model in a skops file's bytes, or None when the file is not one these read."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
            if schema.get("protocol") not in PROTOCOLS or not nodes.unaliased(schema):
                return None
            if nodes.object_class(schema) in skops_forest.FORESTS:
                return skops_forest.read(schema, archive)
            if nodes.object_class(schema) in skops_boosting.BOOSTING:
                return skops_boosting.read(schema, archive)
            return skops_linear.read(schema, archive)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, OSError, RecursionError):
        return None

"""The floors: the same model behind functions-framework with no validation at all (the body is
read as our function reads it, so the difference is validation and scoring).

`predict` takes the original list of records (a DataFrame, as the model was fitted); `infer`
takes an Open Inference Protocol request with one [N, features] FP64 tensor: orjson, the
matrix, the model without its column names (as our fast path gives it), the reply dumped.
The model is the wine example's, or the MLflow model folder `FLOOR_MODEL` names; it loads on
the first request, in the worker (functions-framework imports this file in gunicorn's master:
a model that ran OpenMP there, histogram boosting's, would deadlock in the forked worker).
"""

import functools
import os
from pathlib import Path

import functions_framework
import numpy as np
import orjson
import pandas as pd
from flask import Response

from predictor.inputs.schema import features_for
from predictor.loading.artifact import load_artifact
from predictor.scoring import matrix_estimator
from predictor.web.body import body_bytes

WINE = Path(__file__).resolve().parents[1] / "examples" / "wine-quality"


@functools.cache
def loaded():
    """The estimator, and the same without its column names, as our fast path uses it: a bare
    matrix, no name check."""
    artifact = load_artifact(Path(os.environ.get("FLOOR_MODEL", WINE)))
    return artifact.estimator, matrix_estimator(
        artifact.estimator, features_for(artifact.estimator, artifact.signature)
    )


@functions_framework.http
def predict(request):
    rows = orjson.loads(body_bytes(request, 32 * 1024 * 1024))
    estimator = loaded()[0]
    frame = pd.DataFrame.from_records(rows, columns=list(estimator.feature_names_in_))
    return Response(orjson.dumps(estimator.predict(frame).tolist()), mimetype="application/json")


@functions_framework.http
def infer(request):
    tensor = orjson.loads(body_bytes(request, 32 * 1024 * 1024))["inputs"][0]
    matrix = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
    outputs = loaded()[1].predict(matrix).tolist()
    reply = {
        "model_name": os.environ.get("MODEL_NAME", "wine"),
        "outputs": [{"name": "predict", "shape": [len(outputs)], "datatype": "FP64", "data": outputs}],
    }
    return Response(orjson.dumps(reply), mimetype="application/json")

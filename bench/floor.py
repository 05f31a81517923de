"""The floors: the same model behind functions-framework with no validation at all (the body is
read as our function reads it, so the difference is validation and scoring).

`predict` takes the original list of records (a DataFrame, as the model was fitted); `infer`
takes an Open Inference Protocol request with one [N, features] FP64 tensor: orjson, the
matrix, the model without its column names (as our fast path gives it), the reply dumped.
"""

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

ARTIFACT = load_artifact(Path(__file__).resolve().parents[1] / "examples" / "wine-quality")
NAMES = list(ARTIFACT.estimator.feature_names_in_)
# the model without its column names, as our fast path uses it: a bare matrix, no name check
MATRIX_MODEL = matrix_estimator(ARTIFACT.estimator, features_for(ARTIFACT.estimator, ARTIFACT.signature))


@functions_framework.http
def predict(request):
    rows = orjson.loads(body_bytes(request, 32 * 1024 * 1024))
    frame = pd.DataFrame.from_records(rows, columns=NAMES)
    return Response(orjson.dumps(ARTIFACT.estimator.predict(frame).tolist()), mimetype="application/json")


@functions_framework.http
def infer(request):
    tensor = orjson.loads(body_bytes(request, 32 * 1024 * 1024))["inputs"][0]
    matrix = np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["shape"])
    outputs = MATRIX_MODEL.predict(matrix).tolist()
    reply = {
        "model_name": "wine",
        "outputs": [{"name": "predict", "shape": [len(outputs)], "datatype": "FP64", "data": outputs}],
    }
    return Response(orjson.dumps(reply), mimetype="application/json")

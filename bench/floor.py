"""The floor: the same model behind functions-framework with no validation at all (the body is
read as our function reads it, so the difference is validation and scoring)."""

from pathlib import Path

import functions_framework
import orjson
import pandas as pd
from flask import Response

from predictor.artifact import load_artifact
from predictor.body import body_bytes

ARTIFACT = load_artifact(Path(__file__).resolve().parents[1] / "examples" / "wine-quality")
NAMES = list(ARTIFACT.estimator.feature_names_in_)


@functions_framework.http
def predict(request):
    rows = orjson.loads(body_bytes(request, 32 * 1024 * 1024))
    frame = pd.DataFrame.from_records(rows, columns=NAMES)
    return Response(orjson.dumps(ARTIFACT.estimator.predict(frame).tolist()), mimetype="application/json")

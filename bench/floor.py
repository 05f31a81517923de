"""The floor: the same model behind functions-framework with no validation at all."""

from pathlib import Path

import functions_framework
import orjson
import pandas as pd
from flask import Response

from predictor.artifact import load_artifact

ARTIFACT = load_artifact(Path(__file__).resolve().parents[1] / "examples" / "wine-quality")
NAMES = list(ARTIFACT.estimator.feature_names_in_)


@functions_framework.http
def predict(request):
    frame = pd.DataFrame.from_records(orjson.loads(request.get_data()), columns=NAMES)
    return Response(orjson.dumps(ARTIFACT.estimator.predict(frame).tolist()), mimetype="application/json")

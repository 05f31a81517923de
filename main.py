"""Cloud Functions entry points: `predict` (HTTP) serves the model MODEL_URI names (or those
MODELS names), and `score_file` (a storage CloudEvent) scores a CSV or JSONL file dropped in a
bucket."""

import functions_framework

from predictor import create_service

service = create_service()
# functions_framework.errorhandler is the Flask app's own: create_app sets it before it runs this file
functions_framework.errorhandler(Exception)(service.framework_error)


@functions_framework.http
def predict(request):
    return service.handle(request)


@functions_framework.cloud_event
def score_file(cloud_event):
    from predictor.batch.score import score_event

    score_event(service.models, cloud_event.data)

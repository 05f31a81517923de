"""Cloud Functions entry point `predict`: serves the model named by MODEL_URI."""

import functions_framework

from predictor import create_service

service = create_service()
# functions_framework.errorhandler is the Flask app's own: create_app sets it before it runs this file
functions_framework.errorhandler(Exception)(service.framework_error)


@functions_framework.http
def predict(request):
    return service.handle(request)

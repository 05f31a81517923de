"""The endpoints, one module per protocol family; each is `endpoint(models, request, **args)`.

They run in the worker: the model's stack (numpy, pandas, scikit-learn, marshmallow) is imported
inside them, never at import time (see web/service.py).
"""

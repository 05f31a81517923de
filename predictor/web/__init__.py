"""The HTTP surface: the route table, the endpoints, bodies and answers, the OpenAPI document
and /docs, and prediction capture."""

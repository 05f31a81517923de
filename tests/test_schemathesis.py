"""schemathesis drives every operation of /openapi.json: no 5xx, answers as documented."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from support import EXAMPLE

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def api_schema(start_server):
    server = start_server({"MODEL_URI": EXAMPLE, "MAX_ROWS": "500"})
    # the first /openapi.json loads the model: load it first, with the patience of every other
    # start-up wait, so a busy machine does not fail the document's request
    assert server.get("/ready").status_code == 200
    return schemathesis.openapi.from_url(server.url + "/openapi.json", timeout=60)


def test_every_documented_operation(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    documented = {
        f"{m.upper()} {path}" for path, methods in api_schema.raw_schema["paths"].items() for m in methods
    }
    # schemathesis leaves out the document it reads
    assert {op.label for op in operations} == documented - {"GET /openapi.json"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def exercise(case):
            case.call_and_validate(checks=CHECKS)

        exercise()

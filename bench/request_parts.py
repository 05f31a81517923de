"""Where one inference request's time goes, ours against the OIP floor, in one process.

    .venv/py3.11/bin/python bench/request_parts.py [--requests 3000]

Both functions are called as WSGI apps (functions-framework's `create_app`, as gunicorn calls
them, without the socket) with the wine model's rows as one flat `[N, 11]` FP64 tensor, the
bytes `tritonclient.http` sends. Each part of our OIP endpoint is timed where it is called
(median per request, microseconds); "the rest of ours" is `Service.handle` less those parts
(routing, API keys, request id, capture sampling, the model lookup); "functions-framework and
Flask" is the whole call less `Service.handle`. The floor (bench/floor.py `infer`) parses,
predicts and answers with no checks. The body comes from memory through gunicorn's own body
reader, as served (no socket, so no read deadline is set).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ROWS = (1, 100, 10_000)
PATH = "/v2/models/wine/infer"
LOG_LINE = "the request log line"
THE_REST_OF_IT = "the rest: routing, API keys, lookup, freeing the body"
HANDLE_REST = "the rest of Service.handle: request id, capture"
FRAMEWORK = "functions-framework and Flask"
OURS, FLOOR, DIFFERENCE = "ours: the whole call", "the floor: the whole call", "ours - the floor"
ANSWERED, HANDLE = "routed and answered", "Service.handle"
# what is timed, where it is called: (owner, attribute, label); the log line last
PARTS = [
    ("predictor.web.endpoints.v2", "read_body", "body read, type and size checked"),
    ("predictor.web.endpoints.v2", "parse_body", "JSON parsed (within its value bound)"),
    ("predictor.inputs.oip", "data_proof", "what the text proves of the data"),
    ("predictor.inputs.oip", "rows_from_infer", "tensor to matrix, proven"),
    ("predictor.inputs.schema:Features", "check", "rows checked (a proven matrix: passed on)"),
    ("predictor.model:ServedModel", "predict", "predict (the model's kernel)"),
    ("predictor.web.oip_replies", "infer_reply", "the reply's tensor"),
    ("predictor.web.endpoints.v2", "json_response", "the reply as JSON"),
    ("main:service", "_log_request", LOG_LINE),
]
WHOLES = [("main:service", "_answer", ANSWERED), ("main:service", "handle", HANDLE)]


def tensor_bytes(rows: int) -> bytes:
    import numpy as np
    import orjson

    sys.path.insert(0, str(ROOT / "tests"))
    from support import train_recipe

    wine = train_recipe.load_data().drop(columns=["quality"]).to_numpy()
    matrix = np.resize(wine, (rows, wine.shape[1]))
    tensor = {"name": "input-0", "shape": list(matrix.shape), "datatype": "FP64"}
    return orjson.dumps({"inputs": [{**tensor, "data": matrix.ravel().tolist()}]})


def call(app, path: str, body: bytes) -> None:
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import IterUnreader

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "RAW_URI": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "HTTP_HOST": "127.0.0.1:8080",
        "HTTP_USER_AGENT": "Python-urllib/3.11",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": Body(LengthReader(IterUnreader([body]), len(body))),  # gunicorn's, as served
        "wsgi.input_terminated": True,  # as gunicorn says of it
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    status = []
    answer = app(environ, lambda line, headers: status.append(line))
    b"".join(answer)
    answer.close()
    assert status[0].startswith("200"), status


def resolved(owner: str):
    """`module` or `module:attribute`, imported."""
    module, _, attribute = owner.partition(":")
    found = importlib.import_module(module)
    return getattr(found, attribute) if attribute else found


class Parts:
    """Nanoseconds spent in each timed function, per request."""

    def __init__(self) -> None:
        self.spent: dict[str, list[int]] = defaultdict(list)

    def time(self, owner, name: str, label: str) -> None:
        """Time every call of `owner.name` as part `label`."""
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            started = time.perf_counter_ns()
            try:
                return inner(*args, **kwargs)
            finally:
                self.spent[label].append(time.perf_counter_ns() - started)

        setattr(owner, name, timed)

    def median_us(self, label: str) -> float:
        return statistics.median(self.spent[label]) / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=3000, help="requests per size (a tenth at 10,000 rows)"
    )
    args = parser.parse_args()
    os.environ.update({"MODEL_URI": str(ROOT / "examples" / "wine-quality"), "MODEL_NAME": "wine"})
    with open(os.devnull, "w") as discarded, contextlib.redirect_stdout(discarded):
        # our request log lines go where the bench's servers send them
        table = measure(args.requests)
    report(table)


def measure(requests: int) -> dict[str, dict[int, float]]:
    """Each part's median per request, microseconds, for each size."""
    from functions_framework import create_app

    ours = create_app("predict", str(ROOT / "main.py")).wsgi_app
    floor = create_app("infer", str(ROOT / "bench" / "floor.py")).wsgi_app

    parts = Parts()
    for owner, name, label in PARTS + WHOLES:
        parts.time(resolved(owner), name, label)

    table: dict[str, dict[int, float]] = defaultdict(dict)
    for rows in ROWS:
        body, count = tensor_bytes(rows), requests // (10 if rows >= 10_000 else 1)
        for app, path, whole in ((ours, PATH, OURS), (floor, "/", FLOOR)):
            for _ in range(20):
                call(app, path, body)
            parts.spent.clear()
            times = []
            for _ in range(count):
                started = time.perf_counter_ns()
                call(app, path, body)
                times.append(time.perf_counter_ns() - started)
            table[whole][rows] = statistics.median(times) / 1e3
            if app is ours:
                for _, _, label in PARTS + WHOLES:
                    table[label][rows] = parts.median_us(label)
    for rows in ROWS:
        answered = sum(table[label][rows] for _, _, label in PARTS[:-1])
        table[THE_REST_OF_IT][rows] = table[ANSWERED][rows] - answered
        table[HANDLE_REST][rows] = table[HANDLE][rows] - table[ANSWERED][rows] - table[LOG_LINE][rows]
        table[FRAMEWORK][rows] = table[OURS][rows] - table[HANDLE][rows]
        table[DIFFERENCE][rows] = table[OURS][rows] - table[FLOOR][rows]

    return table


def report(table: dict[str, dict[int, float]]) -> None:
    totals = [THE_REST_OF_IT, HANDLE_REST, HANDLE, FRAMEWORK, OURS, FLOOR, DIFFERENCE]
    order = [label for _, _, label in PARTS] + totals
    print(f"Python {sys.version.split()[0]}; one flat [N, 11] FP64 tensor; median per request, µs\n")
    sizes = [f"{n:,} row{'s' if n > 1 else ''}" for n in ROWS]
    print(f"{'part':<54} | " + " | ".join(f"{size:>11}" for size in sizes))
    print("-" * (57 + 14 * len(ROWS)))
    for label in order:
        print(f"{label:<54} | " + " | ".join(f"{table[label][n]:>11.1f}" for n in ROWS))


if __name__ == "__main__":
    main()

"""What prediction capture costs: the same requests with PREDICTION_LOG_SAMPLE=0 and =1.

    .venv/py3.11/bin/python bench/capture.py [--rounds 7]

Both apps run in this process (functions-framework's test client, the example model), on the
same wine rows, alternating round by round; each figure is the median over rounds of the best
of several calls, and the capture's stdout goes to /dev/null (as a real stdout pipe would take
it). A third row times what every request pays when it is not sampled: the request id and the
capture hooks, called directly.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from validation import best_of, wine_records


def app(sample: str):
    import functions_framework

    os.environ.update({"MODEL_URI": str(ROOT / "examples" / "wine-quality"), "PREDICTION_LOG_SAMPLE": sample})
    client = functions_framework.create_app("predict", str(ROOT / "main.py")).test_client()
    with contextlib.redirect_stdout(io.StringIO()):
        assert client.post("/predict", json=wine_records(None)[:1]).status_code == 200  # loads the model
    return client


def unsampled_overhead(repeats: int) -> float:
    """Seconds per request spent on the request id and the capture hooks when not sampled."""
    from predictor import request_ids
    from predictor.web import capture

    headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

    def hooks():
        for _ in range(1000):
            token = request_ids.current.set(request_ids.request_id(headers))
            capture.begin(0.0)
            capture.note("records", 1)
            capture.record(None, None, None)
            request_ids.current.reset(token)

    return best_of(hooks, repeats) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rows = wine_records(None)
    apps = {"0": app("0"), "1": app("1")}
    sink = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    print("| rows | PREDICTION_LOG_SAMPLE=0 | =1 (captured) | extra per sampled request |")
    print("|---|---|---|---|")
    one_row = None
    for count in (1, 100, 10_000):
        body = rows[:count]
        repeats = 30 if count < 10_000 else 5
        times: dict[str, list[float]] = {"0": [], "1": []}
        for _ in range(args.rounds):
            for sample, client in apps.items():
                with contextlib.redirect_stdout(sink):
                    times[sample].append(
                        best_of(lambda c=client, b=body: c.post("/predict", json=b), repeats)
                    )
        off, on = statistics.median(times["0"]), statistics.median(times["1"])
        one_row = one_row or off
        extra = f"{(on - off) * 1e3:+.2f} ms ({on / off:.2f}×)"
        print(f"| {count:,} | {off * 1e3:.2f} ms | {on * 1e3:.2f} ms | {extra} |")
    overhead = unsampled_overhead(5)
    print(
        f"\nNot sampled: request id and capture hooks {overhead * 1e6:.1f} µs per request, "
        f"{overhead / one_row:.2%} of a 1-row request in this process."
    )


if __name__ == "__main__":
    main()

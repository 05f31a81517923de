"""Missing values cost little: a 10,000-row request with a tenth of its cells missing, against
the same request with none, on a model that takes NaN (histogram gradient boosting, MLflow 3's
default format), served by our function under the real functions-framework CLI.
    make bench   (or: .venv/py3.11/bin/python bench/missing.py --python .venv/runtime-py3.11/bin/python)
The gaps are sent as clients write them: `null` (pandas, most JSON writers) and MLflow's `NaN`
token (its own clients: Python's json.dumps), as records and as `dataframe_split`. Every shape is
measured in `--rounds` interleaved rounds on one server; the ratio is each shape's p50 over the
complete request's in the same shape. Goal (#25): within 1.5x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import ROOT, Server, Spec, sequential, train_recipe

ROWS = 10_000
GOAL = 1.5


def model_folder(wine, folder: Path) -> Path:
    import mlflow.sklearn
    import skops.io
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = wine.drop(columns=["quality"]), wine["quality"]
    gappy = X.mask(np.random.default_rng(0).random(X.shape) < 0.1)
    model = HistGradientBoostingRegressor(max_iter=100, random_state=0).fit(gappy, y)
    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    mlflow.sklearn.save_model(
        model, folder, skops_trusted_types=trusted, input_example=X.head(2), pip_requirements=["scikit-learn"]
    )
    return folder


def bodies(X) -> dict[str, bytes]:
    rows = X.sample(ROWS, replace=True, random_state=1).reset_index(drop=True)
    gappy = rows.mask(np.random.default_rng(2).random(rows.shape) < 0.1)
    split = lambda frame: {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}
    return {
        "records, complete": rows.to_json(orient="records").encode(),
        "records, null": gappy.to_json(orient="records").encode(),
        "records, NaN": json.dumps(gappy.to_dict(orient="records")).encode(),
        "split, complete": json.dumps({"dataframe_split": split(rows)}).encode(),
        "split, null": json.dumps({"dataframe_split": split(gappy)}).replace("NaN", "null").encode(),
        "split, NaN": json.dumps({"dataframe_split": split(gappy)}).encode(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", type=Path, default=Path(sys.executable), help="runs our function")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10, help="requests per shape per round")
    args = parser.parse_args()
    wine = train_recipe.load_data()
    with tempfile.TemporaryDirectory() as tmp:
        folder = model_folder(wine, Path(tmp) / "model")
        sent = bodies(wine.drop(columns=["quality"]))
        ff = str(args.python.parent / "functions-framework")
        spec = Spec(
            "ours",
            [ff, "--host=127.0.0.1", "--port={port}", "--target=predict", f"--source={ROOT / 'main.py'}"],
            {"MODEL_URI": str(folder), "THREADS": "1", "MAX_ROWS": str(ROWS)},
            "/invocations",
            "envelope",
        )
        server = Server(spec, wine.drop(columns=["quality"]).head(1).to_dict(orient="records"))
        times: dict[str, list[float]] = {}
        try:
            for round_ in range(args.rounds):
                for shape, data in list(sent.items())[:: 1 if round_ % 2 == 0 else -1]:
                    path = "/predict" if shape.startswith("records") else "/invocations"
                    times.setdefault(shape, []).extend(sequential(server, data, args.repeats, path))
        finally:
            server.stop()
    print(f"{ROWS:,} rows, a tenth of the cells missing, histogram gradient boosting (p50 ms)")
    print(f"{'body':<20} | {'p50':>8} | {'/ complete':>10} | within {GOAL}x")
    print("-" * 58)
    for shape, measured in times.items():
        p50 = statistics.median(measured) * 1e3
        base = statistics.median(times[shape.split(",")[0] + ", complete"]) * 1e3
        ratio = p50 / base
        print(f"{shape:<20} | {p50:>8.1f} | {ratio:>9.2f}x | {'yes' if ratio <= GOAL else 'NO'}")


if __name__ == "__main__":
    main()

"""Validation cost per request: the marshmallow schema alone vs the whole-batch fast path.

    .venv/py3.11/bin/python bench/validation.py [--data wine-quality.csv]

Both run in this process on the same rows (records of the wine data, as callers send them) for
the example model's schema; the table gives the best of several runs and the ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictor.inputs.schema import features_for
from predictor.loading.artifact import load_artifact


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def wine_records(path: str | None) -> list[dict]:
    spec = importlib.util.spec_from_file_location("train", ROOT / "mlflow-compose" / "wine" / "train.py")
    train = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    data = train.load_data(path)
    return data.drop(columns=["quality"]).to_dict(orient="records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the white-wine CSV (default: the copy in mlflow-compose/wine/data)")
    args = parser.parse_args()
    artifact = load_artifact(ROOT / "examples" / "wine-quality")
    features = features_for(artifact.estimator, artifact.signature)
    pool = wine_records(args.data)
    print(f"{'rows':>7} | {'marshmallow':>12} | {'fast path':>10} | {'ratio':>6}")
    print(f"{'-' * 7}-+-{'-' * 12}-+-{'-' * 10}-+-{'-' * 6}")
    for count in (1, 100, 10_000):
        rows = (pool * (count // len(pool) + 1))[:count]
        repeats = 5 if count >= 10_000 else 50
        slow = best_of(lambda rows=rows: features.validate(rows), repeats)
        fast = best_of(lambda rows=rows: features.check(rows), repeats)
        print(f"{count:>7} | {slow * 1e3:>9.3f} ms | {fast * 1e3:>7.3f} ms | {fast / slow:>6.3f}")


if __name__ == "__main__":
    main()

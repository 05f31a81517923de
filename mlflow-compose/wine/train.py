"""Train the MLflow wine-quality example (ElasticNet on the UCI white-wine data) and log it.

The recipe is the MLflow example's, so the numbers match what users know: numpy seed 40, the
default 75/25 train_test_split, ElasticNet(random_state=42), target `quality`.

    python train.py --alpha 0.42 --l1-ratio 0.1 [--data wine-quality.csv | --data uci]
    mlflow run mlflow-compose/wine -P alpha=0.42 -P l1_ratio=0.1 [-P data=...]

The data is the copy in `data/` beside this file (see its README); `--data uci` downloads
UCI's original instead.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

UCI_WHITE_WINE = (
    "https://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/winequality-white.csv"
)
BUNDLED = Path(__file__).resolve().parent / "data" / "winequality-white.csv"
TARGET = "quality"


@dataclass
class Trained:
    model: ElasticNet
    train_x: pd.DataFrame
    test_x: pd.DataFrame
    metrics: dict[str, float]


def load_data(path: str | Path | None = None) -> pd.DataFrame:
    """The white-wine CSV (`;` or `,` separated) at `path`; the bundled copy when none is given,
    UCI's original when `path` is "uci"."""
    source = UCI_WHITE_WINE if str(path).lower() == "uci" else path or BUNDLED
    return pd.read_csv(source, sep=None, engine="python")


def train(data: pd.DataFrame, alpha: float, l1_ratio: float) -> Trained:
    np.random.seed(40)
    train_set, test_set = train_test_split(data)
    train_x, test_x = train_set.drop([TARGET], axis=1), test_set.drop([TARGET], axis=1)
    model = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
    model.fit(train_x, train_set[[TARGET]])
    predicted = model.predict(test_x)
    metrics = {
        "rmse": float(np.sqrt(mean_squared_error(test_set[[TARGET]], predicted))),
        "mae": float(mean_absolute_error(test_set[[TARGET]], predicted)),
        "r2": float(r2_score(test_set[[TARGET]], predicted)),
    }
    return Trained(model, train_x, test_x, metrics)


def training_stats(train_x: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per feature: the min, max and mean the model was trained on (for drift queries on captures)."""
    described = train_x.describe().T
    return {
        name: {k: float(described.at[name, k]) for k in ("min", "max", "mean")} for name in train_x.columns
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--l1-ratio", type=float, default=0.1)
    parser.add_argument("--data", default="", help="CSV path; empty: the bundled copy; 'uci': download")
    parser.add_argument(
        "--registered-model", default="wine", help="register the model under this name; empty: do not"
    )
    args = parser.parse_args()

    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    trained = train(load_data(args.data), args.alpha, args.l1_ratio)
    print(f"ElasticNet(alpha={args.alpha}, l1_ratio={args.l1_ratio}): {trained.metrics}")
    with mlflow.start_run() as run:
        mlflow.log_params({"alpha": args.alpha, "l1_ratio": args.l1_ratio})
        mlflow.log_metrics(trained.metrics)
        mlflow.log_dict(training_stats(trained.train_x), "training_stats.json")
        example = trained.train_x.head(5)
        info = mlflow.sklearn.log_model(
            trained.model,
            name="model",
            signature=infer_signature(trained.train_x, trained.model.predict(trained.train_x)),
            input_example=example,
            registered_model_name=args.registered_model or None,
        )
    location = mlflow.get_logged_model(info.model_id).artifact_location
    print(f"run {run.info.run_id}: model {info.model_uri}")
    print(f"MODEL_URI={location}")
    if args.registered_model:
        version = info.registered_model_version
        print(f"REGISTERED=models:/{args.registered_model}/{version}")


if __name__ == "__main__":
    main()

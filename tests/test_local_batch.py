"""`make batch FILE=...`: the local loop of batch scoring — the GCS emulator, the upload, the
storage event and the function's three output files printed — run as a newcomer runs it."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from support import ROOT


def make_batch(*args: str) -> subprocess.CompletedProcess:
    command = ["make", "-C", str(ROOT), "batch", *args, f"PYTHON={sys.executable}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_make_batch_scores_a_file_and_prints_what_it_wrote(tmp_path, trained):
    rows = trained.test_x.head(5).copy()
    rows.iloc[2, 2] = np.nan  # a missing value the example model cannot take: that row's error line
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    done = make_batch(f"FILE={path}")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "storage event answered 200" in out
    assert "predictions/rows.csv.predictions.jsonl (4 lines)" in out
    assert "predictions/rows.csv.errors.jsonl (1 line)" in out
    printed = [json.loads(line) for line in out.splitlines() if line.startswith('{"row"')]
    predicted = {p["row"]: p["prediction"] for p in printed if "prediction" in p}
    complete = pd.concat([rows.iloc[:2], rows.iloc[3:]])
    expected = dict(zip([0, 1, 3, 4], trained.model.predict(complete).tolist()))
    assert predicted.keys() == expected.keys()
    assert np.allclose([predicted[k] for k in expected], list(expected.values()), rtol=1e-12, atol=0)
    (error,) = [p for p in printed if "error" in p]
    assert error["row"] == 2 and rows.columns[2] in error["error"]["message"]
    summary = json.loads(out.split("summary.json (1 line)\n", 1)[1].splitlines()[0])
    assert (summary["rows"], summary["predicted"], summary["failed"]) == (5, 4, 1)


def test_make_batch_without_a_file_says_how():
    done = make_batch()
    assert done.returncode != 0
    assert "make batch FILE=path/to/rows.csv" in done.stderr


def test_the_readmes_make_batch_command_runs_as_printed():
    readme = (ROOT / "README.md").read_text()
    (command,) = [line for line in readme.splitlines() if line.startswith("make batch FILE=")]
    done = make_batch(*command.split()[2:])
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.split("summary.json (1 line)\n", 1)[1].splitlines()[0])
    data = pd.read_csv(ROOT / "mlflow-compose" / "wine" / "data" / "winequality-white.csv")
    assert (summary["rows"], summary["predicted"], summary["failed"]) == (len(data), len(data), 0)
    assert summary["ignored_features"] == ["quality"]

"""`deploy.sh capture`: the BigQuery dataset, the log sink and its grant; the gcloud commands
parsed by the real gcloud, and the sink's filter checked against the function's own log lines."""

import json
import os
import re
import shutil
import subprocess

import pytest

from support import EXAMPLE, in_process, records
from test_deploy import assert_parsed_then_stopped_at_the_account, dry_run, run

ENV = {"GCP_PROJECT_ID": "my-project", "GCP_REGION": "europe-west1", "BIGQUERY_DATASET": "predictions"}
TERM = re.compile(r'^([A-Za-z_.]+)="([^"\\]*)"$')


def commands(env=ENV):
    return dry_run(["capture"], env)


def test_dry_run_creates_the_dataset_in_the_region_then_the_sink_then_the_grant():
    mk, create, describe, grant = commands()
    assert mk[:4] == ["bq", "--location=europe-west1", "--project_id=my-project", "mk"]
    assert mk[-1] == "my-project:predictions" and "--dataset" in mk
    assert create[:5] == [
        "gcloud",
        "logging",
        "sinks",
        "create",
        "model-predict-predictions",
    ]
    assert create[5] == "bigquery.googleapis.com/projects/my-project/datasets/predictions"
    assert "--use-partitioned-tables" in create and "--project=my-project" in create
    assert describe[-1] == "--format=value(writerIdentity)"
    assert grant[-3:] == [
        "--member=WRITER_IDENTITY",
        "--role=roles/bigquery.dataEditor",
        "my-project:predictions",
    ]


def test_the_dataset_is_required():
    result = run(["capture", "--dry-run"], {k: v for k, v in ENV.items() if k != "BIGQUERY_DATASET"})
    assert result.returncode == 2 and "BIGQUERY_DATASET is not set" in result.stderr


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="needs the Google Cloud SDK")
def test_real_gcloud_accepts_the_sink_commands_and_stops_at_the_missing_account(tmp_path):
    """The bq commands check credentials before their flags, so only gcloud's can be parsed here."""
    for command in commands()[1:3]:
        env = {"PATH": os.environ["PATH"], "CLOUDSDK_CONFIG": str(tmp_path)}
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert_parsed_then_stopped_at_the_account(result)


def sink_filter() -> list[tuple[str, str]]:
    """The sink's filter as (field path, value) terms; it must be exactly `path="value"` terms
    joined by AND — the subset of Cloud Logging's query language `matches` evaluates."""
    create = commands()[1]
    (expression,) = [flag.split("=", 1)[1] for flag in create if flag.startswith("--log-filter=")]
    terms = [TERM.match(term) for term in expression.split(" AND ")]
    assert all(terms), expression
    return [(term.group(1), term.group(2)) for term in terms]


def as_log_entry(line: str, service: str) -> dict:
    """A stdout line as Cloud Run's logging agent stores it: special fields taken out of the
    JSON, the rest as jsonPayload, the revision's resource around it."""
    payload = json.loads(line)
    entry = {"severity": payload.pop("severity", None), "httpRequest": payload.pop("httpRequest", None)}
    for key in [k for k in payload if k.startswith("logging.googleapis.com/")]:
        entry[key] = payload.pop(key)
    entry["jsonPayload"] = payload
    entry["resource"] = {"type": "cloud_run_revision", "labels": {"service_name": service}}
    return entry


def matches(entry: dict, terms: list[tuple[str, str]]) -> bool:
    for path, value in terms:
        node = entry
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node != value:
            return False
    return True


def test_the_filter_selects_capture_entries_and_nothing_else(trained, capsys):
    app = in_process({"MODEL_URI": EXAMPLE, "PREDICTION_LOG_SAMPLE": "1"})
    capsys.readouterr()
    app.post("/predict", json=records(trained.test_x.head(2)))  # a capture entry and a request line
    app.post("/predict", json=[{"ph": 3}])  # a failed request's capture entry, and a warning line
    app.get("/ready")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    terms = sink_filter()
    ours = [as_log_entry(line, "model-predict") for line in lines]
    selected = [e for e in ours if matches(e, terms)]
    assert len(selected) == 2 and all(e["jsonPayload"]["logger"] == "predictor.capture" for e in selected)
    assert len(ours) > len(selected)  # request lines, the model load: all left out
    others = [as_log_entry(line, "another-function") for line in lines]
    assert not [e for e in others if matches(e, terms)]

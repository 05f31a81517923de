"""UNKNOWN_FEATURES: extra fields and CSV columns are refused (the default: a misspelt feature is
caught), or dropped as MLflow's scoring server drops them, named in a header and logged."""

import json

import pytest

from support import EXAMPLE, in_process, records


@pytest.fixture(scope="module")
def rows(trained):
    return trained.test_x.head(5)


@pytest.fixture(scope="module")
def ignoring():
    return in_process({"MODEL_URI": EXAMPLE, "UNKNOWN_FEATURES": "ignore"})


def with_quality(rows):
    return [{**row, "quality": 6} for row in records(rows)]


def as_split(frame):
    return json.loads(frame.to_json(orient="split", index=False))


def as_csv(rows):
    return rows.assign(quality=6).to_csv(index=False)  # a CSV exported with its target column


@pytest.mark.parametrize(
    "body, kwargs",
    [
        ("records", {}),
        ("envelope", {}),
        ("split", {}),
        ("csv", {"content_type": "text/csv"}),
    ],
)
def test_ignore_drops_extra_fields_and_columns_and_says_which(ignoring, trained, rows, body, kwargs):
    payload = {
        "records": lambda: {"json": with_quality(rows)},
        "envelope": lambda: {"json": {"dataframe_records": with_quality(rows)}},
        "split": lambda: {
            "json": {"dataframe_split": json.loads(rows.assign(quality=6).to_json(orient="split"))}
        },
        "csv": lambda: {"data": as_csv(rows)},
    }[body]()
    answer = ignoring.post("/predict", **payload, **kwargs)
    assert answer.status_code == 200, answer.text
    expected = trained.model.predict(rows).tolist()
    assert (answer.json() if body == "records" else answer.json()["predictions"]) == expected
    assert answer.headers["X-Ignored-Features"] == "quality"


def test_reject_is_the_default_and_names_the_extra_field(trained, rows):
    strict = in_process({"MODEL_URI": EXAMPLE})
    answer = strict.post("/predict", json=with_quality(rows))
    assert answer.status_code == 400 and "'quality': ['unknown feature']" in str(answer.json())
    csv = strict.post("/predict", data=as_csv(rows), content_type="text/csv")
    assert csv.status_code == 400 and "unknown column(s); 'quality'" in csv.json()["error"]["message"]


def test_a_misspelt_feature_is_still_caught_and_its_hint_logged(ignoring, rows, capsys):
    row = records(rows.rename(columns={"pH": "ph"}))[0]
    answer = ignoring.post("/predict", json=[row])
    assert answer.status_code == 400
    assert "'pH': missing required feature" in answer.json()["error"]["message"]
    capsys.readouterr()
    ignoring.post("/predict", json=[{**records(rows)[0], "ph": 3.1}])
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "ignored_features" in line]
    assert logged[0]["ignored_features"] == {"ph": "unknown feature; did you mean 'pH'?"}


def test_the_header_is_bounded_and_holds_no_control_characters(ignoring, rows):
    row = {**records(rows)[0], "evil\r\nSet-Cookie: x": 1, **{f"extra{i}": i for i in range(30)}}
    answer = ignoring.post("/predict", json=[row])
    assert answer.status_code == 200
    header = answer.headers["X-Ignored-Features"]
    assert header.startswith("evil??Set-Cookie: x, extra0") and header.endswith("(+21 more)")
    assert "Set-Cookie" not in answer.headers

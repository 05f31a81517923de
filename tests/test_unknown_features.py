"""UNKNOWN_FEATURES: extra fields and CSV columns are refused (the default: a misspelt feature is
caught), or dropped as MLflow's scoring server drops them, named in a header and logged."""

import json

import pytest

from support import EXAMPLE, error_of, in_process, records


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
    assert csv.status_code == 400 and "unknown column(s); 'quality'" in error_of(csv.json())["message"]


def test_a_misspelt_feature_is_still_caught_and_its_hint_logged(ignoring, rows, capsys):
    row = records(rows.rename(columns={"pH": "ph"}))[0]
    answer = ignoring.post("/predict", json=[row])
    assert answer.status_code == 400
    assert "'pH': missing required feature" in error_of(answer.json())["message"]
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


def per_feature_tensors(rows, extra):
    """An OIP request with one tensor per feature, plus the `extra` columns as tensors of their own."""
    columns = {**{name: rows[name].tolist() for name in rows.columns}, **extra}
    return {
        "inputs": [
            {"name": name, "shape": [len(values)], "datatype": "FP64", "data": values}
            for name, values in columns.items()
        ]
    }


def test_ignore_drops_input_tensors_the_model_does_not_take(ignoring, trained, rows):
    body = per_feature_tensors(rows, {"quality": [6.0] * len(rows), "colour": [1.0] * len(rows)})
    answer = ignoring.post("/v2/models/model/infer", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == trained.model.predict(rows).tolist()
    assert answer.headers["X-Ignored-Features"] == "quality, colour"


def test_ignore_leaves_one_matrix_tensor_whatever_its_name(ignoring, trained, rows):
    body = {
        "inputs": [
            {"name": "input-0", "shape": [len(rows), 11], "datatype": "FP64", "data": rows.values.tolist()}
        ]
    }
    answer = ignoring.post("/v2/models/model/infer", json=body)
    assert answer.status_code == 200 and "X-Ignored-Features" not in answer.headers
    assert answer.json()["outputs"][0]["data"] == trained.model.predict(rows).tolist()


def test_reject_names_the_extra_input_tensor(rows):
    strict = in_process({"MODEL_URI": EXAMPLE})
    answer = strict.post(
        "/v2/models/model/infer", json=per_feature_tensors(rows, {"quality": [6.0] * len(rows)})
    )
    assert answer.status_code == 400 and "unknown input(s) 'quality'" in error_of(answer.json())["message"]


@pytest.mark.parametrize(
    "body",
    [
        [1.0, 2.0],  # not a request object: the protocol refuses it
        {"inputs": "pH"},
        {"inputs": [{"name": "pH", "shape": [1], "datatype": "FP64", "data": [3.1]}]},  # nothing unknown
        {"inputs": [{"name": ["pH"]}, {"name": "pH"}, 7]},  # malformed tensors stay, to be refused
    ],
)
def test_ignore_leaves_what_it_cannot_name_to_the_protocol(body):
    from predictor.inputs.extra_features import drop_unknown_inputs
    from predictor.inputs.schema import features_for

    features = features_for(object(), {"inputs": [{"type": "double", "name": "pH", "required": True}]})
    assert drop_unknown_inputs(body, features) == (body, [])

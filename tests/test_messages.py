"""Messages a newcomer met and could not act on, as they read now: each says what was expected
and what to do (the rest of each contract is tested where it lives)."""

import shutil
import subprocess

import pytest

from predictor.config import load_settings
from predictor.errors import ConfigurationError, UnsupportedArtifact
from predictor.loading.artifact import load_artifact
from support import EXAMPLE, ROOT, error_of, in_process, records


@pytest.mark.parametrize(
    "env, words",
    [
        ({}, "models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH"),
        (
            {"MODEL_URI": "s3://bucket/model"},
            "unsupported scheme 's3:' in 's3://bucket/model': use gs://BUCKET/PATH",
        ),
        ({"MODEL_URI": "s3://bucket/model"}, "or an MLflow URI (models:/NAME@ALIAS"),
        ({"MODEL_URI": "gs:///wine/model.skops"}, "MODEL_URI names no bucket: use gs://BUCKET/PATH"),
    ],
)
def test_model_uri_messages_name_every_form(env, words):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(env)
    assert words in caught.value.message
    assert "has ''" not in caught.value.message


def test_a_folder_without_mlmodel_shows_mlflow_3s_layout(tmp_path):
    with pytest.raises(UnsupportedArtifact, match=r"MLflow 3: <experiment>/models/<model id>/artifacts"):
        load_artifact(tmp_path)


@pytest.fixture(scope="module")
def wine():
    return in_process({"MODEL_URI": EXAMPLE})


def error_message(answer) -> str:
    assert answer.status_code == 400, answer.text
    return error_of(answer.json())["message"]


def test_an_array_of_the_wrong_length_is_told_both_shapes(wine):
    message = error_message(wine.post("/predict", json=[[7.0, 0.27, 0.36]]))
    assert (
        "expected a JSON object of feature values, or an array of the 11 values in the model's order"
        in message
    )


def test_a_semicolon_separated_csv_is_told_to_use_commas(wine, trained):
    text = trained.test_x.head(2).to_csv(index=False, sep=";")
    message = error_message(wine.post("/invocations", data=text, headers={"Content-Type": "text/csv"}))
    assert "the header is one column: separate the columns with commas, not ';'" in message


def test_a_label_column_points_at_unknown_features_ignore(wine, trained):
    text = trained.test_x.head(2).assign(quality=6).to_csv(index=False)
    message = error_message(wine.post("/invocations", data=text, headers={"Content-Type": "text/csv"}))
    assert "'quality': unknown feature" in message and "UNKNOWN_FEATURES=ignore drops the columns" in message
    assert wine.post("/invocations", json=records(trained.test_x.head(1))).status_code == 200


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_with_a_missing_interpreter_says_why():
    result = subprocess.run(
        ["make", "-C", str(ROOT), "test", "PYTHON=python3.99"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "PYTHON=python3.99 does not run (" in result.stderr and "not found" in result.stderr
    assert "e.g. make test PYTHON=python3.12" not in result.stderr


def test_a_missing_bucket_is_named_without_the_storage_apis_request(gcs):
    app = in_process(
        {"MODEL_URI": "gs://no-such-bucket-here/wine/model.skops", "STORAGE_EMULATOR_HOST": gcs.url}
    )
    answer = app.post("/predict", json=[{}])
    assert answer.status_code == 503
    message = error_of(answer.json())["message"]
    assert "gs://no-such-bucket-here/wine/model.skops does not exist" in message
    assert "http" not in message and "?" not in message and "storage/v1" not in message

"""score_file: files dropped under incoming/ come back scored — a real functions-framework
process with the CloudEvent signature, events sent as Eventarc sends them (binary mode), the
GCS emulator holding inputs and outputs."""

import json

import pandas as pd
import pytest
import requests

from fault_proxy import FaultProxy
from local.batch import storage_event_headers
from predictor.batch.score import READ_CHUNK_BYTES
from support import EXAMPLE, QUICK, error_of

BUCKET = "batch-scoring"


def event(server_url, bucket, name, generation, data=None):
    """A storage `finalized` event in CloudEvents binary mode: attributes as ce- headers; `data`
    replaces the event's data."""
    headers = storage_event_headers(bucket, name)  # what `make batch` sends too
    if data is None:
        data = {"bucket": bucket, "name": name, "generation": str(generation), "contentType": "text/csv"}
    return requests.post(server_url + "/", data=json.dumps(data), headers=headers, timeout=120)


def start_scorer(start_server, gcs, **settings):
    """A score_file process serving the example model against the emulator's BUCKET."""
    gcs.bucket(BUCKET)
    env = {"MODEL_URI": EXAMPLE, "STORAGE_EMULATOR_HOST": gcs.url, **settings}
    return start_server(env, target="score_file")


@pytest.fixture(scope="module")
def scorer(start_server, gcs):
    return start_scorer(start_server, gcs, BATCH_KEY_FIELD="id", BATCH_CHUNK_ROWS="7")


def drop(gcs, name, content: bytes):
    blob = gcs.bucket(BUCKET).blob(name)  # made here when a test runs on its own
    blob.upload_from_string(content)
    blob.reload()
    return blob.generation


def outputs(gcs, base):
    bucket = gcs.client.bucket(BUCKET)
    read = lambda suffix: bucket.blob(f"{base}.{suffix}").download_as_bytes().decode()
    lines = lambda text: [json.loads(line) for line in text.splitlines()]
    return lines(read("predictions.jsonl")), lines(read("errors.jsonl")), json.loads(read("summary.json"))


def test_a_csv_with_good_and_bad_rows_and_keys(scorer, gcs, trained):
    rows = trained.test_x.head(20).reset_index(drop=True)
    table = rows.assign(id=[f"wine-{i}" for i in range(len(rows))])
    table = table.astype(object)
    table.loc[3, "pH"] = "acidic"  # a bad cell
    table.loc[11, "alcohol"] = ""  # a missing one
    generation = drop(gcs, "incoming/2026/wine.csv", table.to_csv(index=False).encode())
    assert event(scorer.url, BUCKET, "incoming/2026/wine.csv", generation).status_code == 200
    predicted, failed, summary = outputs(gcs, "predictions/2026/wine.csv")
    expected = trained.model.predict(rows).tolist()
    assert [line["row"] for line in failed] == [3, 11]
    assert [line["key"] for line in failed] == ["wine-3", "wine-11"]  # error lines carry keys too
    assert "'pH': expected a number, got string" in failed[0]["error"]["message"]
    assert failed[0]["error"]["code"] == "invalid_input"
    good = [i for i in range(20) if i not in (3, 11)]
    assert [line["row"] for line in predicted] == good  # every row in exactly one file
    assert [line["key"] for line in predicted] == [f"wine-{i}" for i in good]
    # the model's own numbers; to the last bit only up to BLAS's choice of kernel for a batch shape
    assert [line["prediction"] for line in predicted] == pytest.approx([expected[i] for i in good], rel=1e-12)
    assert (summary["rows"], summary["predicted"], summary["failed"]) == (20, 18, 2)
    assert summary["input"] == {"bucket": BUCKET, "name": "incoming/2026/wine.csv", "generation": generation}


def test_jsonl_and_a_redelivered_event_leaves_one_set_of_outputs(scorer, gcs, trained):
    rows = trained.test_x.head(5)
    lines = [json.dumps(r) for r in rows.to_dict(orient="records")] + ["not json", "[1, 2]"]
    generation = drop(gcs, "incoming/b.jsonl", "\n".join(lines).encode())
    for _ in range(2):  # at-least-once delivery
        assert event(scorer.url, BUCKET, "incoming/b.jsonl", generation).status_code == 200
    predicted, failed, summary = outputs(gcs, "predictions/b.jsonl")
    assert [p["prediction"] for p in predicted] == pytest.approx(
        trained.model.predict(rows).tolist(), rel=1e-12
    )
    assert [f["row"] for f in failed] == [5, 6]
    assert (summary["rows"], summary["predicted"], summary["failed"]) == (7, 5, 2)
    assert "already scored" in scorer.log()
    newer = drop(gcs, "incoming/b.jsonl", "\n".join(lines[:2]).encode())  # a new generation replaces
    assert event(scorer.url, BUCKET, "incoming/b.jsonl", newer).status_code == 200
    predicted, failed, summary = outputs(gcs, "predictions/b.jsonl")
    assert (len(predicted), len(failed), summary["input"]["generation"]) == (2, 0, newer)


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("incoming/junk.csv", b"\xff\xfe\x00garbage\x00\xff", "cannot be read as UTF-8 CSV"),
        ("incoming/empty.csv", b"", "empty or has no header row"),
        ("incoming/wrong.csv", b"colour,taste\n1,2\n", "unknown column(s)"),
    ],
)
def test_a_file_that_cannot_be_read_gets_a_summary_saying_why(scorer, gcs, name, content, words):
    generation = drop(gcs, name, content)
    assert event(scorer.url, BUCKET, name, generation).status_code == 200  # no retry storm
    predicted, failed, summary = outputs(gcs, name.replace("incoming/", "predictions/"))
    assert predicted == [] and failed[0]["row"] is None and words in failed[0]["error"]["message"]
    assert words in summary["unreadable"]


@pytest.mark.parametrize(
    "name", ["elsewhere/x.csv", "incoming/notes.txt", "predictions/b.jsonl.errors.jsonl"]
)
def test_objects_that_are_not_inputs_are_left_alone(scorer, gcs, name):
    generation = drop(gcs, name, b"a,b\n1,2\n")
    before = {b.name for b in gcs.client.list_blobs(BUCKET, prefix="predictions/")}
    assert event(scorer.url, BUCKET, name, generation).status_code == 200
    assert {b.name for b in gcs.client.list_blobs(BUCKET, prefix="predictions/")} == before
    assert '"not a batch input; left alone"' in scorer.log() and name in scorer.log()


def test_an_event_for_a_generation_that_is_gone_is_acknowledged(scorer, gcs):
    first = drop(gcs, "incoming/replaced.csv", b"pH\n3.1\n")
    drop(gcs, "incoming/replaced.csv", b"pH\n3.2\n")  # the event's generation no longer exists
    assert event(scorer.url, BUCKET, "incoming/replaced.csv", first).status_code == 200  # no retries
    assert not gcs.client.bucket(BUCKET).blob("predictions/replaced.csv.summary.json").exists()
    assert "the input generation is gone; left alone" in scorer.log()


def test_a_gcs_fault_mid_file_fails_the_delivery_and_the_retry_completes(start_server, gcs, trained):
    rows = pd.concat([trained.test_x] * 70, ignore_index=True)  # 85,750 rows, 5.8 MB: two reads
    content = rows.to_csv(index=False).encode()
    assert len(content) > READ_CHUNK_BYTES
    generation = drop(gcs, "incoming/faulty.csv", content)
    with FaultProxy(gcs.url) as proxy:
        env = {"MODEL_URI": EXAMPLE, "STORAGE_EMULATOR_HOST": proxy.url, "GCS_TIMEOUT_SECONDS": "2"}
        server = start_server(env, target="score_file")
        proxy.inject("503", None, skip=1)  # the first read passes; every later one fails for good
        assert event(server.url, BUCKET, "incoming/faulty.csv", generation).status_code == 500
        assert not gcs.client.bucket(BUCKET).blob("predictions/faulty.csv.summary.json").exists()
        proxy.clear()
        assert event(server.url, BUCKET, "incoming/faulty.csv", generation).status_code == 200  # redelivered
    predicted, failed, summary = outputs(gcs, "predictions/faulty.csv")
    assert [p["row"] for p in predicted] == list(range(len(rows)))  # every row, once
    expected = trained.model.predict(rows).tolist()
    assert [p["prediction"] for p in predicted] == pytest.approx(expected, rel=1e-12)
    assert (summary["rows"], summary["predicted"], failed) == (len(rows), len(rows), [])


@pytest.fixture(scope="module")
def classifier_folder(trained, wine_data, tmp_path_factory):
    import mlflow.sklearn
    import numpy as np
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.where(wine_data.loc[trained.train_x.index, "quality"] >= 7, "good", "ordinary")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(trained.train_x, labels)
    folder = tmp_path_factory.mktemp("batch-classifier") / "model"
    signature = infer_signature(trained.train_x, model.predict(trained.train_x))
    mlflow.sklearn.save_model(model, folder, signature=signature, **QUICK)
    return model, str(folder)


def test_a_classifier_gives_probabilities_with_batch_output_proba(
    start_server, gcs, trained, classifier_folder
):
    model, folder = classifier_folder
    rows = trained.test_x.head(40)
    env = {"MODEL_URI": folder, "STORAGE_EMULATOR_HOST": gcs.url, "BATCH_OUTPUT": "proba"}
    server = start_server(env, target="score_file")
    generation = drop(gcs, "incoming/classes.csv", rows.to_csv(index=False).encode())
    assert event(server.url, BUCKET, "incoming/classes.csv", generation).status_code == 200
    predicted, failed, summary = outputs(gcs, "predictions/classes.csv")
    expected = model.predict_proba(rows).tolist()
    assert [sorted(p["prediction"]) for p in predicted] == [["good", "ordinary"]] * len(rows)
    for line, probabilities in zip(predicted, expected, strict=True):
        got = [line["prediction"][str(label)] for label in model.classes_]
        assert got == pytest.approx(probabilities, rel=1e-12)
    assert set(model.predict(rows)) == {"good", "ordinary"}  # both classes really occur
    assert (summary["predicted"], failed) == (len(rows), [])


def test_batch_output_proba_for_a_regressor_fails_the_delivery_until_fixed(start_server, gcs, trained):
    env = {"MODEL_URI": EXAMPLE, "STORAGE_EMULATOR_HOST": gcs.url, "BATCH_OUTPUT": "proba"}
    server = start_server(env, target="score_file")
    generation = drop(gcs, "incoming/regressed.csv", trained.test_x.head(3).to_csv(index=False).encode())
    answer = event(server.url, BUCKET, "incoming/regressed.csv", generation)
    assert answer.status_code == 503  # retried by Eventarc: nothing is lost while it is fixed
    assert error_of(answer.json())["details"] == {"variable": "BATCH_OUTPUT"}
    assert "has no predict_proba; set BATCH_OUTPUT=label" in error_of(answer.json())["message"]
    assert not gcs.client.bucket(BUCKET).blob("predictions/regressed.csv.summary.json").exists()


@pytest.fixture(scope="module")
def ignoring_scorer(start_server, gcs):
    return start_scorer(start_server, gcs, BATCH_KEY_FIELD="id", UNKNOWN_FEATURES="ignore")


@pytest.mark.parametrize(
    "extra, ignored",
    [
        ({"quality": 6}, ["quality"]),  # a label column of numbers: the bulk numeric path
        ({"quality": 6, "note": "from the cellar"}, ["quality", "note"]),  # text: row by row
    ],
)
def test_unknown_features_ignore_drops_a_csvs_extra_columns(ignoring_scorer, gcs, trained, extra, ignored):
    rows = trained.test_x.head(12).reset_index(drop=True)
    table = rows.assign(**extra, id=[f"w{i}" for i in range(len(rows))])
    table = table[["quality", *rows.columns[:5], "id", *rows.columns[5:], *list(extra)[1:]]]
    name = f"incoming/labelled-{len(extra)}.csv"
    generation = drop(gcs, name, table.to_csv(index=False).encode())
    assert event(ignoring_scorer.url, BUCKET, name, generation).status_code == 200
    predicted, failed, summary = outputs(gcs, name.replace("incoming/", "predictions/"))
    assert failed == [] and "unreadable" not in summary
    assert [p["key"] for p in predicted] == list(table["id"])
    assert [p["prediction"] for p in predicted] == pytest.approx(
        trained.model.predict(rows).tolist(), rel=1e-12
    )
    assert summary["ignored_features"] == ignored


def test_unknown_features_ignore_drops_jsonl_fields_and_names_them(ignoring_scorer, gcs, trained):
    rows = trained.test_x.head(4).to_dict(orient="records")
    extras = [{"quality": 5}, {}, {"batch": "b-7", "quality": 6}, {"cellar": None}]
    lines = [json.dumps({**row, **extra, "id": i}) for i, (row, extra) in enumerate(zip(rows, extras))]
    generation = drop(gcs, "incoming/extra.jsonl", "\n".join(lines).encode())
    assert event(ignoring_scorer.url, BUCKET, "incoming/extra.jsonl", generation).status_code == 200
    predicted, failed, summary = outputs(gcs, "predictions/extra.jsonl")
    assert failed == [] and [p["key"] for p in predicted] == [0, 1, 2, 3]
    expected = trained.model.predict(trained.test_x.head(4)).tolist()
    assert [p["prediction"] for p in predicted] == pytest.approx(expected, rel=1e-12)
    assert summary["ignored_features"] == ["quality", "batch", "cellar"]


def test_a_key_that_is_not_a_scalar_is_that_rows_error(scorer, gcs, trained):
    """A key nested deeper than orjson writes (it reads deeper than it writes) used to fail every
    delivery of its file with a 500."""
    rows = trained.test_x.head(5).to_dict(orient="records")
    keys = ["a", "[" * 300 + "]" * 300, '{"shelf": 3}', "7.5", "null"]
    lines = [
        json.dumps(row)[:-1] + f', "id": {key}}}' if key[0] in "[{7n" else json.dumps({**row, "id": key})
        for row, key in zip(rows, keys)
    ]
    generation = drop(gcs, "incoming/keys.jsonl", "\n".join(lines).encode())
    assert event(scorer.url, BUCKET, "incoming/keys.jsonl", generation).status_code == 200
    predicted, failed, summary = outputs(gcs, "predictions/keys.jsonl")
    assert [(p["row"], p["key"]) for p in predicted] == [(0, "a"), (3, 7.5), (4, None)]
    assert [(f["row"], f["key"]) for f in failed] == [(1, None), (2, None)]
    assert (
        "the key field 'id' must be a string, number, boolean or null, not array"
        in failed[0]["error"]["message"]
    )
    assert "not object" in failed[1]["error"]["message"]
    assert (summary["rows"], summary["predicted"], summary["failed"]) == (5, 3, 2)


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"bucket": BUCKET, "name": "incoming/m.csv", "generation": "12x"}, "generation is not a positive"),
        ({"bucket": BUCKET, "name": "incoming/m.csv"}, "generation is not a positive integer"),
        ({"bucket": BUCKET, "name": "incoming/m.csv", "generation": 1.5}, "generation is not a positive"),
        ({"name": "incoming/m.csv", "generation": "7"}, "bucket is not a non-empty string"),
        ({"bucket": ["x"] * 10_000, "name": "incoming/m.csv", "generation": "7"}, "bucket is not"),
        ({"bucket": BUCKET, "name": {"a": 1}, "generation": "7"}, "name is not a non-empty string"),
        ([BUCKET, "incoming/m.csv"], "data is not a JSON object"),
        ("incoming/m.csv", "data is not a JSON object"),
    ],
)
def test_a_malformed_event_is_acknowledged_with_a_warning(scorer, gcs, data, problem):
    """Redelivering it could never help: a 500 would have it delivered again until Eventarc gives up."""
    answer = event(scorer.url, BUCKET, "", 0, data=data)
    assert answer.status_code == 200, answer.text
    assert f"malformed storage event ({problem}" in scorer.log()
    assert "Traceback" not in scorer.log()


def test_with_models_each_folder_is_scored_by_its_model(start_server, gcs, trained, tmp_path):
    """MODELS: incoming/<name>/... by that model, a file directly under the prefix by
    DEFAULT_MODEL, a folder naming no model left alone."""
    import skops.io
    from sklearn.tree import DecisionTreeRegressor

    target = trained.model.predict(trained.train_x).round()  # any target: the tree just differs
    tree = DecisionTreeRegressor(max_depth=4, random_state=0).fit(trained.train_x, target)
    skops.io.dump(tree, tmp_path / "tree.skops")
    models = f"wine={EXAMPLE},tree={tmp_path / 'tree.skops'}"
    scorer = start_scorer(start_server, gcs, MODEL_URI="", MODELS=models, DEFAULT_MODEL="wine")
    rows = trained.test_x.head(6)
    csv = rows.to_csv(index=False).encode()
    for name, model in [
        ("incoming/tree/a.csv", tree),
        ("incoming/wine/a.csv", None),
        ("incoming/b.csv", None),
    ]:
        assert event(scorer.url, BUCKET, name, drop(gcs, name, csv)).status_code == 200
        predicted, failed, summary = outputs(gcs, name.replace("incoming/", "predictions/"))
        expected = (model or trained.model).predict(rows).tolist()
        assert not failed and [line["prediction"] for line in predicted] == pytest.approx(expected, rel=1e-12)
        assert summary["model"]["name"] == ("tree" if model else "wine")
    for name in ("incoming/nomodel/c.csv", "incoming/..bad/c.csv"):
        assert event(scorer.url, BUCKET, name, drop(gcs, name, csv)).status_code == 200
        assert (
            not gcs.bucket(BUCKET).blob(name.replace("incoming/", "predictions/") + ".summary.json").exists()
        )
    assert "no model named 'nomodel'" in scorer.log() and "'..bad' is not a model name" in scorer.log()

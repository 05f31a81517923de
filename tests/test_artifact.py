import json
import re
import shutil

import numpy as np
import pytest
import skops.io
import yaml
from numpy.testing._private.utils import runstring
from sklearn.linear_model import ElasticNet
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from predictor.errors import ArtifactNotFound, IntegrityMismatch, UnsupportedArtifact, UntrustedArtifact
from predictor.loading.artifact import load_artifact
from support import CreatesFileWhenUnpickled


def log_lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    "kind, fmt, flavor",
    [
        ("cloudpickle file", "cloudpickle", None),
        ("joblib file", "joblib", None),
        ("skops file", "skops", None),
        ("mlflow skops", "skops", "sklearn"),
        ("mlflow cloudpickle", "cloudpickle", "sklearn"),
        ("mlflow pickle", "pickle", "sklearn"),
    ],
)
def test_every_format_loads_the_trained_model(artifacts, trained, kind, fmt, flavor):
    artifact = load_artifact(artifacts[kind])
    assert (artifact.format, artifact.flavor) == (fmt, flavor)
    X = trained.test_x.head(50)
    np.testing.assert_array_equal(artifact.estimator.predict(X), trained.model.predict(X))
    model_file = artifacts[kind] / artifact.model_file if artifacts[kind].is_dir() else artifacts[kind]
    import hashlib

    assert artifact.sha256 == hashlib.sha256(model_file.read_bytes()).hexdigest()


def test_mlflow_folder_brings_its_signature_and_input_example(artifacts, trained):
    artifact = load_artifact(artifacts["mlflow skops"])
    names = [c["name"] for c in artifact.signature["inputs"]]
    assert names == list(trained.train_x.columns)
    assert artifact.input_example["columns"] == names
    assert len(artifact.input_example["data"]) == 3
    assert artifact.sklearn_version


def double(X):
    return X * 2


def exec_chain(final, marker):
    """A pipeline of numpy functions alone whose first prediction runs code: it fills the input
    with a line of Python, joins the cells into one string and hands it to numpy's `exec`."""
    code = f"open({str(marker)!r}, 'w').close()\n"
    return make_pipeline(
        FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": "O"}),
        FunctionTransformer(np.sum),
        FunctionTransformer(runstring, kw_args={"dict": {}}),
        final,
    )


@pytest.mark.parametrize(
    "build, refused",
    [
        (lambda model, marker: make_pipeline(FunctionTransformer(double), model), [f"{__name__}.double"]),
        (exec_chain, ["numpy.full_like", "numpy.sum", "numpy.testing._private.utils.runstring"]),
    ],
    ids=["a function of ours", "numpy functions that reach exec"],
)
def test_skops_refuses_what_skops_does_not_trust_by_default(trained, tmp_path, build, refused):
    path, marker = tmp_path / "model.skops", tmp_path / "ran"
    skops.io.dump(build(trained.model, marker), path)
    with pytest.raises(UntrustedArtifact) as caught:
        load_artifact(path)
    assert caught.value.code == "model_untrusted"
    assert caught.value.details["untrusted_types"] == refused
    assert all(name in caught.value.message for name in refused)
    assert "SKOPS_TRUSTED_TYPES" in caught.value.message
    assert not marker.exists()


def test_skops_loads_a_pipeline_of_what_skops_trusts_by_default(trained, tmp_path):
    path = tmp_path / "model.skops"
    pipeline = make_pipeline(FunctionTransformer(np.log1p), ElasticNet(alpha=0.01))
    pipeline.fit(trained.train_x.to_numpy(), trained.model.predict(trained.train_x))
    skops.io.dump(pipeline, path)
    X = trained.test_x.to_numpy()
    assert load_artifact(path).estimator.predict(X).tolist() == pipeline.predict(X).tolist()


def test_skops_loads_a_type_the_user_reviewed(trained, tmp_path):
    path = tmp_path / "model.skops"
    pipeline = make_pipeline(FunctionTransformer(np.round, kw_args={"decimals": 1}), trained.model)
    skops.io.dump(pipeline, path)
    with pytest.raises(UntrustedArtifact, match="numpy.round"):
        load_artifact(path, trusted_types=("numpy.sum",))
    loaded = load_artifact(path, trusted_types=("numpy.sum", "numpy.round")).estimator
    X = trained.test_x
    assert loaded.predict(X).tolist() == pipeline.predict(X).tolist()


def copy_with_mlmodel(source, tmp_path, change):
    folder = shutil.copytree(source, tmp_path / "model")
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    change(mlmodel)
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    return folder


def test_sklearn_version_mismatch_is_a_warning(artifacts, tmp_path, capsys):
    folder = copy_with_mlmodel(
        artifacts["mlflow skops"],
        tmp_path,
        lambda m: m["flavors"]["sklearn"].update(sklearn_version="0.24.2"),
    )
    load_artifact(folder)
    warnings = [line for line in log_lines(capsys) if line["severity"] == "WARNING"]
    assert len(warnings) == 1 and "scikit-learn 0.24.2" in warnings[0]["message"]


@pytest.mark.parametrize(
    "change, error, words",
    [
        (
            lambda m: m["flavors"].pop("sklearn"),
            UnsupportedArtifact,
            "no sklearn flavor (it has: python_function)",
        ),
        (
            lambda m: m["flavors"]["sklearn"].update(serialization_format="onnx"),
            UnsupportedArtifact,
            "'onnx'",
        ),
        (lambda m: m["flavors"]["sklearn"].update(pickled_model="../x.pkl"), UnsupportedArtifact, "outside"),
        (
            lambda m: m["flavors"]["sklearn"].update(pickled_model="gone.skops"),
            ArtifactNotFound,
            "gone.skops",
        ),
        (
            lambda m: m["signature"].update(inputs=json.loads(m["signature"]["inputs"])),
            UnsupportedArtifact,
            "signature's 'inputs' must be JSON text of a list, as MLflow writes it",
        ),
        (
            lambda m: m["signature"].update(inputs='{"type": "double"}'),
            UnsupportedArtifact,
            "signature's 'inputs' must be JSON text of a list",
        ),
        (
            lambda m: m["signature"].update(extra="[]"),
            UnsupportedArtifact,
            "signature must be a mapping of inputs, outputs, params",
        ),
        (lambda m: m.update(signature="inputs"), UnsupportedArtifact, "signature must be a mapping"),
    ],
)
def test_bad_mlmodel_is_refused_with_a_reason(artifacts, tmp_path, change, error, words):
    folder = copy_with_mlmodel(artifacts["mlflow skops"], tmp_path, change)
    with pytest.raises(error, match=re.escape(words)):
        load_artifact(folder)


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("model.onnx", b"\x00", "cannot tell the format of 'model.onnx'"),
        ("model.pkl", __import__("pickle").dumps({"not": "a model"}), "holds a dict, which has no predict"),
    ],
)
def test_bad_files_are_refused_with_a_reason(tmp_path, name, content, words):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UnsupportedArtifact, match=words):
        load_artifact(tmp_path / name)


def test_folder_without_mlmodel(tmp_path):
    with pytest.raises(UnsupportedArtifact, match="no MLmodel file"):
        load_artifact(tmp_path)


def test_mlflow_is_not_imported_to_load_a_model():
    import subprocess
    import sys

    code = (
        "import sys, pathlib; from predictor.loading.artifact import load_artifact; "
        "load_artifact(pathlib.Path('examples/wine-quality')); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_pinned_hash_is_checked_before_the_pickle_runs(tmp_path):
    import hashlib
    import pickle

    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(CreatesFileWhenUnpickled(marker)))
    with pytest.raises(IntegrityMismatch) as caught:
        load_artifact(path, "0" * 64)
    assert caught.value.code == "model_integrity"
    assert caught.value.details["actual_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not marker.exists()
    # the same file with its true hash is deserialized (so the check above could have failed)
    with pytest.raises(UnsupportedArtifact, match="no predict method"):
        load_artifact(path, caught.value.details["actual_sha256"])
    assert marker.exists()


def test_an_mlflow_folder_pins_the_model_file_it_names(artifacts):
    import hashlib

    folder = artifacts["mlflow skops"]
    digest = hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
    assert load_artifact(folder, digest).sha256 == digest
    with pytest.raises(IntegrityMismatch, match="model.skops"):
        load_artifact(folder, hashlib.sha256((folder / "MLmodel").read_bytes()).hexdigest())


def alias_bomb(levels: int = 9) -> str:
    """YAML whose aliases repeat a 100-character list 9**levels times, in about 2 KB."""
    lines = ["l0: &l0 [" + ", ".join(['"' + "x" * 100 + '"'] * 9) + "]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_mlmodel_whose_aliases_expand_past_the_bound_is_refused(artifacts, tmp_path):
    """A 2 KB MLmodel made every /metadata answer 62 MB (MODEL_SHA256 pins the model file, not it)."""
    folder = shutil.copytree(artifacts["mlflow skops"], tmp_path / "model")
    bomb = alias_bomb()
    assert len(bomb) < 2048
    with (folder / "MLmodel").open("a") as mlmodel:
        mlmodel.write(bomb)
    with pytest.raises(UnsupportedArtifact, match="MLmodel expands to more than 100,000 values"):
        load_artifact(folder)


def test_an_mlmodel_with_a_few_aliases_still_loads(artifacts, tmp_path):
    folder = shutil.copytree(artifacts["mlflow skops"], tmp_path / "model")
    with (folder / "MLmodel").open("a") as mlmodel:
        mlmodel.write(alias_bomb(levels=2))
    assert load_artifact(folder).signature is not None


def test_a_large_input_example_is_left_out(artifacts, tmp_path):
    folder = copy_with_mlmodel(artifacts["mlflow skops"], tmp_path, lambda m: None)
    example = json.loads((folder / "input_example.json").read_text())
    assert load_artifact(folder).input_example == example
    (folder / "input_example.json").write_text(json.dumps({**example, "pad": "x" * 2_000_000}))
    assert load_artifact(folder).input_example is None

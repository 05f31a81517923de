"""Read a model artifact (MLflow model folder, pickle, joblib or skops file) without mlflow."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import warnings
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ..errors import ArtifactNotFound, IntegrityMismatch, UnsupportedArtifact, UntrustedArtifact
from ..parts import Artifact, installed_sklearn_version
from . import skops_reader, tree_checks

log = logging.getLogger(__name__)

FORMAT_BY_SUFFIX = {".pkl": "cloudpickle", ".pickle": "cloudpickle", ".joblib": "joblib", ".skops": "skops"}
MLFLOW_FORMATS = ("cloudpickle", "pickle", "skops")
# the methods MLflow's sklearn flavor may predict with (`pyfunc_predict_fn`), `score` aside: it
# needs the true labels, which a request does not carry
PREDICT_FNS = ("predict", "predict_proba", "predict_log_proba", "predict_joint_log_proba")
MAX_MLMODEL_BYTES = 4 * 1024 * 1024  # MLmodel's characters, with YAML aliases expanded
MAX_MLMODEL_NODES = 100_000  # MLmodel's values, with YAML aliases expanded
MAX_INPUT_EXAMPLE_BYTES = 1024 * 1024  # an input example larger than this is left out of /metadata
SIGNATURE_FIELDS = frozenset({"inputs", "outputs", "params"})
DATA_TYPES_FILE = Path(__file__).with_name("skops_data_types.txt")
MAX_SCHEMA_BYTES = 64 * 1024 * 1024  # a skops file's schema.json, unzipped
MAX_INFLATED_BASE_BYTES = 64 * 1024 * 1024  # all of a skops file unzipped: this, plus
MAX_INFLATION = 16  # times the file's own size


def load_artifact(
    path: Path,
    expected_sha256: str | None = None,
    trusted_types: Collection[str] = (),
    plain: bool = True,
) -> Artifact:
    """Load the model file at `path`, or the model an MLflow folder at `path` describes.

    With `expected_sha256`, the model file's bytes must hash to it before they are deserialized.
    A skops file loads when skops trusts every type and function in it by default, or the
    caller does (`trusted_types`, from SKOPS_TRUSTED_TYPES). With `plain`, a skops file
    holding an estimator of plain arrays is read without scikit-learn (`skops_reader`).
    """
    if path.is_dir():
        return _load_mlflow_folder(path, expected_sha256, trusted_types, plain)
    fmt = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedArtifact(
            f"cannot tell the format of '{path.name}': expected a .pkl, .pickle, .joblib or "
            ".skops file, or an MLflow model folder (one holding MLmodel)"
        )
    return _deserialize(path, fmt, expected_sha256, trusted_types, plain)


def _load_mlflow_folder(
    folder: Path, expected_sha256: str | None, trusted_types: Collection[str], plain: bool
) -> Artifact:
    mlmodel_path = folder / "MLmodel"
    if not mlmodel_path.is_file():
        raise UnsupportedArtifact(
            "the model folder has no MLmodel file: point MODEL_URI at the MLflow model folder (MLflow "
            "3: <experiment>/models/<model id>/artifacts; MLflow 2: <run>/artifacts/model) or at a "
            "single model file"
        )
    if mlmodel_path.stat().st_size > MAX_MLMODEL_BYTES:
        raise UnsupportedArtifact(f"MLmodel is larger than {MAX_MLMODEL_BYTES:,} bytes: not one MLflow wrote")
    try:
        mlmodel = yaml.safe_load(mlmodel_path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UnsupportedArtifact(f"MLmodel is not valid YAML: {exc}") from exc
    _check_expanded_size(mlmodel)
    if not isinstance(mlmodel, dict):
        raise UnsupportedArtifact(
            f"MLmodel must be a YAML mapping (flavors: ...), not a {type(mlmodel).__name__}"
        )
    flavors = mlmodel.get("flavors") or {}
    if not isinstance(flavors, dict):
        raise UnsupportedArtifact(f"MLmodel's flavors must be a mapping, not a {type(flavors).__name__}")
    sklearn = flavors.get("sklearn")
    if not isinstance(sklearn, dict):
        raise UnsupportedArtifact(
            f"MLmodel has no sklearn flavor (it has: {', '.join(flavors) or 'none'}); "
            "only scikit-learn models are served"
        )
    fmt = sklearn.get("serialization_format") or "cloudpickle"
    if fmt not in MLFLOW_FORMATS:
        raise UnsupportedArtifact(
            f"MLmodel serialization_format '{fmt}' is not one of {', '.join(MLFLOW_FORMATS)}"
        )
    model_file = _member(folder, sklearn.get("pickled_model") or "model.pkl")
    artifact = _deserialize(
        model_file, fmt, expected_sha256, trusted_types, plain, sklearn.get("sklearn_version")
    )
    return replace(
        artifact,
        flavor="sklearn",
        predict_fn=_predict_fn(flavors, artifact.estimator),
        signature=_signature(mlmodel.get("signature")),
        input_example=_input_example(folder, mlmodel.get("saved_input_example_info")),
    )


def _predict_fn(flavors: dict[str, Any], estimator: Any) -> str:
    """The method MLflow's pyfunc flavor predicts with (`pyfunc_predict_fn` at log time)."""
    pyfunc = flavors.get("python_function")
    name = pyfunc.get("predict_fn", "predict") if isinstance(pyfunc, dict) else "predict"
    if name not in PREDICT_FNS:
        raise UnsupportedArtifact(
            f"MLmodel's python_function predict_fn is {str(name)[:64]!r}; this function serves "
            f"{', '.join(PREDICT_FNS)}"
        )
    if not callable(getattr(estimator, name, None)):
        raise UnsupportedArtifact(
            f"MLmodel's predict_fn is {name}, which this {type(estimator).__name__} lacks"
        )
    return name


def _member(folder: Path, relative: str) -> Path:
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise UnsupportedArtifact(f"MLmodel names '{relative}', which is outside the model folder")
    if not path.is_file():
        raise ArtifactNotFound(f"MLmodel names '{relative}', but the model folder has no such file")
    return path


def _check_expanded_size(value: Any) -> None:
    """YAML aliases let a 2 KB MLmodel stand for megabytes (every /metadata answer wrote them
    out): count what the document holds with every alias expanded, and stop past the bound."""
    nodes, chars, pending = 0, 0, [value]
    while pending:
        item = pending.pop()
        nodes += 1
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            chars += len(item)
        if nodes > MAX_MLMODEL_NODES or chars > MAX_MLMODEL_BYTES:
            raise UnsupportedArtifact(
                f"MLmodel expands to more than {MAX_MLMODEL_NODES:,} values or {MAX_MLMODEL_BYTES:,} "
                "characters (YAML aliases repeat what they name): not one MLflow wrote"
            )


def _signature(raw: Any) -> dict[str, Any] | None:
    """MLflow writes `inputs`, `outputs` and `params` as JSON text inside the YAML: lists (or
    null); anything else is not a signature MLflow wrote."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not set(raw) <= SIGNATURE_FIELDS:
        raise UnsupportedArtifact(
            "MLmodel's signature must be a mapping of "
            f"{', '.join(sorted(SIGNATURE_FIELDS))}, as MLflow writes it"
        )
    signature = {}
    for key, text in raw.items():
        try:
            value = None if text is None else json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError as exc:
            raise UnsupportedArtifact(f"MLmodel signature's '{key}' is not valid JSON: {exc}") from exc
        if value is not None and not (isinstance(text, str) and isinstance(value, list)):
            raise UnsupportedArtifact(
                f"MLmodel signature's '{key}' must be JSON text of a list, as MLflow writes it"
            )
        signature[key] = value
    return signature


def _input_example(folder: Path, info: Any) -> Any:
    if not isinstance(info, dict) or not info.get("artifact_path"):
        return None
    try:
        path = _member(folder, str(info["artifact_path"]))
        if path.stat().st_size > MAX_INPUT_EXAMPLE_BYTES:
            raise ValueError(f"it is larger than {MAX_INPUT_EXAMPLE_BYTES:,} bytes")
        return json.loads(path.read_text(encoding="utf-8"))
    except (ArtifactNotFound, UnsupportedArtifact, ValueError) as exc:
        log.warning("ignoring the model's input example: %s", exc)
        return None


def _deserialize(
    path: Path,
    fmt: str,
    expected_sha256: str | None,
    trusted_types: Collection[str],
    plain: bool,
    recorded_version: str | None = None,
) -> Artifact:
    data = path.read_bytes()  # hashed and deserialized from the same bytes: nothing swaps between
    digest = hashlib.sha256(data).hexdigest()
    if expected_sha256 and digest != expected_sha256:
        raise IntegrityMismatch(
            f"'{path.name}' has sha256 {digest}, not the {expected_sha256} that MODEL_SHA256 pins; "
            "it was not loaded",
            {"expected_sha256": expected_sha256, "actual_sha256": digest},
        )
    if fmt == "skops":
        _check_inflated_size(data, path.name)
    estimator = skops_reader.read(data) if fmt == "skops" and plain else None
    if estimator is not None:
        recorded_version = recorded_version or estimator.saved_with
        caught = []
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if fmt == "skops":
                estimator = _load_skops(data, trusted_types, path.name)
            else:
                estimator = _PICKLE_LOADERS[fmt](data)
    _report_version(recorded_version, caught)
    if not callable(getattr(estimator, "predict", None)):
        raise UnsupportedArtifact(
            f"'{path.name}' holds a {type(estimator).__name__}, which has no predict method"
        )
    return Artifact(estimator, fmt, path.name, digest, sklearn_version=recorded_version)


def _check_inflated_size(data: bytes, name: str) -> None:
    """A skops file is a zip: refuse one whose members would inflate past a bound (its schema, or
    all of it for the file's size) before either reader unzips a byte. skops writes them stored,
    unzipped (a 300-tree forest: 60 MB, its schema 4 MB); zipfile stops each at its declared size."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        return  # not a zip at all: skops says so
    schema = sum(m.file_size for m in members if m.filename == "schema.json")
    total = sum(m.file_size for m in members)
    most = MAX_INFLATED_BASE_BYTES + MAX_INFLATION * len(data)
    if schema > MAX_SCHEMA_BYTES or total > most:
        raise UnsupportedArtifact(
            f"'{name}' would unzip to {total:,} bytes (its schema.json to {schema:,}): more than a "
            f"skops file of {len(data):,} bytes may ({most:,}; a schema at most {MAX_SCHEMA_BYTES:,}); "
            "it was not loaded",
            {"inflated_bytes": total, "schema_bytes": schema},
        )


def _load_pickle(data: bytes) -> Any:
    import cloudpickle  # a cloudpickle file may reference it; pickle alone cannot load those

    return cloudpickle.loads(data)


def _load_joblib(data: bytes) -> Any:
    import joblib

    return joblib.load(io.BytesIO(data))


def _load_skops(data: bytes, trusted_types: Collection[str], file_name: str) -> Any:
    """Only what skops trusts by default (scikit-learn's estimators, numpy's and scipy's ufuncs
    and dtypes, ...), the data types reviewed in `skops_data_types.txt`, trees once proven sound
    (`tree_checks`), and the types the user reviewed; never a whole package: numpy alone has
    functions that reach `exec`."""
    from .skops_import import import_skops

    skops_io = import_skops()
    from skops.io.exceptions import UntrustedTypesFoundException

    reviewed = data_types() | tree_checks.CHECKED_TYPES
    try:  # one pass: skops refuses what is trusted neither by default nor here
        model = skops_io.loads(data, trusted=sorted(reviewed.union(trusted_types)))
    except UntrustedTypesFoundException:
        untrusted = skops_io.get_untrusted_types(data=data)  # which, in the file's order
        refused = [name for name in untrusted if name not in trusted_types and name not in reviewed]
        raise UntrustedArtifact(
            "the skops file holds types or functions that skops does not trust by default: "
            f"{', '.join(refused)}; review them, then list them in SKOPS_TRUSTED_TYPES to load it",
            {"untrusted_types": refused},
        ) from None
    if tree_checks.holds_checked_types():
        tree_checks.check_trees(model, file_name, vouched=trusted_types)
    return model


@functools.cache
def data_types() -> frozenset[str]:
    """The types `skops_data_types.txt` reviewed as data alone."""
    lines = DATA_TYPES_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


_PICKLE_LOADERS = {"cloudpickle": _load_pickle, "pickle": _load_pickle, "joblib": _load_joblib}


def _report_version(recorded: str | None, caught: list[warnings.WarningMessage]) -> None:
    """Log a scikit-learn version mismatch once, from MLmodel or from the unpickling warning."""
    if recorded and recorded != installed_sklearn_version():
        log.warning(
            "model was saved with scikit-learn %s but %s is running; predictions may differ",
            recorded,
            installed_sklearn_version(),
        )
        return
    if not caught:
        return
    from sklearn.exceptions import InconsistentVersionWarning  # the unpickling imported it

    for warning in caught:
        if isinstance(warning.message, InconsistentVersionWarning):
            log.warning("scikit-learn version mismatch: %s", warning.message)
            return

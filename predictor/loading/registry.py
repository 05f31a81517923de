"""MLflow model URIs (`models:/`, `runs:/`, `mlflow-artifacts:/`, as `uris` parses them) resolved
through the tracking server's REST API to the artifact location and the registry's names for it."""

from __future__ import annotations

from typing import Any

from ..parts import Origin
from ..uris import LOGGED_MODEL, ModelRef
from .tracking import TrackingServer


def resolve(ref: ModelRef, server: TrackingServer) -> Origin:
    """The artifact location of `ref` and the registry's names for it (2 calls at most)."""
    if ref.path is not None and ref.run_id is None:
        return Origin(artifact_uri=f"mlflow-artifacts:/{ref.path}")
    if ref.run_id is not None:
        return _run_artifact(ref, server)
    if ref.model_id is not None:
        info = _logged_model(ref.model_id, server)
        return Origin(
            artifact_uri=info["artifact_uri"], run_id=info.get("source_run_id"), model_id=ref.model_id
        )
    version = _model_version(ref, server)
    number = str(version["version"])
    download = server.get_json(
        "mlflow/model-versions/get-download-uri",
        {"name": ref.name, "version": number},
        what=f"the artifact location of version {number} of registered model '{ref.name}'",
    )
    source = version.get("source") or ""
    return Origin(
        artifact_uri=download["artifact_uri"],
        name=ref.name,
        version=number,
        alias=ref.alias,
        run_id=version.get("run_id") or None,
        model_id=source[len("models:/") :] if LOGGED_MODEL.match(source[len("models:/") :]) else None,
    )


def _run_artifact(ref: ModelRef, server: TrackingServer) -> Origin:
    """`runs:/<run>/<name>/...`: the run's logged model called <name> (MLflow 3 keeps its files
    apart from the run's), else the path among the run's own artifacts (MLflow 2)."""
    run = server.get_json("mlflow/runs/get", {"run_id": ref.run_id}, what=f"run '{ref.run_id}'")["run"]
    name, _, rest = ref.path.partition("/")
    for output in (run.get("outputs") or {}).get("model_outputs") or []:
        info = _logged_model(output["model_id"], server)
        if info.get("name") == name:
            root = info["artifact_uri"].rstrip("/")
            return Origin(
                artifact_uri=f"{root}/{rest}" if rest else root, run_id=ref.run_id, model_id=info["model_id"]
            )
    root = run["info"]["artifact_uri"].rstrip("/")
    return Origin(artifact_uri=f"{root}/{ref.path}", run_id=ref.run_id)


def _logged_model(model_id: str, server: TrackingServer) -> dict[str, Any]:
    answer = server.get_json(f"mlflow/logged-models/{model_id}", what=f"logged model '{model_id}'")
    return answer["model"]["info"]


def alias_version(ref: ModelRef, server: TrackingServer) -> str:
    """The version `ref`'s alias names now (one small call)."""
    return str(_model_version(ref, server)["version"])


def _model_version(ref: ModelRef, server: TrackingServer) -> dict[str, Any]:
    if ref.alias is not None:
        answer = server.get_json(
            "mlflow/registered-models/alias",
            {"name": ref.name, "alias": ref.alias},
            what=f"alias '{ref.alias}' of registered model '{ref.name}'",
        )
    else:
        answer = server.get_json(
            "mlflow/model-versions/get",
            {"name": ref.name, "version": ref.version},
            what=f"version {ref.version} of registered model '{ref.name}'",
        )
    return answer["model_version"]

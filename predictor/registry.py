"""MLflow model URIs (`models:/`, `runs:/`, `mlflow-artifacts:/`): parsed, and resolved through the
tracking server's REST API to the artifact location and the registry's names for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .tracking import TrackingServer

SCHEMES = ("models:", "runs:", "mlflow-artifacts:")
_VERSION = re.compile(r"^[1-9][0-9]*$")
_LOGGED_MODEL = re.compile(r"^m-[0-9a-f]{32}$")
_RUN_ID = re.compile(r"^[0-9a-zA-Z]{1,64}$")
FORMS = (
    "models:/<name>@<alias>, models:/<name>/<version>, models:/m-<model id>, "
    "runs:/<run id>/<path> or mlflow-artifacts:/<path>"
)


@dataclass(frozen=True)
class ModelRef:
    """What an MLflow URI names; exactly one way of finding the model is set."""

    uri: str
    name: str | None = None  # registered model
    alias: str | None = None
    version: str | None = None
    model_id: str | None = None  # an MLflow 3 logged model, m-...
    run_id: str | None = None
    path: str | None = None  # inside the run's artifacts, or the mlflow-artifacts path

    @property
    def follows_alias(self) -> bool:
        return self.alias is not None


@dataclass(frozen=True)
class Origin:
    """Where a served model came from in MLflow: registry names and the artifact location."""

    artifact_uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    model_id: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "registered_model": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "model_id": self.model_id,
            "artifact_uri": self.artifact_uri,
        }


def is_mlflow_uri(uri: str) -> bool:
    return uri.lower().startswith(SCHEMES)


def parse(uri: str) -> ModelRef:
    """The reference `uri` makes; ValueError (with what is wrong) when it is malformed."""
    scheme, _, rest = uri.partition(":")
    rest = rest.lstrip("/")
    scheme = scheme.lower()
    if scheme == "mlflow-artifacts":
        if "/" in rest and uri.lower().startswith("mlflow-artifacts://"):
            rest = rest.split("/", 1)[1]  # mlflow-artifacts://host:port/path: the path is what counts
        if not rest.strip("/"):
            raise ValueError("names no artifact path")
        return ModelRef(uri, path=rest.strip("/"))
    if scheme == "runs":
        run_id, _, path = rest.partition("/")
        if not _RUN_ID.match(run_id) or not path.strip("/"):
            raise ValueError("must be runs:/<run id>/<artifact path>, e.g. runs:/0a1b.../model")
        return ModelRef(uri, run_id=run_id, path=path.strip("/"))
    rest = rest.rstrip("/")
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        if not name or not alias or "/" in alias:
            raise ValueError("must be models:/<name>@<alias>, e.g. models:/wine@champion")
        return ModelRef(uri, name=name, alias=alias)
    if _LOGGED_MODEL.match(rest):
        return ModelRef(uri, model_id=rest)
    name, _, version = rest.rpartition("/")
    if name and _VERSION.match(version):
        return ModelRef(uri, name=name, version=version)
    if name and version:
        raise ValueError(
            f"names stage or version '{version}': MLflow's stages are deprecated; set an alias on the "
            f"version (models:/{name}@champion) or name the version number (models:/{name}/3)"
        )
    raise ValueError(f"names neither a version nor an alias: use {FORMS}")


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
        model_id=source[len("models:/") :] if _LOGGED_MODEL.match(source[len("models:/") :]) else None,
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

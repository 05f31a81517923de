"""MODEL_URI's forms, parsed: `gs://BUCKET/PATH`, and MLflow's `models:/`, `runs:/` and
`mlflow-artifacts:/` URIs (what each names; `loading.registry` resolves them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEMES = ("models:", "runs:", "mlflow-artifacts:")
_VERSION = re.compile(r"^[1-9][0-9]*$")
LOGGED_MODEL = re.compile(r"^m-[0-9a-f]{32}$")
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
    if LOGGED_MODEL.match(rest):
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


def split_gcs_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/a/b` -> (`bucket`, `a/b`)."""
    bucket, _, name = uri[len("gs://") :].partition("/")
    return bucket, name

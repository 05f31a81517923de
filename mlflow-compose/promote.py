"""Promote a trained model: move a registry alias to it, or copy it to a fixed bucket path.

    python mlflow-compose/promote.py models:/wine/3 --alias champion
    python mlflow-compose/promote.py SOURCE gs://BUCKET/serving/model

With a Model Registry (MLFLOW_TRACKING_URI), `--alias` points the alias at the registered
version (train.py prints `REGISTERED=models:/wine/N`); a function serving
`models:/wine@champion` follows it within MODEL_RELOAD_SECONDS. Without one, SOURCE (the model
folder train.py prints as `MODEL_URI=gs://...`, a local folder, or `models:/<model id>`) is
copied to the destination, model file first and MLmodel last; objects there that the new model
does not have are removed afterwards. Both print the function's settings.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:  # imported where a copy needs it: --alias runs with mlflow alone
    from google.cloud import storage


def split(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket, prefix.strip("/")


def resolve(source: str) -> str:
    if source.startswith("models:/"):
        import mlflow

        return mlflow.get_logged_model(source.removeprefix("models:/").strip("/")).artifact_location
    return source


def read_source(client: storage.Client, source: str) -> dict[str, bytes]:
    """Relative path -> bytes of every file of the model folder."""
    if not source.startswith("gs://"):
        root = Path(source)
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
        }
    bucket_name, prefix = split(source)
    bucket = client.bucket(bucket_name)
    # fresh Blob objects download through the client's endpoint, not the listing's mediaLink
    # (an emulator in Docker hands out links that only resolve inside its network)
    return {
        listed.name[len(prefix) + 1 :]: bucket.blob(listed.name).download_as_bytes()
        for listed in client.list_blobs(bucket_name, prefix=prefix + "/")
        if not listed.name.endswith("/")
    }


def promote(client: storage.Client, source: str, destination: str) -> str:
    files = read_source(client, resolve(source))
    if "MLmodel" not in files:
        sys.exit(f"promote: {source} is not an MLflow model folder (no MLmodel)")
    model_file = yaml.safe_load(files["MLmodel"])["flavors"]["sklearn"]["pickled_model"]
    bucket_name, prefix = split(destination)
    bucket = client.bucket(bucket_name)
    stale = {b.name for b in client.list_blobs(bucket_name, prefix=prefix + "/")}
    order = sorted(files, key=lambda name: (name == "MLmodel", name != model_file, name))
    for name in order:
        bucket.blob(f"{prefix}/{name}").upload_from_string(files[name])
        stale.discard(f"{prefix}/{name}")
    for name in stale:
        bucket.blob(name).delete()
    return hashlib.sha256(files[model_file]).hexdigest()


def set_alias(source: str, alias: str) -> str:
    """Point `alias` at the version `source` (models:/<name>/<version>) names; the served URI."""
    from mlflow import MlflowClient

    name, _, version = source.removeprefix("models:/").rpartition("/")
    if not name or not version.isdigit():
        sys.exit(f"promote: --alias needs SOURCE as models:/<name>/<version>, not {source}")
    client = MlflowClient()
    client.set_registered_model_alias(name, alias, version)
    return f"models:/{name}@{alias}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("destination", nargs="?", help="gs://BUCKET/PATH the function's MODEL_URI points at")
    parser.add_argument("--alias", help="move this registry alias to SOURCE (models:/<name>/<version>)")
    args = parser.parse_args()
    if args.alias:
        if args.destination:
            parser.error("give either --alias or a destination, not both")
        print(f"MODEL_URI={set_alias(args.source, args.alias)}")
        return
    if not args.destination or not args.destination.startswith("gs://"):
        parser.error("destination must be gs://BUCKET/PATH (or use --alias with a registry)")
    from google.cloud import storage

    digest = promote(storage.Client(), args.source, args.destination)
    print(f"MODEL_URI={args.destination.rstrip('/')}")
    print(f"MODEL_SHA256={digest}")


if __name__ == "__main__":
    main()

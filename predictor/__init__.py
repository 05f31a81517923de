"""Serve an MLflow-trained scikit-learn model from Cloud Functions (functions-framework)."""

from . import logs, native_threads
from .web.service import Service

logs.configure()


def create_service() -> Service:
    """The process's service, configured from the environment (no I/O until a request)."""
    native_threads.one_by_default()  # before the worker loads numpy and scikit-learn
    return Service.from_environment()


__all__ = ["Service", "create_service"]

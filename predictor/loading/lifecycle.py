"""The process's model: its settings checked, loaded once on first use, refreshed in the
background when its artifact changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from .. import memory, uris
from ..config import Settings
from ..errors import ArtifactNotFound, ConfigurationError
from . import registry, storage
from .cache import LazySlot, Refresher
from .tracking import TrackingServer

if TYPE_CHECKING:
    from ..model import ServedModel
    from .loader_process import LoaderProcess

log = logging.getLogger(__name__)


class ModelLifecycle:
    """Settings (or why they are bad) and the slot that holds the served model: MODEL_URI's, or
    with MODELS the one `name` names at `uri`, each load run inside `around_load()` (the
    repository's memory budget) and deserialized where `loader()` says (LOADER_PROCESS)."""

    def __init__(
        self,
        settings: Settings | None,
        config_error: ConfigurationError | None = None,
        name: str | None = None,
        uri: str | None = None,
        around_load: Callable[[], AbstractContextManager[object]] = nullcontext,
        tracking: TrackingServer | None = None,
        if_missing: Callable[[ArtifactNotFound], Exception] | None = None,
        loader: Callable[[], LoaderProcess | None] = lambda: None,
    ):
        self.settings = settings
        self.config_error = config_error
        self.name = name
        self.uri = uri if uri is not None else (settings.model_uri if settings else "")
        self._around_load = around_load
        # what a model that does not exist raises instead (MODELS' registry form: a 404)
        self._if_missing = if_missing
        self._loader = loader  # where a load runs now: the loader process, or None for here
        self.load_error: str | None = None  # why the last load failed, until one succeeds
        self._tracking = tracking
        if tracking is None and settings and settings.mlflow_tracking_uri:
            self._tracking = TrackingServer(
                settings.mlflow_tracking_uri, settings.tracking_auth, settings.mlflow_timeout_seconds
            )
        self._slot: LazySlot[ServedModel] = LazySlot(self._load)
        reload_seconds = settings.model_reload_seconds if settings else 0
        self._refresher = Refresher(self._slot, self._artifact_changed, self._load, reload_seconds)

    def checked_settings(self) -> Settings:
        """The settings; a bad one raises its ConfigurationError (503 naming the variable)."""
        if self.settings is None:
            raise self.config_error
        return self.settings

    def model(self) -> ServedModel:
        """The served model, loaded on first use; every call may start a background check."""
        self.checked_settings()
        try:
            model = self._slot.get()
        except ArtifactNotFound as missing:
            if self._if_missing is None:
                raise
            raise self._if_missing(missing) from None
        self._refresher.poke()
        return model

    def preload(self) -> None:
        """Load the model in the background now (PRELOAD); a failure is logged, and the next
        request tries again as it would have."""
        import threading

        def load() -> None:
            try:
                self.model()
            except Exception as error:  # noqa: BLE001 - logged; requests report it in turn
                message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
                log.error("PRELOAD: the model did not load: %s", message)
            else:
                log.info("PRELOAD: the model is loaded")

        threading.Thread(target=load, name="preload", daemon=True).start()

    def peek(self) -> ServedModel | None:
        """The model if it has loaded, without loading it."""
        return self._slot.peek()

    @property
    def loading(self) -> bool:
        return self._slot.loading

    def unload(self) -> ServedModel | None:
        """Drop the loaded model (its next request loads it again); returns it."""
        return self._slot.clear()

    def _artifact_changed(self, model: ServedModel) -> str | None:
        """One small call: what changed (the same words for the same change), or None when the
        alias names the served version and the artifact's GCS generations are the served ones.
        A registry version never changes."""
        if model.origin is not None:
            ref = uris.parse(model.uri)
            if not ref.follows_alias:
                return None
            version = registry.alias_version(ref, self._tracking)
            if version == model.origin.version:
                return None
            return (
                f"alias '{ref.alias}' of '{ref.name}' moved from version {model.origin.version} to {version}"
            )
        current = storage.generations(model.uri, self.checked_settings().gcs_timeout_seconds)
        if current == model.generations:
            return None
        newest = max(current.values(), default=0)
        return f"the model artifact changed ({len(current)} object(s), newest generation {newest})"

    def _load(self) -> ServedModel:
        from .load import load_served_model

        settings = self.checked_settings()
        try:
            with self._around_load(), memory.loading(one_of_many=self.name is not None):
                model = load_served_model(
                    self.uri,
                    expected_sha256=settings.model_sha256,
                    timeout=settings.gcs_timeout_seconds,
                    trusted_types=settings.skops_trusted_types,
                    tracking=self._tracking,
                    predict_threads=settings.predict_threads,
                    loader=self._loader(),
                )
        except Exception as error:
            self.load_error = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            raise
        self.load_error = None
        return model

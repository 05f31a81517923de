"""The models a function serves: the one MODEL_URI names, or many by name (MODELS), each loaded
on its first request and followed on its own; within MODEL_MEMORY_MB, loading one first evicts
the least recently used idle ones. Each request records the models it used: its log line, its
capture and its API key's scope read them here.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import memory
from ..config import Settings
from ..errors import ConfigurationError, Forbidden, NotFound
from .lifecycle import ModelLifecycle
from .loader_process import LoaderProcess
from .tracking import TrackingServer

log = logging.getLogger(__name__)
MIB = 1024 * 1024
LOAD_SWITCH_SECONDS = 0.0005
# room made before a load where its peak cannot be measured, as a share of the model's size: a
# load's buffers (the file's bytes, skops' schema) come and go on top of what stays
LOAD_HEADROOM = 1.5


@dataclass
class Used:
    """What one request used: the lifecycles it asked for, and the models its API key may use."""

    scope: tuple[str, ...] | None = None
    lifecycles: list[ModelLifecycle] = field(default_factory=list)


_current: ContextVar[Used | None] = ContextVar("models_used", default=None)


class ModelRepository:
    """Every model the function serves, by name; in one-model mode, the one lifecycle."""

    def __init__(self, settings: Settings | None, config_error: ConfigurationError | None = None):
        self.settings, self.config_error = settings, config_error
        self.catalog = settings.models if settings else None
        self._loader = LoaderProcess() if settings and settings.loader_process else None
        self.single = None
        if not self.catalog:
            self.single = ModelLifecycle(settings, config_error, loader=self._loader_beside_loaded)
        self._tracking = None
        if self.catalog and settings.mlflow_tracking_uri:  # one session for every model
            self._tracking = TrackingServer(
                settings.mlflow_tracking_uri, settings.tracking_auth, settings.mlflow_timeout_seconds
            )
        self._named: dict[str, ModelLifecycle] = {}
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()  # one load at a time: its memory growth is its own
        self._active: dict[str, int] = {}  # requests using each model now
        self._last_used: dict[str, float] = {}  # time.time() of each model's last request
        self._sizes: dict[str, int] = {}  # bytes each model's last load grew the process by
        self._peaks: dict[str, int] = {}  # and at its peak, while its buffers were alive
        # models whose last load imported libraries (the first of each kind: scikit-learn, skops,
        # scipy take 100+ MiB): their growth is not theirs, so they count as the others' average
        self._imported: set[str] = set()
        self._loads: dict[str, int] = {}
        self._evictions: dict[str, int] = {}

    @property
    def named(self) -> bool:
        """Many models by name (MODELS), not the one MODEL_URI names."""
        return self.catalog is not None

    def preload(self) -> None:
        """PRELOAD: load the model now, in the background (with MODELS, DEFAULT_MODEL, if set)."""
        if self.single is not None:
            self.single.preload()
        elif self.settings and self.settings.default_model:
            self.lifecycle(self.settings.default_model).preload()

    def checked_settings(self) -> Settings:
        if self.settings is None:
            raise self.config_error
        return self.settings

    @contextmanager
    def request(self, scope: tuple[str, ...] | None = None) -> Iterator[Used]:
        """Around one request: the models it uses count as busy (never evicted) until it ends."""
        used = Used(scope)
        token = _current.set(used)
        try:
            yield used
        finally:
            _current.reset(token)
            now = time.time()
            with self._lock:
                for lifecycle in used.lifecycles:
                    name = lifecycle.name
                    if name is None:
                        continue
                    self._active[name] -= 1
                    if self._named.get(name) is lifecycle:
                        self._last_used[name] = now
                    elif not self._active[name]:  # forgotten (`_unknown`): nothing of it stays
                        del self._active[name]

    def lifecycle(self, name: str | None = None) -> ModelLifecycle:
        """The lifecycle of the model `name` names (None: DEFAULT_MODEL); in one-model mode, the
        one. A malformed name is a 400, one not served a 404, one the API key may not use a 403."""
        used = _current.get()
        if not self.named:
            if name is not None:  # /predict/<name>: a route of MODELS alone
                raise NotFound("this function serves one model (MODEL_URI): POST /predict or /invocations")
            if used is not None and self.single not in used.lifecycles:
                used.lifecycles.append(self.single)
            return self.single
        settings = self.checked_settings()
        name = name or settings.default_model
        if name is None:
            raise NotFound(
                "this function serves many models: name one, as in /predict/<name>, /invocations/<name> "
                f"or /v2/models/<name>/infer; they are {self.catalog.described()}",
                {"models": [n for n, _ in self.catalog.pairs][:20]},
            )
        if used is not None and used.scope is not None and name not in used.scope:
            # before the name is looked up: a scoped key learns nothing of the other names
            raise Forbidden(f"this API key may not use model '{name[:64]}'", {"models": list(used.scope)})
        uri = self.catalog.check(name)
        registry = self.catalog.registry_alias is not None
        with self._lock:
            lifecycle = self._named.get(name)
            if lifecycle is None:
                lifecycle = ModelLifecycle(
                    settings,
                    name=name,
                    uri=uri,
                    around_load=lambda: self._loading(name),
                    tracking=self._tracking,
                    if_missing=(lambda missing: self._unknown(name, missing)) if registry else None,
                    loader=self._loader_beside_loaded,
                )
                self._named[name] = lifecycle
            if used is not None and lifecycle not in used.lifecycles:
                used.lifecycles.append(lifecycle)
                self._active[name] = self._active.get(name, 0) + 1
        return lifecycle

    def _loader_beside_loaded(self) -> LoaderProcess | None:
        """Where a load is deserialized (LOADER_PROCESS): in the loader process while a model is
        loaded here to answer beside it; else here, importing what answering needs."""
        if self._loader is None:
            return None
        if self.single is not None:
            return self._loader if self.single.peek() is not None else None
        with self._lock:
            loaded = any(lc.peek() is not None for lc in self._named.values())
        return self._loader if loaded else None

    def _unknown(self, name: str, missing: Exception) -> NotFound:
        """A name the patterns match but the registry does not hold at the alias: a 404, and the
        name forgotten (a caller inventing names makes nothing that stays)."""
        with self._lock:
            self._named.pop(name, None)
        message = getattr(missing, "message", str(missing))
        return NotFound(
            f"no model named '{name}' at @{self.catalog.registry_alias}: {message}", {"model": name}
        )

    @staticmethod
    def used() -> ModelLifecycle | None:
        """The first model the current request used, if any."""
        used = _current.get()
        return used.lifecycles[0] if used and used.lifecycles else None

    def index(self) -> list[dict[str, Any]]:
        """Every model named so far (all of MODELS' pairs), with its state, size and last use."""
        with self._lock:
            names = [n for n, _ in self.catalog.pairs] + [n for n in self._named if self.catalog.uri(n)]
            rows = []
            for name in dict.fromkeys(names):
                lifecycle = self._named.get(name)
                size = self._held(name) if name in self._sizes else None
                last = self._last_used.get(name)
                rows.append(
                    {
                        "name": name,
                        "uri": self.catalog.uri(name),
                        "state": _state(lifecycle, self._evictions.get(name, 0)),
                        "version": _version(lifecycle),
                        "size_mb": None if size is None else round(size / MIB, 1),
                        "last_used": None if last is None else _iso(last),
                        "in_use": self._active.get(name, 0),
                        "loads": self._loads.get(name, 0),
                        "evictions": self._evictions.get(name, 0),
                        "error": lifecycle.load_error if lifecycle else None,
                    }
                )
        return rows

    def memory(self) -> dict[str, Any]:
        """The budget and what the loaded models take of it; with LOADER_PROCESS, that process's
        resident memory (outside the budget; None until it runs)."""
        budget = self.settings.model_memory_mb if self.settings else None
        with self._lock:
            loaded = sum(self._held(n) for n, lc in self._named.items() if lc.peek() is not None)
        shown = {"budget_mb": budget, "loaded_mb": round(loaded / MIB, 1)}
        if self._loader is not None:
            resident = self._loader.resident_bytes()
            shown["loader_process_mb"] = None if resident is None else round(resident / MIB, 1)
        return shown

    @contextmanager
    def _loading(self, name: str) -> Iterator[None]:
        """Around one model's load: room made for its expected peak (`_size`), its growth and
        peak measured (and whether it imported libraries), the budget kept."""
        with self._load_lock:
            with self._lock:
                expected = self._size(name, self._peaks) or 0
            self._make_room(name, expected)
            before, modules = memory.resident_bytes(), len(sys.modules)
            measured = memory.reset_peak()
            with _yielding_often():
                yield
            size = max(memory.resident_bytes() - before, 0)
            peak = memory.peak_resident_bytes() - before if measured else int(size * LOAD_HEADROOM)
            with self._lock:
                self._sizes[name] = size
                self._peaks[name] = max(peak, size)
                if len(sys.modules) > modules:
                    self._imported.add(name)
                else:
                    self._imported.discard(name)
                size = self._size(name) or 0
                self._loads[name] = self._loads.get(name, 0) + 1
            log.info("model '%s' loaded: %.1f MiB", name, size / MIB, extra={"json_fields": {"model": name}})
            self._make_room(name, size)
            if self._loader is not None:
                self._loader.start()  # ready for the next model's load

    def _size(self, name: str, measured: dict[str, int] | None = None) -> int | None:
        """A model's size (or, from `self._peaks`, its load's peak) as its last load measured it;
        for one whose load imported libraries, or one not loaded yet, the average of the models
        measured without imports; failing that, what its own load measured, or None. Called under
        `self._lock`."""
        measured = self._sizes if measured is None else measured
        if name in measured and name not in self._imported:
            return measured[name]
        clean = [v for n, v in measured.items() if n not in self._imported]
        return sum(clean) // len(clean) if clean else measured.get(name)

    def _held(self, name: str) -> int:
        """What a model takes of the budget: its size as loaded, plus what its kernel built since
        for large batches (a read forest's compiled trees). Called under `self._lock`."""
        lifecycle = self._named.get(name)
        model = lifecycle.peek() if lifecycle is not None else None
        return (self._size(name) or 0) + (model.built_bytes() if model is not None else 0)

    def _make_room(self, name: str, needed: int) -> None:
        """Evict the least recently used idle models until the others and `needed` fit."""
        budget = self.settings.model_memory_mb
        if budget is None:
            return
        while True:
            with self._lock:
                loaded = {n: lc for n, lc in self._named.items() if n != name and lc.peek() is not None}
                total = sum(self._held(n) for n in loaded) + needed
                idle = [n for n in loaded if self._active.get(n, 0) == 0]
                if total <= budget * MIB or not idle:
                    if total > budget * MIB:
                        why = "every other model is serving a request" if loaded else "it alone needs that"
                        log.warning(
                            "MODEL_MEMORY_MB: %.0f MiB with '%s', over the budget of %d: %s",
                            total / MIB,
                            name,
                            budget,
                            why,
                        )
                    return
                victim = min(idle, key=lambda n: self._last_used.get(n, 0.0))
                loaded[victim].unload()
                self._evictions[victim] = self._evictions.get(victim, 0) + 1
            log.info(
                "model '%s' evicted to make room for '%s' (MODEL_MEMORY_MB=%d)",
                victim,
                name,
                budget,
                extra={"json_fields": {"model": victim}},
            )
            memory.release_unloaded()


@contextmanager
def _yielding_often() -> Iterator[None]:
    """While a model loads beside requests to the others: Python hands its lock from thread to
    thread every LOAD_SWITCH_SECONDS instead of every 5 ms, so a request waits less behind the
    load (which takes a little longer)."""
    default = sys.getswitchinterval()
    sys.setswitchinterval(LOAD_SWITCH_SECONDS)
    try:
        yield
    finally:
        sys.setswitchinterval(default)


def _state(lifecycle: ModelLifecycle | None, evictions: int) -> str:
    if lifecycle is not None and lifecycle.peek() is not None:
        return "loaded"
    if lifecycle is not None and lifecycle.loading:
        return "loading"
    if lifecycle is not None and lifecycle.load_error:
        return "failed"
    return "evicted" if evictions else "not loaded"


def _version(lifecycle: ModelLifecycle | None) -> str | None:
    model = lifecycle.peek() if lifecycle else None
    return model.origin.version if model is not None and model.origin is not None else None


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()

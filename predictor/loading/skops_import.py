"""`skops.io`, imported without the scans that make its import cost seconds of a cold start.

While `skops.io` imports, it lists the types it trusts by default:
- every scikit-learn estimator, found by importing every scikit-learn module
  (`all_estimators()`): over a second, and all of scikit-learn in memory. The walk is skipped
  and skops gets the same names from `skops_estimators.txt`, a reviewed copy of its own list
  (a test compares the two), so it trusts exactly what it trusts by default;
- the module of each scipy ufunc, which has no `__module__`: for each of scipy.special's ~230
  ufuncs, skops' `whichmodule` calls `getattr` on every loaded module in turn (~1,500 in a
  serving process) until one holds it. On Python 3.11 each miss builds an exception: about a
  second in all. `first_holder` answers exactly as `whichmodule` does, reading a plain
  module's namespace directly instead (4–5 times faster), and stands in for it while
  `skops.io` imports.
"""

from __future__ import annotations

import importlib.abc
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

SKOPS_UTILS = "skops.io._utils"
SKOPS_TRUSTED_TYPES = "skops.io._trusted_types"
ESTIMATORS_FILE = Path(__file__).with_name("skops_estimators.txt")


_importing = threading.Lock()  # what is swapped must be put back by the thread that swapped it


def import_skops() -> ModuleType:
    with _importing:
        if "skops.io" not in sys.modules:
            import sklearn.utils

            walk = sklearn.utils.all_estimators
            sklearn.utils.all_estimators = lambda *args, **kwargs: []
            finder = _FastWhichmodule()
            sys.meta_path.insert(0, finder)
            try:
                import skops.io  # noqa: F401
            finally:
                sys.meta_path.remove(finder)
                finder.restore()
                sklearn.utils.all_estimators = walk
            # the list skops' nodes hold (imported by name): filled in place, not rebound
            sys.modules[SKOPS_TRUSTED_TYPES].SKLEARN_ESTIMATOR_TYPE_NAMES.extend(reviewed_estimators())
    return sys.modules["skops.io"]


def reviewed_estimators() -> list[str]:
    """The scikit-learn estimators skops trusts by default, as `skops_estimators.txt` lists them."""
    lines = ESTIMATORS_FILE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def first_holder(whichmodule: Callable[[Any, str], str], obj: Any, name: str) -> str:
    """What skops' `whichmodule(obj, name)` answers: the first loaded module (in import order)
    whose attribute `name` is `obj`, or "__main__"."""
    if getattr(obj, "__module__", None) is not None or "." in name or name.startswith("__"):
        return whichmodule(obj, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # as skops: some getattr hooks warn
        for module_name, module in sys.modules.copy().items():
            if module_name in ("__main__", "__mp_main__") or module is None:
                continue
            namespace = module.__dict__ if type(module) is ModuleType else None
            if namespace is not None and (name in namespace or "__getattr__" not in namespace):
                found = namespace.get(name)  # a plain module's getattr reads nothing else
            else:
                try:
                    found = getattr(module, name, None)
                except (AttributeError, ImportError):
                    continue
            if found is obj:
                return module_name
    return "__main__"


class _FastWhichmodule(importlib.abc.MetaPathFinder):
    """Finds nothing itself; just before skops' trust lists are imported, it puts
    `first_holder` in place of skops' `whichmodule` (and `restore` puts it back)."""

    def __init__(self) -> None:
        self._original: Callable[[Any, str], str] | None = None

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        utils = sys.modules.get(SKOPS_UTILS)
        original = getattr(utils, "whichmodule", None)
        if fullname == SKOPS_TRUSTED_TYPES and callable(original) and self._original is None:
            self._original = original
            utils.whichmodule = lambda obj, name: first_holder(original, obj, name)
        # the usual finders import it

    def restore(self) -> None:
        if self._original is not None:
            sys.modules[SKOPS_UTILS].whichmodule = self._original
            self._original = None

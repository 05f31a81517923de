"""What a model read without scikit-learn is (linear_models.py, forest_models.py): a plain object
that predicts a matrix as scikit-learn does, its class bearing the name of the estimator it was
read from, so it crosses to the loader process and back (loading/loader_process.py)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


class ReadModel:
    """A model read without scikit-learn; predicts a matrix as scikit-learn does. Each
    instance's class bears the name of the estimator it was read from."""

    kernel: Any  # the prediction of the fast path's float64 matrix, as wide as fitted (finite, or
    # with missing values where the kernel `takes_missing`)
    n_features_in_: int
    without_scikit_learn = True  # so serving it never imports scikit-learn (model.py)

    def __init__(self, *fields: Any) -> None:
        self._fields = fields  # what rebuilds it (__reduce__)

    def _takes(self, width: int, names: np.ndarray | None, saved_with: str | None) -> None:
        """What it was fitted on, as scikit-learn records it, and the version that saved it."""
        self.n_features_in_ = width
        if names is not None:
            self.feature_names_in_ = names
        self.saved_with = saved_with

    def use_threads(self, threads: int) -> None:
        """The most threads one prediction may use (one, unless the model can use more)."""

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by its estimator's name (its class is made as it is read): the loader process
        hands it back so (loading/loader_process.py)."""
        return _rebuilt, (type(self).__bases__[0], type(self).__name__, *self._fields)

    def _checked(self, X: Any) -> np.ndarray:
        """scikit-learn's checks of a dense input: 2-D, as wide as fitted, finite."""
        X = np.asarray(X)  # a DataFrame of doubles gives the array scikit-learn's checks give
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected a 2-D input of {self.n_features_in_} features, got shape {X.shape}")
        if X.dtype.kind in "fc" and not np.isfinite(X).all():
            raise ValueError(f"Input X contains {'NaN' if np.isnan(X).any() else 'infinity'}.")
        return X

    def predict(self, X: Any) -> np.ndarray:
        return self.kernel(self._checked(X))


def _rebuilt(base: type[ReadModel], name: str, *fields: Any) -> ReadModel:
    return named(name, base)(*fields)


@functools.cache
def named(name: str, base: type[ReadModel]) -> type[ReadModel]:
    return type(name, (base,), {"__doc__": f"{name}, read without scikit-learn."})

"""A model file read into what serves it: checked and deserialized, its inputs derived, a kernel
proven for it. Run in this process, or in the loader process (loader_process.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifact import load_artifact
from .read_model import ReadModel

if TYPE_CHECKING:
    import numpy as np

    from ..inputs.schema import Features
    from ..parts import Artifact

Kernel = Callable[["np.ndarray"], "np.ndarray"]


@dataclass
class Deserialized:
    """A model file read: the artifact, its inputs, what takes the fast path's matrix
    (`scoring.matrix_estimator`) and the kernel proven to answer as it does."""

    artifact: Artifact
    features: Features
    lean: Any
    kernel: Kernel | None

    @classmethod
    def of(cls, artifact: Artifact, lean: Any, kernel: Kernel | None) -> Deserialized:
        """The same, its inputs derived again (from the artifact: a schema class is not pickled);
        a model read without scikit-learn brings its own kernel."""
        from ..inputs.schema import features_for

        if isinstance(lean, ReadModel):
            kernel = lean.kernel
        return cls(artifact, features_for(artifact.estimator, artifact.signature), lean, kernel)


def deserialize(
    path: Path, expected_sha256: str | None, trusted_types: Collection[str], threads: int
) -> Deserialized:
    """Check and deserialize the file (or MLflow folder) at `path`, derive its inputs, and prove
    a kernel for it (`threads`: the most a forest's may use)."""
    from ..inputs.schema import features_for
    from ..kernels import kernel_for
    from ..scoring import matrix_estimator

    artifact = load_artifact(path, expected_sha256, trusted_types)
    features = features_for(artifact.estimator, artifact.signature)
    if isinstance(artifact.estimator, ReadModel) and features.fast_path is None:
        # read without scikit-learn only where its inputs are proven numbers, in name order
        artifact = load_artifact(path, expected_sha256, trusted_types, plain=False)
    if isinstance(artifact.estimator, ReadModel):
        return Deserialized(artifact, features, artifact.estimator, artifact.estimator.kernel)
    width = len(features.columns)
    lean = matrix_estimator(artifact.estimator, features)
    kernel = kernel_for(lean, width, threads) if lean is not None else None
    return Deserialized(artifact, features, lean, kernel)


def import_scikit_learn() -> None:
    """What unpickling a scikit-learn model needs first (seconds of CPU: run beside a download)."""
    import pandas  # noqa: F401
    import sklearn.base  # noqa: F401

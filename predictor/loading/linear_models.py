"""Linear models read without scikit-learn (loading/skops_linear.py reads them from skops
files): each predicts a dense matrix as scikit-learn does, with scikit-learn's checks of the
input first and the arithmetic of predictor/kernels/linear.py after."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..kernels.linear import LinearExpression, LinearLabels, PipelineKernel, StandardScaling
from .read_model import ReadModel


class LinearRegressor(ReadModel):
    """A fitted linear regressor's coefficients."""

    def __init__(self, coef: np.ndarray, intercept: Any, names: np.ndarray | None, saved_with: str | None):
        super().__init__(coef, intercept, names, saved_with)
        self.coef_, self.intercept_ = coef, intercept
        self._takes(coef.shape[-1], names, saved_with)
        self.kernel = LinearExpression(coef, intercept)


class LinearClassifier(ReadModel):
    """A fitted logistic regression: labels, and probabilities as `LogisticRegression` gives them
    (two classes: the logistic of the score, scipy's `expit` as scikit-learn calls it; more: the
    softmax of the scores)."""

    def __init__(
        self,
        coef: np.ndarray,
        intercept: np.ndarray,
        classes: np.ndarray,
        names: np.ndarray | None,
        saved_with: str | None,
    ):
        super().__init__(coef, intercept, classes, names, saved_with)
        self.coef_, self.intercept_, self.classes_ = coef, intercept, classes
        self._takes(coef.shape[-1], names, saved_with)
        self.kernel = LinearLabels(coef, intercept, classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.probabilities(self._checked(X))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        return np.log(self.predict_proba(X))

    def probabilities(self, X: np.ndarray) -> np.ndarray:
        """`predict_proba` of a checked matrix."""
        scores = self.kernel.scores(X)
        if len(self.classes_) <= 2:
            from scipy.special import expit  # a tenth of a second, on the first such request

            scores = scores.reshape(-1) if scores.ndim > 1 else scores
            positive = expit(scores, out=scores)
            return np.stack([1 - positive, positive], axis=1)
        scores -= np.max(scores, axis=1).reshape(-1, 1)
        np.exp(scores, out=scores)
        scores /= np.sum(scores, axis=1).reshape(-1, 1)
        return scores


class ScaledModel(ReadModel):
    """`StandardScaler`s, then a linear regressor."""

    def __init__(
        self,
        scalings: list[StandardScaling],
        final: ReadModel,
        names: np.ndarray | None,
        saved_with: str | None,
    ):
        super().__init__(scalings, final, names, saved_with)
        self.scalings, self.final = scalings, final
        self._takes(final.n_features_in_, names, saved_with)
        self.kernel = PipelineKernel(scalings, final.kernel)


class ScaledClassifier(ScaledModel):
    """`StandardScaler`s, then a logistic regression."""

    final: LinearClassifier

    def __init__(self, *fields: Any):
        super().__init__(*fields)
        self.classes_ = self.final.classes_

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.final.probabilities(self.kernel.transform(self._checked(X)))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        return np.log(self.predict_proba(X))

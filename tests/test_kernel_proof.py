"""What proves a kernel (predictor/kernels/proof.py): the same dtype, shape and bits, or for
labels of another kind the same values; and every probe, not just the whole."""

import numpy as np
import pytest

from predictor.kernels.proof import agrees_on_probes, holds, identical

ONE = np.array([0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    "mine, theirs, same",
    [
        (ONE, ONE.copy(), True),
        (ONE, np.nextafter(ONE, 1), False),  # one bit off
        (ONE, ONE.astype(np.float32), False),  # another dtype, even where the values agree
        (ONE, ONE.reshape(3, 1), False),  # another shape
        (np.array(["a", "b"], dtype=object), np.array(["a", "b"], dtype=object), True),
        (np.array(["a", "b"], dtype=object), np.array(["a", "c"], dtype=object), False),
        (np.array([-0.0]), np.array([0.0]), False),  # equal as numbers, not as bits
    ],
)
def test_identical(mine, theirs, same):
    assert identical(mine, theirs) is same


def test_a_kernel_off_on_one_probe_alone_is_refused():
    stacked = np.arange(12.0).reshape(6, 2)
    exact = stacked.sum(axis=1)

    def off_on_four_rows(X):
        sums = X.sum(axis=1)
        return sums + 1 if len(X) == 4 else sums

    assert agrees_on_probes(lambda X: X.sum(axis=1), lambda X: exact, stacked, (1, 1, 4))
    assert not agrees_on_probes(off_on_four_rows, lambda X: exact, stacked, (1, 1, 4))


def warns() -> bool:
    import warnings

    warnings.warn("a model that complains", UserWarning, stacklevel=1)
    return True


@pytest.mark.parametrize(
    "check, holds_",
    [
        (lambda: True, True),
        (lambda: False, False),
        (warns, False),  # a warning is an error while proving
        (lambda: 1 / 0, False),  # so is any exception: no proof, scikit-learn's own path
    ],
    ids=["true", "false", "a warning", "an error"],
)
def test_a_proof_holds_only_when_it_runs_clean_and_true(check, holds_):
    assert holds(check) is holds_

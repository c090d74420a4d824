"""average_ranks against scipy.stats.rankdata (the reference)."""

import numpy as np
import pytest
from scipy import stats

from deconv_core.ranking import average_ranks


@pytest.mark.parametrize("axis", [0, 1])
def test_matches_scipy_with_ties(axis):
    rng = np.random.default_rng(0)
    for _ in range(50):
        shape = tuple(rng.integers(1, 12, size=2))
        values = rng.integers(0, 4, size=shape).astype(float)
        np.testing.assert_allclose(
            average_ranks(values, axis=axis), stats.rankdata(values, axis=axis)
        )


def test_one_dimensional_and_empty():
    np.testing.assert_allclose(average_ranks(np.array([3.0, 1.0, 3.0])), [2.5, 1.0, 2.5])
    assert average_ranks(np.zeros((0, 3))).shape == (0, 3)


def test_long_columns_of_ties_equal_scipy_exactly():
    # Long columns take numpy's fast (unstable) sort: ties must still share one rank.
    values = np.random.default_rng(1).integers(0, 5, size=(3000, 7)).astype(float)
    np.testing.assert_array_equal(average_ranks(values), stats.rankdata(values, axis=0))


def test_columns_without_ties_and_mixed_blocks_equal_scipy_exactly():
    rng = np.random.default_rng(2)
    continuous = rng.lognormal(size=(500, 6))  # no ties: the sorted positions are the ranks
    np.testing.assert_array_equal(average_ranks(continuous), stats.rankdata(continuous, axis=0))
    mixed = continuous.copy()
    mixed[:40, 2] = 1.0  # one column with a long run, one with pairs, the others without ties
    mixed[::2, 4] = mixed[1::2, 4]
    np.testing.assert_array_equal(average_ranks(mixed), stats.rankdata(mixed, axis=0))
    np.testing.assert_array_equal(average_ranks(mixed.T, axis=1), stats.rankdata(mixed.T, axis=1))

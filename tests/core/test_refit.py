"""deconv_core.refit: the refit engine shared by the bootstrap and the confounding checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import nnls as scipy_nnls

from deconv_core import deconvolve
from deconv_core.refit import (
    MIN_SPREAD,
    as_signature,
    fit_arrays,
    log_ratios,
    nanmedian_lines,
    robust_spread,
    robust_weights,
    solve_rows,
)
from deconv_core.validation import InputError
from tests.conftest import planted_mixtures


def test_resampled_fit_matches_the_scipy_loop(til10):
    expr, _ = planted_mixtures(4, noise=0.2, seed=8)
    expr.iloc[3, 1] = np.nan  # one missing value: that sample is fitted on its other genes
    result = deconvolve(expr, til10)
    Sw, Yw, nan_mask, _ = fit_arrays(result)
    rows = np.random.default_rng(0).integers(0, Sw.shape[0], Sw.shape[0])
    coef = solve_rows(Sw, Yw, nan_mask, rows)
    for j in range(Yw.shape[1]):
        keep = rows[~nan_mask[rows, j]]
        np.testing.assert_allclose(coef[:, j], scipy_nnls(Sw[keep], Yw[keep, j])[0], atol=1e-8)


def test_least_squares_fits_have_no_robustness_weights(til10, planted):
    assert robust_weights(deconvolve(planted[0], til10, loss="squares")) is None
    robust = robust_weights(deconvolve(planted[0], til10))
    assert robust is not None and robust.shape[1] == planted[0].shape[1]


def test_residual_helpers_follow_their_formulas():
    ratios = log_ratios(np.array([[3.0], [0.0]]), np.array([[1.0], [-5.0]]))
    np.testing.assert_allclose(ratios, [[1.0], [0.0]])
    spread = robust_spread(np.array([[0.0, np.nan], [0.0, np.nan], [0.0, np.nan]]))
    assert spread[0] == MIN_SPREAD and np.isnan(spread[1])


@pytest.mark.parametrize("length", [7, 601, 1296])  # np.nanmedian changes method past 600
def test_medians_of_lines_equal_nanmedian_with_and_without_gaps(length):
    rng = np.random.default_rng(3)
    values = rng.lognormal(0, 1, size=(length, 9))
    values[rng.integers(length), 2] = np.nan  # one gappy column, one gappy row
    values[:, 5] = np.round(values[:, 5])  # ties
    # Both memory layouts per axis: a Fortran-ordered array's columns are contiguous
    # already, so the medians must not reorder it in place.
    complete = np.asfortranarray(np.nan_to_num(values))
    for axis, lines in ((0, values), (1, values.T.copy()), (0, complete)):
        before = lines.copy()
        expected = np.nanmedian(lines, axis=axis)
        assert np.array_equal(nanmedian_lines(lines, axis=axis), expected)
        assert np.array_equal(lines, before, equal_nan=True)
    spread = robust_spread(values)
    centre = np.nanmedian(values, axis=0)
    mad = 1.4826 * np.nanmedian(np.abs(values - centre), axis=0)
    assert np.array_equal(spread, np.maximum(mad, MIN_SPREAD))


def test_as_signature_rejects_another_signatures_cell_types(til10, planted):
    result = deconvolve(planted[0], til10)
    assert as_signature(til10, result) is til10
    other = pd.DataFrame(
        til10.matrix.to_numpy(),
        index=til10.matrix.index,
        columns=list("ABCDEFGHIJ")[: til10.matrix.shape[1]],
    )
    with pytest.raises(InputError, match="not the ones of the result"):
        as_signature(other, result)

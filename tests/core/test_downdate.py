"""deconv_core.downdate: refits without genes by downdates equal the refits from scratch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core import deconvolve, downdate
from deconv_core.downdate import fit_full, leave_each_out, leave_out
from deconv_core.refit import fit_arrays, robust_weights, solve_rows
from tests.conftest import planted_mixtures

HOEK = Path("/work/shared/data/GSE64655_Hoek2015_PBMC/expression_tpm.tsv")


def _arrays(expr, til10, loss):
    result = deconvolve(expr, til10, loss=loss)
    Sw, Yw, nan_mask, _ = fit_arrays(result)
    robust = robust_weights(result)
    start = np.nan_to_num(result.coefficients.to_numpy(dtype=float).T)
    weights = (~nan_mask).astype(float) if robust is None else robust
    return Sw, Yw, nan_mask, robust, start, fit_full(Sw, Yw, weights, start)


def _scratch_each_out(Sw, Yw, nan_mask, robust, start):
    rows = np.arange(Sw.shape[0])
    return np.stack([solve_rows(Sw, Yw, nan_mask, np.delete(rows, i), robust, start) for i in rows])


def _assert_same(new, old):
    assert np.array_equal(np.isnan(new), np.isnan(old))
    scale = np.nanmax(np.abs(old))
    np.testing.assert_allclose(np.nan_to_num(new), np.nan_to_num(old), rtol=0, atol=1e-8 * scale)


@pytest.mark.parametrize(("loss", "block"), [("squares", None), ("huber", None), ("huber", 4)])
def test_leave_each_out_equals_refits_from_scratch_on_planted_data(til10, loss, block, monkeypatch):
    # Sparse, noisy mixtures: leaving a gene out changes some passive sets,
    # so both the closed form and the fallback are exercised.  block=4: the six
    # samples in blocks of 4 and 2 (the work arrays reused, the last one cut).
    expr, _ = planted_mixtures(6, noise=0.4, seed=5)
    expr.iloc[4, 2] = np.nan
    Sw, Yw, nan_mask, robust, start, fit = _arrays(expr, til10, loss)
    if block is not None:
        monkeypatch.setattr(downdate, "_BLOCK", block * Sw.size)
    new = leave_each_out(fit)
    old = _scratch_each_out(Sw, Yw, nan_mask, robust, start)
    _assert_same(new, old)
    changed = ((np.nan_to_num(old) > 0) != (np.nan_to_num(fit.X) > 0)[None]).any(axis=1)
    assert changed.any() and not changed.all()
    assert np.isnan(new[:, :, 2]).sum() == 0 and np.isnan(new[4, :, 2]).sum() == 0


@pytest.mark.skipif(not HOEK.exists(), reason="shared benchmark data not on this machine")
def test_leave_each_out_and_panels_equal_refits_on_real_pbmc(til10):
    expr = pd.read_csv(HOEK, sep="\t", index_col=0).iloc[:, :4]
    Sw, Yw, nan_mask, robust, start, fit = _arrays(expr, til10, "huber")
    _assert_same(leave_each_out(fit), _scratch_each_out(Sw, Yw, nan_mask, robust, start))
    rows = np.arange(Sw.shape[0])
    panel = rows[3::9]
    drop = np.zeros(rows.size, dtype=bool)
    drop[panel] = True
    old = solve_rows(Sw, Yw, nan_mask, np.setdiff1d(rows, panel), robust, start)
    _assert_same(leave_out(fit, drop), old)


def test_leave_out_per_sample_genes_and_too_few_left(til10):
    expr, _ = planted_mixtures(3, noise=0.3, seed=2)
    Sw, Yw, nan_mask, robust, start, fit = _arrays(expr, til10, "squares")
    g, k = Sw.shape
    rng = np.random.default_rng(0)
    drop = rng.random((g, 3)) < 0.3
    drop[: g - k, 2] = True  # sample 3 keeps only k genes: no refit possible
    new = leave_out(fit, drop)
    for j in range(2):
        old = solve_rows(Sw, Yw[:, [j]], nan_mask[:, [j]], np.flatnonzero(~drop[:, j]))
        _assert_same(new[:, [j]], old)
    assert np.isnan(new[:, 2]).all()

"""A sample's fit does not depend on the samples fitted beside it, to the last bit.

The in-memory engine fits a cohort at once; the Dask engine fits it in chunks
of any size; the dashboard refits subsets.  Their files agree byte for byte
only if every sample's numbers are the same in any company.
"""

import numpy as np
import pandas as pd
import pytest

from deconv_core.solvers import (
    _in_row_order,
    _line_search,
    _rows_times,
    _running_sums,
    huber_nnls,
    nnls,
)
from deconv_core.threads import blas_thread_limit


def _cohort(n=301, seed=4):
    """LM22-shaped signature; samples on scales 1,000x apart with outlying genes."""
    rng = np.random.default_rng(seed)
    genes, types = 240, 12
    S = rng.lognormal(3, 1.5, size=(genes, types))
    for i in range(types):
        S[rng.choice(genes, 12, replace=False), i] *= 20
    P = rng.dirichlet(np.full(types, 0.3), size=n).T
    Y = S @ P * rng.lognormal(0, 0.3, size=(genes, n))
    Y *= rng.lognormal(0, 2, size=n)
    Y[rng.integers(0, genes, 200), rng.integers(0, n, 200)] *= 30
    return S, Y, rng


def _in_chunks(fit, n, size, order):
    """``(columns, fit(columns))`` for consecutive chunks of ``order``, ``size`` samples each."""
    parts = [(order[i : i + size], fit(order[i : i + size])) for i in range(0, n, size)]
    return parts


@pytest.mark.parametrize("missing", [False, True])
def test_robust_fit_of_a_sample_is_the_same_in_any_chunk(missing):
    S, Y, rng = _cohort()
    n = Y.shape[1]
    present = rng.random(Y.shape) > 0.03 if missing else None
    if missing:
        present[:, :100] = True  # complete and incomplete samples side by side
    X, W = huber_nnls(S, Y, present=present)
    for size, order in ((1, np.arange(n)), (3, np.arange(n)), (7, rng.permutation(n))):

        def fit(cols):
            return huber_nnls(S, Y[:, cols], present=None if present is None else present[:, cols])

        for cols, (Xc, Wc) in _in_chunks(fit, n, size, order):
            np.testing.assert_array_equal(Xc, X[:, cols])
            np.testing.assert_array_equal(Wc, W[:, cols])


def test_refits_from_a_start_are_the_same_in_any_chunk():
    S, Y, rng = _cohort(n=120, seed=6)
    start = nnls(S, Y) * 1.1
    X, W = huber_nnls(S, Y, start=start)
    for cols, (Xc, Wc) in _in_chunks(
        lambda c: huber_nnls(S, Y[:, c], start=start[:, c]), 120, 5, rng.permutation(120)
    ):
        np.testing.assert_array_equal(Xc, X[:, cols])
        np.testing.assert_array_equal(Wc, W[:, cols])


def test_least_squares_of_a_sample_is_the_same_in_any_chunk():
    S, Y, rng = _cohort(n=150, seed=2)
    with blas_thread_limit():
        X = nnls(S, Y)
        for size in (1, 2, 9):
            order = rng.permutation(150)
            for cols, Xc in _in_chunks(lambda c: nnls(S, Y[:, c]), 150, size, order):
                np.testing.assert_array_equal(Xc, X[:, cols])


@pytest.mark.parametrize("shape", [(547, 22), (22, 547), (547, 253)])
def test_rows_of_a_product_do_not_depend_on_the_rows_beside_them(shape):
    rng = np.random.default_rng(1)
    B = rng.normal(size=shape)
    A = rng.normal(size=(101, shape[0]))
    with blas_thread_limit():
        whole = _rows_times(A, B)
        np.testing.assert_allclose(whole, A @ B, rtol=1e-12, atol=1e-12)
        for first, count in ((0, 1), (5, 1), (3, 7), (10, 33), (0, 100), (1, 100)):
            rows = slice(first, first + count)
            np.testing.assert_array_equal(_rows_times(A[rows], B), whole[rows])
            # A transposed view (the column-oriented callers pass one).
            At = np.asfortranarray(A)[rows]
            np.testing.assert_array_equal(_rows_times(At, B), whole[rows])


def test_events_of_a_row_keep_their_order_whatever_the_other_rows():
    rng = np.random.default_rng(3)
    row = np.repeat(np.arange(50), 20)
    pos = rng.random(row.size)
    pos[1::20] = pos[0::20]  # exact ties within rows
    pos[2::20] = np.nextafter(pos[3::20], 0)  # positions that round together in row + pos
    bend = rng.normal(size=row.size)
    shuffle = rng.permutation(row.size)
    r, p, b = _in_row_order(row[shuffle], pos[shuffle], bend[shuffle])
    exact = np.lexsort((pos[shuffle], row[shuffle]))  # stable: ties as listed
    np.testing.assert_array_equal(r, row[shuffle][exact])
    np.testing.assert_array_equal(p, pos[shuffle][exact])
    np.testing.assert_array_equal(b, bend[shuffle][exact])
    # Without ties the quick order is the exact one.
    fresh = rng.random(row.size)
    r, p, _ = _in_row_order(row, fresh, bend)
    exact = np.lexsort((fresh, row))
    np.testing.assert_array_equal(p, fresh[exact])


def test_running_sums_add_each_run_on_its_own_in_order():
    rng = np.random.default_rng(5)
    lengths = [0, 1, 4, 17, 2]
    heads = rng.normal(size=len(lengths)) * 10.0 ** rng.integers(-8, 8, len(lengths))
    values = rng.normal(size=sum(lengths)) * 1e6
    run = np.repeat(np.arange(len(lengths)), lengths)
    place = np.concatenate([np.arange(n) for n in lengths])
    table = _running_sums(heads, values, run, place)
    start = 0
    for r, n in enumerate(lengths):
        total = heads[r]
        assert table[r, 0] == total
        for c in range(n):
            total = total + values[start + c]  # the same additions, in the same order
            assert table[r, c + 1] == total
        start += n


def test_line_search_of_a_row_is_the_same_beside_any_rows():
    rng = np.random.default_rng(9)
    m, g = 60, 200
    R = rng.standard_t(2, size=(m, g)) * 10.0 ** rng.integers(-3, 4, size=(m, 1))
    U = rng.normal(size=(m, g)) * np.abs(R).mean(axis=1, keepdims=True) * 3
    t = 1.345 * np.median(np.abs(R), axis=1)
    inside = np.abs(R) <= t[:, None]
    start = -np.einsum("ij,ij->i", np.clip(R, -t[:, None], t[:, None]), U)
    U[start > 0] *= -1
    start = -np.abs(start)
    curve = np.einsum("ij,ij->i", np.where(inside, U, 0.0), U)
    search = np.ones(m, dtype=bool)
    whole = _line_search(R, U, R - U, inside, t, start, curve, search)
    assert (whole < 1).sum() > m // 2
    for rows in (slice(0, 1), slice(7, 8), slice(3, 40), rng.permutation(m)[:23]):
        part = _line_search(
            R[rows], U[rows], (R - U)[rows], inside[rows], t[rows], start[rows],
            curve[rows], search[rows],
        )  # fmt: skip
        np.testing.assert_array_equal(part, whole[rows])


def test_a_singular_system_does_not_change_how_the_others_are_solved():
    from deconv_core.solvers import _lapack_solve, _stack_solve

    rng = np.random.default_rng(11)
    for size in (1, 2, 5):
        A = rng.normal(size=(6, 9, size))
        sub = A.transpose(0, 2, 1) @ A
        rhs = rng.normal(size=(6, size, 1))
        alone = _stack_solve(sub, rhs)
        sub[2] = 0.0  # singular: least squares, minimum norm (here zero)
        mixed = _stack_solve(sub, rhs)
        np.testing.assert_array_equal(np.delete(mixed, 2, axis=0), np.delete(alone, 2, axis=0))
        np.testing.assert_array_equal(mixed[2], 0.0)
        np.testing.assert_array_equal(
            _lapack_solve(sub, rhs)[[0, 1]], _lapack_solve(sub[:2], rhs[:2])
        )


def test_a_fit_is_the_same_to_the_last_bit_in_either_memory_layout():
    """The in-memory engine's tables are column-major, the Dask engine's chunks row-major:
    the per-sample totals once differed in their last bits between the two (numpy sums a
    row-major array's columns row by row), and so did every number of the fit."""
    from deconv_core import deconvolve, load_signature
    from tests.conftest import planted_mixtures

    expr, _ = planted_mixtures(8, noise=0.2, seed=5, n_filler=3000)
    values = expr.to_numpy(dtype=np.float64)
    frame = lambda array: pd.DataFrame(array, index=expr.index, columns=expr.columns, copy=False)  # noqa: E731
    by_column = frame(np.asfortranarray(values))
    by_row = frame(np.ascontiguousarray(values))  # as ChunkedSource.read gives an HDF5 chunk
    assert by_column.to_numpy().flags.f_contiguous
    assert by_row.to_numpy().flags.c_contiguous and not by_row.to_numpy().flags.f_contiguous
    # The premise: numpy's plain column sums of the two layouts differ in their last bits.
    assert not np.array_equal(by_column.to_numpy().sum(axis=0), by_row.to_numpy().sum(axis=0))
    til10 = load_signature("TIL10")
    for mode in ("relative", "absolute"):
        a = deconvolve(by_column, til10, mode=mode)
        b = deconvolve(by_row, til10, mode=mode)
        pd.testing.assert_frame_equal(a.proportions, b.proportions, check_exact=True)
        pd.testing.assert_frame_equal(a.fitted, b.fitted, check_exact=True)
        pd.testing.assert_frame_equal(a.robustness, b.robustness, check_exact=True)

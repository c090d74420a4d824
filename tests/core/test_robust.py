"""Per-sample weighted NNLS and the Huber robust fit, against scipy and planted outliers."""

import numpy as np
import pytest
from scipy.optimize import nnls as scipy_nnls

from deconv_core.solvers import (
    HUBER_TUNING,
    _column_median,
    huber_nnls,
    kkt_violation,
    nnls,
    weighted_nnls,
)
from tests.core.test_solvers import _problem, _rel_diff


def _scipy_weighted(S, Y, W):
    root = np.sqrt(W)
    return np.column_stack(
        [scipy_nnls(S * root[:, j, None], Y[:, j] * root[:, j])[0] for j in range(Y.shape[1])]
    )


@pytest.mark.parametrize("alpha", [0.1, 0.5, 3.0])
def test_weighted_nnls_agrees_with_scipy_and_kkt(alpha):
    S, _, Y = _problem(3, samples=80, alpha=alpha)
    rng = np.random.default_rng(4)
    W = rng.uniform(0.05, 1.0, size=Y.shape) * (rng.random(Y.shape) > 0.1)  # some weights 0
    X = weighted_nnls(S, Y, W)
    assert X.shape == (S.shape[1], Y.shape[1]) and (X >= 0).all()
    assert _rel_diff(X, _scipy_weighted(S, Y, W)) < 1e-8
    for j in range(0, Y.shape[1], 7):
        root = np.sqrt(W[:, j])
        assert kkt_violation(S * root[:, None], Y[:, j] * root, X[:, j]) < 1e-9


def test_weighted_nnls_with_unit_weights_is_nnls_and_a_start_changes_nothing():
    S, P, Y = _problem(5, samples=50)
    ones = np.ones_like(Y)
    X = weighted_nnls(S, Y, ones)
    assert _rel_diff(X, nnls(S, Y)) < 1e-10
    assert _rel_diff(weighted_nnls(S, Y, ones, start=P), X) < 1e-10
    np.testing.assert_allclose(weighted_nnls(S, S @ P, ones), P, atol=1e-10)


def test_weighted_nnls_zero_weight_rows_are_ignored_and_blocks_agree(monkeypatch):
    import deconv_core.solvers as solvers

    S, _, Y = _problem(6, samples=30)
    W = np.ones_like(Y)
    W[:5] = 0.0
    Y_garbage = Y.copy()
    Y_garbage[:5] = np.nan  # never read where the weight is 0
    X = weighted_nnls(S, Y_garbage, W)
    assert _rel_diff(X, nnls(S[5:], Y[5:])) < 1e-10
    monkeypatch.setattr(solvers, "_BLOCK", 7)
    assert _rel_diff(weighted_nnls(S, Y_garbage, W), X) < 1e-12


def test_weighted_nnls_errors():
    S, _, Y = _problem(7, samples=4)
    with pytest.raises(ValueError, match="same genes"):
        weighted_nnls(S, Y, np.ones((3, 4)))
    with pytest.raises(ValueError, match="non-negative"):
        weighted_nnls(S, Y, -np.ones_like(Y))
    Y[0, 0] = np.inf
    with pytest.raises(ValueError, match="finite where W is positive"):
        weighted_nnls(S, Y, np.ones_like(Y))


def test_huber_is_exact_without_noise_and_close_to_least_squares_with_gaussian_noise():
    S, P, _ = _problem(8, samples=40)
    X, W = huber_nnls(S, S @ P)
    np.testing.assert_allclose(X, P, atol=1e-9)
    assert W.shape == (S.shape[0], 40) and ((W > 0) & (W <= 1)).all()
    # Additive Gaussian noise: Huber keeps most genes at full weight and lands
    # near least squares (95% efficiency is what its constant buys).
    rng = np.random.default_rng(9)
    Y = S @ P + rng.normal(0, 0.5, size=(S.shape[0], 40))
    X, W = huber_nnls(S, Y)
    assert np.median(W) == 1.0 and (W == 1).mean() > 0.75
    assert np.abs(X - nnls(S, Y)).max() < 0.05


def test_huber_resists_gross_outliers_that_mislead_least_squares():
    S, P, Y = _problem(10, samples=60, noise=0.1)
    rng = np.random.default_rng(11)
    bad = rng.choice(S.shape[0], 8, replace=False)
    Y_bad = Y.copy()
    Y_bad[bad] *= 20  # eight genes 20x what the cell types explain
    squares = nnls(S, Y_bad)
    robust, W = huber_nnls(S, Y_bad)
    error = lambda X: np.abs(X - P).mean()  # noqa: E731
    assert error(robust) < error(squares) / 4
    assert error(robust) < 2 * error(nnls(S, Y))  # nearly as good as without outliers
    assert W[bad].max() < 0.2 and np.median(np.delete(W, bad, axis=0)) == 1.0


def test_huber_solution_is_a_fixed_point_of_its_weights():
    S, _, Y = _problem(12, samples=25, noise=0.4)
    X, W = huber_nnls(S, Y, tol=1e-12, max_iter=500)
    # Converged: refitting with the final weights reproduces the answer, and
    # the weights are Huber's for the final residuals.
    assert _rel_diff(weighted_nnls(S, Y, W), X) < 1e-8
    R = Y - S @ X
    scale = np.median(np.abs(R), axis=0) / 0.6745
    expected = np.minimum(1.0, HUBER_TUNING * scale / np.abs(R))
    np.testing.assert_allclose(W, expected, atol=1e-6)


def test_huber_missing_values_equal_a_fit_on_the_present_genes():
    S, _, Y = _problem(13, samples=6, noise=0.3)
    present = np.ones(Y.shape, dtype=bool)
    present[:30, 2] = False
    present[:, 4] = False  # a sample without any value
    Y_nan = np.where(present, Y, np.nan)
    X, W = huber_nnls(S, Y_nan, present=present)
    alone, _ = huber_nnls(S[30:], Y[30:, [2]])
    assert _rel_diff(X[:, [2]], alone) < 1e-5
    assert (W[~present] == 0).all() and not X[:, 4].any()
    keep = [0, 1, 3, 5]
    assert _rel_diff(X[:, keep], huber_nnls(S, Y[:, keep])[0]) < 1e-5


@pytest.mark.parametrize("genes", [1, 2, 7, 8, 153])
def test_column_median_matches_numpy(genes):
    A = np.random.default_rng(genes).normal(size=(genes, 9))
    np.testing.assert_array_equal(_column_median(A), np.median(A, axis=0))


@pytest.mark.parametrize("genes", [1, 2, 547, 1296])
def test_row_median_matches_numpy_and_leaves_its_input_unless_told(genes):
    from deconv_core.solvers import row_median

    A = np.random.default_rng(genes).lognormal(size=(30, genes))
    A[3] = 1.0  # ties
    before = A.copy()
    expected = np.median(A, axis=1)
    np.testing.assert_array_equal(row_median(A), expected)
    np.testing.assert_array_equal(A, before)
    np.testing.assert_array_equal(row_median(A, overwrite=True), expected)


def test_huber_errors_name_the_problem():
    S, _, Y = _problem(14, samples=3)
    with pytest.raises(ValueError, match="same genes"):
        huber_nnls(S, Y[:-1])
    Y[4, 1] = np.nan
    with pytest.raises(ValueError, match="finite"):
        huber_nnls(S, Y)
    present = np.ones(Y.shape, dtype=bool)
    present[4, 1] = False
    X, W = huber_nnls(S, Y, present=present)  # the NaN is not present: fine
    assert np.isfinite(X).all() and W[4, 1] == 0.0


def test_downweighted_genes_lists_the_genes_the_fit_discounted():
    import pandas as pd

    from deconv_core import deconvolve, load_signature
    from deconv_core.qc import downweighted_genes
    from tests.conftest import planted_mixtures

    til10 = load_signature("TIL10")
    expr, _ = planted_mixtures(6, noise=0.1, seed=15)
    expr.loc["TCL1A", "S4"] *= 25  # one gene, one sample
    table = downweighted_genes(deconvolve(expr, til10))
    assert list(table.columns[:3]) == ["gene", "cell_type", "samples"]
    assert {"share", "median_weight", "lowest_weight", "examples"} == set(table.columns[3:])
    row = table.set_index("gene").loc["TCL1A"]
    # Highly expressed genes miss by more in absolute terms and are often
    # down-weighted a little; the planted one is near 0 in its sample.
    assert row["cell_type"] == "B.cells" and row["examples"].split(", ")[0] == "S4"
    assert row["lowest_weight"] < 0.01 and row["share"] == pytest.approx(row["samples"] / 6)
    assert (table["lowest_weight"] < 0.5).all() and (table["median_weight"] < 0.5).all()
    assert table["samples"].is_monotonic_decreasing
    squares = downweighted_genes(deconvolve(expr, til10, loss="squares"))
    assert squares.empty and list(squares.columns) == list(table.columns)
    assert isinstance(squares, pd.DataFrame)


def _huber_objective(S, Y, X, scale):
    """Huber loss of each sample's residuals at the threshold HUBER_TUNING * scale."""
    a = np.abs(Y - S @ X)
    m = np.minimum(a, HUBER_TUNING * scale)
    return (m * (a - m / 2)).sum(axis=0)


def test_newton_rounds_reach_the_optimum_of_converged_reweighting():
    # An LM22-shaped problem with heavy-tailed noise, sparse and dense mixtures.
    rng = np.random.default_rng(21)
    S = rng.lognormal(3, 1.5, size=(547, 22))
    P = rng.dirichlet(np.full(22, 0.3), size=24).T
    Y = S @ P * rng.lognormal(0, 0.3, size=(547, 24))
    X, W = huber_nnls(S, Y)
    # Reference: reweighting alone (a start skips the Newton rounds) run to convergence.
    ref, ref_W = huber_nnls(S, Y, start=nnls(S, Y), tol=1e-12, max_iter=2000)
    scale = _column_median(np.abs(Y - S @ ref)) / 0.6745
    best = _huber_objective(S, Y, ref, scale)
    assert (np.abs(_huber_objective(S, Y, X, scale) - best) / best).max() < 1e-6
    assert _rel_diff(X, ref) < 1e-4
    assert np.abs(W - ref_W).max() < 0.02


def test_default_fit_reaches_the_optimum_on_planted_outliers():
    # Planted: mixtures of a random signature with mild noise, then 5% of the
    # genes of every sample multiplied by 10-30 (a contaminating cell type).
    rng = np.random.default_rng(22)
    S = rng.lognormal(3, 1.5, size=(300, 12))
    P = rng.dirichlet(np.full(12, 0.5), size=30).T
    Y = S @ P * rng.lognormal(0, 0.05, size=(300, 30))
    bad = rng.random(Y.shape) < 0.05
    Y = np.where(bad, Y * rng.uniform(10, 30, size=Y.shape), Y)
    X, W = huber_nnls(S, Y)
    ref, _ = huber_nnls(S, Y, start=nnls(S, Y), tol=1e-12, max_iter=2000)
    scale = _column_median(np.abs(Y - S @ ref)) / 0.6745
    best = _huber_objective(S, Y, ref, scale)
    assert (np.abs(_huber_objective(S, Y, X, scale) - best) / best).max() < 1e-6
    # The planted genes are the ones discounted, and the fit sees through them.
    assert np.median(W[bad]) < 0.1 and np.median(W[~bad]) == 1.0
    assert np.abs(X - P).max() < 0.05 < np.abs(nnls(S, Y) - P).max()


def test_line_search_lands_on_the_minimum_along_the_step():
    from deconv_core.solvers import _line_search

    rng = np.random.default_rng(23)
    m, g = 40, 300
    R = rng.standard_t(2, size=(m, g)) * 3
    U = rng.normal(size=(m, g)) * rng.uniform(0.5, 8, size=(m, 1))
    U[0] = 0.0  # no step: stays at 1
    t = np.full(m, HUBER_TUNING)
    inside = np.abs(R) <= t[:, None]

    def loss(a):
        z = np.abs(R - a[:, None] * U)
        c = np.minimum(z, t[:, None])
        return (c * (z - c / 2)).sum(axis=1)

    start = -np.einsum("ij,ij->i", np.clip(R, -t[:, None], t[:, None]), U)
    U[start > 0] *= -1  # descent directions, as the Newton steps are
    start = -np.abs(start)
    curve = np.einsum("ij,ij->i", np.where(inside, U, 0.0), U)
    search = np.ones(m, dtype=bool)
    alpha = _line_search(R, U, R - U, inside, t, start, curve, search)
    assert ((alpha > 0) & (alpha <= 1)).all() and alpha[0] == 1.0
    # Brute force: the loss on a fine grid never beats the step found.
    grid = np.linspace(0, 1, 2001)
    best = np.min([loss(np.full(m, a)) for a in grid], axis=0)
    assert (loss(alpha) <= best * (1 + 1e-12)).all()
    assert (alpha < 1).sum() > m // 2  # most steps of this kind overshoot
    # Rows told not to search take the full step.
    search[1::2] = False
    again = _line_search(R, U, R - U, inside, t, start, curve, search)
    assert (again[1::2] == 1.0).all()
    np.testing.assert_allclose(again[::2], alpha[::2], rtol=1e-10)


def test_fast_path_reaches_the_optimum_of_converged_reweighting_on_lm22_shaped_outliers():
    # The benchmark's simulation (547 x 22, multiplicative noise) with planted
    # outliers: 5% of the genes of every sample multiplied by 10-30.
    rng = np.random.default_rng(24)
    S = rng.lognormal(3, 1.5, size=(547, 22))
    for i in range(22):
        S[rng.choice(547, 25, replace=False), i] *= 20
    P = rng.dirichlet(np.full(22, 0.3), size=60).T
    Y = S @ P * rng.lognormal(0, 0.2, size=(547, 60))
    Y = np.where(rng.random(Y.shape) < 0.05, Y * rng.uniform(10, 30, size=Y.shape), Y)
    gap, diff = _gap_to_converged_reweighting(S, Y, huber_nnls(S, Y)[0])
    assert gap < 1e-6 and diff < 1e-4


def _gap_to_converged_reweighting(S, Y, X):
    """Worst relative Huber-objective gap and coefficient difference of X to
    reweighting alone (a start skips the Newton rounds) run to convergence."""
    ref = huber_nnls(S, Y, start=nnls(S, Y), tol=1e-12, max_iter=2000)[0]
    scale = _column_median(np.abs(Y - S @ ref)) / 0.6745
    best = _huber_objective(S, Y, ref, scale)
    return (np.abs(_huber_objective(S, Y, X, scale) - best) / best).max(), _rel_diff(X, ref)


@pytest.mark.parametrize(
    ("dtype", "rtol", "atol"), [(np.float64, 1e-12, 1e-9), (np.float32, 1e-5, 1e-5)]
)
def test_inlier_grams_updated_by_the_genes_that_changed_sides_equal_recomputed_ones(
    dtype, rtol, atol
):
    from deconv_core.solvers import _Products

    rng = np.random.default_rng(25)
    S = rng.lognormal(2, 1, size=(120, 9))
    products = _Products(S)
    before = rng.random((30, 120)) < 0.8
    inside = before.copy()
    inside[rng.random(inside.shape) < 0.05] ^= True  # ~5% of the genes change sides
    inside[3] = before[3]  # one sample without changes
    upper = products.upper if dtype == np.float64 else products.upper32
    packed = before.astype(dtype) @ upper
    products.update_packed(packed, inside, before)
    assert packed.dtype == dtype
    G = products.unpack(packed)
    assert G.dtype == np.float64
    expected = np.einsum("mg,gi,gj->mij", inside.astype(float), S, S)
    np.testing.assert_allclose(G, expected, rtol=rtol, atol=atol * np.abs(expected).max())
    assert np.array_equal(G, G.transpose(0, 2, 1))


def test_newton_blocks_on_threads_give_the_same_answers_as_one(monkeypatch):
    import deconv_core.solvers as solvers

    S, _, Y = _problem(25, samples=40)
    present = np.random.default_rng(25).random(Y.shape) > 0.02
    monkeypatch.setattr(solvers, "_NEWTON_FLOATS", S.shape[0] * 6)  # 7 blocks of <= 6 samples
    answers = []
    for workers in (1, 3):
        monkeypatch.setattr(solvers, "NEWTON_WORKERS", workers)
        answers.append(huber_nnls(S, Y) + huber_nnls(S, Y, present=present))
    for one, threaded in zip(*answers, strict=True):
        np.testing.assert_array_equal(one, threaded)
    # Small blocks find the optimum that one block finds.
    monkeypatch.setattr(solvers, "_NEWTON_FLOATS", 10**6)
    assert _rel_diff(answers[0][0], huber_nnls(S, Y)[0]) < 1e-6


def test_forked_parts_give_the_answers_of_threads_and_of_one_thread(monkeypatch):
    import deconv_core.solvers as solvers
    from deconv_core import threads

    S, _, Y = _problem(26, samples=40)
    present = np.random.default_rng(26).random(Y.shape) > 0.02
    start = huber_nnls(S, Y)[0] * 1.1
    forks = []

    def counted(tasks):
        forks.append(len(tasks))
        return threads.run_in_forks(tasks)

    monkeypatch.setattr(solvers, "run_in_forks", counted)
    # Fork even if an earlier test left an idle thread behind (a Dask client's): the
    # rule of when forking is safe has its own test in test_threads.py.
    monkeypatch.setattr(solvers, "fork_workers", lambda w: w if threads.FORKING else 1)
    monkeypatch.setattr(solvers, "_FORK_SAMPLES", 10)
    monkeypatch.setattr(solvers, "_NEWTON_FLOATS", S.shape[0] * 6)
    answers = {}
    for label, workers, forking in (("one", 1, True), ("threads", 3, False), ("forks", 3, True)):
        monkeypatch.setattr(solvers, "NEWTON_WORKERS", workers)
        monkeypatch.setattr(threads, "FORKING", forking)
        answers[label] = (
            huber_nnls(S, Y) + huber_nnls(S, Y, present=present) + huber_nnls(S, Y, start=start)
        )
    assert forks == [3, 3, 3]  # only the forked run forked: three parts, two children
    for one, threaded, forked in zip(*answers.values(), strict=True):
        np.testing.assert_array_equal(one, threaded)
        np.testing.assert_array_equal(one, forked)


def test_pooled_newton_rounds_go_on_from_where_each_sample_stopped(monkeypatch):
    import deconv_core.solvers as solvers

    S, _, Y = _problem(27, samples=40)
    present = np.random.default_rng(27).random(Y.shape) > 0.02
    monkeypatch.setattr(solvers, "_NEWTON_FLOATS", S.shape[0] * 8)  # blocks of <= 8 samples
    answers = []
    # 30: no pooling; 2: pooled after two rounds, then re-pooled every round.
    for block_rounds in (30, 2):
        monkeypatch.setattr(solvers, "_BLOCK_ROUNDS", block_rounds)
        answers.append(huber_nnls(S, Y) + huber_nnls(S, Y, present=present))
    for alone, pooled in zip(*answers, strict=True):
        np.testing.assert_allclose(pooled, alone, rtol=1e-9, atol=1e-12 * np.abs(alone).max())


def test_complete_data_get_a_weight_in_0_1_for_every_gene_of_every_sample():
    # Zero samples, exactly fitted samples and noisy ones, small shapes: every
    # weight comes from the fit (none left unset), in (0, 1].
    rng = np.random.default_rng(26)
    for _ in range(60):
        g, k, n = rng.integers(3, 40), rng.integers(1, 6), rng.integers(1, 30)
        S = rng.lognormal(size=(g, k))
        Y = S @ rng.dirichlet(np.ones(k), size=n).T
        Y *= rng.lognormal(0, rng.choice([0.0, 0.01, 0.3]), size=(g, n))
        Y[:, rng.random(n) < 0.1] = 0.0
        Y[:, 0] = 2 * S[:, 0]
        _, W = huber_nnls(S, Y)
        assert np.isfinite(W).all() and (W > 0).all() and (W <= 1).all()

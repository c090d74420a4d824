"""The batched NNLS kernel against scipy's per-sample solver and the KKT conditions."""

import numpy as np
import pytest

from deconv_core.solvers import kkt_violation, nnls, nnls_loop


def _problem(seed, genes=120, types=8, samples=300, alpha=0.5, noise=0.2):
    rng = np.random.default_rng(seed)
    S = rng.lognormal(2, 1.5, size=(genes, types))
    for i in range(types):
        S[rng.choice(genes, 10, replace=False), i] *= 15
    P = rng.dirichlet(np.full(types, alpha), size=samples).T
    Y = S @ P * rng.lognormal(0, noise, size=(genes, samples))
    return S, P, Y


def _rel_diff(a, b):
    return float((np.abs(a - b).max(axis=0) / np.maximum(np.abs(b).max(axis=0), 1e-300)).max())


@pytest.mark.parametrize("alpha", [0.1, 0.5, 3.0])
def test_agrees_with_scipy_loop_and_kkt(alpha):
    S, _, Y = _problem(1, alpha=alpha)
    X = nnls(S, Y)
    R = nnls_loop(S, Y)
    assert X.shape == (S.shape[1], Y.shape[1])
    assert X.dtype == np.float64
    assert _rel_diff(X, R) < 1e-8
    assert (X >= 0).all()
    assert kkt_violation(S, Y, X) < 1e-9


def test_exact_recovery_without_noise():
    S, P, _ = _problem(2, noise=0.0)
    X = nnls(S, S @ P)
    np.testing.assert_allclose(X, P, atol=1e-10)


def test_close_recovery_with_noise():
    S, P, Y = _problem(3, noise=0.1, samples=200)
    X = nnls(S, Y)
    assert np.abs(X - P).mean() < 0.03


def test_one_dimensional_input_and_zero_sample():
    S, P, _ = _problem(4, samples=1)
    x = nnls(S, (S @ P)[:, 0])
    assert x.shape == (S.shape[1],)
    np.testing.assert_allclose(x, P[:, 0], atol=1e-10)
    assert not nnls(S, np.zeros(S.shape[0])).any()


def test_all_negative_correlation_gives_zero():
    S, _, _ = _problem(5, samples=1)
    y = -S[:, 0]
    assert not nnls(S, y).any()


def test_ill_conditioned_signature_still_matches_scipy():
    rng = np.random.default_rng(6)
    base = rng.lognormal(2, 1, size=(80, 1))
    S = np.hstack([base * (1 + 1e-4 * rng.normal(size=(80, 1))) for _ in range(3)])
    S = np.hstack([S, rng.lognormal(2, 1, size=(80, 3))])
    Y = S @ rng.dirichlet(np.ones(6), size=50).T + rng.normal(0, 0.05, size=(80, 50))
    X = nnls(S, Y)
    R = nnls_loop(S, Y)
    # Residual norms agree even where near-collinear columns make x itself non-unique.
    np.testing.assert_allclose(
        np.linalg.norm(S @ X - Y, axis=0), np.linalg.norm(S @ R - Y, axis=0), rtol=1e-8
    )
    assert kkt_violation(S, Y, X) < 1e-7


def test_scale_invariance():
    S, _, Y = _problem(7)
    np.testing.assert_allclose(nnls(S, 1000 * Y), 1000 * nnls(S, Y), rtol=1e-9)


def test_fallback_after_iteration_cap_is_exact():
    S, _, Y = _problem(8, alpha=0.2)
    X = nnls(S, Y, max_iter=0)
    assert _rel_diff(X, nnls_loop(S, Y)) < 1e-8


def test_shape_and_finiteness_errors():
    S, _, Y = _problem(9, samples=3)
    with pytest.raises(ValueError, match="same genes"):
        nnls(S, Y[:-1])
    Y = Y.copy()
    Y[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        nnls(S, Y)

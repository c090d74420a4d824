"""Non-negative least squares for many samples at once.

The kernel is a vectorised active-set method in the spirit of Lawson & Hanson
(1974) with the column grouping of Van Benthem & Keenan (2004, "fast
combinatorial NNLS"): all samples iterate together, and every sub-problem that
shares a passive (non-zero) set is solved with one factorisation.  The result is
polished by an orthogonal least-squares solve on the final passive set, so it
agrees with :func:`scipy.optimize.nnls` to rounding error.  Samples that have not
converged after the iteration cap are handed to :func:`scipy.optimize.nnls`
one by one, so the answer is always exact.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nnls", "nnls_loop", "kkt_violation"]


def _scipy_nnls(S: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """scipy's single-sample NNLS, imported on first use (scipy.optimize is slow to import)."""
    from scipy.optimize import nnls as scipy_nnls

    return scipy_nnls(S, y)


def _solve_passive(
    G: np.ndarray, C: np.ndarray, P: np.ndarray, H: np.ndarray | None, U: np.ndarray | None
) -> np.ndarray:
    """Solve ``G[p, p] z = C[p, j]`` for every column ``j`` with passive set ``p = P[:, j]``.

    Columns are grouped by the size of their passive set and each group is
    solved as one stack of small dense systems (``numpy.linalg.solve``
    broadcasts over the stack).  When the passive set is larger than the active
    set ``a`` (the variables held at zero), the equality-constrained solution is
    obtained from the unconstrained one instead,
    ``z = u - H[:, a] (H[a, a])^-1 u[a]`` with ``H = G^-1`` and ``u = H c``,
    so every system solved is of size ``min(|p|, |a|)``.

    Parameters
    ----------
    G : (k, k) Gram matrix ``S.T @ S``.
    C : (k, m) right-hand sides ``S.T @ Y``.
    P : (k, m) boolean passive sets.
    H : (k, k) inverse of ``G``, or None when ``G`` is too ill-conditioned to
        invert safely (then every system is solved on the passive set).
    U : (k, m) unconstrained solutions ``H @ C`` (None when ``H`` is None).

    Returns
    -------
    (k, m) array, zero outside each column's passive set.
    """
    k, m = C.shape
    Z = np.zeros((k, m))
    if m == 0:
        return Z
    sizes = P.sum(axis=0)
    for s in np.unique(sizes):
        if s == 0:
            continue
        cols = np.flatnonzero(sizes == s)
        a = k - s
        if H is not None and a == 0:
            Z[:, cols] = U[:, cols]
            continue
        if H is None or s <= a:
            idx = np.nonzero(P[:, cols].T)[1].reshape(cols.size, s)
            sub = G[idx[:, :, None], idx[:, None, :]]
            rhs = C[idx, cols[:, None]][:, :, None]
            Z[idx, cols[:, None]] = _stack_solve(sub, rhs)
        else:
            idx = np.nonzero(~P[:, cols].T)[1].reshape(cols.size, a)
            sub = H[idx[:, :, None], idx[:, None, :]]
            rhs = U[idx, cols[:, None]][:, :, None]
            w = _stack_solve(sub, rhs)
            # Scatter w into a k-row block so the correction H[:, a] w is one product.
            spread = np.zeros((k, cols.size))
            spread[idx.T, np.arange(cols.size)] = w.T
            z = U[:, cols] - H @ spread
            z[idx.T, np.arange(cols.size)] = 0.0
            Z[:, cols] = z
    return np.where(P, Z, 0.0)


def _stack_solve(sub: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a stack of small systems ``sub[i] x = rhs[i]``; (m, s, s), (m, s, 1) -> (m, s).

    Sizes 1 and 2 use closed forms (most common near the solution and far
    cheaper than a LAPACK call per system); larger ones ``numpy.linalg.solve``.
    """
    size = sub.shape[1]
    if size == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = rhs[:, :, 0] / sub[:, :, 0]
        if np.isfinite(out).all():
            return out
    elif size == 2:
        a, b, c, d = sub[:, 0, 0], sub[:, 0, 1], sub[:, 1, 0], sub[:, 1, 1]
        det = a * d - b * c
        scale = np.abs(a * d) + np.abs(b * c)
        # Only well-conditioned 2×2 systems take the closed form.
        if (np.abs(det) > 1e-8 * scale).all():
            r0, r1 = rhs[:, 0, 0], rhs[:, 1, 0]
            return np.column_stack([(d * r0 - b * r1) / det, (a * r1 - c * r0) / det])
    try:
        return np.linalg.solve(sub, rhs)[:, :, 0]
    except np.linalg.LinAlgError:
        return np.stack(
            [np.linalg.lstsq(a, b, rcond=None)[0][:, 0] for a, b in zip(sub, rhs, strict=True)]
        )


def _refine(S: np.ndarray, Y: np.ndarray, G: np.ndarray, H: np.ndarray | None, X: np.ndarray):
    """One step of iterative refinement on each sample's final passive set.

    The normal equations lose accuracy with the square of the condition number;
    recomputing the gradient from ``S`` and ``Y`` and solving for a correction
    on the same passive set recovers it for any reasonably conditioned
    signature.  Corrections that would make an entry non-positive are dropped.
    """
    P = X > 0
    grad = S.T @ (Y - S @ X)
    delta = _solve_passive(G, grad, P, H, None if H is None else H @ grad)
    Xr = X + delta
    ok = ((Xr > 0) | ~P).all(axis=0)
    return np.where(ok, np.where(P, Xr, 0.0), X)


def nnls(S: np.ndarray, Y: np.ndarray, *, max_iter: int | None = None) -> np.ndarray:
    """Exact non-negative least squares for many right-hand sides.

    Solves ``min ||S x_j - y_j||_2`` subject to ``x_j >= 0`` for every column
    ``y_j`` of ``Y``.

    Parameters
    ----------
    S : (g, k) array_like
        Signature: genes × cell types, linear scale, finite.
    Y : (g,) or (g, n) array_like
        Bulk expression: genes × samples on the same genes and scale as ``S``.
    max_iter : int, optional
        Cap on pivoting rounds before the remaining samples fall back to
        :func:`scipy.optimize.nnls` (default ``5 * k``).

    Returns
    -------
    numpy.ndarray
        (k, n) float64 coefficients, cell types × samples (``(k,)`` when ``Y``
        is one-dimensional).  Same units as ``Y / S``.
    """
    S = np.asarray(S, dtype=np.float64)
    Y_in = np.asarray(Y, dtype=np.float64)
    one_d = Y_in.ndim == 1
    Y = Y_in[:, None] if one_d else Y_in
    if S.ndim != 2 or Y.ndim != 2 or S.shape[0] != Y.shape[0]:
        raise ValueError(
            "S must be genes × cell types and Y genes × samples on the same genes; "
            f"got S {S.shape} and Y {Y_in.shape}"
        )
    k, n = S.shape[1], Y.shape[1]
    if k == 0 or n == 0:
        X = np.zeros((k, n))
        return X[:, 0] if one_d else X
    if max_iter is None:
        max_iter = 5 * k
    G = S.T @ S
    C = S.T @ Y
    # Any NaN or infinity in S or Y reaches G or C; checking them is cheaper.
    if not (np.isfinite(G).all() and np.isfinite(C).all()):
        raise ValueError("S and Y must be finite (no NaN or infinity)")
    cond = np.linalg.cond(G)
    H = np.linalg.inv(G) if cond < 1e10 else None
    U = H @ C if H is not None else None
    # Gradient tolerance per sample, relative to the size of its problem.
    tol = 1e3 * np.finfo(float).eps * max(k, 1) * (np.abs(C).max(axis=0) + np.finfo(float).tiny)

    # Block principal pivoting (Kim & Park 2011): start from the positive part
    # of the unconstrained solution and exchange every infeasible variable at
    # once; a per-sample budget falls back to single exchanges (which always
    # terminate) when the full exchange stops reducing the infeasible count.
    start = U if U is not None else _solve_passive(G, C, np.ones((k, n), bool), None, None)
    P = start > 0
    X = np.zeros((k, n))
    budget = np.full(n, 3)
    n_infeasible = np.full(n, k + 1)
    todo = np.arange(n)
    for _ in range(max_iter):
        Pt = P[:, todo]
        Xt = _solve_passive(G, C[:, todo], Pt, H, None if U is None else U[:, todo])
        X[:, todo] = Xt
        grad = G @ Xt - C[:, todo]
        infeasible = (Pt & (Xt < 0)) | (~Pt & (grad < -tol[todo]))
        count = infeasible.sum(axis=0)
        done = count == 0
        todo, infeasible, count = todo[~done], infeasible[:, ~done], count[~done]
        if todo.size == 0:
            break
        better = count < n_infeasible[todo]
        n_infeasible[todo[better]] = count[better]
        budget[todo[better]] = 3
        full = better | (budget[todo] > 0)
        budget[todo[~better & full]] -= 1
        # Backup rule: flip only the largest infeasible index.
        single = ~full
        if single.any():
            last = k - 1 - np.argmax(infeasible[::-1, single], axis=0)
            only = np.zeros_like(infeasible[:, single])
            only[last, np.arange(last.size)] = True
            infeasible[:, single] = only
        P[:, todo] ^= infeasible
    else:
        for j in todo:
            X[:, j] = _scipy_nnls(S, Y[:, j])[0]
    X = np.maximum(X, 0.0)

    # Refinement only pays off when the normal equations lose digits:
    # their relative error is about cond(S)**2 * eps = cond(G) * eps.
    if cond * np.finfo(float).eps > 1e-12:
        X = _refine(S, Y, G, H, X)
    return X[:, 0] if one_d else X


def nnls_loop(S: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Reference solver: :func:`scipy.optimize.nnls` called once per sample.

    Parameters
    ----------
    S : (g, k) array_like
        Signature, genes × cell types.
    Y : (g, n) array_like
        Bulk expression, genes × samples.

    Returns
    -------
    numpy.ndarray
        (k, n) coefficients, cell types × samples.
    """
    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    return np.column_stack([_scipy_nnls(S, Y[:, j])[0] for j in range(Y.shape[1])])


def kkt_violation(S: np.ndarray, Y: np.ndarray, X: np.ndarray) -> float:
    """Largest violation of the NNLS optimality (KKT) conditions, relative.

    For a solution ``x >= 0`` with gradient ``g = S.T (S x - y)``: ``g >= 0``
    everywhere and ``g = 0`` where ``x > 0``.

    Parameters
    ----------
    S : (g, k) signature, genes × cell types.
    Y : (g, n) bulk, genes × samples.
    X : (k, n) candidate solution, cell types × samples.

    Returns
    -------
    float
        ``max`` over samples of the worst violation divided by ``||S.T y||_inf``
        (0 for an exact solution; rounding gives about 1e-12).
    """
    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(S.shape[0], -1)
    X = np.asarray(X, dtype=np.float64).reshape(S.shape[1], -1)
    grad = S.T @ (S @ X - Y)
    scale = np.abs(S.T @ Y).max(axis=0) + np.finfo(float).tiny
    negative_x = np.maximum(-X, 0).max(axis=0) * np.abs(S).max() ** 2
    stationarity = np.where(X > 0, np.abs(grad), np.maximum(-grad, 0)).max(axis=0)
    return float(((stationarity + negative_x) / scale).max())

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

import functools
import itertools
from collections.abc import Callable

import numpy as np

from deconv_core.threads import (
    BLOCK_WORKERS,
    blas_thread_limit,
    fork_workers,
    map_on_threads,
    run_in_forks,
    shared_array,
)

__all__ = [
    "nnls",
    "weighted_nnls",
    "huber_nnls",
    "HUBER_TUNING",
    "nnls_loop",
    "kkt_violation",
    "per_sample",
]

#: Huber tuning constant in robust standard deviations: 95% efficiency under
#: Gaussian noise (Huber 1981; the default of R's MASS::rlm).
HUBER_TUNING = 1.345
#: Median absolute deviation of a standard normal: a residual scale is the
#: median absolute residual divided by it (as MASS::rlm).
_MAD_OF_NORMAL = 0.6745

#: Samples per block in the per-sample-weight solvers (bounds their memory to
#: about ``_BLOCK * k * k`` floats).
_BLOCK = 2048


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
            z = U[:, cols] - per_sample(H, spread)
            z[idx.T, np.arange(cols.size)] = 0.0
            Z[:, cols] = z
    return np.where(P, Z, 0.0)


def _stack_solve(sub: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a stack of small systems ``sub[i] x = rhs[i]``; (m, s, s), (m, s, 1) -> (m, s).

    Sizes 1 and 2 use closed forms (most common near the solution and far
    cheaper than a LAPACK call per system) where they are well conditioned;
    the others ``numpy.linalg.solve``.  Each system's path depends on it alone,
    so a sample's answer does not depend on the systems solved beside it.
    """
    size = sub.shape[1]
    if size == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = rhs[:, :, 0] / sub[:, :, 0]
        fine = np.isfinite(out[:, 0])
    elif size == 2:
        a, b, c, d = sub[:, 0, 0], sub[:, 0, 1], sub[:, 1, 0], sub[:, 1, 1]
        det = a * d - b * c
        # Only well-conditioned 2×2 systems take the closed form.
        fine = np.abs(det) > 1e-8 * (np.abs(a * d) + np.abs(b * c))
        r0, r1 = rhs[:, 0, 0], rhs[:, 1, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.column_stack([(d * r0 - b * r1) / det, (a * r1 - c * r0) / det])
    else:
        return _lapack_solve(sub, rhs)
    if not fine.all():
        out[~fine] = _lapack_solve(sub[~fine], rhs[~fine])
    return out


def _lapack_solve(sub: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``numpy.linalg.solve`` on a stack; a singular system gets its minimum-norm solution.

    (m, s, s), (m, s, 1) -> (m, s).  Only the singular systems leave the stack
    (so a system's answer never depends on the others).
    """
    try:
        return np.linalg.solve(sub, rhs)[:, :, 0]
    except np.linalg.LinAlgError:
        return np.stack([_one_solve(a, b) for a, b in zip(sub, rhs, strict=True)])


def _one_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One system of :func:`_lapack_solve`: LAPACK's solution, or least squares if singular."""
    try:
        return np.linalg.solve(a[None], b[None])[0, :, 0]
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0][:, 0]


def _refine(S: np.ndarray, Y: np.ndarray, G: np.ndarray, H: np.ndarray | None, X: np.ndarray):
    """One step of iterative refinement on each sample's final passive set.

    The normal equations lose accuracy with the square of the condition number;
    recomputing the gradient from ``S`` and ``Y`` and solving for a correction
    on the same passive set recovers it for any reasonably conditioned
    signature.  Corrections that would make an entry non-positive are dropped.
    """
    P = X > 0
    grad = per_sample(S.T, Y - per_sample(S, X))
    delta = _solve_passive(G, grad, P, H, None if H is None else per_sample(H, grad))
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
    C = per_sample(S.T, Y)
    # Any NaN or infinity in S or Y reaches G or C; checking them is cheaper.
    if not (np.isfinite(G).all() and np.isfinite(C).all()):
        raise ValueError("S and Y must be finite (no NaN or infinity)")
    cond = np.linalg.cond(G)
    H = np.linalg.inv(G) if cond < 1e10 else None
    U = per_sample(H, C) if H is not None else None
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
        grad = per_sample(G, Xt) - C[:, todo]
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


def _passive_solve_stack(G: np.ndarray, C: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Solve ``G[j][p, p] z = C[j][p]`` for every sample ``j`` with passive set ``p = P[j]``.

    G : (m, k, k) per-sample Gram matrices; C : (m, k); P : (m, k) bool.
    Rows and columns outside the passive set are replaced by the identity (and
    the right-hand side by 0), so the whole stack is one batched solve.
    Returns (m, k), zero outside each passive set.
    """
    m, k = C.shape
    if m == 0:
        return np.zeros((m, k))
    sub = G * (P[:, :, None] & P[:, None, :])
    sub.reshape(m, k * k)[:, :: k + 1] += ~P
    rhs = np.where(P, C, 0.0)[:, :, None]
    # A singular passive block (duplicate cell types, all-zero weights) gets the
    # minimum-norm solution, a valid least-squares answer.
    Z = _lapack_solve(sub, rhs)
    return np.where(P, Z, 0.0)


def _gram_pivot(G: np.ndarray, C: np.ndarray, X0: np.ndarray) -> np.ndarray:
    """:func:`_gram_nnls` from the passive sets of ``X0`` by block principal pivoting.

    Every round solves all samples on their passive sets at once and flips
    every variable that breaks the optimality conditions (Kim & Park 2011);
    near the answer, as in the Newton rounds of the Huber fit, the warm
    passive sets are right or nearly so and two or three rounds suffice.
    Samples still infeasible after a few rounds finish with :func:`_gram_nnls`.
    (m, k) in and out, samples × cell types.
    """
    m, k = C.shape
    tol = 1e3 * np.finfo(float).eps * k * (np.abs(C).max(axis=1) + np.finfo(float).tiny)
    X = np.zeros((m, k))
    P = X0 > 0
    todo = np.arange(m)
    for _ in range(_PIVOT_ROUNDS):
        Gt, Ct, Pt = (G, C, P) if todo.size == m else (G[todo], C[todo], P[todo])
        Z = _passive_solve_stack(Gt, Ct, Pt)
        grad = Ct - _stack_matvec(Gt, Z)
        flip = (Pt & (Z <= 0)) | (~Pt & (grad > tol[todo, None]))
        ok = ~flip.any(axis=1)
        X[todo[ok]] = Z[ok]
        todo, flip = todo[~ok], flip[~ok]
        if todo.size == 0:
            return X
        P[todo] ^= flip
    X[todo] = _gram_nnls(G[todo], C[todo], X0[todo])
    return X


#: Pivoting rounds of :func:`_gram_pivot` before its samples go to Lawson-Hanson.
_PIVOT_ROUNDS = 4


def _gram_nnls(G: np.ndarray, C: np.ndarray, X0: np.ndarray | None = None) -> np.ndarray:
    """Batched Lawson-Hanson NNLS in normal-equation form, one Gram matrix per sample.

    Minimises ``x' G_j x / 2 - c_j' x`` subject to ``x >= 0`` for every ``j``.

    Parameters
    ----------
    G : (m, k, k) symmetric positive semi-definite Gram matrices ``S' W_j S``.
    C : (m, k) right-hand sides ``S' W_j y_j``.
    X0 : (m, k) feasible (non-negative) start, e.g. the previous solution of a
        slightly different problem; its positive entries are the first
        passive sets.  None: start from zero.

    Returns
    -------
    (m, k) solutions (samples × cell types; note the orientation of this
    private kernel).
    """
    m, k = C.shape
    tol = 1e3 * np.finfo(float).eps * k * (np.abs(C).max(axis=1) + np.finfo(float).tiny)
    X = np.zeros((m, k)) if X0 is None else np.where(X0 > 0, X0, 0.0)
    P = X > 0

    def settle(rows: np.ndarray) -> None:
        """Solve on the passive sets of ``rows``, stepping back to stay feasible."""
        for _ in range(3 * k + 1):
            if rows.size == 0:
                return
            Z = _passive_solve_stack(G[rows], C[rows], P[rows])
            bad = P[rows] & (Z <= 0)
            ok = ~bad.any(axis=1)
            X[rows[ok]] = Z[ok]
            rows, Z, bad = rows[~ok], Z[~ok], bad[~ok]
            if rows.size == 0:
                return
            # Step from X towards Z until the first passive variable hits zero;
            # a variable that just entered (x = 0) with a non-positive solve
            # (rounding) leaves again, so the loop cannot cycle.
            Xr = X[rows]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(bad, Xr / (Xr - Z), np.inf)
            alpha = np.clip(ratio.min(axis=1), 0.0, 1.0)[:, None]
            Xr = Xr + alpha * (Z - Xr)
            keep = P[rows] & (Xr > 0) & ~(bad & (ratio <= alpha))
            P[rows] = keep
            X[rows] = np.where(keep, Xr, 0.0)

    if P.any():
        settle(np.flatnonzero(P.any(axis=1)))
    live = np.arange(m)
    for _ in range(3 * k + 1):
        grad = C[live] - np.einsum("mij,mj->mi", G[live], X[live])
        candidate = ~P[live] & (grad > tol[live, None])
        moving = candidate.any(axis=1)
        live = live[moving]
        if live.size == 0:
            break
        pick = np.argmax(np.where(candidate[moving], grad[moving], -np.inf), axis=1)
        P[live, pick] = True
        settle(live)
    return np.maximum(X, 0.0)


def weighted_nnls(
    S: np.ndarray, Y: np.ndarray, W: np.ndarray, *, start: np.ndarray | None = None
) -> np.ndarray:
    """Non-negative least squares with its own gene weights for every sample.

    Solves ``min sum_g W[g, j] (S[g] x_j - Y[g, j])**2`` subject to
    ``x_j >= 0`` for every sample ``j``.  A weight of 0 leaves a gene out of
    that sample's fit (missing values, outliers).

    Parameters
    ----------
    S : (g, k) array_like
        Signature: genes × cell types, linear scale, finite.
    Y : (g, n) array_like
        Bulk expression: genes × samples, finite where ``W > 0``.
    W : (g, n) array_like
        Non-negative weights per gene and sample (weights of the squared
        residuals).
    start : (k, n) array_like, optional
        A non-negative guess (e.g. the solution for nearby weights); it only
        changes how fast the exact answer is found.

    Returns
    -------
    numpy.ndarray
        (k, n) float64 coefficients, cell types × samples.
    """
    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    if S.ndim != 2 or Y.ndim != 2 or Y.shape != W.shape or S.shape[0] != Y.shape[0]:
        raise ValueError(
            "S must be genes × cell types, Y and W genes × samples on the same genes; "
            f"got S {S.shape}, Y {Y.shape}, W {W.shape}"
        )
    if not np.isfinite(S).all() or not np.isfinite(W).all() or (W < 0).any():
        raise ValueError("S and W must be finite and W non-negative")
    Yz = np.where(W > 0, Y, 0.0)
    if not np.isfinite(Yz).all():
        raise ValueError("Y must be finite where W is positive")
    guess = None if start is None else np.asarray(start, dtype=np.float64)
    return _weighted_solve(S, Yz, W, guess, _Products(S))


class _Products:
    """What every weighted solve with one signature reuses.

    ``upper`` holds the upper triangle of each gene's ``s s'`` (g, k (k + 1) / 2),
    so all samples' Gram matrices are one product with the weights (half the
    work of the full outer products; :meth:`grams`); ``refine`` says whether
    the normal equations lose enough digits to need a refinement step (their
    relative error is about cond(S)**2 * eps; the unweighted signature's
    condition stands in for the weighted ones).  ``upper32`` is ``upper`` in
    float32, for Gram matrices that only steer a search (the Huber fit's
    Newton steps).
    """

    def __init__(self, S: np.ndarray) -> None:
        g, k = S.shape
        self.rows, self.cols = np.triu_indices(k)
        self.upper = S[:, self.rows] * S[:, self.cols]
        # cond(S' S) = cond(S)**2, from a k × k matrix instead of an SVD of S.
        self.refine = bool(g) and np.linalg.cond(S.T @ S) * np.finfo(float).eps > 1e-12

    def grams(self, W: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(n, k, k) Gram matrices ``S' diag(W[:, j]) S`` of weights ``W`` (g, n).

        With ``rows``, ``W`` (len(rows), n) weighs only those genes (others 0).
        """
        upper = self.upper if rows is None else self.upper[rows]
        packed = _rows_times(W.T, upper)
        k = int(self.rows.max()) + 1 if self.rows.size else 0
        G = np.empty((W.shape[1], k, k))
        G[:, self.rows, self.cols] = packed
        G[:, self.cols, self.rows] = packed
        return G

    @functools.cached_property
    def upper32(self) -> np.ndarray:
        """``upper`` in float32 (half the memory traffic of the Gram updates)."""
        return self.upper.astype(np.float32)

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        """(m, k, k) float64 symmetric matrices from packed upper triangles (m, k (k + 1) / 2)."""
        k = int(self.rows.max()) + 1 if self.rows.size else 0
        if not hasattr(self, "_square"):
            square = np.empty((k, k), dtype=np.intp)
            square[self.rows, self.cols] = square[self.cols, self.rows] = np.arange(self.rows.size)
            self._square = square.ravel()
        # np.take keeps C order (indexing the last axis would give F order, and
        # a stack's layout picks numpy's product path: the last bits of a
        # sample's steps would depend on how many samples share its stack).
        square = np.take(packed, self._square, axis=1).astype(np.float64, copy=False)
        return square.reshape(packed.shape[0], k, k)

    def update_packed(
        self,
        packed: np.ndarray,
        inside: np.ndarray,
        before: np.ndarray,
        changed: np.ndarray | None = None,
    ) -> None:
        """Move packed inlier Grams (m, k (k + 1) / 2) from the split ``before`` to ``inside``.

        Both (m, g) bool; ``changed`` is ``inside != before`` if the caller has
        it.  Only the genes that changed sides count (a few per sample once
        the split settles), as one sparse product; in place, in the precision
        of ``packed`` (float64 or float32).
        """
        from scipy.sparse import csr_matrix

        m, g = inside.shape
        flat = np.flatnonzero(inside != before if changed is None else changed)
        if flat.size == 0:
            return
        # Row-major positions are already in CSR order: no conversion needed.
        single = packed.dtype == np.float32
        sign = np.where(inside.ravel()[flat], 1.0, -1.0).astype(packed.dtype)
        indptr = np.searchsorted(flat, np.arange(m + 1) * g)
        changes = csr_matrix((sign, flat % g, indptr), shape=(m, g))
        packed += changes @ (self.upper32 if single else self.upper)


def _weighted_solve(
    S: np.ndarray, Y: np.ndarray, W: np.ndarray, guess: np.ndarray | None, products: _Products
) -> np.ndarray:
    """:func:`weighted_nnls` on checked inputs (``Y`` finite, 0 where ``W`` is 0)."""
    k, n = S.shape[1], Y.shape[1]
    X = np.zeros((k, n))
    for first in range(0, n, _BLOCK):
        cols = slice(first, min(first + _BLOCK, n))
        Wb = W[:, cols]
        G = products.grams(Wb)
        C = _rows_times((Wb * Y[:, cols]).T, S)
        X0 = None if guess is None else guess[:, cols]
        X[:, cols] = _gram_solve(S, Y[:, cols], Wb, G, C, X0, products)
    return X


def _gram_solve(
    S: np.ndarray,
    Y: np.ndarray,
    W: np.ndarray,
    G: np.ndarray,
    C: np.ndarray,
    guess: np.ndarray | None,
    products: _Products,
) -> np.ndarray:
    """(k, n) weighted NNLS from the samples' Gram matrices G (n, k, k) and C = S' W Y (n, k).

    ``Y`` and ``W`` (g, n) serve the refinement step, which recovers the digits
    the normal equations lose when the signature is ill-conditioned.
    """
    Xb = _gram_nnls(G, C, None if guess is None else guess.T)
    if not products.refine:
        return Xb.T
    P = Xb > 0
    resid = Y - _rows_times(Xb, S.T).T
    delta = _passive_solve_stack(G, _rows_times((W * resid).T, S), P)
    refined = Xb + delta
    ok = ((refined > 0) | ~P).all(axis=1)
    return np.where(ok[:, None], np.where(P, refined, 0.0), Xb).T


def _column_median(A: np.ndarray) -> np.ndarray:
    """Median of every column of a NaN-free (g, n) array.

    Same values as ``np.median(A, axis=0)``, about 4x faster: one partition
    of contiguous rows instead of numpy's general path.
    """
    transposed = np.ascontiguousarray(A.T)
    return row_median(transposed, overwrite=not np.may_share_memory(transposed, A))


def huber_nnls(
    S: np.ndarray,
    Y: np.ndarray,
    *,
    tuning: float = HUBER_TUNING,
    max_iter: int = 200,
    tol: float = 1e-5,
    present: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative robust regression with Huber's loss, many samples at once.

    Iteratively reweighted least squares (Huber 1981; as MASS::rlm, which
    quanTIseq offers as its robust option): each round estimates every
    sample's residual scale by its median absolute residual / 0.6745, gives
    genes whose residual exceeds ``tuning`` scales the weight
    ``tuning * scale / |residual|`` (others 1) and refits with
    :func:`weighted_nnls`.  Genes a signature describes badly in a sample
    (an activated state, a contaminating cell type, a mapping error) thus pull
    less on its proportions than under least squares.

    Parameters
    ----------
    S : (g, k) array_like
        Signature: genes × cell types, linear, finite.
    Y : (g, n) array_like
        Bulk expression: genes × samples, linear, finite.
    tuning
        Huber constant in scale units (default 1.345).
    max_iter
        Cap on reweighting rounds.
    tol
        Stop a sample when its residuals change by less than this, relative
        to their norm (default 1e-5: proportions then agree with the exact
        M-estimate to about 3e-5).
    present : (g, n) bool array_like, optional
        False where a sample has no value for a gene (left out of its fit;
        ``Y`` may hold anything there).  Default: all present.
    start : (k, n) array_like, optional
        Starting coefficients (e.g. from the full data when refitting a
        resample); default the least-squares solution.

    Returns
    -------
    coefficients : (k, n) ndarray
        Cell types × samples, same units as ``Y / S``.
    weights : (g, n) ndarray
        Final robustness weight of every gene in every sample, in (0, 1]
        (1: fitted as in least squares; 0 where ``present`` is False).

    A sample's coefficients and weights are the same to the last bit whatever
    samples share the call (a cohort fitted whole or in chunks of any size, in
    any order), with BLAS on one thread as this function runs it unless the
    user set a thread count.

    Raises
    ------
    ValueError
        If the shapes do not match or a present value is not finite.
    """
    S = np.asarray(S, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if S.ndim != 2 or Y.ndim != 2 or S.shape[0] != Y.shape[0]:
        raise ValueError(
            "S must be genes × cell types and Y genes × samples on the same genes; "
            f"got S {S.shape} and Y {Y.shape}"
        )
    full = present is None
    mask = np.ones(Y.shape, dtype=bool) if full else np.asarray(present, dtype=bool)
    if not full:
        Y = np.where(mask, Y, 0.0)
    if not (np.isfinite(S).all() and np.isfinite(Y).all()):
        raise ValueError("S and Y must be finite (no NaN or infinity where present)")
    # The robust fit is many small products (samples × a few hundred genes by
    # ~250 packed Gram entries, stacks of 22 × 22 solves): BLAS on one thread
    # unless the user set a count (policy and measurements in deconv_core.threads).
    with blas_thread_limit():
        return _huber_in_parts(S, Y, mask, start, tuning=tuning, max_iter=max_iter, tol=tol)


def _huber_in_parts(
    S: np.ndarray, Y: np.ndarray, mask: np.ndarray, start: np.ndarray | None, **fit: float
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_huber_fit`, the samples split among forked processes where that is safe and pays.

    Threads share one interpreter and one allocator: on this project's 2-core machine two
    threads sped the Newton rounds up 1.3-1.6x, two processes on the same halves 1.6-1.9x
    (benchmarks/solver_speed.py's samples, interleaved runs).  So a cohort of at least
    :data:`_FORK_SAMPLES` samples is cut into :data:`NEWTON_WORKERS` contiguous parts, each
    fitted on one thread by a forked child (the last by this process), which writes into
    shared arrays; where forking is unsafe (:func:`deconv_core.threads.fork_workers`: other
    threads alive, as in the dashboard) the rounds run on threads.  Every sample's answer is
    the same to the last bit either way (they never depend on the samples alongside), and a
    part whose child failed is fitted again here.
    """
    n = Y.shape[1]
    processes = fork_workers(NEWTON_WORKERS) if n >= _FORK_SAMPLES else 1
    if processes <= 1:
        return _huber_fit(S, Y, mask, start, workers=NEWTON_WORKERS, **fit)
    X, W = shared_array((S.shape[1], n)), shared_array(Y.shape)
    bounds = np.linspace(0, n, processes + 1).astype(int)

    def part(cols: slice) -> None:
        first = None if start is None else start[:, cols]
        X[:, cols], W[:, cols] = _huber_fit(S, Y[:, cols], mask[:, cols], first, workers=1, **fit)

    tasks = [functools.partial(part, slice(a, b)) for a, b in itertools.pairwise(bounds)]
    for index in run_in_forks(tasks):
        tasks[index]()
    return X, W


#: Samples from which :func:`huber_nnls` forks (a fork and its joins cost ~10-30 ms).
_FORK_SAMPLES = 2_000


def _huber_fit(
    S: np.ndarray,
    Y: np.ndarray,
    mask: np.ndarray,
    start: np.ndarray | None,
    *,
    tuning: float,
    max_iter: int,
    tol: float,
    workers: int,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`huber_nnls` on checked inputs (``Y`` finite, 0 where ``mask`` is False).

    ``workers``: threads of the Newton rounds.
    """
    complete = mask.all(axis=0)
    if complete.any() and not complete.all():
        # Samples with and without missing values take different paths (the
        # least-squares start, the medians): fitted apart, each sample's answer
        # is the same whatever samples share its call.
        X, W = np.empty((S.shape[1], Y.shape[1])), np.empty(Y.shape)
        for cols in (np.flatnonzero(complete), np.flatnonzero(~complete)):
            part = None if start is None else start[:, cols]
            X[:, cols], W[:, cols] = _huber_fit(
                S, Y[:, cols], mask[:, cols], part,
                tuning=tuning, max_iter=max_iter, tol=tol, workers=workers,
            )  # fmt: skip
        return X, W
    full = bool(complete.all())
    products = _Products(S)
    if start is not None:
        X = np.asarray(start, dtype=np.float64).copy()
    else:
        X = nnls(S, Y) if full else _weighted_solve(S, Y, mask.astype(np.float64), None, products)
    # Weights: the Newton rounds write every sample's column when nothing is
    # missing (no serial pass over a genes × samples array before them).
    W = np.empty(Y.shape) if full and start is None else mask.astype(np.float64)
    # Samples without a single value have nothing to reweight.
    live = np.flatnonzero(mask.any(axis=0))
    if start is None:
        # Newton rounds on Huber's piecewise-quadratic loss reach the optimum
        # in a few rounds where reweighting needs dozens; samples still moving
        # after them continue with reweighting (which always converges).
        # Blocks of at most _NEWTON_FLOATS genes × samples bound the memory of
        # the dozen (g, block) work arrays of a round; :func:`_newton_blocks`
        # runs them on a few threads.  The rounds stop when a full
        # Newton step would move the residuals by less than ``tol`` (relative):
        # Newton's step is about the distance to the optimum: on 2,000 samples
        # of benchmarks/solver_speed.py, 99% of the samples' proportions then
        # agree with reweighting run to convergence within 7.5e-7 (7.2e-8 at a
        # tenth of ``tol``, for about 7% more rounds; measured once).
        def run(block: np.ndarray | dict, count: int, final: bool) -> tuple:
            state = block if isinstance(block, dict) else None
            cols = block["live"] if state is not None else block
            return _newton_rounds(
                S, Y, X, W, cols, tuning, tol, products, mask, count, state, final
            )

        live = _newton_schedule(run, live, S.shape[0], workers)
    _reweight(S, Y, X, W, mask, live, products, tuning=tuning, max_iter=max_iter, tol=tol)
    return X, W


def _reweight(
    S: np.ndarray,
    Y: np.ndarray,
    X: np.ndarray,
    W: np.ndarray,
    mask: np.ndarray,
    live: np.ndarray,
    products: _Products,
    *,
    tuning: float,
    max_iter: int,
    tol: float,
) -> None:
    """Reweighting rounds of :func:`huber_nnls` on the samples ``live``; update X and W in place.

    Works on copies of the live samples' columns only (after the Newton
    rounds, a few samples of a large cohort), so nothing of size genes ×
    samples is allocated for the others.
    """
    full = bool(mask[:, live].all())
    Yl = Y[:, live]
    Rl = Yl - per_sample(S, X[:, live])
    if not full:
        Rl[~mask[:, live]] = 0.0
    size = np.sqrt(np.mean(Yl**2, axis=0))
    for _ in range(max_iter):
        if live.size == 0:
            break
        absolute = np.abs(Rl)
        if full:
            scale = _column_median(absolute) / _MAD_OF_NORMAL
        else:
            # The NaN-aware median is slower; only missing values need it.
            masked = np.where(mask[:, live], absolute, np.nan)
            scale = np.nanmedian(masked, axis=0) / _MAD_OF_NORMAL
        # Residuals at rounding level: the fit is exact, nothing to down-weight.
        exact = scale <= 1e-12 * size
        if exact.any():
            live, Yl, Rl, absolute, scale, size = (
                a[..., ~exact] for a in (live, Yl, Rl, absolute, scale, size)
            )
            if live.size == 0:
                break
        with np.errstate(divide="ignore"):
            Wl = np.minimum(1.0, tuning * scale / absolute)
        if not full:
            Wl[~mask[:, live]] = 0.0
        X[:, live] = _weighted_solve(S, Yl, Wl, X[:, live], products)
        W[:, live] = Wl
        Rn = Yl - per_sample(S, X[:, live])
        if not full:
            Rn[~mask[:, live]] = 0.0
        change = np.linalg.norm(Rn - Rl, axis=0) / (
            np.linalg.norm(Rl, axis=0) + np.finfo(float).tiny
        )
        moving = change > tol
        live, Yl, Rl, size = (a[..., moving] for a in (live, Yl, Rn, size))


def _newton_schedule(run: Callable, live: np.ndarray, genes: int, workers: int) -> np.ndarray:
    """All Newton rounds of the Huber fit on the samples ``live``, in blocks.

    Every block runs :data:`_BLOCK_ROUNDS` rounds; then the samples still
    moving are pooled into full blocks, each going on from where it stopped,
    one round at a time while they fill more than one block (a round's fixed
    cost, ~150 numpy calls or about 1 ms, is paid per block, and blocks thin
    out as samples settle), then for the remaining rounds.  Returns the
    samples left to reweighting (stalled, or still moving after
    :data:`_NEWTON_ROUNDS` rounds).  ``run(block, count, final)`` runs
    :func:`_newton_rounds` on a block (samples, or a pooled state); ``workers``
    threads run the blocks.
    """
    size = _block_size(genes)
    done = min(_BLOCK_ROUNDS, _NEWTON_ROUNDS)
    blocks: list = [live[i : i + size] for i in range(0, live.size, size)]
    first = functools.partial(run, count=done, final=done == _NEWTON_ROUNDS)
    parts = _newton_blocks(first, blocks, workers)
    left = [live[:0]] + [part[0] for part in parts]
    while done < _NEWTON_ROUNDS:
        blocks = _pool_states([part[2] for part in parts if part[2] is not None], genes)
        if not blocks:
            break
        count = 1 if len(blocks) > 1 else _NEWTON_ROUNDS - done
        done += count
        parts = _newton_blocks(
            functools.partial(run, count=count, final=done == _NEWTON_ROUNDS), blocks, workers
        )
        left += [part[0] for part in parts]
    left += [part[1] for part in parts]
    return np.concatenate(left)


def _block_size(genes: int) -> int:
    """Samples per block of the Newton rounds: at most :data:`_NEWTON_FLOATS` genes × samples."""
    return max(1, min(_BLOCK, _NEWTON_FLOATS // max(genes, 1)))


def _newton_blocks(run: Callable, blocks: list, workers: int) -> list:
    """``run`` (Newton rounds on one block of samples) on every block, on a few threads.

    Block sizes depend only on the number of genes (:func:`_block_size`), and
    every block writes its own columns of the results, so the answers are the
    same whatever the number of threads (``workers``).  Returns ``run``'s
    results in block order.
    """
    return map_on_threads(run, blocks, workers)


#: Threads of the Newton rounds (numpy releases the GIL in the products,
#: solves and partitions that make up most of a round).
NEWTON_WORKERS = BLOCK_WORKERS
#: Newton rounds of :func:`huber_nnls` before the samples still moving go on
#: with reweighting (a few samples of a large cohort need 20 or more; samples
#: that settle leave, so the late rounds are cheap).
_NEWTON_ROUNDS = 30
#: Rounds every block runs before its samples still moving are pooled (the
#: pooled samples carry their state on, so this changes the cost, not the
#: rounds: on the benchmark's 10,000 medium mixtures, 6.52 rounds per sample,
#: 356 block rounds in all with 7, 418 with 9, 348 with 5 or 6 but more
#: copying; one thread's CPU time best at 7; counted once).
_BLOCK_ROUNDS = 7
#: Genes × samples per block of the Newton rounds (1.6 MB per work array: a
#: block's dozen work arrays stay near the cache).  On benchmarks/solver_speed.py's
#: 10,000 medium mixtures, two threads, a quiet machine, four interleaved runs:
#: best 0.88 s at 125,000, 0.81 s at 200,000 and 250,000 (one thread: 1.38, 1.31
#: and 1.34 s); 350,000 and 500,000 were slower, 1,000,000 1.3-1.5x slower.
_NEWTON_FLOATS = 200_000


def row_median(A: np.ndarray, *, overwrite: bool = False) -> np.ndarray:
    """Median of every row of a NaN-free (m, g) array: ``np.median(A, axis=1)``, faster.

    One partition at the upper middle, then for an even ``g`` the largest
    value below it (np.median partitions at both middles, about 5x slower on
    rows of a few hundred or thousand values); the two are averaged as
    np.median does, ``(lower + upper) / 2``.  ``overwrite`` lets the partition
    reorder ``A`` in place (a temporary of the caller's) instead of a copy.
    """
    g = A.shape[1]
    if g == 0:
        return np.median(A, axis=1)
    half = g // 2
    part = A if overwrite else A.copy()
    part.partition(half, axis=1)
    upper = part[:, half]
    if g % 2:
        return upper.copy()
    return (part[:, :half].max(axis=1) + upper) / 2


def _newton_rounds(
    S: np.ndarray,
    Y: np.ndarray,
    X: np.ndarray,
    W: np.ndarray,
    live: np.ndarray,
    tuning: float,
    tol: float,
    products: _Products,
    mask: np.ndarray,
    rounds: int,
    state: dict | None = None,
    final: bool = True,
) -> tuple[np.ndarray, np.ndarray, dict | None]:
    """Newton rounds of the Huber fit on the samples ``live``; update X and W in place.

    Each round takes the residual scale (median absolute residual / 0.6745)
    and the threshold ``t = tuning * scale`` (:func:`_round_split`, with a
    secant jump once the rounds take full steps), splits the genes into inliers
    (``|r| <= t``) and outliers, and minimises the loss that is exact for
    that split, ``sum_in r²/2 + t sum_out |r|`` (outlier signs held), over
    ``x >= 0``: an NNLS with the inliers' Gram matrix and the outliers'
    clipped residuals ``±t`` in the right-hand side (Huber 1981, sec. 7.8;
    :func:`_newton_step`).  The step then goes as far towards that minimiser
    as lowers the Huber loss at ``t`` most (an exact line search,
    :func:`_line_search`).  At a fixed point the reweighting of
    :func:`huber_nnls` has its fixed point too (its weights ``min(1, t / |r|)``
    give ``w r = clip(r, -t, t)``).

    The rounds work on samples × genes copies of the live samples (contiguous
    rows: dropping the samples that settled is a row copy, and every pass
    over the data is a contiguous one).  The inliers' Gram matrices are
    updated by the genes that changed sides (:func:`_inlier_grams`).  A sample
    whose fit is exact, or whose round would only repeat the threshold's move
    (:func:`_round_settled`), leaves before the round's solve.  ``mask`` (g, n)
    is False where a value is missing (residual and weight 0).  Returns the
    samples whose step the line search cut to almost nothing (a nearly
    singular inlier Gram matrix), those whose full step still moved the
    residuals by more than ``tol`` (relative) after ``rounds`` rounds (written
    back; none unless ``final``), and, unless ``final``, the state of the
    samples still moving (:data:`_ROUND_STATE`, rows in ``live``'s order; None
    if none are left), from which another call (``state``; then ``live`` is
    ignored) goes on exactly as more rounds of this one would.
    """
    if state is None:
        state = _start_state(S, Y, X, mask, live, _residual_type(tol))
    st = dict(state)  # the caller's dict stays as it was
    floor = tuning / _MAD_OF_NORMAL * 1e-12
    handed, unfinished = [st["live"][:0]], st["live"][:0]
    for round_ in range(rounds):
        now = _round_split(st, tuning)
        exact, settled = _round_settled(st, now, tol, floor)
        keep = ~(exact | settled)
        if not keep.all():
            leave = exact | settled
            _write_back(
                X, W, st["live"], st["Xt"], now["F"], now["A"], mask, st["Pt"], leave, exact
            )
            _keep_before_step(st, now, keep)
        if st["live"].size == 0:
            break
        Gin = _inlier_grams(st, now, products)
        Xn, Rn, shift, change, alpha, cut = _newton_step(S, st, now, Gin, tol)
        # The full step's length measures the distance to the optimum (a cut
        # step is short because it was cut, not because x settled).
        moving = change > tol
        # Steps cut to almost nothing: the inliers' Gram matrix is nearly
        # singular along the step; reweighting (always downhill) finishes them.
        stalled = moving & (alpha < _STALL)
        handed.append(st["live"][stalled])
        # Write back the samples that leave (all of them after the last round
        # of the final call).
        last = final and round_ == rounds - 1
        stay = np.zeros_like(moving) if last else moving & ~stalled
        if not stay.all():
            _write_back(X, W, st["live"], Xn, now["F"], now["A"], mask, st["Pt"], ~stay, None)
            if last:
                unfinished = st["live"][moving & ~stalled]
        _next_state(st, now, Xn, Rn, shift, cut, stay)
        if st["live"].size == 0:
            break
    rest = None
    if not final and st["live"].size:
        rest = {name: st[name] for name in _ROUND_STATE}
    return np.concatenate(handed), unfinished, rest


def _round_split(state: dict, tuning: float) -> dict:
    """A Newton round's threshold and split of the genes, from the :data:`_ROUND_STATE` ``state``.

    Returns the round's arrays (rows: the state's live samples): ``A`` (m, g)
    absolute residuals; ``F`` (m,) ``tuning`` times the residual scale (median
    absolute residual / 0.6745, over the values present); ``g`` (m,) the
    threshold's mismatch ``F - t_b``; ``t`` (m,) the round's threshold;
    ``inside`` (m, g) bool, the inliers ``|r| <= t`` among the values present.

    ``t`` is ``F``, except once two rounds in a row took full steps
    (``solid_a & solid_b``): then a secant step on the mismatch ``t - tuning
    * scale(t)`` through the two previous rounds' thresholds (``t_a``, ``t_b``)
    and mismatches, where its slope is plausible.  Moving to the last scale
    converges only linearly (by a factor of ~0.25 a round here); the fixed
    point, and so the estimate, is the same.
    """
    Rt, Pt, t_b = state["Rt"], state["Pt"], state["t_b"]
    A = np.abs(Rt)
    if Pt is None:
        F = tuning * row_median(A).astype(np.float64) / _MAD_OF_NORMAL
    else:
        median = np.nanmedian(np.where(Pt, A, np.nan), axis=1)
        F = tuning * median.astype(np.float64) / _MAD_OF_NORMAL
    g = F - t_b
    t = F.copy()
    # (No jump in the first two rounds: solid_a and solid_b start False.)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (g - state["g_a"]) / (t_b - state["t_a"])
    jump = state["solid_a"] & state["solid_b"] & (slope >= -1.9) & (slope <= -0.1)
    t[jump] = t_b[jump] - g[jump] / slope[jump]
    inside = t.astype(Rt.dtype)[:, None] >= A
    if Pt is not None:
        inside &= Pt
    return {"A": A, "F": F, "g": g, "t": t, "inside": inside}


def _round_settled(
    state: dict, now: dict, tol: float, floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """The samples that leave a Newton round before its solve: (exact, settled), (m,) bool.

    ``state``: the :data:`_ROUND_STATE`; ``now``: the round's arrays from
    :func:`_round_split`, to which this adds ``rr`` (m,) the squared residual
    norms, and ``changed`` (m, g) and ``moved`` (m,) the genes, and samples,
    whose side changed since the last round (None in the first round).
    ``floor``: the threshold, relative to the root mean square of the data,
    at which residuals are at rounding level.

    Exact: the residuals are at rounding level; nothing to down-weight.
    Settled: the last round kept its split and passive set and took a full
    step (``pure_b``), so that step (of norm ``shift_b``) was the threshold's
    move alone, linear in it; the split holds at the new threshold, so this
    round's step would be that step scaled by the threshold's new move, and
    it is below ``tol``: no need to take it (one solve fewer for most
    samples: 7.40 -> 6.53 rounds per sample on the benchmark's medium
    mixtures, same objective to 5e-12).
    """
    Rt, t, t_b, split = state["Rt"], now["t"], state["t_b"], state["split"]
    rr = np.einsum("ij,ij->i", Rt, Rt).astype(np.float64)
    exact = t <= floor * state["size"]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = state["shift_b"] * np.abs((t - t_b) / (t_b - state["t_a"]))
    settled = state["pure_b"] & (shift < tol * np.sqrt(rr)) & ~exact
    # Genes that changed sides since the last round (none in the first).
    changed = None if split is None else now["inside"] != split
    moved = None if split is None else changed.any(axis=1)
    if moved is not None:
        settled &= ~moved
    now.update(rr=rr, changed=changed, moved=moved)
    return exact, settled


def _keep_before_step(state: dict, now: dict, keep: np.ndarray) -> None:
    """Keep the rows ``keep`` of a round's ``state`` and arrays ``now``, in place.

    Only what the rest of the round reads: the older threshold history
    (``t_a``, ``g_a``, ``solid_a``, ``pure_b``, ``shift_b``) is replaced at
    the round's end (:func:`_next_state`).
    """
    for name in ("live", "Rt", "Xt", "size", "t_b", "solid_b"):
        state[name] = state[name][keep]
    for name in ("A", "t", "F", "g", "inside", "rr"):
        now[name] = now[name][keep]
    if state["Pt"] is not None:
        state["Pt"] = state["Pt"][keep]
    if state["packed"] is not None:
        state["packed"], state["split"] = state["packed"][keep], state["split"][keep]
        now["changed"], now["moved"] = now["changed"][keep], now["moved"][keep]


def _inlier_grams(state: dict, now: dict, products: _Products) -> np.ndarray:
    """The inliers' Gram matrices (m, k, k) of the round's split ``now["inside"]``.

    Packed and float32 in ``state["packed"]``: built in the first round,
    then updated by the genes that changed sides
    (:meth:`_Products.update_packed`); ``state["split"]`` becomes the round's.
    """
    inside = now["inside"]
    if state["packed"] is None:
        # Float32 Gram matrices: they only steer the steps (a step solves
        # G_in d = gradient on the passive set, so any fixed point has a zero
        # gradient however inexact G_in is; their ~1e-7 error slows Newton's
        # convergence by a factor of cond(G_in) * 1e-7 a round).
        packed = _rows_times(inside.astype(np.float64), products.upper).astype(np.float32)
        state["packed"] = packed
    else:
        products.update_packed(state["packed"], inside, state["split"], now["changed"])
    state["split"] = inside
    return products.unpack(state["packed"])


def _newton_step(S: np.ndarray, state: dict, now: dict, Gin: np.ndarray, tol: float) -> tuple:
    """A Newton round's step, searched along and cut where the loss rises before its end.

    S (g, k) the signature; ``state`` the :data:`_ROUND_STATE` (m live
    samples); ``now`` the round's arrays (:func:`_round_split`,
    :func:`_round_settled`); Gin (m, k, k) the inliers' Gram matrices.
    Returns Xn (m, k) the new coefficients and Rn (m, g) residuals; shift
    (m,) the full step's norm in residuals and change (m,) that relative to
    the residuals' norm; alpha (m,) the step length of the line search (1: a
    full step; steps with ``change <= tol`` are not searched) and cut (m,)
    bool, the steps it shortened.
    """
    Xt, Rt, Pt, t = state["Xt"], state["Rt"], state["Pt"], now["t"]
    # The loss's gradient S' clip(r, -t, t) (missing values have r = 0),
    # and the right-hand side of the split's NNLS, S_in' y_in + t S_out'
    # sign(r_out) = gradient + G_in x (as y = S x + r).
    clipped = _clip(Rt, t.astype(Rt.dtype)[:, None])
    grad = _rows_times(clipped.astype(np.float64, copy=False), S)
    C = grad + _stack_matvec(Gin, Xt)
    Xn = _gram_pivot(Gin, C, Xt)
    step = Xn - Xt
    U = _rows_times(step, S.T).astype(Rt.dtype, copy=False)
    if Pt is not None:
        U[~Pt] = 0.0
    Rn = Rt - U
    shift = np.sqrt(np.einsum("ij,ij->i", U, U).astype(np.float64))
    change = shift / (np.sqrt(now["rr"]) + np.finfo(float).tiny)
    # The loss's slope and the inliers' curvature along the step at its start.
    start = -np.einsum("ij,ij->i", grad, step)
    curve = np.einsum("ij,ij->i", _stack_matvec(Gin, step), step)
    # Steps at rounding level need no search (their slopes are noise).
    alpha = _line_search(Rt, U, Rn, now["inside"], t, start, curve, change > tol)
    cut = alpha < 1.0 - 1e-9
    if cut.any():
        _cut_steps(Xt, Rt, Xn, Rn, U, step, alpha, cut)
    return Xn, Rn, shift, change, alpha, cut


def _cut_steps(
    Xt: np.ndarray,
    Rt: np.ndarray,
    Xn: np.ndarray,
    Rn: np.ndarray,
    U: np.ndarray,
    step: np.ndarray,
    alpha: np.ndarray,
    cut: np.ndarray,
) -> None:
    """Shorten the rows ``cut`` of a Newton round's step to ``alpha`` of it, in place.

    Xt, Xn, step (m, k): coefficients before, after the full step, the step;
    Rt, Rn, U (m, g): residuals before, after, their change; alpha (m,).
    Xn, Rn and U are overwritten.
    """
    Xn[cut] = Xt[cut] + alpha[cut, None] * step[cut]
    if cut.mean() < 0.25:
        U[cut] *= alpha[cut, None]
        Rn[cut] = Rt[cut] - U[cut]
    else:  # most rows cut (the first rounds): two passes beat the gathers
        U *= np.where(cut, alpha, 1.0)[:, None]
        np.subtract(Rt, U, out=Rn)


def _next_state(
    state: dict,
    now: dict,
    Xn: np.ndarray,
    Rn: np.ndarray,
    shift: np.ndarray,
    cut: np.ndarray,
    stay: np.ndarray,
) -> None:
    """Carry a Newton round's results into ``state`` and keep the rows ``stay``, in place.

    Xn (m, k), Rn (m, g): the round's coefficients and residuals; shift (m,)
    its full step's norm; cut (m,) bool: steps the line search shortened.
    The threshold history moves one round on; ``pure_b`` says whether the
    round kept its split (no gene ``moved``) and passive set and took a full
    step (never in the first round).
    """
    pure = ~cut & ((Xn > 0) == (state["Xt"] > 0)).all(axis=1)
    if now["moved"] is not None:
        pure &= ~now["moved"]
    else:
        pure[:] = False
    state.update(
        t_a=state["t_b"], g_a=now["g"], t_b=now["t"], solid_a=state["solid_b"], solid_b=~cut,
        pure_b=pure, shift_b=shift,
    )  # fmt: skip
    if stay.all():
        state["Xt"], state["Rt"] = Xn, Rn
        return
    state["Xt"], state["Rt"] = Xn[stay], Rn[stay]
    for name in ("live", "size", "packed", "split"):
        state[name] = state[name][stay]
    for name in ("t_a", "g_a", "t_b", "solid_a", "solid_b", "pure_b", "shift_b"):
        state[name] = state[name][stay]
    if state["Pt"] is not None:
        state["Pt"] = state["Pt"][stay]


#: What :func:`_newton_rounds` carries from round to round, per live sample
#: (rows): samples × genes residuals (float32 or float64) and presence mask (None when complete),
#: coefficients, scale floor (the root mean square of Y), packed inlier Grams and
#: the split they are for (None before the first round), and the threshold's
#: history.
_ROUND_STATE = (
    "live", "Xt", "Rt", "Pt", "size", "packed", "split",
    "t_a", "g_a", "t_b", "solid_a", "solid_b", "pure_b", "shift_b",
)  # fmt: skip


def _residual_type(tol: float) -> type:
    """The type of the residuals the Newton rounds carry for a stopping tolerance ``tol``.

    Float32 (about 6e-8 relative rounding) serves tolerances from
    :data:`_FLOAT32_TOL` up, the default 1e-5 among them; finer ones get float64.
    """
    return np.float32 if tol >= _FLOAT32_TOL else np.float64


#: Smallest stopping tolerance the Newton rounds meet with float32 residuals.
_FLOAT32_TOL = 1e-6


def _start_state(
    S: np.ndarray,
    Y: np.ndarray,
    X: np.ndarray,
    mask: np.ndarray,
    live: np.ndarray,
    dtype: type = np.float64,
) -> dict:
    """The :data:`_ROUND_STATE` of the samples ``live`` before their first Newton round."""
    full = bool(mask[:, live].all())
    Xt = X[:, live].T.copy()
    Pt = None if full else mask[:, live].T.copy()
    Rt = Y[:, live].T.copy()  # samples × genes; Y's rows are needed for their size alone
    size = np.sqrt(np.einsum("ij,ij->i", Rt, Rt) / max(Rt.shape[1], 1))
    Rt -= _rows_times(Xt, S.T)
    if not full:
        Rt[~Pt] = 0.0
    # Residuals in float32 for the default tolerance (:func:`_residual_type`):
    # a round makes a dozen passes over them, and float32 halves that memory
    # traffic (10-15% less CPU time on benchmarks/solver_speed.py).  Products,
    # gradient and steps stay float64, so the fixed point moves only by the
    # residuals' rounding (~1e-7 relative): on 2,000 samples, proportions within
    # 3.7e-8 of float64 residuals' and the same worst gap (4.3e-7) to reweighting
    # run to convergence.  Every step is per sample, so the answers still do not
    # depend on the samples alongside.
    Rt = Rt.astype(dtype, copy=False)
    nan = np.full(live.size, np.nan)
    false = np.zeros(live.size, bool)
    return {
        "live": live, "Xt": Xt, "Rt": Rt, "Pt": Pt,
        "size": size, "packed": None, "split": None,
        "t_a": nan, "g_a": nan.copy(), "t_b": nan.copy(), "solid_a": false,
        "solid_b": false.copy(), "pure_b": false.copy(), "shift_b": np.zeros(live.size),
    }  # fmt: skip


def _pool_states(states: list[dict], genes: int) -> list[dict]:
    """Concatenate Newton-round states (in order) and cut them into blocks again.

    Block sizes as in :func:`_newton_blocks`, so the blocks, and the answers,
    do not depend on the number of threads.  A block without missing values
    among others with some gets an all-True mask.
    """
    if not states:
        return []
    pooled = {}
    for name in _ROUND_STATE:
        parts = [st[name] for st in states]
        if all(p is None for p in parts):
            pooled[name] = None
            continue
        if name == "Pt":
            shapes = [st["Rt"].shape for st in states]
            parts = [
                np.ones(shape, bool) if p is None else p
                for p, shape in zip(parts, shapes, strict=True)
            ]
        pooled[name] = np.concatenate(parts)
    block = _block_size(genes)
    n = pooled["live"].size
    return [
        {k: None if v is None else v[first : first + block] for k, v in pooled.items()}
        for first in range(0, n, block)
    ]


def _write_back(
    X: np.ndarray,
    W: np.ndarray,
    live: np.ndarray,
    Xt: np.ndarray,
    F: np.ndarray,
    A: np.ndarray,
    mask: np.ndarray,
    Pt: np.ndarray | None,
    leave: np.ndarray,
    exact: np.ndarray | None,
) -> None:
    """Write the rows ``leave`` of the Newton rounds' samples × genes copies back.

    X (k, n) and W (g, n) receive coefficients ``Xt`` and the weights
    ``min(1, F / A)`` of the rows' threshold F and absolute residuals A
    (weight 1 where ``exact``: nothing to down-weight; 0 where a value is
    missing, ``Pt`` False).
    """
    gone = live[leave]
    X[:, gone] = Xt[leave].T
    with np.errstate(divide="ignore", invalid="ignore"):
        Wd = np.minimum(1.0, F[leave, None] / A[leave])
    if exact is not None:
        Wd[exact[leave]] = 1.0
    W[:, gone] = (Wd if Pt is None else np.where(Pt[leave], Wd, 0.0)).T


def _stack_matvec(G: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``G[i] @ X[i]`` for every row: (m, k, k), (m, k) -> (m, k).

    A batched matmul; about twice as fast as the equivalent einsum here.
    """
    return (G @ X[:, :, None])[:, :, 0]


def _rows_times(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A @ B`` for float64 ``A`` (samples × ·), every row's result the same in any call.

    A sample's answer must not depend on the samples fitted beside it (the
    in-memory and Dask engines cut a cohort differently).  OpenBLAS computes
    each row of a float64 product alike wherever it sits, except the last row
    of an odd number of rows (another kernel; checked by
    tests/core/test_sample_independence.py), so that row is computed in a pair.  (Float32
    products differ with a row's position: they are not used here.)
    """
    m = A.shape[0]
    if m % 2 == 0:
        return A @ B
    pair = np.concatenate([A[-1:], A[-1:]]) @ B
    if m == 1:
        return pair[:1]
    out = np.empty((m, B.shape[1]), dtype=pair.dtype)
    np.matmul(A[:-1], B, out=out[:-1])
    out[-1] = pair[0]
    return out


def per_sample(M: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``M @ X`` for X (·, samples), every sample's column the same in any call.

    M (a, b) float64, X (b, n): (a, n); each column computed as
    :func:`_rows_times` computes a row (fitted values of a cohort equal those
    of its chunks to the last bit).
    """
    return _rows_times(X.T, M.T).T


def _clip(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``np.clip(R, -t, t)`` for (m, g) R and (m, 1) t, in one temporary.

    np.clip with array bounds is ~30% slower than maximum then minimum in place.
    """
    out = np.maximum(R, -t)
    return np.minimum(out, t, out=out)


#: Step length below which a sample leaves the Newton rounds for reweighting.
_STALL = 1e-6


def _line_search(
    R: np.ndarray,
    U: np.ndarray,
    Rn: np.ndarray,
    inside: np.ndarray,
    t: np.ndarray,
    start: np.ndarray,
    curve: np.ndarray,
    search: np.ndarray,
) -> np.ndarray:
    """Step lengths ``a`` in (0, 1] minimising each row's Huber loss of ``R - a U``.

    R, U, Rn : (m, g) residuals, their change over a full step and ``R - U``
    (samples × genes); inside : (m, g) ``|R| <= t``; t : (m,) thresholds;
    start : (m,) the loss's slope at ``a = 0``; curve : (m,) the sum of
    ``U**2`` over ``inside``; search : (m,) bool, False for rows that take the
    full step anyway.

    Along the step the loss is convex and piecewise quadratic: its slope
    ``-sum clip(R - a U, -t, t) U`` is continuous, piecewise linear and
    increasing, and bends (by ``±U**2``) only where a gene crosses ``±t``.
    Rows whose slope at ``a = 1`` is not positive take the full step (the
    common case near the optimum, tested first).  For the others, the bends
    of the few genes that cross a threshold are sorted and the slope is
    followed from ``a = 0`` to its root, exactly.
    """
    # The slope at a = 1 of every row at once.
    clipped = _clip(Rn, t.astype(Rn.dtype)[:, None])
    over = search & (np.einsum("ij,ij->i", clipped, U) < 0)
    if not over.any():
        return np.ones(R.shape[0])
    alpha = _root_along_step(R, U, Rn, inside, t, clipped, start, curve, over)
    alpha[~over] = 1.0
    return alpha


def _root_along_step(
    R: np.ndarray,
    U: np.ndarray,
    Rn: np.ndarray,
    inside: np.ndarray,
    t: np.ndarray,
    clipped: np.ndarray,
    start: np.ndarray,
    curve: np.ndarray,
    over: np.ndarray,
) -> np.ndarray:
    """The exact search of :func:`_line_search` on the rows ``over`` (slope at ``a = 1`` positive).

    Arguments as there, with ``clipped`` (m, g) ``clip(Rn, -t, t)``.  Works
    on the whole arrays (masking the genes of other rows is cheaper than
    gathering the rows that search); the other rows' values are meaningless.
    """
    m = R.shape[0]
    tt = t.astype(R.dtype)[:, None]
    # Genes that meet a threshold on the way change sides or move by more
    # than 2 t (a superset: genes whose bends fall outside (0, 1) drop below).
    cross = (inside != (clipped == Rn)) | (np.abs(U) > 2 * tt)
    cross &= over[:, None]
    flat = np.flatnonzero(cross)
    row = flat // R.shape[1]
    Uc, Rc, tc = U.ravel()[flat].astype(np.float64), R.ravel()[flat].astype(np.float64), t[row]
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = (Rc - tc) / Uc, (Rc + tc) / Uc
    # A gene is inside between its two ends; entering adds U**2 to the bend.
    pos = np.concatenate([np.minimum(low, high), np.maximum(low, high)])
    bend = np.concatenate([Uc**2, -(Uc**2)])
    row = np.concatenate([row, row])
    keep = (pos > 0) & (pos < 1)
    row, pos, bend = row[keep], pos[keep], bend[keep]
    row, pos, bend = _in_row_order(row, pos, bend)
    first = np.r_[True, row[1:] != row[:-1]] if row.size else np.zeros(0, bool)
    prev = np.where(first, 0.0, np.r_[0.0, pos[:-1]])
    # Each event's run (its row's events) and place in it.
    run = np.cumsum(first) - 1
    place = np.arange(row.size) - np.flatnonzero(first)[run]
    heads = row[first]
    # Curvature before each event: the start's plus the bends of the row's earlier events.
    bends = _running_sums(curve[heads], bend, run, place)
    bend_before = bends[run, place]
    rise = bend_before * (pos - prev)
    # The slope at each event, and just before it (at the previous event).
    slopes = _running_sums(start[heads], rise, run, place)
    slope_at, before = slopes[run, place + 1], slopes[run, place]
    # First event of each row at which the slope is no longer negative.
    hit = np.flatnonzero(slope_at >= 0)
    hit = hit[np.r_[True, row[hit][1:] != row[hit][:-1]]] if hit.size else hit
    # Rows without such an event: the root lies after their last event.
    last_slope, last_pos, last_bend = start.copy(), np.zeros(m), curve.copy()
    if row.size:
        end = np.r_[np.flatnonzero(row[1:] != row[:-1]), row.size - 1]
        r_end = row[end]
        last_slope[r_end], last_pos[r_end] = slope_at[end], pos[end]
        last_bend[r_end] = bends[run[end], place[end] + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = last_pos - last_slope / last_bend
        if hit.size:
            alpha[row[hit]] = prev[hit] - before[hit] / bend_before[hit]
    return np.clip(np.nan_to_num(alpha, nan=1.0), 0.0, 1.0)


def _in_row_order(row: np.ndarray, pos: np.ndarray, bend: np.ndarray) -> tuple:
    """Events sorted by row, then position, ties in the order listed.

    Each row's order then depends on its own events alone (a sample's
    answer must not depend on the samples of its block).  A quick sort on
    ``row + pos`` (pos in (0, 1)) gives that order unless two positions of a
    row tie or round together; then an exact stable sort (8x slower) does.
    """
    order = np.argsort(row + pos)
    r, p = row[order], pos[order]
    same = r[1:] == r[:-1]
    if (r[1:] < r[:-1]).any() or (same & (p[1:] <= p[:-1])).any():
        order = np.lexsort((pos, row))
    return row[order], pos[order], bend[order]


def _running_sums(
    heads: np.ndarray, values: np.ndarray, run: np.ndarray, place: np.ndarray
) -> np.ndarray:
    """Running sums along runs of events, each run summed on its own.

    heads : (runs,) each run's starting value; values : (events,) in run
    order; run, place : (events,) each event's run and its place in it.
    Returns (runs, longest + 1): column ``c`` holds the head plus the run's
    first ``c`` values, added in order.  A sum running across runs and
    differenced would tie a sample's rounding to the samples of its block (and
    lose digits where those are larger); a row of a zero-padded table cannot.
    """
    width = int(place.max()) + 2 if place.size else 1
    table = np.zeros((heads.size, width))
    table[:, 0] = heads
    table.ravel()[run * width + place + 1] = values
    return np.cumsum(table, axis=1, out=table)


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

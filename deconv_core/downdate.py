"""Refits without some genes at the cost of one fit: downdates of the normal equations.

Leaving genes out of a (weighted) non-negative least-squares fit changes every
sample's Gram matrix ``G = S' W S`` by the left-out genes' terms only.  While
the set of cell types fitted above zero (the passive set ``P``) stays the same,
the refit is an unconstrained least-squares solve on ``P``, so it follows from
the full fit in closed form:

- one gene ``i`` (weight ``w``, residual ``r``, signature row ``s``): with
  ``u = G[P, P]^-1 s[P]`` and leverage ``h = s[P]' u``, the refit is
  ``x - u w r / (1 - w h)`` (Sherman-Morrison; the leave-one-out formula of
  least squares, e.g. Cook & Weisberg 1982);
- several genes: the correction ``G'[P, P]^-1 g'[P]`` for the downdated
  ``G'`` and the full fit's gradient ``g'`` on the remaining genes.

The result is then checked against the optimality (KKT) conditions of the
refit problem: coefficients on ``P`` positive and no cell type outside ``P``
whose gradient asks to enter.  Only refits that fail (the passive set
changed, or the downdate is too ill-conditioned to trust) are solved again
from scratch with :func:`~deconv_core.solvers.weighted_nnls`, so every answer
is the exact refit.

Arrays are in the fit's weighted scale: ``S`` (g, k) genes × cell types,
``Y`` (g, m) genes × samples, ``W`` (g, m) weights of the squared residuals
(0 where a value is missing; 1 for plain least squares).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deconv_core.solvers import _gram_solve, _Products, _weighted_solve

__all__ = ["FullFit", "fit_full", "leave_each_out", "leave_out"]

#: Smallest ``1 - w h`` trusted in a one-gene downdate: below it the gene is
#: (nearly) the only one that fixes a direction, the refit is ill-posed on the
#: same passive set and is solved from scratch.
_MIN_PIVOT = 1e-6
#: Floats per (samples, cell types, genes) work array of the one-gene
#: downdates (2 MB, an L2 cache's worth: the three arrays stay in cache from
#: one operation to the next; 1,296 genes × 17 types × 84 samples: 8 MB
#: blocks took 0.09-0.12 s, 2 MB 0.035 s, 1.2 MB 0.045 s); bounds their memory whatever
#: the cohort's size.
_BLOCK = 250_000
#: One-gene refits solved from scratch per batch (bounds their memory to
#: about ``2 * genes * _FALLBACK_BLOCK`` floats).
_FALLBACK_BLOCK = 256


@dataclass(frozen=True)
class FullFit:
    """One weighted NNLS fit and the factors its downdates reuse.

    S : (g, k); Y, W : (g, m); X : (k, m) coefficients (NaN for samples with
    fewer than k + 1 weighted values); grad : (k, m) ``S' W (Y - S X)``;
    gram : (m, k, k) ``S' W_j S``; inverse : (m, k, k) ``G[P, P]^-1`` padded
    with zeros outside each sample's passive set; tol : (m,) gradient
    tolerance of the KKT check (as :func:`~deconv_core.solvers.weighted_nnls`);
    products : what every refit from scratch with ``S`` reuses.
    """

    S: np.ndarray
    Y: np.ndarray
    W: np.ndarray
    X: np.ndarray
    grad: np.ndarray
    gram: np.ndarray
    inverse: np.ndarray
    tol: np.ndarray
    products: _Products

    def solve(self, Y: np.ndarray, W: np.ndarray, start: np.ndarray) -> np.ndarray:
        """(k, n) exact weighted NNLS refits of ``Y`` (g, n) with weights ``W`` (g, n)."""
        return _weighted_solve(self.S, np.where(W > 0, Y, 0.0), W, start, self.products)

    def columns(self, cols: slice | np.ndarray) -> FullFit:
        """The fit restricted to the samples ``cols`` (a slice or indices)."""
        return FullFit(
            self.S,
            self.Y[:, cols],
            self.W[:, cols],
            self.X[:, cols],
            self.grad[:, cols],
            self.gram[cols],
            self.inverse[cols],
            self.tol[cols],
            self.products,
        )


def fit_full(S: np.ndarray, Y: np.ndarray, W: np.ndarray, start: np.ndarray) -> FullFit:
    """Fit every sample on all its genes and factorise its passive Gram block.

    Parameters
    ----------
    S : (g, k) weighted signature; Y : (g, m) weighted values (0 where W is 0);
    W : (g, m) non-negative weights; start : (k, m) a non-negative guess.

    Returns
    -------
    FullFit
    """
    k = S.shape[1]
    products = _Products(S)
    X = _weighted_solve(S, Y, W, start, products)
    X[:, (W > 0).sum(axis=0) < k + 1] = np.nan
    Xz = np.nan_to_num(X)
    gram = products.grams(W)
    grad = S.T @ (W * (Y - S @ Xz))
    c = S.T @ (W * Y)
    tol = 1e3 * np.finfo(float).eps * k * (np.abs(c).max(axis=0) + np.finfo(float).tiny)
    return FullFit(S, Y, W, X, grad, gram, _passive_inverse(gram, Xz > 0), tol, products)


def _passive_inverse(gram: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(m, k, k) inverses of each ``gram[j][P_j, P_j]``, zero outside; P : (k, m) bool."""
    both = P.T[:, :, None] & P.T[:, None, :]
    eye = np.broadcast_to(np.eye(gram.shape[1], dtype=bool), both.shape)
    sub = np.where(both, gram, np.where(eye, 1.0, 0.0))
    with np.errstate(all="ignore"):
        try:
            inv = np.linalg.inv(sub)
        except np.linalg.LinAlgError:
            inv = np.linalg.pinv(sub)
    return np.where(both, inv, 0.0)


def leave_each_out(fit: FullFit) -> np.ndarray:
    """Coefficients refitted without each gene in turn.

    Parameters
    ----------
    fit : the full fit (g genes, k cell types, m samples).

    Returns
    -------
    (g, k, m) array: entry ``[i]`` holds the cell types × samples coefficients
    fitted without gene ``i``; NaN for samples left with fewer than k + 1
    weighted values.
    """
    g, k = fit.S.shape
    m = fit.X.shape[1]
    out = np.empty((g, k, m))
    step = max(1, min(m, _BLOCK // (g * k)))
    # Three (samples, k, g) work arrays reused by every block: a fresh 8 MB
    # temporary per operation cost more in page faults than its arithmetic.
    work = np.empty((3, step, k, g))
    for first in range(0, m, step):
        cols = slice(first, min(first + step, m))
        _leave_each_out_block(fit.columns(cols), out[:, :, cols], work[:, : cols.stop - first])
    return out


def _leave_each_out_block(fit: FullFit, out: np.ndarray, work: np.ndarray) -> None:
    """:func:`leave_each_out` on one block of samples, into ``out`` (g, k, m).

    ``work`` : (3, m, k, g) scratch arrays (overwritten).
    """
    S, W, X = fit.S, fit.W, np.nan_to_num(fit.X)
    # Everything per (sample, cell type, gene) is computed in the (m, k, g) layout of
    # the batched matrix products (BLAS), where every operand is contiguous, and the
    # refits are turned to (g, k, m) once at the end (the same numbers: elementwise
    # operations do not depend on the layout; 2x faster than through strided views).
    Um, tmp, term = work
    np.matmul(fit.inverse, S.T, out=Um)  # (m, k, g): G[P,P]^-1 s_i
    h = np.multiply(Um, S.T[None], out=tmp).sum(axis=1).T  # (g, m) leverage on the passive set
    r = fit.Y - S @ X
    pivot = 1.0 - W * h
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = W * r / pivot
    phi_t = phi.T[:, None, :]  # (m, 1, g)
    # Gradient of each refit from the full fit's:  g' = g + G u phi - w s (r + h phi),
    # into ``tmp``; then the refits x - u phi overwrite ``Um``.
    grad_t = np.matmul(fit.gram, Um, out=tmp)
    grad_t *= phi_t
    np.add(fit.grad.T[:, :, None], grad_t, out=grad_t)
    grad_t -= np.multiply((W * (r + h * phi)).T[:, None, :], S.T[None], out=term)
    Zt = np.multiply(Um, phi_t, out=Um)
    np.subtract(X.T[:, :, None], Zt, out=Zt)
    optimal = _kkt(Zt, grad_t, (X.T > 0)[:, :, None], fit.tol[:, None, None], axis=1)  # (m, g)
    ok = (pivot > _MIN_PIVOT) & optimal.T
    out[...] = Zt.transpose(2, 1, 0)
    _refit_failures(fit, out, ok)
    few = ((W > 0).sum(axis=0)[None] - (W > 0)) < S.shape[1] + 1
    out[np.broadcast_to(few[:, None, :], out.shape)] = np.nan
    out[:, :, np.isnan(fit.X).any(axis=0)] = np.nan


def _kkt(
    Z: np.ndarray, grad: np.ndarray, P: np.ndarray, tol: np.ndarray, *, axis: int = -2
) -> np.ndarray:
    """(..., m) True where refits ``Z`` (..., k, m) with gradients ``grad`` are optimal.

    ``P`` (passive set) and ``tol`` broadcast against ``Z``; the cell types lie
    along ``axis`` (another layout, e.g. (m, k, g) with ``axis=1``, gives (m, g)).
    """
    with np.errstate(invalid="ignore"):
        feasible = np.where(P, Z > 0, True).all(axis=axis)
        stationary = np.where(P, True, grad <= tol).all(axis=axis)
    return feasible & stationary & np.isfinite(Z).all(axis=axis)


def _refit_failures(fit: FullFit, Z: np.ndarray, ok: np.ndarray) -> None:
    """Solve from scratch, in place, the one-gene refits ``Z[i, :, j]`` where ``ok[i, j]`` fails.

    Each such refit starts from the full fit's Gram matrix less the gene's
    term (no new Gram product over all genes), in blocks of samples.
    """
    genes, cols = np.nonzero(~ok)
    S = fit.S
    c = fit.grad + np.einsum("mab,bm->am", fit.gram, np.nan_to_num(fit.X))  # S' W Y
    for first in range(0, genes.size, _FALLBACK_BLOCK):
        i, j = genes[first : first + _FALLBACK_BLOCK], cols[first : first + _FALLBACK_BLOCK]
        W = fit.W[:, j].copy()
        w = W[i, np.arange(i.size)]
        W[i, np.arange(i.size)] = 0.0
        gram = fit.gram[j] - w[:, None, None] * S[i, :, None] * S[i, None, :]
        C = (c[:, j] - (w * fit.Y[i, j]) * S[i].T).T
        start = np.nan_to_num(fit.X[:, j])
        Z[i, :, j] = _gram_solve(S, fit.Y[:, j], W, gram, C, start, fit.products).T


def leave_out(fit: FullFit, drop: np.ndarray) -> np.ndarray:
    """Coefficients refitted without some genes, chosen per sample.

    Parameters
    ----------
    fit : the full fit (g genes, k cell types, m samples).
    drop : (g, m) bool, True for the genes each sample is refitted without
        (or (g,) for the same genes in every sample).

    Returns
    -------
    (k, m) coefficients, cell types × samples; NaN for samples left with
    fewer than k + 1 weighted values.
    """
    S, W, X = fit.S, fit.W, np.nan_to_num(fit.X)
    g, k = S.shape
    drop = np.broadcast_to(drop.reshape(g, -1), W.shape)
    # Only the dropped genes' terms change: products over those rows alone.
    rows = np.flatnonzero(drop.any(axis=1))
    Wd = np.where(drop[rows], W[rows], 0.0)
    gram = fit.gram - fit.products.grams(Wd, rows)
    # The full fit's gradient on the kept genes: g' = g - S' Wd r.
    rhs = fit.grad - S[rows].T @ (Wd * (fit.Y[rows] - S[rows] @ X))
    P = X > 0
    delta = _solve_passive(gram, rhs, P)
    Z = X + delta
    grad = rhs - np.einsum("mab,bm->am", gram, delta)
    ok = _kkt(Z, grad, P, fit.tol)
    redo = np.flatnonzero(~ok)
    if redo.size:
        Z[:, redo] = fit.solve(fit.Y[:, redo], np.where(drop[:, redo], 0.0, W[:, redo]), X[:, redo])
    kept = ((W > 0) & ~drop).sum(axis=0)
    Z[:, (kept < k + 1) | np.isnan(fit.X).any(axis=0)] = np.nan
    return Z


def _solve_passive(gram: np.ndarray, rhs: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(k, m) solutions of ``gram[j][P, P] z = rhs[P, j]``, zero outside P (NaN if singular)."""
    both = P.T[:, :, None] & P.T[:, None, :]
    eye = np.broadcast_to(np.eye(gram.shape[1], dtype=bool), both.shape)
    sub = np.where(both, gram, np.where(eye, 1.0, 0.0))
    with np.errstate(all="ignore"):
        try:
            z = np.linalg.solve(sub, np.where(P, rhs, 0.0).T[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            z = np.full(rhs.T.shape, np.nan)
    return np.where(P, z.T, 0.0)

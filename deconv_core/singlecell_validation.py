"""Held-out validation of a signature built from single-cell data.

Step 6 of the method of :mod:`deconv_core.singlecell`: a share of every cell
type's cells is held out (:func:`split_cells`, seeded), the signature is built
on the other cells, and :func:`validate_held_out` sums pseudo-bulk mixtures of
held-out cells with Dirichlet(1) proportions from their raw counts,
deconvolves them with :func:`deconv_core.deconvolve.deconvolve` (relative
mode) and reports Pearson r and RMSE against the cell fractions drawn, per
cell type and pooled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy  # scipy.sparse loads on first use: a plain run never needs it

from deconv_core.deconvolve import deconvolve
from deconv_core.signatures import Signature

__all__ = ["HeldOutValidation", "split_cells", "validate_held_out"]


@dataclass(frozen=True)
class HeldOutValidation:
    """How well a signature built on training cells recovers mixtures of held-out cells.

    Attributes
    ----------
    validation
        Per cell type, then ``all`` (pooled over mixtures × types):
        ``pearson_r``, ``rmse``, ``mean_true``, ``mean_estimate``, ``n_train``,
        ``n_test``.
    mixture_truth, mixture_estimate
        Mixtures × cell types: cell fractions drawn and estimated.
    n_train, n_test
        (k,) training and held-out cells per cell type.
    """

    validation: pd.DataFrame
    mixture_truth: pd.DataFrame
    mixture_estimate: pd.DataFrame
    n_train: np.ndarray
    n_test: np.ndarray


def split_cells(
    codes: np.ndarray, k: int, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test split of cell positions: at least one cell on each side.

    Parameters
    ----------
    codes
        (n,) int cell type of each cell, 0 to k - 1; every type has at least 2 cells.
    k
        Number of cell types.
    test_fraction
        Share of each type's cells held out (rounded, at least one, not all).
    rng
        Random generator (advanced by the draw).

    Returns
    -------
    (train, test)
        Sorted cell positions.
    """
    train, test = [], []
    for t in range(k):
        cells = rng.permutation(np.flatnonzero(codes == t))
        n_test = min(max(1, int(round(cells.size * test_fraction))), cells.size - 1)
        test.append(cells[:n_test])
        train.append(cells[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _draw_mixtures(
    n_cells: int,
    test_cells: list[np.ndarray],
    *,
    n_mixtures: int,
    cells_per_mixture: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Which held-out cells make up each mixture: (cells × mixtures) picks, (mixtures × k) truth."""
    k = len(test_cells)
    proportions = rng.dirichlet(np.ones(k), size=n_mixtures)
    picks = np.zeros((n_cells, n_mixtures))
    truth = np.zeros((n_mixtures, k))
    for m in range(n_mixtures):
        per_type = rng.multinomial(cells_per_mixture, proportions[m])
        truth[m] = per_type / cells_per_mixture
        for t in range(k):
            chosen = rng.choice(test_cells[t], size=per_type[t], replace=True)
            np.add.at(picks[:, m], chosen, 1.0)
    return picks, truth


def _recovery_row(
    name: str, estimate: np.ndarray, truth: np.ndarray, n_train: int, n_test: int
) -> dict[str, object]:
    return {
        "cell_type": name,
        "pearson_r": _pearson(estimate, truth),
        "rmse": float(np.sqrt(np.nanmean((estimate - truth) ** 2))),
        "mean_true": float(truth.mean()),
        "mean_estimate": float(np.nanmean(estimate)),
        "n_train": int(n_train),
        "n_test": int(n_test),
    }


def _recovery_table(
    estimate: np.ndarray,
    truth: np.ndarray,
    cell_types: list[str],
    n_train: np.ndarray,
    n_test: np.ndarray,
) -> pd.DataFrame:
    """Per cell type, then ``all`` pooled over the values estimated."""
    rows = [
        _recovery_row(cell_type, estimate[:, t], truth[:, t], n_train[t], n_test[t])
        for t, cell_type in enumerate(cell_types)
    ]
    ok = ~np.isnan(estimate)
    pooled = _recovery_row("all", estimate[ok], truth[ok], n_train.sum(), n_test.sum())
    # The pooled means run over every mixture × type, as the per-type ones do.
    pooled["mean_true"] = float(truth.mean())
    pooled["mean_estimate"] = float(np.nanmean(estimate))
    rows.append(pooled)
    return pd.DataFrame(rows).set_index("cell_type")


def validate_held_out(
    counts: scipy.sparse.csc_array,
    codes: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    signature: Signature,
    genes: pd.Index,
    *,
    n_mixtures: int,
    cells_per_mixture: int,
    rng: np.random.Generator,
) -> HeldOutValidation:
    """Deconvolve pseudo-bulk mixtures of held-out cells with a signature built without them.

    Parameters
    ----------
    counts
        Genes × cells, raw counts (or the linear values read).
    codes
        (cells,) int cell type of each cell, positions in ``signature.cell_types``.
    train, test
        Cell positions the signature was built on and held out (:func:`split_cells`).
    signature
        Built on the ``train`` cells; its columns are the cell types of ``codes``.
    genes
        Gene symbols of the rows of ``counts``.
    n_mixtures, cells_per_mixture
        Size of the simulation.
    rng
        Random generator (advanced by the draws).

    Returns
    -------
    HeldOutValidation
    """
    cell_types = signature.cell_types
    k = len(cell_types)
    test_cells = [test[codes[test] == t] for t in range(k)]
    picks, truth = _draw_mixtures(
        counts.shape[1],
        test_cells,
        n_mixtures=n_mixtures,
        cells_per_mixture=cells_per_mixture,
        rng=rng,
    )
    bulk = counts @ picks  # genes × mixtures, summed raw counts
    mixtures = [f"mixture_{m + 1}" for m in range(n_mixtures)]
    bulk_table = pd.DataFrame(np.asarray(bulk), index=genes, columns=mixtures)
    result = deconvolve(bulk_table, signature, mode="relative", exclude=None, assume_linear=True)
    estimate = result.proportions.loc[mixtures, cell_types].to_numpy(dtype=float)
    n_train = np.bincount(codes[train], minlength=k)
    n_test = np.bincount(codes[test], minlength=k)
    return HeldOutValidation(
        validation=_recovery_table(estimate, truth, cell_types, n_train, n_test),
        mixture_truth=pd.DataFrame(truth, index=mixtures, columns=cell_types),
        mixture_estimate=pd.DataFrame(estimate, index=mixtures, columns=cell_types),
        n_train=n_train,
        n_test=n_test,
    )

"""Can the data tell a signature's cell types apart: the one implementation.

The Signature page, ``signatures --describe`` and the run's
``collinear_cell_types`` / ``ill_conditioned`` warnings all read
:func:`signature_identifiability`: the condition number of the signature and
the correlation and cosine of every pair of cell types, ranked by cosine (what
least squares sees), with the thresholds of :mod:`deconv_core.thresholds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deconv_core.thresholds import MAX_CONDITION, MAX_COSINE
from deconv_core.validation import DeconvWarning, InputError

__all__ = [
    "Identifiability",
    "condition_number",
    "identifiability_warnings",
    "signature_identifiability",
]


def condition_number(values: np.ndarray) -> float:
    """2-norm condition number (largest / smallest singular value) of a genes × cell types array.

    It bounds how much relative error in the bulk can be amplified in the
    proportions; CIBERSORT (Newman 2015) chose its gene count by minimising
    it.  ``inf`` when the profiles are linearly dependent or there are fewer
    genes than cell types.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or values.shape[0] < values.shape[1]:
        return float("inf")
    singular = np.linalg.svd(values, compute_uv=False)
    return float(singular[0] / singular[-1]) if singular[-1] > 0 else float("inf")


@dataclass(frozen=True)
class Identifiability:
    """How well the data can tell a signature's cell types apart.

    Attributes
    ----------
    condition_number
        2-norm condition number (largest / smallest singular value) of the
        signature, gene weights applied when given: how much relative error in
        the data can be amplified in the estimates.  Below ~10 is excellent,
        tens are typical of good immune signatures; above ~50 some cell types
        are hard to tell apart; ``inf`` means linearly dependent profiles.
    pairs
        One row per pair of cell types: ``cell_type_a``, ``cell_type_b``,
        ``correlation`` (Pearson, across genes), ``cosine`` (of the angle
        between the two profiles; what least squares sees) and ``collinear``
        (cosine at or above the threshold), sorted by cosine, highest first.
    n_genes
        Number of genes the numbers rest on.
    """

    condition_number: float
    pairs: pd.DataFrame
    n_genes: int


def _angles(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosine and Pearson correlation of every pair of columns of genes × cell types ``A``.

    Both ignore each column's scale, so each column is divided by its largest
    absolute value first: squares of values near 1e-300 or 1e300 would
    underflow or overflow (NaN, or a cosine off in the 8th digit near 1e-160).
    A column of zeros gives NaN.
    """
    top = np.abs(A).max(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        U = A / np.where(top > 0, top, 1.0)
        norms = np.linalg.norm(U, axis=0)
        cosine = (U.T @ U) / np.outer(norms, norms)
        correlation = np.atleast_2d(np.corrcoef(U, rowvar=False))
    return cosine, correlation


def signature_identifiability(
    signature: pd.DataFrame,
    *,
    weights: pd.Series | None = None,
    max_cosine: float = MAX_COSINE,
) -> Identifiability:
    """Condition number and pairwise similarity of a signature's cell types.

    Call it with a whole signature (what ``signatures --describe`` and the
    Signature page show before data are loaded), or with the rows of the genes
    found in the user's data and the fit's gene weights
    (``result.signature_matrix``, ``result.gene_weights``) to see what the fit
    can tell apart on those data.

    Parameters
    ----------
    signature
        Genes × cell types, linear.
    weights
        Per-gene weights of the fit (index = genes); each gene's row is
        multiplied by its weight.  None: no weights.
    max_cosine
        Cosine at or above which a pair is reported as collinear (default
        :data:`~deconv_core.thresholds.MAX_COSINE`).

    Returns
    -------
    Identifiability

    Raises
    ------
    InputError
        If the signature has fewer than 2 cell types or fewer genes than
        cell types, or weights are missing for some genes.
    """
    n_genes, k = signature.shape
    if k < 2 or n_genes < k:
        raise InputError(
            f"Identifiability needs at least 2 cell types and as many genes as cell types; "
            f"got {n_genes} genes x {k} cell types."
        )
    A = signature.to_numpy(dtype=np.float64)
    if weights is not None:
        aligned = weights.reindex(signature.index)
        if aligned.isna().any():
            missing = [str(g) for g in aligned.index[aligned.isna()][:5]]
            raise InputError(
                f"No weight given for {int(aligned.isna().sum())} signature gene(s) "
                f"({', '.join(missing)}); pass weights for every gene or none."
            )
        A = A * aligned.to_numpy(dtype=float)[:, None]
    cosine, correlation = _angles(A)
    condition = condition_number(A)
    names = [str(c) for c in signature.columns]
    a, b = np.triu_indices(k, 1)
    pairs = pd.DataFrame(
        {
            "cell_type_a": [names[i] for i in a],
            "cell_type_b": [names[j] for j in b],
            "correlation": correlation[a, b],
            "cosine": cosine[a, b],
        }
    )
    pairs["collinear"] = pairs["cosine"].to_numpy() >= max_cosine
    pairs = pairs.sort_values("cosine", ascending=False, kind="stable").reset_index(drop=True)
    return Identifiability(condition_number=condition, pairs=pairs, n_genes=int(n_genes))


def identifiability_warnings(
    found: Identifiability, *, scope: str, names: Mapping[str, str] | None = None
) -> list[DeconvWarning]:
    """The findings of :func:`signature_identifiability` as warning records.

    Parameters
    ----------
    found
        The identifiability of a signature (whole, or on the genes the fit used).
    scope
        What the numbers rest on, completing "on ...": e.g. ``"the 150 signature
        genes found"``.
    names
        Cell-type id → display name for the messages
        (:attr:`~deconv_core.signatures.Signature.shown_names`); ids not in it stay.

    Returns
    -------
    list of DeconvWarning
        One ``collinear_cell_types`` per pair with cosine at or above
        :data:`~deconv_core.thresholds.MAX_COSINE`, then ``ill_conditioned``
        when the condition number is above
        :data:`~deconv_core.thresholds.MAX_CONDITION`.
    """
    warnings = []
    shown = names or {}
    for row in found.pairs[found.pairs["collinear"]].itertuples(index=False):
        a, b = str(row.cell_type_a), str(row.cell_type_b)
        warnings.append(
            DeconvWarning(
                "warning",
                "collinear_cell_types",
                f"{shown.get(a, a)} and {shown.get(b, b)} have nearly the same profile on "
                f"{scope} (cosine {row.cosine:.2f}, correlation {row.correlation:.2f}): the "
                "data cannot reliably tell them apart; read their sum rather than each one.",
                cell_type=f"{a}, {b}",
            )
        )
    if found.condition_number > MAX_CONDITION:
        warnings.append(
            DeconvWarning(
                "warning",
                "ill_conditioned",
                f"The signature on {scope} has condition number {found.condition_number:.0f} "
                f"(above {MAX_CONDITION:g}): small changes in the data move the estimates a "
                "lot; check the confidence intervals.",
                cli="Add --bootstrap 200 for intervals.",
                app="Turn on the intervals ('Show ... intervals') on the Results page.",
            )
        )
    return warnings

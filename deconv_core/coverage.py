"""Which signature genes a dataset covers: the one implementation of coverage.

The fit, the input health card, the Signature page and
``signatures --describe --expression`` all count coverage here, so they
agree.  A signature gene is *found* when the expression data has a row for it
(matched case-insensitively, as the fit matches) with at least one value; a
row that is empty in every sample is not found, because the fit cannot use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from deconv_core.thresholds import COVERAGE_FAIR, COVERAGE_GOOD

__all__ = [
    "LEVELS",
    "coverage_level",
    "coverage_table",
    "genes_found",
    "marker_genes",
]

#: Coverage levels, best first (the words the dashboard and the command line show).
LEVELS = ("good", "check", "poor")


def marker_genes(signature: pd.DataFrame) -> pd.Series:
    """Assign each signature gene to the cell type that expresses it most.

    Parameters
    ----------
    signature
        Genes × cell types, linear.

    Returns
    -------
    pandas.Series
        Index = genes, value = cell type with the highest expression.
    """
    values = signature.to_numpy(dtype=float)
    return pd.Series(
        np.asarray(signature.columns)[values.argmax(axis=1)], index=signature.index, name="marks"
    )


def genes_found(expression: pd.DataFrame | pd.Index | Sequence[str], genes: Sequence[str]) -> list:
    """The genes of ``genes`` that the expression data has, with at least one value.

    Parameters
    ----------
    expression
        Genes × samples expression table; or just its gene ids (every row
        then counts as having values).
    genes
        Signature genes, in the order to return them.

    Returns
    -------
    list of str
        The found genes, spelled as in ``genes``, in their order.
    """
    if isinstance(expression, pd.DataFrame):
        present = expression.notna().any(axis=1).to_numpy()
        ids = expression.index[present]
    else:
        ids = pd.Index(expression)
    upper = {str(g).upper() for g in ids}
    return [str(g) for g in genes if str(g).upper() in upper]


def coverage_table(
    signature: pd.DataFrame, found: Sequence[str] | pd.Index, *, total: bool = False
) -> pd.DataFrame:
    """How many of each cell type's marker genes the data covers.

    Parameters
    ----------
    signature
        Genes × cell types; each gene marks the cell type expressing it most.
    found
        Signature genes present in the data (:func:`genes_found`).
    total
        Append a row ``all`` for the whole signature.

    Returns
    -------
    pandas.DataFrame
        Index ``cell_type``; columns ``marker_genes``, ``found``,
        ``fraction`` (found / marker_genes, NaN without markers), ``level``
        (:func:`coverage_level` of the fraction) and ``missing``
        (comma-separated genes, signature order).
    """
    marks = marker_genes(signature)
    found_set = {str(g) for g in found}
    groups = [(str(c), [str(g) for g in marks.index[marks == c]]) for c in signature.columns]
    if total:
        groups.append(("all", [str(g) for g in signature.index]))
    rows = []
    for cell_type, genes in groups:
        missing = [g for g in genes if g not in found_set]
        n = len(genes)
        fraction = (n - len(missing)) / n if n else np.nan
        rows.append(
            {
                "cell_type": cell_type,
                "marker_genes": n,
                "found": n - len(missing),
                "fraction": fraction,
                "level": coverage_level(fraction),
                "missing": ", ".join(missing),
            }
        )
    columns = ["cell_type", "marker_genes", "found", "fraction", "level", "missing"]
    return pd.DataFrame(rows, columns=columns).set_index("cell_type")


def coverage_level(fraction: float) -> str:
    """``"good"`` (at least :data:`COVERAGE_GOOD`), ``"check"`` (at least
    :data:`COVERAGE_FAIR`) or ``"poor"`` for a share of genes found (NaN: poor)."""
    if not np.isfinite(fraction) or fraction < COVERAGE_FAIR:
        return "poor"
    return "good" if fraction >= COVERAGE_GOOD else "check"

"""Order samples and genes for display: sorting, grouping and clustering.

Computing apart from drawing (as in scanpy): these functions return orders
(lists of labels) that :mod:`deconv_core.figures` draws in.

- :func:`order_samples`, :func:`group_labels`: samples by group, then by one
  cell type.
- :func:`residual_samples`: which samples the residual heatmap shows (the
  worst by the verdict's order, :func:`deconv_core.verdict.worst_first`).
- :func:`cluster_order`: leaf order of hierarchical clustering.
- :func:`signature_gene_order`, :func:`residual_gene_order`,
  :func:`residual_sample_order`: rows and columns of the signature and
  residual heatmaps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage

from deconv_core.deconvolve import marker_genes
from deconv_core.options import check_choice

__all__ = [
    "MAX_HEATMAP_SAMPLES",
    "cluster_order",
    "group_labels",
    "in_sample_order",
    "order_samples",
    "residual_gene_order",
    "residual_sample_order",
    "residual_samples",
    "signature_gene_order",
]

#: Most samples a residual heatmap shows (a 200-column heatmap stays legible
#: and responsive); :func:`residual_samples` chooses which.
MAX_HEATMAP_SAMPLES = 200


def order_samples(
    proportions: pd.DataFrame,
    *,
    sort_by: str | None = None,
    groups: pd.Series | None = None,
) -> list[str]:
    """Order samples for display: by group, then by one cell type, descending.

    Parameters
    ----------
    proportions
        Samples × cell types, fractions.
    sort_by
        Column to sort by (largest first); None keeps the input order.
    groups
        Sample → group label; samples without a label go last as
        ``"(no group)"``.  Groups keep their order of first appearance.

    Returns
    -------
    list of str
        Sample names.
    """
    table = pd.DataFrame(index=[str(s) for s in proportions.index])
    table["position"] = np.arange(len(table))
    if sort_by is not None:
        if sort_by not in proportions.columns:
            raise ValueError(f"Cannot sort by {sort_by!r}: no such cell type in the proportions.")
        table["key"] = -proportions[sort_by].to_numpy(dtype=float)
    else:
        table["key"] = table["position"]
    keys = ["key", "position"]
    if groups is not None:
        labels = group_labels(table.index, groups)
        order = {g: i for i, g in enumerate(dict.fromkeys(labels))}
        table["group"] = [order[g] for g in labels]
        keys = ["group", *keys]
    return list(table.sort_values(keys, na_position="last").index)


def group_labels(samples: Sequence[str] | pd.Index, groups: pd.Series) -> list[str]:
    """Group label of each sample, ``"(no group)"`` where it has none.

    Parameters
    ----------
    samples
        Sample names.
    groups
        Sample → group label (matched by the sample's name as text).

    Returns
    -------
    list of str
        One label per sample, in the order of ``samples``.
    """
    lookup = {str(k): v for k, v in groups.items()}
    labels = []
    for sample in samples:
        value = lookup.get(str(sample))
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        labels.append("(no group)" if missing or pd.isna(value) else str(value))
    return labels


def in_sample_order(table: pd.DataFrame, order: Sequence[str]) -> pd.DataFrame:
    """Rows of a tidy table (column ``sample``) in the order of ``order`` (stable within a sample).

    Samples not in ``order`` go last.  The index is reset.
    """
    rank = {str(s): i for i, s in enumerate(order)}
    key = table["sample"].astype(str).map(rank).fillna(len(rank))
    return table.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)


def residual_samples(
    samples: Sequence[str], worst_first: Sequence[str], *, limit: int = MAX_HEATMAP_SAMPLES
) -> tuple[list[str], str]:
    """Samples for the residual heatmap: all, or the ``limit`` that fit worst.

    Parameters
    ----------
    samples
        Every sample, in input order.
    worst_first
        The same samples worst first (the verdict's order,
        :attr:`deconv_core.analysis.Analysis.worst_first`).
    limit
        Most samples shown.

    Returns
    -------
    (samples, note)
        Sample names in input order, and a sentence saying what was left out
        ("" when nothing was).
    """
    samples = [str(s) for s in samples]
    if len(samples) <= limit:
        return samples, ""
    worst = {str(s) for s in list(worst_first)[:limit]}
    chosen = [s for s in samples if s in worst]
    return chosen, (
        f"Showing the {limit} samples that fit worst (by verdict, then R²) of "
        f"{len(samples):,}; the fit table lists all of them."
    )


def cluster_order(values: np.ndarray) -> np.ndarray:
    """Leaf order of average-linkage clustering of the rows (NaN read as 0).

    Parameters
    ----------
    values
        Float array, n rows × m features; rows are clustered (Euclidean).

    Returns
    -------
    numpy.ndarray
        Row positions (length n) in leaf order; fewer than 3 rows keep their order.
    """
    if values.shape[0] < 3:
        return np.arange(values.shape[0])
    return leaves_list(linkage(np.nan_to_num(values), method="average", metric="euclidean"))


def signature_gene_order(matrix: pd.DataFrame) -> list:
    """Genes of a signature grouped by the cell type they mark, most specific first.

    Parameters
    ----------
    matrix
        Genes × cell types, linear expression.

    Returns
    -------
    list
        Gene labels of ``matrix`` (as in its index): blocks in the order of the
        cell-type columns, within a block by decreasing share of the gene's
        total expression in its top cell type.
    """
    marks = marker_genes(matrix)
    rank = {str(c): i for i, c in enumerate(matrix.columns)}
    values = matrix.to_numpy(dtype=float)
    specificity = values.max(axis=1) / np.maximum(values.sum(axis=1), 1e-12)
    table = pd.DataFrame(
        {"rank": [rank[str(m)] for m in marks], "spec": -specificity}, index=matrix.index
    )
    return list(table.sort_values(["rank", "spec"]).index)


def residual_gene_order(
    z: pd.DataFrame, gene_marks: pd.Series, cell_types: Sequence[str], *, gene_order: str
) -> list[str]:
    """Rows of the residual heatmap.

    Parameters
    ----------
    z
        Genes × samples, standardised residuals, labels as text.
    gene_marks
        Gene → cell type it marks, for every row of ``z``.
    cell_types
        Display order of the cell types (every value of ``gene_marks``).
    gene_order
        ``"cell type"`` (blocks of each cell type's genes, each by decreasing
        mean residual) or ``"cluster"`` (hierarchical clustering of the genes).

    Returns
    -------
    list of str
        Gene names.
    """
    if gene_order == "cluster":
        return list(z.index[cluster_order(z.to_numpy(dtype=float))])
    if gene_order == "cell type":
        rank = {c: i for i, c in enumerate(cell_types)}
        keys = pd.DataFrame(
            {"rank": [rank[m] for m in gene_marks], "mean": -z.mean(axis=1).to_numpy()},
            index=z.index,
        )
        return list(keys.sort_values(["rank", "mean"]).index)
    check_choice("gene order", gene_order)
    raise AssertionError(gene_order)  # unreachable: check_choice refused it


def residual_sample_order(z: pd.DataFrame, sample_order: str | Sequence[str]) -> list[str]:
    """Columns of the residual heatmap.

    Parameters
    ----------
    z
        Genes × samples, standardised residuals, labels as text.
    sample_order
        ``"input"``, ``"cluster"`` (hierarchical clustering of the samples) or
        an explicit list of samples.

    Returns
    -------
    list of str
        Sample names.
    """
    if not isinstance(sample_order, str):
        return [str(s) for s in sample_order]
    if sample_order == "cluster":
        return list(z.columns[cluster_order(z.to_numpy(dtype=float).T)])
    check_choice("sample order", sample_order)
    # "input"; "worst fit first" needs the verdicts and arrives as a list of samples.
    return list(z.columns)

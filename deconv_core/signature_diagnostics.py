"""Diagnostics of a signature for the Signature page and ``signatures --describe``.

:func:`gene_specificity`, :func:`signature_markers` and :func:`scaled_signature`
each return a table; :func:`describe_signature` bundles them with identifiability
(:mod:`deconv_core.identifiability`), coverage (:mod:`deconv_core.coverage`) and
groups (:mod:`deconv_core.groups`) into a :class:`SignatureDescription`.  Drawing
is elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deconv_core.coverage import coverage_table, genes_found
from deconv_core.deconvolve import choose_weighting, gene_weights
from deconv_core.groups import groups_table
from deconv_core.identifiability import Identifiability, signature_identifiability
from deconv_core.platform import signature_platform
from deconv_core.signatures import Signature
from deconv_core.species import check_same_species
from deconv_core.thresholds import COVERAGE_ERROR
from deconv_core.validation import DeconvWarning, InputError

__all__ = [
    "SignatureDescription",
    "describe_signature",
    "gene_specificity",
    "scaled_signature",
    "signature_markers",
]


def _values(matrix: pd.DataFrame) -> np.ndarray:
    values = matrix.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any() or (values < 0).any():
        raise InputError(
            "The signature holds empty or negative values; diagnostics need a non-negative "
            "linear genes × cell types table."
        )
    return values


def scaled_signature(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each gene divided by its maximum over cell types (for a heatmap).

    Parameters
    ----------
    matrix
        Genes × cell types, linear, non-negative.

    Returns
    -------
    pandas.DataFrame
        Genes × cell types in [0, 1]; 1 marks the cell type that expresses
        the gene most.  A gene that is zero everywhere stays 0.
    """
    values = _values(matrix)
    top = values.max(axis=1, keepdims=True) if values.size else values
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(top > 0, values / np.where(top > 0, top, 1.0), 0.0)
    return pd.DataFrame(scaled, index=matrix.index.copy(), columns=matrix.columns.copy())


def gene_specificity(matrix: pd.DataFrame) -> pd.DataFrame:
    """How specific each signature gene is to one cell type.

    Parameters
    ----------
    matrix
        Genes × cell types, linear, non-negative.

    Returns
    -------
    pandas.DataFrame
        Index = genes (name ``gene``); columns

        ``cell_type``
            the cell type expressing the gene most;
        ``expression``
            its value there (signature units);
        ``second_cell_type``, ``second_expression``
            the runner-up;
        ``log2_fold_change``
            log2 of (top + c) / (runner-up + c), with the pseudo-count ``c``
            0.1% of the matrix mean so it does not depend on units;
        ``share``
            top / row sum, from 1/k (flat) to 1 (one cell type only);
        ``tau``
            the tissue-specificity index of Yanai et al. (Bioinformatics
            2005), mean of 1 − x / max over the other cell types, from 0
            (flat) to 1 (one cell type only).

        Sorted as the input.  Genes that are zero everywhere have NaN scores.
    """
    values = _values(matrix)
    n, k = values.shape
    types = np.asarray([str(c) for c in matrix.columns], dtype=object)
    if k == 0 or n == 0:
        raise InputError(
            "The signature is empty; it needs genes as rows and cell types as columns."
        )
    order = np.argsort(-values, axis=1, kind="stable")
    rows = np.arange(n)
    top = values[rows, order[:, 0]]
    second = values[rows, order[:, 1]] if k > 1 else np.zeros(n)
    pseudo = 1e-3 * float(values.mean()) if values.mean() > 0 else 1e-12
    total = values.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, top / total, np.nan)
        tau = (
            np.where(top > 0, (1 - values / top[:, None]).sum(axis=1) / (k - 1), np.nan)
            if k > 1
            else np.full(n, np.nan)
        )
    table = pd.DataFrame(
        {
            "cell_type": types[order[:, 0]],
            "expression": top,
            "second_cell_type": types[order[:, 1]] if k > 1 else "",
            "second_expression": second,
            "log2_fold_change": np.log2((top + pseudo) / (second + pseudo)),
            "share": share,
            "tau": tau,
        },
        index=pd.Index([str(g) for g in matrix.index], name="gene"),
    )
    zero = top == 0
    if zero.any():
        table.loc[zero, ["log2_fold_change", "share", "tau"]] = np.nan
    return table


def signature_markers(matrix: pd.DataFrame, *, top: int | None = None) -> pd.DataFrame:
    """Marker genes per cell type: the genes each cell type expresses most.

    Each gene is the marker of the cell type with its highest value (as in
    :func:`deconv_core.deconvolve.marker_genes`); within a cell type, markers
    are ranked by fold change over the runner-up cell type.

    Parameters
    ----------
    matrix
        Genes × cell types, linear, non-negative.
    top
        Keep at most this many markers per cell type (None: all).

    Returns
    -------
    pandas.DataFrame
        Long table, one row per (cell type, marker), cell types in column
        order: ``cell_type``, ``rank`` (1 = most specific), ``gene`` and the
        columns of :func:`gene_specificity` (``expression``,
        ``second_cell_type``, ``log2_fold_change``, ``share``, ``tau``).
        A cell type without markers has no rows.
    """
    if top is not None and top < 1:
        raise InputError(f"top must be at least 1, got {top}.")
    spec = gene_specificity(matrix).reset_index()
    spec = spec[spec["expression"] > 0]
    parts = []
    for cell_type in matrix.columns:
        part = spec[spec["cell_type"] == str(cell_type)].sort_values(
            ["log2_fold_change", "expression"], ascending=False, kind="stable"
        )
        if top is not None:
            part = part.head(top)
        parts.append(part.assign(rank=np.arange(1, len(part) + 1)))
    columns = [
        "cell_type",
        "rank",
        "gene",
        "expression",
        "second_cell_type",
        "log2_fold_change",
        "share",
        "tau",
    ]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


@dataclass(frozen=True)
class SignatureDescription:
    """Everything the Signature page and ``signatures --describe`` show.

    Attributes
    ----------
    summary
        Field → value: ``name``, ``title``, ``n_genes``, ``n_cell_types``,
        ``units``, ``licence``, ``citation``, ``source``, ``restricted``,
        ``condition_number``, ``most_collinear`` (``"A / B (cosine 0.93)"``),
        ``identifiability_genes`` (the genes those two rest on) and
        ``condition_number_whole`` (the whole signature's) and, with an expression
        table, ``genes_found`` and ``coverage``.  With an expression table the
        condition number and the collinear pairs are those of the genes found,
        weighted as the default fit weighs them (as a run reports them); without,
        the whole signature's.
    specificity
        Per gene, see :func:`gene_specificity`.
    markers
        Per cell type, see :func:`signature_markers`.
    collinearity
        All cell-type pairs, most similar first: the ``pairs`` of
        :func:`deconv_core.identifiability.signature_identifiability`.
    scaled
        Genes × cell types, each gene divided by its maximum
        (:func:`scaled_signature`), genes ordered by marked cell type then
        fold change, ready for a heatmap.
    groups
        ``cell_type`` → ``group`` table (:func:`groups_table`).
    coverage
        Per cell type and ``all`` (:func:`deconv_core.coverage.coverage_table`), or None without
        expression data.
    warnings
        The signature's own warnings (e.g. ``restricted_signature``).
    """

    summary: dict[str, object]
    specificity: pd.DataFrame
    markers: pd.DataFrame
    collinearity: pd.DataFrame
    scaled: pd.DataFrame
    groups: pd.DataFrame
    coverage: pd.DataFrame | None
    warnings: tuple[DeconvWarning, ...]


def describe_signature(
    signature: Signature | pd.DataFrame,
    *,
    expression: pd.DataFrame | Sequence[str] | None = None,
    top_markers: int | None = None,
) -> SignatureDescription:
    """Compute every diagnostic of a signature.

    Parameters
    ----------
    signature
        A :class:`Signature` or a genes × cell types table (linear).
    expression
        Optional genes × samples expression table (or its gene ids) whose
        coverage of the signature to report.
    top_markers
        Markers kept per cell type in :attr:`SignatureDescription.markers`
        (None: all).

    Returns
    -------
    SignatureDescription
    """
    if isinstance(signature, pd.DataFrame):
        signature = Signature(name="signature", matrix=signature)
    matrix = signature.matrix
    spec = gene_specificity(matrix)
    whole = signature_identifiability(matrix)
    found = whole if expression is None else _identifiability_on_data(signature, expression)
    pairs = found.pairs
    all_markers = signature_markers(matrix)
    order = [str(g) for g in all_markers["gene"]]
    order += [str(g) for g in spec.index if str(g) not in set(order)]
    scaled = scaled_signature(matrix)
    scaled.index = pd.Index([str(g) for g in scaled.index], name="gene")
    summary: dict[str, object] = {
        "name": signature.name,
        "title": signature.title,
        "n_genes": int(matrix.shape[0]),
        "n_cell_types": int(matrix.shape[1]),
        "units": signature.units,
        "licence": signature.licence,
        "citation": signature.citation,
        "source": signature.source,
        "restricted": signature.restricted,
        "condition_number": found.condition_number,
        "identifiability_genes": found.n_genes,
        "condition_number_whole": whole.condition_number,
        "most_collinear": (
            f"{pairs.iloc[0]['cell_type_a']} / {pairs.iloc[0]['cell_type_b']} "
            f"(cosine {pairs.iloc[0]['cosine']:.2f})"
            if len(pairs)
            else ""
        ),
    }
    coverage = None
    warnings = tuple(signature.warnings)
    if expression is not None:
        genes = [str(g) for g in matrix.index]
        coverage = coverage_table(matrix, genes_found(expression, genes), total=True)
        summary["genes_found"] = int(coverage.loc["all", "found"])
        summary["coverage"] = float(coverage.loc["all", "fraction"])
        warnings += _species_warnings(signature, expression, summary)
    markers = all_markers
    if top_markers is not None:
        markers = signature_markers(matrix, top=top_markers)
    return SignatureDescription(
        summary=summary,
        specificity=spec,
        markers=markers,
        collinearity=pairs,
        scaled=scaled.loc[order],
        groups=groups_table(signature.groups, signature.cell_types),
        coverage=coverage,
        warnings=warnings,
    )


def _identifiability_on_data(
    signature: Signature, expression: pd.DataFrame | Sequence[str]
) -> Identifiability:
    """What the default fit can tell apart on these data: the identifiability check on the
    signature genes found (less the default exclusion list), weighted as that fit weighs them.

    The same numbers as a run's identifiability warnings and the QC page give for a signature
    fitted without platform correction (a correction estimated from the samples changes the
    rows; only a run can know it).  With fewer genes found than cell types, the whole
    signature's check (the run refuses such data anyway).
    """
    matrix = signature.matrix
    dropped = set(signature.excluded_genes.get("default", ()))
    genes = [str(g) for g in matrix.index if str(g) not in dropped]
    rows = matrix.loc[genes_found(expression, genes)]
    if rows.shape[0] < matrix.shape[1]:
        return signature_identifiability(matrix)
    S = rows.to_numpy(dtype=np.float64)
    weighting = choose_weighting(S, platform=signature_platform(signature))
    weights = pd.Series(gene_weights(S, weighting=weighting), index=rows.index)
    return signature_identifiability(rows, weights=weights)


def _species_warnings(
    signature: Signature, expression: pd.DataFrame | Sequence[str], summary: dict[str, object]
) -> tuple[DeconvWarning, ...]:
    """``species_differ`` when too few genes were found for a fit because the species differ
    (the fit's own refusal, :func:`deconv_core.species.check_same_species`, as a record)."""
    if float(summary["coverage"]) >= COVERAGE_ERROR:
        return ()
    ids = expression.index if isinstance(expression, pd.DataFrame) else list(expression)
    found = f"Only {summary['genes_found']} of {summary['n_genes']} signature genes were found"
    try:
        check_same_species(ids, signature.species, found=found)
    except InputError as err:
        return (DeconvWarning("error", "species_differ", str(err), cli=err.cli, app=err.app),)
    return ()

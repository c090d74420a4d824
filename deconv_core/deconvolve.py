"""Unmix bulk expression into cell-type proportions.

``bulk ≈ signature × proportions`` is solved on the genes the signature and
the data share, with non-negative coefficients.  The default fit is robust
(Huber's loss, iteratively reweighted): genes a signature describes badly in a
sample (activated cells, contamination, mapping errors) are down-weighted, and
their weights are reported (:attr:`DeconvResult.robustness`); ``loss="squares"``
gives plain non-negative least squares.  Two modes say what the numbers mean:

``relative``
    Proportions of the cell types the signature describes; they sum to 1 per
    sample.  Compare a cell type between samples, or the shares of the
    signature's cell types within a sample.  They say nothing about cells the
    signature lacks (tumour, stroma, ...).
``absolute``
    Fractions of all cells in the sample; the covered cell types sum to at
    most 1 and the remainder is reported as ``other`` (cells the signature
    does not describe).  The fit runs on expression normalised to one million
    per sample over all genes (TPM-like), so the coefficients are shares of the
    sample's mRNA (Finotello 2019, quanTIseq); they are turned into cell
    fractions with the signature's mRNA-content factors when it has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deconv_core.coverage import (
    coverage_table,
    gene_rows,
    identity_matches,
    marker_genes,
    name_list,
    sample_coverage_table,
)
from deconv_core.mrna import borrowed_mrna_factors
from deconv_core.options import (
    LOSSES,
    MODES,
    WEIGHTINGS,
    check_choice,
    check_exclude,
    exclusion_lists,
)
from deconv_core.platform import (
    from_other_platform,
    platform_factors,
    platform_warning,
    signature_platform,
)
from deconv_core.ranking import average_ranks
from deconv_core.scale import check_linear
from deconv_core.signatures import Signature
from deconv_core.solvers import huber_nnls, nnls, per_sample
from deconv_core.species import check_same_species
from deconv_core.thresholds import (
    COVERAGE_ERROR,
    COVERAGE_FAIR,
    MIN_GENES_ABSOLUTE,
    MIN_SAMPLES_PLATFORM,
    SET_ASIDE,
    SET_ASIDE_SHARE,
)
from deconv_core.validation import DeconvWarning, InputError, check_unique_labels

__all__ = [
    "MODES",
    "MEANINGS",
    "RELATIVE_WITH_BLANKS",
    "WEIGHTINGS",
    "LOSSES",
    "ABSOLUTE_CAVEATS",
    "BIASED_ABSOLUTE_MEANING",
    "FIT_COLUMNS",
    "absolute_mode_problems",
    "check_absolute_mode",
    "meaning_for",
    "suggest_mode",
    "choose_weighting",
    "gene_weights",
    "DeconvResult",
    "coefficients_to_proportions",
    "coverage_table",
    "deconvolve",
    "marker_genes",
    "unestimable",
]


# "auto" weights the genes when the five largest of the signature's mean
# profiles carry more than this share of its sum of squares: an unweighted fit
# would then be decided by those five genes.  TIL10, immunoStates and the
# array signatures of the benchmarks are at 0.14-0.34; a signature built from
# the PBMC single-cell reference (platelet and S100 genes) is at 0.73.
_DOMINANCE = 0.5
_DOMINANT_GENES = 5


#: What a number in the proportions table means, per mode (shown in outputs).
MEANINGS = {
    "relative": (
        "Relative proportions: the share of each cell type among the cells the signature "
        "describes; each sample sums to 1. Compare one cell type across samples; cells "
        "outside the signature (e.g. tumour, stroma) are not counted."
    ),
    "absolute": (
        "Absolute fractions: the share of all cells in the sample; 'other' is the part the "
        "signature's cell types do not explain (e.g. tumour or stromal cells). Comparable "
        "across samples and cell types, and with flow cytometry or pathology counts when the "
        "data are whole-transcriptome TPM (see the warnings)."
    ),
}


def absolute_mode_problems(signature: Signature) -> list[str]:
    """Why absolute fractions would be meaningless with this signature ([] when they are not).

    Absolute mode reads the coefficients as shares of each sample's mRNA
    (the data normalised to one million over all genes) and turns them into
    shares of cells with mRNA-content factors (quanTIseq, Finotello 2019).
    Both steps need the signature: its profiles must be on the same
    whole-transcriptome TPM scale as the data, and it must give a factor for
    every cell type.  A microarray-derived signature (LM22, immunoStates) or
    one built from a few thousand single-cell genes fails the first: its
    profiles are not shares of a transcriptome, and 'other' absorbs cells the
    signature does describe (lymph nodes measured at 60-70 % lymphocytes
    read about 95 % 'other' with LM22).

    Parameters
    ----------
    signature
        The signature of the run.

    Returns
    -------
    list of str
        Clauses completing "absolute mode needs ...: ", empty when absolute
        mode is meaningful.
    """
    problems = []
    if not signature.whole_transcriptome:
        units = signature.units or "unknown"
        problems.append(
            "its profiles are not on a whole-transcriptome TPM scale like the data's "
            f"(units: {units}"
            + (f"; platform: {signature.platform}" if signature.platform else "")
            + (
                f"; recognised as {signature.restricted}, microarray-derived"
                if signature.restricted
                else ""
            )
            + ")"
        )
    cell_types = signature.cell_types
    if not signature.mrna_scaling or any(c not in signature.mrna_scaling for c in cell_types):
        problems.append("it has no mRNA-content factor for every cell type")
    return problems


def suggest_mode(signature: Signature, *, n_genes: int, scale: str) -> tuple[str, str]:
    """The mode a run should start in for this signature and these data, and why.

    Absolute when it is meaningful (:func:`absolute_mode_problems` finds
    nothing, the data hold a whole transcriptome and are not raw counts),
    relative otherwise.

    Parameters
    ----------
    signature
        The signature of the run.
    n_genes
        Genes (rows) of the expression data.
    scale
        The data's detected scale (``"counts"`` for raw counts).

    Returns
    -------
    (mode, reason)
        ``"relative"`` or ``"absolute"``, and a sentence saying why.
    """
    problems = absolute_mode_problems(signature)
    if problems:
        return "relative", (
            f"Relative: absolute fractions are not meaningful with {signature.name} "
            f"({problems[0]})."
        )
    if n_genes < MIN_GENES_ABSOLUTE:
        return "relative", (
            f"Relative: the data hold {n_genes:,} genes, fewer than the {MIN_GENES_ABSOLUTE:,} "
            "of a whole transcriptome that absolute fractions need."
        )
    if scale == "counts":
        return "relative", (
            "Relative: the data are raw read counts, not TPM, so absolute fractions would be "
            "biased."
        )
    return "absolute", (
        f"Absolute: {signature.name} is on whole-transcriptome TPM with mRNA-content factors and "
        f"the data hold {n_genes:,} genes, so fractions of all cells (with 'other') are meaningful."
    )


def check_absolute_mode(signature: Signature) -> None:
    """Refuse absolute mode with a signature it is meaningless for.

    Raises
    ------
    InputError
        Naming the signature, why (:func:`absolute_mode_problems`) and what
        to do, with the advice of each surface.
    """
    problems = absolute_mode_problems(signature)
    if problems:
        raise InputError(
            f"Absolute fractions are not meaningful with {signature.name}: "
            f"{'; and '.join(problems)}, so 'other' would absorb cells the signature does "
            "describe. Use relative mode, or a signature on whole-transcriptome TPM with "
            "mRNA-content factors (e.g. TIL10).",
            cli="Rerun with --mode relative.",
            app="Choose Relative under Mode.",
        )


@dataclass(frozen=True)
class DeconvResult:
    """Everything a deconvolution produced.

    Attributes
    ----------
    proportions
        Samples × cell types (plus ``other`` in absolute mode), unitless
        fractions; meaning in :attr:`meaning`.  NaN for a sample without a fit
        and where a cell type cannot be estimated (:func:`unestimable`: no
        marker gene with a value); the sample's other estimates keep their
        values, so its row then sums to less than 1.
    coefficients
        Samples × cell types, the raw NNLS coefficients (share of each
        sample's normalised expression explained by each profile).
    fitted, residuals
        Genes used × samples: the signature's prediction and observed − fitted,
        both in the fit scale (expression normalised to 1e6 per sample over all
        genes, TPM-like).  NaN where a sample had no value.
    observed
        Genes used × samples, the observed values in the same scale.
    genes_used, genes_missing, genes_excluded
        The signature's genes in three parts: found in the data and used;
        not found in the data (a row with at least one value, as
        :attr:`coverage` counts); found but left out of the fit by the
        exclusion list(s) (``exclude``).
    coverage
        One row per cell type: marker genes, found, fraction and missing ones.
    sample_coverage
        One row per sample and cell type whose markers with a value in that
        sample are fewer than the cohort's (``sample``, ``cell_type``,
        ``marker_genes``, ``found``, ``fraction``, ``level``, ``missing``;
        :func:`~deconv_core.coverage.sample_coverage_table`); empty for
        complete data.
    fit
        Samples × (``pearson_r``, ``spearman_r``, ``rmse``, ``r2``), observed
        versus fitted on the genes used, less those the robust fit set aside
        in the sample (weight below :data:`~deconv_core.thresholds.SET_ASIDE`;
        the run's info ``set_aside_in_cohort`` counts them).  ``rmse`` is relative: the
        root mean square residual divided by the mean observed value.
    mode, meaning
        The mode and a sentence saying what the proportions mean.
    signature_name
        Name of the signature used.
    signature_matrix
        Genes used × cell types: the signature rows the fit used (linear);
        for a signature from another platform, after the gene-wise
        correction (:mod:`deconv_core.platform`).
    mrna_scaling
        Whether proportions were corrected for mRNA content.
    gene_weights
        Weight of each used gene in the least-squares fit (index = genes
        used); the fit minimises ``sum_g (w_g (y_g - s_g · x))**2``.
    weighting
        The weighting that produced them, ``"sqrt"`` or ``"none"`` (``"auto"``
        is resolved, see :func:`choose_weighting`).
    loss
        ``"huber"`` (robust regression) or ``"squares"`` (plain NNLS), see
        :data:`LOSSES`.
    robustness
        Genes used × samples: the robustness weight the fit gave each gene in
        each sample, in (0, 1]; below 1 means the gene's residual was large and
        it pulled less on that sample's proportions (always 1 for
        ``"squares"``; NaN where a sample had no value).
    warnings
        Everything worth knowing about this run, as data.
    """

    proportions: pd.DataFrame
    coefficients: pd.DataFrame
    fitted: pd.DataFrame
    residuals: pd.DataFrame
    observed: pd.DataFrame
    genes_used: tuple[str, ...]
    genes_missing: tuple[str, ...]
    genes_excluded: tuple[str, ...]
    coverage: pd.DataFrame
    sample_coverage: pd.DataFrame
    fit: pd.DataFrame
    mode: str
    meaning: str
    signature_name: str
    signature_matrix: pd.DataFrame
    mrna_scaling: bool
    gene_weights: pd.Series
    weighting: str
    loss: str
    robustness: pd.DataFrame
    warnings: tuple[DeconvWarning, ...]


def choose_weighting(signature: np.ndarray, *, platform: str = "") -> str:
    """The weighting ``"auto"`` stands for, from the signature's values and platform.

    - ``"relative"`` for a signature built from single-cell data (platform
      starting with ``single-cell``): single-cell and bulk RNA-seq capture each
      gene with its own efficiency, so a gene's mismatch between profile and
      bulk is a factor, not an offset, and every gene is fitted on its relative
      error (as fits in log space do, e.g. DeconV and dtangle).
    - ``"sqrt"`` for a microarray-derived signature (platform mentioning
      ``microarray``, e.g. immunoStates, LM22) or when the five largest mean
      profiles hold more than half of the signature's sum of squares: in an
      unweighted fit a gene's pull grows with the square of its level, and the
      highest genes of an array profile are those the other platform's
      dynamic range changes most.
    - ``"none"`` otherwise (the way TIL10 is fitted by quanTIseq).

    The rules were chosen with ``benchmarks/accuracy.py`` and
    ``benchmarks/singlecell_accuracy.py`` (README, Accuracy).

    Parameters
    ----------
    signature : (g, k) array
        Signature rows used in the fit, genes × cell types, linear.
    platform
        The signature's platform (:attr:`Signature.platform`); ``""`` if unknown.

    Returns
    -------
    ``"relative"``, ``"sqrt"`` or ``"none"``.
    """
    if _single_cell(platform):
        return "relative"
    if "microarray" in platform.lower():
        return "sqrt"
    level = np.sort(np.asarray(signature, dtype=np.float64).mean(axis=1))[::-1]
    total = float((level**2).sum())
    if total <= 0:
        return "none"
    top = float((level[:_DOMINANT_GENES] ** 2).sum())
    return "sqrt" if top > _DOMINANCE * total else "none"


def gene_weights(signature: np.ndarray, *, weighting: str = "sqrt") -> np.ndarray:
    """Per-gene weights of the least-squares fit.

    Expression noise grows with expression (roughly Poisson-like for
    sequencing, multiplicative for arrays), so an unweighted fit lets a handful
    of very highly expressed genes decide every proportion.  ``"sqrt"`` divides
    each gene's equation by the square root of its mean signature expression:
    weighted least squares with variance proportional to the mean.
    ``"relative"`` divides it by the mean itself: standard deviation
    proportional to the mean, i.e. every gene fitted on its relative error.

    Parameters
    ----------
    signature : (g, k) array
        Signature rows used in the fit, genes × cell types, linear.
    weighting
        ``"sqrt"``, ``"relative"``, ``"none"`` (all weights 1) or ``"auto"``
        (:func:`choose_weighting`; the platform is then unknown).

    Returns
    -------
    (g,) array of positive weights, normalised to mean 1.
    """
    check_choice("weighting", weighting)
    if weighting == "auto":
        weighting = choose_weighting(signature)
    if weighting == "none" or signature.shape[0] == 0:
        return np.ones(signature.shape[0])
    level = signature.mean(axis=1)
    # A floor keeps genes that are near zero in every profile from dominating.
    floor = max(float(level.mean()) * 1e-3, np.finfo(float).tiny)
    power = 1.0 if weighting == "relative" else 0.5
    weights = np.maximum(level, floor) ** -power
    return weights / weights.mean()


#: Samples per block of :func:`_fit_statistics`.
_STATS_BLOCK = 256


def _fit_statistics(observed: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Per-sample Pearson r, Spearman r, relative RMSE and R² (NaN-aware).

    ``observed`` and ``fitted`` are genes × samples; returns samples × 4.  Each
    sample is judged on its genes with both values (a missing value, a gene the
    robust fit set aside: NaN), NaN with fewer than 3.  Samples are computed in
    blocks, each as a contiguous row summed on its own, so a sample's numbers are
    the same to the last bit whatever samples share its block (numpy sums a
    column of a wide block in another order than a lone column).
    """
    n = observed.shape[1]
    out = np.full((n, 4), np.nan)
    if observed.shape[0] < 3:
        return out
    # In blocks of samples: the ranks' temporaries (about ten arrays the size of the
    # block) stay small whatever the cohort's size.
    for first in range(0, n, _STATS_BLOCK):
        cols = slice(first, min(first + _STATS_BLOCK, n))
        o = np.ascontiguousarray(observed[:, cols].T)
        f = np.ascontiguousarray(fitted[:, cols].T)
        keep = ~np.isnan(o) & ~np.isnan(f)
        out[cols] = _stats_block(o, f, None if keep.all() else keep)
    return out


#: Spread below which a row counts as constant: its sum of squared deviations over
#: its sum of squares.  A row of one repeated value leaves rounding errors of about
#: 1e-32 of it (float64); any real profile is far above 1e-20.
_CONSTANT_SPREAD = 1e-20


def _spread(a: np.ndarray, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Row deviations from the mean over the entries ``keep`` (0 elsewhere; None: all),
    and whether each row varies there (not constant).  Rows are samples."""
    kept = a if keep is None else np.where(keep, a, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = kept.sum(axis=1) / _counts(a, keep)
    centred = a - mean[:, None]
    if keep is not None:
        centred[~keep] = 0.0
    squares = (centred**2).sum(axis=1)
    return centred, squares > _CONSTANT_SPREAD * (kept**2).sum(axis=1)


def _counts(a: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """Entries counted per row: ``keep``'s (None: every entry of ``a``)."""
    return np.full(a.shape[0], a.shape[1]) if keep is None else keep.sum(axis=1)


def pearson_rows(a: np.ndarray, b: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """Row-wise Pearson correlation of two samples × genes arrays on the entries ``keep``.

    ``keep`` (samples × genes bool, None: all) says which genes each row is judged on;
    a row constant there gets NaN.  The one masked correlation of the fit statistics
    and of the permutation null (:func:`deconv_core.qc.permutation_null`), so a sample
    and a random mixture are scored alike.
    """
    (a, a_varies), (b, b_varies) = _spread(a, keep), _spread(b, keep)
    denominator = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (a * b).sum(axis=1) / denominator
    return np.where(a_varies & b_varies, r, np.nan)


def _kept_ranks(a: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """Average ranks within each row of its values ``keep`` (1..k; the others after)."""
    return average_ranks(a if keep is None else np.where(keep, a, np.inf), axis=1)


def _stats_block(o: np.ndarray, f: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """Fit statistics of samples × genes blocks on the entries ``keep`` (None: all, the
    same numbers without the masking); returns samples × 4."""
    count = _counts(o, keep)
    with np.errstate(invalid="ignore"):
        resid = o - f
    if keep is not None:
        resid[~keep] = 0.0
    centred, varies = _spread(o, keep)
    total = (centred**2).sum(axis=1)
    squared = (resid**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (o if keep is None else np.where(keep, o, 0.0)).sum(axis=1) / count
        rmse = np.where(mean > 0, np.sqrt(squared / count) / mean, np.nan)
        r2 = np.where(varies, 1 - squared / total, np.nan)
    pearson = pearson_rows(o, f, keep)
    spearman = pearson_rows(_kept_ranks(o, keep), _kept_ranks(f, keep), keep)
    stats = np.column_stack([pearson, spearman, rmse, r2])
    stats[count < 3] = np.nan
    return stats


#: Share of the expression's rows that are signature genes from which the expression
#: is taken for a gene subset (e.g. only the markers) rather than other ids.
_SUBSET_SHARE = 0.9


def _is_probe(label: str) -> bool:
    """Affymetrix (``..._at``) or Illumina (``ILMN_...``) probe id."""
    return label.endswith("_at") or label.startswith("ILMN_")


def _likely_cause(expression: pd.DataFrame, signature: Signature, n_found: int) -> str:
    """A guess at why few signature genes were found, for error messages (same species:
    :func:`~deconv_core.species.check_same_species` said so first).  ``expression``:
    genes × samples as fitted; ``n_found``: how many signature genes it has."""
    expression_ids = expression.index
    ids = [str(i) for i in expression_ids[:2000]]
    if not ids:
        return "the expression file has no gene ids"
    in_columns = gene_rows(expression.columns, [str(g) for g in signature.matrix.index])
    if len(in_columns) > max(n_found, 0.5 * expression.shape[1]):
        examples = ", ".join(list(in_columns)[:3])
        return (
            f"{len(in_columns):,} of the expression's column names are signature genes "
            f"(e.g. {examples}): its samples are rows; transpose it so genes are rows"
        )
    if n_found >= _SUBSET_SHARE * len(expression_ids):
        return (
            f"the expression has only {len(expression_ids):,} rows, {n_found:,} of them "
            "signature genes: it looks cut down to a gene subset; give the whole expression "
            "table, or a signature of those genes"
        )
    ensembl = np.mean([i.upper().startswith("ENS") for i in ids])
    signature_ensembl = str(signature.matrix.index[0]).upper().startswith("ENS")
    if signature.species == "mouse" and ensembl > 0.5 and not signature_ensembl:
        return (
            "the expression's mouse Ensembl ids are mostly not in the shipped table that names "
            "them (it holds the genes with a one-to-one human ortholog); give the expression "
            "with MGI symbols, or a signature with ENSMUSG ids"
        )
    if ensembl > 0.5 and not signature_ensembl:
        return (
            "the expression uses Ensembl ids that could not all be mapped to symbols, and the "
            "signature gene symbols"
        )
    if ensembl < 0.5 and signature_ensembl:
        return "the signature uses Ensembl ids and the expression does not; give both symbols"
    numeric = np.mean([i.replace("_", "").replace(".", "").isdigit() for i in ids])
    if numeric > 0.5:
        return "the expression rows look like Entrez ids or row numbers, not gene symbols"
    probes = np.mean([_is_probe(i) for i in ids])
    if probes > 0.5 and _is_probe(str(signature.matrix.index[0])):
        return (
            "the expression and the signature both name microarray probes but share few: "
            "are they from different array platforms? Map both to gene symbols"
        )
    if probes > 0.5:
        return "the expression rows are microarray probe ids; map them to gene symbols first"
    mouse = np.mean(
        [i[:1].isupper() and i[1:] == i[1:].lower() and i[1:] != i[1:].upper() for i in ids]
    )
    if mouse > 0.5 and signature.species == "human":
        return "the gene names look like mouse genes (e.g. Cd8a); the signature is human"
    return "the expression and the signature use different gene ids or species"


def deconvolve(
    expression: pd.DataFrame,
    signature: Signature | pd.DataFrame,
    *,
    mode: str = "relative",
    exclude: str | None = "default",
    mrna_scaling: bool = True,
    weighting: str = "auto",
    loss: str = "huber",
    platform_correction: bool = True,
    assume_linear: bool = False,
) -> DeconvResult:
    """Estimate cell-type proportions for every sample.

    Parameters
    ----------
    expression
        Genes × samples, linear scale (TPM, FPKM, CPM or array intensities),
        gene symbols harmonised like the signature; NaN allowed.
    signature
        A :class:`~deconv_core.signatures.Signature` or a genes × cell types
        table (linear).
    mode
        ``"relative"`` or ``"absolute"``; see the module docstring.
    exclude
        Name of the signature's excluded-gene list to drop before fitting
        (``"default"``: its default list when it has one; ``"tumor"`` for
        TIL10; ``"none"`` or None to keep all genes; names joined by commas,
        e.g. ``"default,tumor"``, leave out every list named).  TIL10's default
        list holds genes quanTIseq found noisy in RNA-seq; quanTIseq's tumour
        mode leaves out both.  A name the signature does not have is refused
        (:func:`deconv_core.options.check_exclude`).
    mrna_scaling
        Convert mRNA shares into cell shares with the signature's mRNA-content
        factors when it provides them.
    weighting
        Gene weighting of the fit, see :func:`gene_weights` (default
        ``"auto"``: none, unless a few genes dominate the signature, see
        :func:`choose_weighting`).
    loss
        ``"huber"`` (default): non-negative robust regression with Huber's
        loss (:func:`~deconv_core.solvers.huber_nnls`), so genes the signature
        describes badly in a sample are down-weighted instead of pulling every
        proportion; ``"squares"``: plain non-negative least squares.  On the
        four benchmark datasets with measured truth Huber was as accurate or
        more accurate than least squares (``benchmarks/accuracy.py``).
    platform_correction
        For a signature from another platform than bulk RNA-seq (microarray
        or single-cell), estimate each gene's factor between the platforms
        from all samples and correct the signature before the final fit
        (:mod:`deconv_core.platform`; warnings ``platform_corrected`` or, with
        fewer than ``MIN_SAMPLES_PLATFORM`` samples, ``platform_uncorrected``).
    assume_linear
        False (default): values that look log-transformed
        (:func:`~deconv_core.scale.detect_scale`) get a
        ``log_scale_not_converted`` warning saying to bring them to linear
        scale first.  True when they are known to be linear (read by
        :func:`~deconv_core.expression.load_expression` or brought to linear
        scale by :func:`~deconv_core.scale.linearise`), as the command line,
        the dashboard and the Dask engine's chunks pass them: small linear
        values can look like logs.  Infinite and negative values are refused
        either way.

    Returns
    -------
    DeconvResult
        Proportions (samples × cell types), fit, residuals, coverage, warnings.

    Raises
    ------
    InputError
        An unknown mode, loss, weighting or exclusion list; absolute mode with a
        signature it is meaningless for (:func:`check_absolute_mode`); too few
        signature genes in the data; sample names repeated or blank; infinite
        or negative expression values (:func:`~deconv_core.scale.check_linear`).
    """
    signature = _checked_inputs(
        expression, signature, mode=mode, weighting=weighting, loss=loss, exclude=exclude
    )
    warnings = _mode_warnings(signature, mode=mode, mrna_scaling=mrna_scaling)
    sig, excluded = _apply_exclusion(signature, exclude, warnings)
    genes, S, Y = _normalised_data(
        expression, signature, sig, mode=mode, assume_linear=assume_linear, warnings=warnings
    )
    platform = signature_platform(signature)
    weighting, weights = _chosen_weights(S, weighting, platform, warnings)
    samples = [str(s) for s in expression.columns]
    S, coef, robustness = _fit_all(
        S, Y, weights, loss=loss, samples=samples, platform=platform,
        platform_correction=platform_correction, warnings=warnings,
    )  # fmt: skip
    fitted = _fitted_values(S, Y, coef)
    proportions = _proportions(
        coef, signature, genes, samples, mode=mode, mrna_scaling=mrna_scaling, warnings=warnings
    )
    fit = _fit_table(Y, fitted, robustness, genes, samples, warnings)
    cell_types = [str(c) for c in sig.columns]
    columns = cell_types + (["other"] if mode == "absolute" else [])
    index = pd.Index(samples, name="sample")
    genes_index = pd.Index(genes.used, name="gene")
    frame = lambda values: pd.DataFrame(values, index=genes_index, columns=samples)  # noqa: E731
    props_frame = pd.DataFrame(proportions.T, index=index, columns=columns)
    absent = set(genes.missing)
    return DeconvResult(
        proportions=props_frame,
        coefficients=pd.DataFrame(coef.T, index=index.copy(), columns=cell_types),
        fitted=frame(fitted),
        residuals=frame(Y - fitted),
        observed=frame(Y),
        genes_used=tuple(genes.used),
        genes_missing=tuple(genes.missing),
        genes_excluded=tuple(g for g in excluded if g not in absent),
        coverage=genes.coverage,
        sample_coverage=genes.sample_coverage,
        fit=fit,
        mode=mode,
        meaning=meaning_for(mode, {w.code for w in warnings}, proportions=props_frame),
        signature_name=signature.name,
        signature_matrix=pd.DataFrame(S, index=genes_index.copy(), columns=sig.columns),
        mrna_scaling=mrna_scaling,
        gene_weights=pd.Series(weights, index=genes_index, name="weight"),
        weighting=weighting,
        loss=loss,
        robustness=frame(robustness),
        warnings=tuple(warnings),
    )


def _checked_inputs(
    expression: pd.DataFrame,
    signature: Signature | pd.DataFrame,
    *,
    mode: str,
    weighting: str,
    loss: str,
    exclude: str | None,
) -> Signature:
    """Refuse unknown options and repeated sample names; the signature as a :class:`Signature`.

    ``expression``: genes × samples; ``signature``: a Signature or a genes × cell
    types table (linear; named "signature").  Raises :class:`InputError` for an
    unknown ``mode``, ``weighting``, ``loss`` or exclusion list, or sample names
    repeated or blank.
    """
    check_choice("mode", mode)
    check_choice("weighting", weighting)
    check_choice("loss", loss)
    # Every result is keyed by sample name: two samples of one name could not be told apart.
    check_unique_labels(expression.columns, what="sample names")
    if isinstance(signature, pd.DataFrame):
        signature = Signature(name="signature", matrix=signature.astype(np.float64))
    if exclude is not None:
        check_exclude(exclude, signature.excluded_genes)
    return signature


def _normalised_data(
    expression: pd.DataFrame,
    signature: Signature,
    sig: pd.DataFrame,
    *,
    mode: str,
    assume_linear: bool,
    warnings: list[DeconvWarning],
) -> tuple[_Genes, np.ndarray, np.ndarray]:
    """Check the values, match the signature's genes and scale every sample to 1e6.

    ``expression``: genes × samples, linear; ``sig``: the signature's genes ×
    cell types after the exclusion lists.  Appends the checks' warnings
    (log-like values, few genes in absolute mode, coverage) to ``warnings``.
    Returns the matched genes, S (genes used × cell types, float64, linear) and
    Y (genes used × samples, float64): each sample's values over its total
    over all its genes (NaN where missing), times 1e6 (TPM-like).
    """
    # Work on one float64 view of the data: big inputs must not be copied whole.
    values = expression.to_numpy(dtype=np.float64)
    # The loader's checks, for tables that did not come through it (API callers): a
    # negative or infinite value would silently zero a cell type or blank a sample.
    warnings.extend(check_linear(values, expression, scale=not assume_linear))
    if mode == "absolute" and values.shape[0] < MIN_GENES_ABSOLUTE:
        warnings.append(_few_genes_warning(values.shape[0]))
    # One mask of the values present serves the gene matching and the totals: np.nansum
    # would copy the whole matrix; a mask is an eighth of its size.
    present = np.isnan(values)
    np.logical_not(present, out=present)
    genes = _match_genes(expression, values, present.any(axis=1), signature, sig, warnings)
    S = sig.loc[genes.used].to_numpy(dtype=np.float64)
    # Normalise every sample to 1e6 over all its genes (TPM-like), so that the
    # coefficients are comparable between samples and, in absolute mode, are
    # shares of the sample's mRNA.
    totals = _sample_totals(values, present)
    del present
    with np.errstate(divide="ignore", invalid="ignore"):
        Y = values[genes.rows, :] / totals * 1e6
    return genes, S, Y


def _chosen_weights(
    S: np.ndarray, weighting: str, platform: str, warnings: list[DeconvWarning]
) -> tuple[str, np.ndarray]:
    """The weighting (``"auto"`` resolved, with an info warning) and its gene weights.

    S: genes used × cell types, linear; ``platform``: the signature's.  Returns
    the weighting's name and the weights, (genes used,) float64.
    """
    if weighting == "auto":
        weighting = choose_weighting(S, platform=platform)
        if weighting != "none":
            warnings.append(_weighted_warning(weighting, platform))
    return weighting, gene_weights(S, weighting=weighting)


def _fit_all(
    S: np.ndarray,
    Y: np.ndarray,
    weights: np.ndarray,
    *,
    loss: str,
    samples: list[str],
    platform: str,
    platform_correction: bool,
    warnings: list[DeconvWarning],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit every sample, correcting a signature from another platform first where asked.

    S (g, k): genes used × cell types, linear; Y (g, n): genes used × samples,
    per million, NaN where missing; weights (g,).  The first fit's warnings and
    the platform warning go to ``warnings``; with enough samples the signature
    is corrected by :func:`~deconv_core.platform.platform_factors` from the first
    fit and the fit repeated.  Returns the signature fitted with (g, k), the
    coefficients (k, n; NaN for a sample not fitted) and the robustness weights
    (g, n).
    """
    coef, robustness = _fit_by_pattern(S * weights[:, None], Y, weights, loss, samples, warnings)
    if platform_correction and from_other_platform(platform):
        corrected = Y.shape[1] >= MIN_SAMPLES_PLATFORM
        # Single-cell profiles are per million like the data (deconv_core.platform).
        by_type = not _single_cell(platform)
        if corrected:
            S = S * platform_factors(S, Y, coef, cell_type_scale=by_type)[:, None]
            coef, robustness = _fit_by_pattern(S * weights[:, None], Y, weights, loss, samples, [])
        warnings.append(platform_warning(platform, Y.shape[1], corrected, cell_type_scale=by_type))
    return S, coef, robustness


def _fitted_values(S: np.ndarray, Y: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``S @ coef`` (g, n), NaN where Y (g, n) is missing and for samples not fitted.

    S (g, k) genes used × cell types; coef (k, n), NaN in a sample not fitted.
    """
    fitted = per_sample(S, np.nan_to_num(coef))
    fitted[np.isnan(Y)] = np.nan
    fitted[:, np.isnan(coef).any(axis=0)] = np.nan
    return fitted


def _proportions(
    coef: np.ndarray,
    signature: Signature,
    genes: _Genes,
    samples: list[str],
    *,
    mode: str,
    mrna_scaling: bool,
    warnings: list[DeconvWarning],
) -> np.ndarray:
    """The coefficients (k, n) as proportions (k or k + 1 with "other", n), blanks NaN.

    Appends the conversion's and the ``no_signal`` warnings to ``warnings``; a
    cell type a sample cannot estimate (:func:`unestimable`: too few of its
    markers with a value) is NaN in that sample.
    """
    proportions, conversion_warnings = coefficients_to_proportions(
        coef, signature, mode=mode, mrna_scaling=mrna_scaling
    )
    warnings.extend(conversion_warnings)
    warnings.extend(_no_signal_warnings(coef, samples))
    # A cell type without a marker gene (with a value) keeps its place in the fit, so the
    # others' estimates do not absorb its cells, but its own number rests on no marker.
    blank = unestimable(genes.coverage, genes.sample_coverage, samples).to_numpy().T
    proportions[: blank.shape[0]][blank] = np.nan
    return proportions


def _fit_table(
    Y: np.ndarray,
    fitted: np.ndarray,
    robustness: np.ndarray,
    genes: _Genes,
    samples: list[str],
    warnings: list[DeconvWarning],
) -> pd.DataFrame:
    """How well each sample is fitted: :data:`FIT_COLUMNS`, samples as rows.

    Y, fitted, robustness: genes used × samples (per million; robustness
    weights in [0, 1]).  Genes the robust fit set aside in a sample do not
    count (:func:`_without_set_aside`, whose ``genes_set_aside`` warnings go to
    ``warnings``).
    """
    kept, aside = _without_set_aside(Y, robustness, genes.used, samples)
    warnings.extend(aside)
    index = pd.Index(samples, name="sample")
    return pd.DataFrame(_fit_statistics(kept, fitted), index=index, columns=list(FIT_COLUMNS))


#: Columns of :attr:`DeconvResult.fit`.
FIT_COLUMNS = ("pearson_r", "spearman_r", "rmse", "r2")
#: Warning codes that make absolute fractions biased: the meaning then drops the
#: comparison with flow cytometry (see :func:`meaning_for`).
ABSOLUTE_CAVEATS = ("few_genes_absolute", "absolute_counts", "absolute_mrna_shares")
#: What absolute fractions mean when one of :data:`ABSOLUTE_CAVEATS` applies.
BIASED_ABSOLUTE_MEANING = (
    "Absolute fractions, biased: the share of all cells in the sample with 'other' for the part "
    "the signature's cell types do not explain, but these data are not whole-transcriptome TPM "
    "with mRNA-content correction (see the warnings), so 'other' and the fractions are biased; "
    "do not compare them with flow cytometry or pathology counts. Relative proportions are "
    "unaffected."
)


def _weighted_warning(weighting: str, platform: str) -> DeconvWarning:
    """The info saying which gene weights ``"auto"`` chose and why."""
    if weighting == "relative":
        why = (
            "This signature was built from single-cell data, whose genes are captured with "
            "other efficiencies than in bulk RNA-seq, so each gene was weighted by 1/its mean "
            "level and fitted on its relative error."
        )
    elif "microarray" in platform.lower():
        why = (
            f"This signature was measured on another platform ({platform}), so each gene was "
            "weighted by 1/sqrt of its mean level; otherwise its highest genes, whose levels "
            "differ most between platforms, would decide every proportion."
        )
    else:
        why = (
            "A few very highly expressed genes dominate this signature, so each gene was "
            "weighted by 1/sqrt of its mean level; otherwise those genes would decide every "
            "proportion."
        )
    return DeconvWarning(
        "info", "genes_weighted", why, cli="Rerun with --weighting none to turn this off."
    )


def _single_cell(platform: str) -> bool:
    return platform.lower().startswith("single-cell")


def _borrowed_warning(signature: Signature, unmatched: list[str]) -> DeconvWarning:
    """The info saying that mRNA-content factors were borrowed from TIL10 by lineage."""
    shown = signature.shown_names
    rest = (
        f" No lineage matched {', '.join(shown.get(c, c) for c in unmatched)}: they took the "
        "median factor."
        if unmatched
        else ""
    )
    return DeconvWarning(
        "info",
        "mrna_factors_borrowed",
        f"{signature.name} has no mRNA-content factors, so its fit gives shares of mRNA, which "
        "overstate cell types rich in mRNA (monocytes, dendritic and NK cells); the proportions "
        "were turned into shares of cells with quanTIseq's factors (TIL10, Finotello 2019) "
        f"matched by lineage from the cell-type names.{rest}",
        cli="Rerun with --no-mrna-scaling for the mRNA shares.",
        cell_type=", ".join(unmatched),
    )


def meaning_for(
    mode: str, codes: set[str] | frozenset[str], proportions: pd.DataFrame | None = None
) -> str:
    """The sentence saying what a run's proportions mean, given its warning codes.

    ``proportions`` (samples × cell types): when a sample with estimates has a
    cell type left empty (:func:`unestimable`), relative shares sum to 1 less
    that cell type, and the sentence says so.
    """
    if mode == "absolute" and set(codes) & set(ABSOLUTE_CAVEATS):
        return BIASED_ABSOLUTE_MEANING
    if mode == "relative" and proportions is not None and _has_blanks(proportions):
        return RELATIVE_WITH_BLANKS
    return MEANINGS[mode]


def _has_blanks(proportions: pd.DataFrame) -> bool:
    """Whether some sample with estimates has a cell type left empty."""
    empty = proportions.isna()
    return bool(empty.any(axis=1).sum() > empty.all(axis=1).sum())


#: :data:`MEANINGS` ``relative`` when some cell type could not be estimated in a sample.
RELATIVE_WITH_BLANKS = (
    "Relative proportions: the share of each cell type among the cells the signature "
    "describes; each sample sums to 1 less the cell types that could not be estimated in it "
    "(left empty: no marker gene with a value; see the warnings). Compare one cell type "
    "across samples; cells outside the signature (e.g. tumour, stroma) are not counted."
)


def _mode_warnings(signature: Signature, *, mode: str, mrna_scaling: bool) -> list[DeconvWarning]:
    """Refuse absolute mode where it is meaningless; warn when its mRNA correction is off."""
    if mode != "absolute":
        return []
    check_absolute_mode(signature)
    if mrna_scaling:
        return []
    return [
        DeconvWarning(
            "warning",
            "absolute_mrna_shares",
            "mRNA-content correction is off: the absolute numbers are shares of each sample's "
            "mRNA, not of its cells; cell types with much mRNA per cell (e.g. activated or "
            "dividing cells) look larger than they are.",
            cli="Drop --no-mrna-scaling to get shares of cells.",
        )
    ]


def _sample_totals(values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Each sample's sum over its genes with a value, the same to the last bit in any layout.

    ``values`` : (genes, samples) float64; ``present`` : its mask of values that are not NaN.
    numpy sums a column of a column-major array pairwise but a row-major array row by row, so
    the totals (and through them every number of the fit) differed in their last bits between
    the in-memory engine's tables (column-major) and the Dask engine's chunks (row-major).  A
    row-major array is therefore summed one column at a time, which numpy does pairwise, as
    for a column-major one (tested bit for bit).
    """
    if values.flags.f_contiguous:
        return np.sum(values, axis=0, where=present)
    return np.array(
        [np.sum(values[:, j], where=present[:, j]) for j in range(values.shape[1])],
        dtype=np.float64,
    )


def _apply_exclusion(
    signature: Signature, exclude: str | None, warnings: list[DeconvWarning]
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The signature rows the fit may use, and the genes the exclusion list(s) left out."""
    sig = signature.matrix
    names = [n for n in exclusion_lists(exclude or "") if n in signature.excluded_genes]
    listed = dict.fromkeys(g for n in names for g in signature.excluded_genes[n])
    excluded = tuple(g for g in listed if g in sig.index)
    if excluded:
        which = " and ".join(f"'{n}'" for n in names)
        warnings.append(
            DeconvWarning(
                "info",
                "genes_excluded",
                f"{len(excluded)} signature genes on the {signature.name} {which} exclusion "
                f"list{'s' if len(names) > 1 else ''} were left out of the fit "
                f"({', '.join(excluded[:6])}{', ...' if len(excluded) > 6 else ''}).",
            )
        )
    return sig.drop(index=list(excluded)), excluded


def _few_genes_warning(n_genes: int) -> DeconvWarning:
    return DeconvWarning(
        "warning",
        "few_genes_absolute",
        f"Absolute mode assumes whole-transcriptome data, but the expression has only {n_genes} "
        f"genes (fewer than {MIN_GENES_ABSOLUTE:,}); 'other' and the absolute fractions will "
        "be biased.",
        cli="Give the file with all genes, or use --mode relative.",
        app="Upload the file with all genes, or choose Relative under Mode.",
    )


def _identity_warning(ids: pd.Index, found: list[str]) -> list[DeconvWarning]:
    """The note naming signature genes found under another symbol of the same gene."""
    matches = identity_matches(ids, found)
    if matches.empty:
        return []
    n = len(matches)
    return [
        DeconvWarning(
            "info",
            "genes_matched_by_id",
            f"{n} signature gene{'s were' if n > 1 else ' was'} found under another symbol "
            f"of the same HGNC gene ({'; '.join(matches['note'][:5])}"
            f"{'; ...' if n > 5 else ''}).",
        )
    ]


@dataclass(frozen=True)
class _Genes:
    """Signature genes matched to the data: used in the fit, missing from the data (the
    whole signature's, exclusion lists aside), and coverage."""

    used: list[str]
    rows: list[int]
    missing: list[str]
    coverage: pd.DataFrame
    sample_coverage: pd.DataFrame


def _coverage_warnings(coverage: pd.DataFrame, shown: dict[str, str]) -> list[DeconvWarning]:
    """A run-wide ``cell_type_coverage`` warning per cell type with few markers found."""
    out = []
    for cell_type, row in coverage.iterrows():
        if not row["marker_genes"] or row["fraction"] >= COVERAGE_FAIR:
            continue
        name = shown.get(str(cell_type), str(cell_type))
        missing = name_list(row["missing"].split(", "))
        if row["found"]:
            message = (
                f"Only {row['found']} of {row['marker_genes']} marker genes of {name} were "
                f"found (missing: {missing}); its estimate is less reliable."
            )
        else:
            message = (
                f"None of the {row['marker_genes']} marker genes of {name} were found "
                f"(missing: {missing}); it cannot be estimated, so its proportions are empty."
            )
        out.append(
            DeconvWarning("warning", "cell_type_coverage", message, cell_type=str(cell_type))
        )
    return out


def _sample_coverage_warnings(
    by_sample: pd.DataFrame, coverage: pd.DataFrame, shown: dict[str, str]
) -> list[DeconvWarning]:
    """A ``sample_cell_type_coverage`` warning per sample and cell type whose markers with a
    value fall below :data:`COVERAGE_FAIR` because of the sample's missing values."""
    out = []
    low = by_sample[by_sample["fraction"] < COVERAGE_FAIR]
    for row in low.itertuples(index=False):
        name = shown.get(row.cell_type, row.cell_type)
        cohort = int(coverage.at[row.cell_type, "found"])
        has = (
            f"values for only {row.found} of the {row.marker_genes} marker genes of {name}"
            f" ({cohort} in the cohort; no value: {name_list(row.missing.split(', '))})"
        )
        effect = (
            "its estimate cannot be made and is left empty"
            if row.found == 0
            else "its estimate is less reliable"
        )
        out.append(
            DeconvWarning(
                "warning",
                "sample_cell_type_coverage",
                f"Sample {row.sample} has {has}; {effect}.",
                row.sample,
                cell_type=row.cell_type,
            )
        )
    return out


def unestimable(
    coverage: pd.DataFrame, sample_coverage: pd.DataFrame, samples: list[str]
) -> pd.DataFrame:
    """Which estimates cannot be made: no marker gene of the cell type has a value.

    Parameters
    ----------
    coverage
        The run's coverage (:attr:`DeconvResult.coverage`): a cell type with
        marker genes but none found cannot be estimated in any sample.
    sample_coverage
        :attr:`DeconvResult.sample_coverage`: a sample with no value for any
        marker of a cell type cannot estimate it.
    samples
        Sample names (the rows).

    Returns
    -------
    pandas.DataFrame
        Samples × cell types (``coverage``'s order), bool: True where the
        proportion is left empty (NaN).
    """
    none_found = (coverage["marker_genes"] > 0) & (coverage["found"] == 0)
    mask = pd.DataFrame(
        np.repeat(none_found.to_numpy()[None, :], len(samples), axis=0),
        index=pd.Index(samples, name="sample"),
        columns=[str(c) for c in coverage.index],
    )
    for row in sample_coverage[sample_coverage["found"] == 0].itertuples(index=False):
        mask.at[row.sample, row.cell_type] = True
    return mask


def _match_genes(
    expression: pd.DataFrame,
    values: np.ndarray,
    present: np.ndarray,
    signature: Signature,
    sig: pd.DataFrame,
    warnings: list[DeconvWarning],
) -> _Genes:
    """Match the signature's genes to the data's rows; refuse or warn on low coverage.

    Coverage is counted on the whole signature (:mod:`deconv_core.coverage`'s
    rule: a row with at least one value, matched case-insensitively), the same
    number the health card and ``signatures --describe`` give; the fit uses the
    found genes the exclusion list kept.  ``values`` : (genes, samples) float64,
    the expression; ``present`` : (genes,) bool, the rows with at least one
    value.  Per sample, the markers with a value are counted too
    (:func:`~deconv_core.coverage.sample_coverage_table`).
    """
    ids = expression.index
    kept_ids = pd.Index(ids)[present]
    kept_rows = np.flatnonzero(present)
    matched = gene_rows(kept_ids, [str(g) for g in signature.matrix.index])
    rows_of = {gene: int(kept_rows[pos]) for gene, pos in matched.items()}
    found = [str(g) for g in signature.matrix.index if str(g) in rows_of]
    warnings.extend(_identity_warning(kept_ids, found))
    kept = {str(g) for g in sig.index}
    used = [g for g in found if g in kept]
    n_sig, k = signature.matrix.shape
    share = len(found) / n_sig if n_sig else 0.0
    if len(used) < k + 1 or share < COVERAGE_ERROR:
        what = f"Only {len(found)} of {n_sig} signature genes were found in the expression data"
        check_same_species(kept_ids, signature.species, found=what)
        raise InputError(
            f"{what}; the likely cause: {_likely_cause(expression, signature, len(found))}."
        )
    if share < COVERAGE_FAIR:
        warnings.append(
            DeconvWarning(
                "warning",
                "low_coverage",
                f"Only {len(found)} of {n_sig} signature genes ({share:.0%}) were found; the "
                "estimates rest on few genes and may be unreliable.",
            )
        )
    coverage = coverage_table(signature.matrix, found)
    shown = signature.shown_names
    warnings.extend(_coverage_warnings(coverage, shown))
    has_value = ~np.isnan(values[[rows_of[g] for g in found], :])
    samples = [str(c) for c in expression.columns]
    by_sample = sample_coverage_table(signature.matrix, found, has_value, samples)
    warnings.extend(_sample_coverage_warnings(by_sample, coverage, shown))
    missing = [str(g) for g in signature.matrix.index if str(g) not in rows_of]
    return _Genes(used, [rows_of[g] for g in used], missing, coverage, by_sample)


def _fit_by_pattern(
    Sw: np.ndarray,
    Y: np.ndarray,
    weights: np.ndarray,
    loss: str,
    samples: list[str],
    warnings: list[DeconvWarning],
) -> tuple[np.ndarray, np.ndarray]:
    """Fit every sample, batched by its pattern of missing genes.

    Parameters
    ----------
    Sw : (g, k) weighted signature; Y : (g, n) observed, fit scale, NaN where
    missing; weights : (g,) gene weights.

    Returns
    -------
    coef : (k, n) coefficients (NaN for samples with fewer than k + 1 values);
    robustness : (g, n) robust weights (1 for least squares, NaN where missing).
    """
    k, n = Sw.shape[1], Y.shape[1]
    coef = np.zeros((k, n))
    missing = np.isnan(Y)
    robustness = np.where(missing, np.nan, 1.0)
    if missing.any():
        patterns, inverse = np.unique(missing.T, axis=0, return_inverse=True)
    else:  # one pattern, nothing missing (np.unique would sort n rows of g flags)
        patterns, inverse = np.zeros((1, Y.shape[0]), dtype=bool), np.zeros(n, dtype=np.intp)
    for g, pattern in enumerate(patterns):
        cols = np.flatnonzero(inverse.reshape(-1) == g)
        keep = ~pattern
        if keep.sum() < k + 1:
            warnings.extend(
                DeconvWarning(
                    "error",
                    "too_many_missing",
                    f"Sample {samples[j]} has values for only {int(keep.sum())} signature genes; "
                    "it cannot be deconvolved and its proportions are empty.",
                    samples[j],
                )
                for j in cols
            )
            coef[:, cols] = np.nan
            continue
        Yg = Y[np.ix_(keep, cols)] * weights[keep, None]
        if loss == "huber":
            coef[:, cols], robustness[np.ix_(keep, cols)] = huber_nnls(Sw[keep], Yg)
        else:
            coef[:, cols] = nnls(Sw[keep], Yg)
    return coef, robustness


def _without_set_aside(
    Y: np.ndarray, robustness: np.ndarray, genes: Sequence[str], samples: list[str]
) -> tuple[np.ndarray, list[DeconvWarning]]:
    """The observed values the fit statistics judge, and the samples with many genes set aside.

    Y and robustness are genes used × samples; a gene whose robustness weight is
    below :data:`~deconv_core.thresholds.SET_ASIDE` in a sample is NaN there (the
    estimate does not rest on it, so it must not decide the fit's r and R²).  A
    sample with more than :data:`~deconv_core.thresholds.SET_ASIDE_SHARE` of its
    genes set aside gets a ``genes_set_aside`` warning (to check); the run's
    summary of the others is :func:`deconv_core.qc.qc_warnings`' (on the whole
    cohort in either engine).  Returns ``Y`` itself when no gene is set aside.
    """
    aside = robustness < SET_ASIDE  # NaN (missing) compares False
    if not aside.any():
        return Y, []
    counts = aside.sum(axis=0)
    present = (~np.isnan(robustness)).sum(axis=0)
    notes = []
    for j in np.flatnonzero(counts > SET_ASIDE_SHARE * present):
        rows = np.flatnonzero(aside[:, j])
        notes.append(
            DeconvWarning(
                "warning",
                "genes_set_aside",
                f"Sample {samples[j]}: the robust fit set aside "
                f"{name_list([genes[i] for i in rows])} ({rows.size} of its {present[j]} genes, "
                f"more than {SET_ASIDE_SHARE:.0%}; weight below {SET_ASIDE:g}: residuals over "
                "~27 robust SDs): its proportions do not rest on them and r and R² leave them "
                "out, but so many are not stray genes: the signature misses something in this "
                "sample (an activated program, a cell type it lacks); check it.",
                samples[j],
            )
        )
    return np.where(aside, np.nan, Y), notes


def _no_signal_warnings(coef: np.ndarray, samples: list[str]) -> list[DeconvWarning]:
    """An error for each fitted sample whose coefficients are all zero."""
    return [
        DeconvWarning(
            "error",
            "no_signal",
            f"Sample {sample}: no cell type of the signature explains any of its expression "
            "(all coefficients are zero); its proportions are empty.",
            sample,
        )
        for j, sample in enumerate(samples)
        if not np.isnan(coef[:, j]).any() and not coef[:, j].any()
    ]


def coefficients_to_proportions(
    coef: np.ndarray,
    signature: Signature,
    *,
    mode: str,
    mrna_scaling: bool = True,
    axis: int = 0,
) -> tuple[np.ndarray, list[DeconvWarning]]:
    """Turn NNLS coefficients into the mode's proportions.

    Parameters
    ----------
    coef : (k, n) array
        Coefficients, cell types (in ``signature.matrix`` column order) ×
        samples, fitted on expression normalised to 1e6 per sample; with
        ``axis`` the cell types may lie along another axis of any array.
    signature
        The signature (for its cell types and mRNA-content factors).
    mode
        ``"relative"`` or ``"absolute"``.
    mrna_scaling
        Correct for mRNA content per cell type when the signature has factors;
        in relative mode a signature without factors whose cell types are
        immune lineages (and not built from single-cell data) takes TIL10's by lineage
        (:func:`deconv_core.mrna.borrowed_mrna_factors`, warning
        ``mrna_factors_borrowed``).

    axis
        The axis of ``coef`` along which the cell types lie (the leave-one-gene-out
        refits are (genes, k, samples): no reordered copy of them is needed).

    Returns
    -------
    proportions : (k, n) or (k + 1, n) array
        Cell types × samples (cell types along ``axis``); absolute mode appends
        the ``other`` row.
    warnings : list of DeconvWarning
    """
    warnings: list[DeconvWarning] = []
    cell_types = [str(c) for c in signature.matrix.columns]
    factors = np.ones(len(cell_types))
    if mrna_scaling and signature.mrna_scaling:
        known = [c in signature.mrna_scaling for c in cell_types]
        if all(known):
            factors = np.array([signature.mrna_scaling[c] for c in cell_types], dtype=float)
        else:
            warnings.append(
                DeconvWarning(
                    "warning",
                    "mrna_scaling_incomplete",
                    "The signature's mRNA-content factors do not cover every cell type; "
                    "proportions were not corrected for mRNA content.",
                )
            )
    elif mrna_scaling and mode == "relative" and not _single_cell(signature.platform):
        # A signature built from single-cell counts has its own factors; built from
        # normalised data it has none on purpose (every cell was scaled alike).
        borrowed, unmatched = borrowed_mrna_factors(cell_types)
        if borrowed:
            factors = np.array([borrowed[c] for c in cell_types], dtype=float)
            warnings.append(_borrowed_warning(signature, unmatched))
    # The factors broadcast along ``axis``; the sums run over it in the same order
    # whatever the axis (one row of cell types added after another), so the
    # numbers do not depend on the layout.  Divisions happen in place: the
    # refits' array is the gene checks' largest.
    shape = [1] * coef.ndim
    shape[axis] = factors.size
    with np.errstate(divide="ignore", invalid="ignore"):
        cells = coef / factors.reshape(shape)
        if mode == "relative":
            cells /= cells.sum(axis=axis, keepdims=True)
            return cells, warnings
        mrna_share = coef.sum(axis=axis, keepdims=True)
        # Absolute: the coefficients are shares of the sample's mRNA and sum to
        # at most 1 in theory; more than 1 means the profiles overshoot.
        over = mrna_share > 1
        if over.any():
            # Expected when the signature covers almost every cell (blood); far
            # above 1 means the data are not on the signature's TPM-like scale.
            worst = float(mrna_share[over].max())
            warnings.append(
                DeconvWarning(
                    "info" if worst < 1.5 else "warning",
                    "overshoot",
                    f"In {int(over.sum())} sample(s) the signature's cell types explain all of "
                    f"the expression (mRNA shares sum to up to {worst:.2f}); their fractions "
                    "were scaled to sum to 1 and 'other' is 0. Expected when the signature "
                    "covers nearly all cells (e.g. blood); well above 1, the data may not be "
                    "TPM-like.",
                )
            )
        total = np.minimum(mrna_share, 1.0)
        # Keep the covered share of the sample and redistribute it among the
        # covered cell types by cell counts (quanTIseq's convention).
        fractions = cells / cells.sum(axis=axis, keepdims=True) * total
        other = 1.0 - fractions.sum(axis=axis, keepdims=True)
        return np.concatenate([fractions, np.clip(other, 0.0, 1.0)], axis=axis), warnings

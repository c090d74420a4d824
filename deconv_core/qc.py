"""How far a deconvolution can be trusted: uncertainty, residuals, identifiability.

Everything here starts from a :class:`~deconv_core.deconvolve.DeconvResult`
and works in its fit scale: expression normalised to 1e6 per sample over all
genes (TPM-like), on the signature genes the fit used, with the fit's gene
weights.  Functions return tables (tidy or genes × samples) and
:class:`~deconv_core.validation.DeconvWarning` records; nothing is printed.

Uncertainty
    :func:`bootstrap_intervals` resamples the signature genes with
    replacement and refits every sample (one batched NNLS call per resample);
    the percentile interval of the resampled proportions is reported.
    :func:`permutation_test` gives each sample a CIBERSORT-style p-value: how
    often a random mixture, drawn from the data's own values, fits the
    signature at least as well (Newman et al., Nat Methods 2015).
Residual diagnostics
    :func:`standardised_residuals` (log ratio of observed to fitted, divided by
    the sample's robust spread), :func:`flag_genes` (genes the signature
    misdescribes in these data) and :func:`flag_samples` (poor fits).
Identifiability
    :func:`signature_identifiability` gives the condition number of a
    signature and the correlation and cosine of every pair of cell types.

Refits and residual log ratios come from the engine shared with
:mod:`deconv_core.confounding`, :mod:`deconv_core.refit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from deconv_core.deconvolve import (
    DeconvResult,
    coefficients_to_proportions,
    gene_weights,
    marker_genes,
    pearson_rows,
)
from deconv_core.identifiability import (
    Identifiability,
    identifiability_warnings,
    signature_identifiability,
)
from deconv_core.options import MAX_BOOTSTRAP, MAX_PERMUTATIONS, check_count, check_fraction
from deconv_core.refit import (
    MAD_TO_SD,
    REFIT_ROUNDS,
    as_signature,
    fit_arrays,
    log_ratios,
    nanmedian_lines,
    robust_spread,
    robust_weights,
    solve_rows,
)
from deconv_core.signatures import Signature
from deconv_core.solvers import huber_nnls, nnls
from deconv_core.thresholds import (
    ALPHA,
    DOWNWEIGHTED,
    GENE_Z,
    MAX_CONDITION,
    MIN_SAMPLES_FOR_GENE_FLAGS,
    MIN_SAMPLES_FOR_OUTLIERS,
    OUTLIER_MADS,
    OUTLIER_SPREAD_RATIO,
    POOR_R,
    POOR_R2,
    SET_ASIDE,
)
from deconv_core.validation import DeconvWarning
from deconv_core.verdict import fit_grade, fit_stats, format_against

__all__ = [
    "DEFAULT_LEVEL",
    "DOWNWEIGHTED",
    "DEFAULT_RESAMPLES",
    "Identifiability",
    "PermutationTest",
    "bootstrap_intervals",
    "downweighted_genes",
    "flag_genes",
    "flag_samples",
    "permutation_null",
    "permutation_p_values",
    "permutation_test",
    "qc_warnings",
    "signature_identifiability",
    "standardised_residuals",
]

#: Default confidence level of the bootstrap intervals.
DEFAULT_LEVEL = 0.95
#: Default number of bootstrap resamples.
DEFAULT_RESAMPLES = 200

# Random streams derived from the user's seed, one per use, so that turning
# one computation on or off never changes the numbers of another.
_BOOTSTRAP_STREAM = 0
_PERMUTATION_STREAM = 1
# Samples per batch: bounds memory (resamples × cell types × samples floats).
_CHUNK = 2000
# Largest bootstrap draws held at once (resamples × cell types × samples of a batch).
_DRAWS_BYTES = 256 * 2**20


@dataclass(frozen=True)
class PermutationTest:
    """Result of :func:`permutation_test`.

    Attributes
    ----------
    p_values
        Index ``sample``, name ``p_value``: the share of random mixtures whose
        fit correlation reaches the sample's, ``(1 + count) / (1 + N)``; NaN
        for samples without a fit.
    null_correlations
        (N,) Pearson correlations of observed versus fitted expression of the
        N random mixtures (NaN where the fit was all zero).
    n_permutations, seed
        How the null distribution was drawn.
    """

    p_values: pd.Series
    null_correlations: np.ndarray
    n_permutations: int
    seed: int


def _quantiles(draws: np.ndarray, probs: list[float]) -> np.ndarray:
    """Quantiles over axis 0 ignoring NaN; NaN where every draw is NaN."""
    out = np.full((len(probs), *draws.shape[1:]), np.nan)
    finite = ~np.isnan(draws)
    full = finite.all(axis=0)
    if full.any():
        out[:, full] = np.quantile(draws[:, full], probs, axis=0)
    partial = finite.any(axis=0) & ~full
    if partial.any():
        out[:, partial] = np.nanquantile(draws[:, partial], probs, axis=0)
    return out


def bootstrap_intervals(
    result: DeconvResult,
    signature: Signature | pd.DataFrame,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap confidence intervals of every proportion.

    Each resample draws the signature genes the fit used with replacement
    (the same draw for every sample), refits all samples with one batched
    NNLS call and converts the coefficients to proportions exactly as the
    result did (same mode, same mRNA scaling).  The interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled
    proportions.  It reflects how much the estimate depends on which genes
    happen to describe each cell type; it does not cover a wrong signature.

    Parameters
    ----------
    result
        The deconvolution to assess.
    signature
        The signature it was computed with (for the mRNA-content factors).
    n_resamples
        Number of bootstrap resamples (default 200).
    level
        Confidence level, between 0 and 1 (default 0.95).
    seed
        Seed of the random generator; the same seed gives the same intervals.
    progress
        Called as ``progress(done, total)`` after each batched refit (one
        resample of one chunk of samples), e.g. to move a progress bar; it
        does not change the numbers.

    Returns
    -------
    pandas.DataFrame
        Tidy table, one row per sample and cell type (``other`` included in
        absolute mode), in the order of ``result.proportions``: ``sample``,
        ``cell_type``, ``estimate`` (the reported proportion), ``lower``,
        ``upper`` (unitless fractions; NaN for samples without a fit and
        where the estimate is empty).

    Raises
    ------
    InputError
        If ``n_resamples`` is not a positive whole number or ``level`` is not
        strictly between 0 and 1.
    """
    n_resamples = check_count(
        n_resamples, "The number of bootstrap resamples", minimum=1, maximum=MAX_BOOTSTRAP
    )
    check_fraction(level, "The confidence level (e.g. 0.95)")
    sig = as_signature(signature, result)
    Sw, Yw, nan_mask, _ = fit_arrays(result)
    robust = robust_weights(result)
    guess = np.nan_to_num(result.coefficients.to_numpy(dtype=np.float64).T)
    g, n = Sw.shape[0], Yw.shape[1]
    rng = np.random.default_rng([int(seed), _BOOTSTRAP_STREAM])
    draws_idx = rng.integers(0, g, size=(n_resamples, g))
    columns = list(result.proportions.columns)
    probs = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    lower = np.full((len(columns), n), np.nan)
    upper = np.full((len(columns), n), np.nan)
    # Fewer samples per batch when many resamples of many cell types would make
    # the batch's draws larger than _DRAWS_BYTES (each sample's fit is its own).
    chunk = max(1, min(_CHUNK, _DRAWS_BYTES // (8 * n_resamples * max(1, len(columns)))))
    total, done = n_resamples * -(-n // chunk), 0
    for start in range(0, n, chunk):
        cols = slice(start, min(start + chunk, n))
        draws = np.empty((n_resamples, len(columns), cols.stop - cols.start))
        for b in range(n_resamples):
            coef = solve_rows(
                Sw,
                Yw[:, cols],
                nan_mask[:, cols],
                draws_idx[b],
                None if robust is None else robust[:, cols],
                guess[:, cols],
                REFIT_ROUNDS,
            )
            draws[b], _ = coefficients_to_proportions(
                coef, sig, mode=result.mode, mrna_scaling=result.mrna_scaling
            )
            done += 1
            if progress is not None:
                progress(done, total)
        lower[:, cols], upper[:, cols] = _quantiles(draws, probs)
    failed = result.coefficients.isna().any(axis=1).to_numpy()
    lower[:, failed] = np.nan
    upper[:, failed] = np.nan
    # No interval where the estimate is empty (a cell type without a marker gene).
    blank = result.proportions.isna().to_numpy().T
    lower[blank] = np.nan
    upper[blank] = np.nan
    samples = list(result.proportions.index)
    return pd.DataFrame(
        {
            "sample": np.repeat(samples, len(columns)),
            "cell_type": np.tile(columns, n),
            "estimate": result.proportions.to_numpy(dtype=float).ravel(),
            "lower": lower.T.ravel(),
            "upper": upper.T.ravel(),
        }
    )


def permutation_test(
    result: DeconvResult, *, n_permutations: int = 1000, seed: int = 0
) -> PermutationTest:
    """CIBERSORT-style p-value of each sample's fit.

    The null distribution is computed once per run: ``n_permutations``
    random mixtures are drawn from the data itself (each takes, without
    replacement, as many values as there are genes used from the pooled
    observed values of every sample on those genes, so it has the data's
    expression levels but no cell-type structure), fitted like the samples,
    and scored by the Pearson correlation of observed versus fitted
    expression, the ``pearson_r`` of ``result.fit``.  A sample's p-value is
    ``(1 + number of random mixtures fitting at least as well) / (1 + N)``:
    small means the signature describes the sample better than it describes
    random expression; about uniform for samples the signature does not
    describe at all.  The smallest possible value is ``1 / (1 + N)``.

    Parameters
    ----------
    result
        The deconvolution to assess.
    n_permutations
        Number of random mixtures N (default 1000).
    seed
        Seed of the random generator.

    Returns
    -------
    PermutationTest
    """
    n_permutations = check_count(
        n_permutations, "The number of permutations", minimum=1, maximum=MAX_PERMUTATIONS
    )
    null = permutation_null(result, n_permutations=n_permutations, seed=seed)
    p = permutation_p_values(null, result.fit["pearson_r"].to_numpy(dtype=float))
    return PermutationTest(
        p_values=pd.Series(p, index=result.fit.index.copy(), name="p_value"),
        null_correlations=null,
        n_permutations=n_permutations,
        seed=int(seed),
    )


def permutation_null(result: DeconvResult, *, n_permutations: int, seed: int) -> np.ndarray:
    """The null correlations of :func:`permutation_test`: random mixtures from ``result``'s data.

    Parameters
    ----------
    result
        The deconvolution whose observed values (signature genes × samples)
        are pooled; the Dask engine passes a seeded subset of the cohort's
        samples (:data:`deconv_core.thresholds.NULL_SAMPLES`).
    n_permutations, seed
        As in :func:`permutation_test`.

    Returns
    -------
    numpy.ndarray
        (n_permutations,) Pearson r of each random mixture with its fit (without the
        genes a robust fit set aside, as the samples' own r).
    """
    Sw, _, nan_mask, weights = fit_arrays(result)
    S = result.signature_matrix.to_numpy(dtype=np.float64)
    Y = result.observed.to_numpy(dtype=np.float64)
    pool = Y[~nan_mask]
    g = S.shape[0]
    rng = np.random.default_rng([int(seed), _PERMUTATION_STREAM])
    null = np.empty(n_permutations)
    for start in range(0, n_permutations, _CHUNK):
        m = min(_CHUNK, n_permutations - start)
        mixtures = np.stack(
            [rng.choice(pool, size=g, replace=pool.size < g) for _ in range(m)], axis=1
        )
        if result.loss == "squares":
            fitted, kept = S @ nnls(Sw, mixtures * weights[:, None]), None
        else:
            coef, robustness = huber_nnls(Sw, mixtures * weights[:, None])
            # Scored as the samples are: without the genes the fit set aside.
            fitted, kept = S @ coef, robustness >= SET_ASIDE
        null[start : start + m] = pearson_rows(
            mixtures.T, fitted.T, None if kept is None else kept.T
        )
    return null


def permutation_p_values(null: np.ndarray, observed_r: np.ndarray) -> np.ndarray:
    """Each sample's ``(1 + random mixtures fitting at least as well) / (1 + N)``.

    Parameters
    ----------
    null
        (N,) null correlations (:func:`permutation_null`).
    observed_r
        (n,) the samples' ``pearson_r``; NaN gives a NaN p-value.
    """
    n_permutations = null.size
    # NaN correlations (all-zero fits) never count as fitting "at least as well".
    null_sorted = np.sort(np.where(np.isnan(null), -np.inf, null))
    at_least = n_permutations - np.searchsorted(null_sorted, observed_r, side="left")
    p = (1.0 + at_least) / (1.0 + n_permutations)
    return np.where(np.isnan(observed_r), np.nan, p)


def standardised_residuals(result: DeconvResult) -> pd.DataFrame:
    """Residuals on a common scale, per gene and sample.

    ``z = log2((observed + 1) / (fitted + 1)) / spread``, where the spread is
    the sample's robust standard deviation of those log ratios over the genes
    used (1.4826 × median absolute deviation, at least 0.1).  Expression noise
    is roughly multiplicative, so log ratios put a 2-fold miss on the same
    footing for a rarely and a highly expressed gene; dividing by the sample's
    own spread makes ``|z| >= 3`` mean "unusual for this sample".

    Parameters
    ----------
    result
        The deconvolution to assess.

    Returns
    -------
    pandas.DataFrame
        Genes used × samples, unitless (NaN where a sample had no value).
    """
    ratios = log_ratios(result.observed.to_numpy(float), result.fitted.to_numpy(float))
    z = ratios / robust_spread(ratios)
    return pd.DataFrame(z, index=result.observed.index.copy(), columns=result.observed.columns)


def downweighted_genes(result: DeconvResult, *, below: float = DOWNWEIGHTED) -> pd.DataFrame:
    """Genes the robust fit trusted less than the others, and in which samples.

    The Huber fit (``loss="huber"``) gives a gene less than full weight in a
    sample when its residual is unusually large there; these genes pulled
    less on that sample's proportions than least squares would have let them.

    Parameters
    ----------
    result
        The deconvolution (its ``robustness`` weights, genes × samples).
    below
        Weight under which a gene counts as down-weighted in a sample
        (default 0.5: less than half the pull of a normal gene).

    Returns
    -------
    pandas.DataFrame
        One row per gene down-weighted in at least one sample, most samples
        first: ``gene``, ``cell_type`` (the cell type it marks), ``samples``
        (how many), ``share`` (of the samples with a value), ``median_weight``
        and ``lowest_weight`` (over those samples, 0-1), ``examples`` (up to
        five sample names, lowest weight first).  Empty for a least-squares
        fit.
    """
    columns = [
        "gene",
        "cell_type",
        "samples",
        "share",
        "median_weight",
        "lowest_weight",
        "examples",
    ]
    weights = result.robustness
    if result.loss == "squares" or weights.empty:
        return pd.DataFrame(columns=columns)
    values = weights.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        low = values < below
    counts = low.sum(axis=1)
    present = (~np.isnan(values)).sum(axis=1)
    marks = marker_genes(result.signature_matrix)
    names = np.asarray([str(c) for c in weights.columns])
    rows = []
    for i in np.flatnonzero(counts):
        w = values[i, low[i]]
        order = np.argsort(w, kind="stable")[:5]
        gene = str(weights.index[i])
        rows.append(
            [
                gene,
                str(marks[gene]),
                int(counts[i]),
                float(counts[i] / present[i]),
                float(np.median(w)),
                float(w.min()),
                ", ".join(names[low[i]][order]),
            ]
        )
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(
        ["samples", "median_weight"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def flag_genes(
    result: DeconvResult,
    *,
    threshold: float = GENE_Z,
    min_samples: int = MIN_SAMPLES_FOR_GENE_FLAGS,
) -> pd.DataFrame:
    """Genes the signature misdescribes in these data.

    A gene is flagged when its median standardised residual over the samples
    is at least ``threshold`` in absolute value: it is consistently higher (or
    lower) than the signature predicts, whatever the mixture, so the
    reference profile does not fit this dataset (another cell state, another
    cell type expressing it, a platform or annotation effect).

    Parameters
    ----------
    result
        The deconvolution to assess.
    threshold
        Median standardised residual that flags a gene (default 3).
    min_samples
        No gene is flagged with fewer samples than this (default 3): one
        sample cannot tell a gene from a sample effect.

    Returns
    -------
    pandas.DataFrame
        One row per flagged gene, largest first: ``gene``, ``cell_type`` (the
        cell type the gene marks, i.e. expresses most), ``direction``
        (``higher``/``lower``), ``median_z``, ``fold`` (median observed /
        fitted, linear), ``samples_extreme`` (samples with ``|z| >= threshold``
        in that direction), ``reason`` (a sentence).
    """
    columns = ["gene", "cell_type", "direction", "median_z", "fold", "samples_extreme", "reason"]
    z = standardised_residuals(result)
    valid = ~z.isna().all(axis=0)
    z = z.loc[:, valid]
    if z.shape[1] < min_samples or z.shape[0] == 0:
        return pd.DataFrame(columns=columns)
    values = z.to_numpy()
    has = ~np.isnan(values).all(axis=1)
    median_z = np.full(values.shape[0], np.nan)
    median_z[has] = nanmedian_lines(values[has], axis=1)
    ratios = log_ratios(result.observed.to_numpy(float), result.fitted.to_numpy(float))[:, valid]
    median_lr = np.full(values.shape[0], np.nan)
    median_lr[has] = nanmedian_lines(ratios[has], axis=1)
    marks = marker_genes(result.signature_matrix)
    rows = []
    for i in np.flatnonzero(np.abs(np.nan_to_num(median_z)) >= threshold):
        gene = str(z.index[i])
        higher = median_z[i] > 0
        extreme = int(np.sum(values[i] >= threshold if higher else values[i] <= -threshold))
        fold = float(2.0 ** median_lr[i])
        cell_type = str(marks[gene])
        if higher:
            reason = (
                f"{gene} ({cell_type} marker) is {fold:.1f}x what the signature predicts "
                f"(median over {z.shape[1]} samples; extreme in {extreme}): cells in these "
                "samples express more of it than the reference profiles (another cell state, or "
                "cells the signature lacks), which can inflate the estimates of the cell types "
                "that express it."
            )
        else:
            reason = (
                f"{gene} ({cell_type} marker) is only {fold:.2f}x what the signature predicts "
                f"(median over {z.shape[1]} samples; extreme in {extreme}): the cells here "
                "express less of it than the reference, or it is poorly measured on this platform."
            )
        rows.append(
            [gene, cell_type, "higher" if higher else "lower", median_z[i], fold, extreme, reason]
        )
    table = pd.DataFrame(rows, columns=columns)
    order = np.argsort(-np.abs(table["median_z"].to_numpy(dtype=float)), kind="stable")
    return table.iloc[order].reset_index(drop=True)


def _fit_rows(fit: pd.DataFrame) -> list[list[str]]:
    """``not_deconvolved`` and ``poor_fit`` findings from the fit statistics."""
    rows = []
    for sample, r, r2 in zip(fit.index, fit["pearson_r"], fit["r2"], strict=True):
        if np.isnan(r) and np.isnan(r2):
            rows.append(
                [
                    str(sample),
                    "not_deconvolved",
                    f"Sample {sample} could not be deconvolved (see its errors); it has no "
                    "proportions.",
                ]
            )
        elif fit_grade(r, r2) == "poor":
            rows.append(
                [
                    str(sample),
                    "poor_fit",
                    f"Sample {sample}: the signature explains its expression poorly "
                    f"({fit_stats(r, r2)}; poor below r {POOR_R:g} or R² {POOR_R2:g}); its "
                    "cells may be mostly of types the signature lacks, or the data may not "
                    "match the signature's platform. Read its proportions with caution.",
                ]
            )
    return rows


def _outlier_rows(result: DeconvResult) -> list[list[str]]:
    """``outlier_fit`` findings: residual spreads far above the cohort's."""
    ratios = log_ratios(result.observed.to_numpy(float), result.fitted.to_numpy(float))
    spread = pd.Series(robust_spread(ratios), index=result.observed.columns)
    spread = spread[~result.coefficients.isna().any(axis=1).reindex(spread.index).to_numpy()]
    if spread.size < MIN_SAMPLES_FOR_OUTLIERS:
        return []
    centre = float(spread.median())
    mad = MAD_TO_SD * float((spread - centre).abs().median())
    limit = max(OUTLIER_SPREAD_RATIO * centre, centre + OUTLIER_MADS * mad)
    return [
        [
            str(sample),
            "outlier_fit",
            f"Sample {sample}: its genes miss the fit by {value / centre:.1f}x the cohort's "
            "typical amount; it differs from the other samples (another tissue, a failed "
            "library, a sample swap?).",
        ]
        for sample, value in spread.items()
        if value > limit
    ]


def _p_value_rows(p_values: pd.Series, alpha: float) -> list[list[str]]:
    """``fit_not_significant`` findings: p-values above ``alpha``."""

    def shown(p: float) -> str:
        return format_against(p, (alpha,), digits=3, significant=True, ties="below")

    return [
        [
            str(sample),
            "fit_not_significant",
            f"Sample {sample}: random mixtures drawn from the data fit the signature as well as "
            f"this sample does (permutation p = {shown(p)} > {alpha:g}); its proportions may be "
            "meaningless.",
        ]
        for sample, p in p_values.items()
        if not np.isnan(p) and p > alpha
    ]


def flag_samples(
    result: DeconvResult,
    *,
    p_values: pd.Series | None = None,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Samples whose fit is poor, each with a reason.

    Three checks: the fit is poor (Pearson r below
    :data:`~deconv_core.thresholds.POOR_R` or R² below
    :data:`~deconv_core.thresholds.POOR_R2`, the same limits as the verdict
    "poor" of :mod:`deconv_core.verdict`); the sample's residual spread (see
    :func:`standardised_residuals`) is more than twice the cohort's median
    and far out of the cohort's range (median + 5 × MAD; needs 5 samples);
    the permutation p-value is above ``alpha`` (when given).

    Parameters
    ----------
    result
        The deconvolution to assess.
    p_values
        Permutation p-values (index = samples), or None.
    alpha
        p-value above which a fit is no better than random (default
        :data:`~deconv_core.thresholds.ALPHA`).

    Returns
    -------
    pandas.DataFrame
        One row per finding: ``sample``, ``code`` (``not_deconvolved``,
        ``poor_fit``, ``outlier_fit`` or ``fit_not_significant``), ``reason``.
        Exactly the samples the verdict calls "poor"
        (:mod:`deconv_core.verdict`) have ``not_deconvolved``, ``poor_fit`` or
        ``fit_not_significant``.
    """
    rows = [*_fit_rows(result.fit), *_outlier_rows(result)]
    if p_values is not None:
        rows.extend(_p_value_rows(p_values.reindex(result.fit.index), alpha))
    return pd.DataFrame(rows, columns=["sample", "code", "reason"])


def _full_weights(matrix: pd.DataFrame, result: DeconvResult) -> pd.Series:
    """Weights the fit would give the whole signature (same weighting as the result)."""
    values = gene_weights(matrix.to_numpy(dtype=np.float64), weighting=result.weighting)
    return pd.Series(values, index=matrix.index)


def _identifiability_warnings(
    result: DeconvResult, signature: Signature | pd.DataFrame | None
) -> list[DeconvWarning]:
    found = signature_identifiability(result.signature_matrix, weights=result.gene_weights)
    n = found.n_genes
    names = signature.shown_names if isinstance(signature, Signature) else None
    scope = f"the {n} signature genes the fit uses"  # found, less the exclusion list
    warnings = identifiability_warnings(found, scope=scope, names=names)
    if found.condition_number > MAX_CONDITION and signature is not None:
        matrix = signature if isinstance(signature, pd.DataFrame) else signature.matrix
        if matrix.shape[0] > n:
            full = signature_identifiability(matrix, weights=_full_weights(matrix, result))
            if full.condition_number < found.condition_number / 2:
                note = (
                    f" The whole signature has {full.condition_number:.0f}: the missing genes "
                    "make it worse."
                )
                warnings = [
                    replace(w, message=w.message + note) if w.code == "ill_conditioned" else w
                    for w in warnings
                ]
    return warnings


def qc_warnings(
    result: DeconvResult,
    *,
    signature: Signature | pd.DataFrame | None = None,
    p_values: pd.Series | None = None,
) -> tuple[DeconvWarning, ...]:
    """Residual, fit and identifiability findings as warning records.

    Parameters
    ----------
    result
        The deconvolution to assess.
    signature
        The whole signature, to say whether missing genes hurt
        identifiability (optional).
    p_values
        Permutation p-values (index = samples), or None.

    Returns
    -------
    tuple of DeconvWarning
        Identifiability (``collinear_cell_types``, ``ill_conditioned``), poor
        samples (``poor_fit``, ``outlier_fit``, ``fit_not_significant``) and
        misdescribed genes (``residual_gene``, severity ``info``), in that
        order.
    """
    warnings = _identifiability_warnings(result, signature)
    for row in flag_samples(result, p_values=p_values).itertuples(index=False):
        if row.code != "not_deconvolved":  # the fit's own error already says so
            warnings.append(DeconvWarning("warning", row.code, row.reason, row.sample))
    for row in flag_genes(result).itertuples(index=False):
        warnings.append(DeconvWarning("info", "residual_gene", row.reason))
    warnings.extend(_set_aside_note(result))
    return tuple(warnings)


def _set_aside_note(result: DeconvResult) -> list[DeconvWarning]:
    """One info on the genes the robust fit set aside (left out of r and R²), if any.

    Counted on the whole result (both engines); the genes most often set aside
    first.
    """
    aside = result.robustness < SET_ASIDE  # NaN (missing) compares False
    by_gene = aside.sum(axis=1)
    by_gene = by_gene[by_gene > 0].sort_values(ascending=False, kind="stable")
    if by_gene.empty:
        return []
    samples = int(aside.any(axis=0).sum())
    shown = [f"{gene} in {n}" for gene, n in by_gene.head(5).items()]
    more = f" and {len(by_gene) - 5} more genes" if len(by_gene) > 5 else ""
    return [
        DeconvWarning(
            "info",
            "set_aside_in_cohort",
            f"In {samples} of {aside.shape[1]} samples the robust fit set aside genes it could "
            f"not fit (weight below {SET_ASIDE:g}, residuals over ~27 robust SDs; "
            f"{', '.join(shown)}{more}): the estimates do not rest on them, and r and R² "
            "leave them out.",
            cli="robustness.csv holds every gene's weight in every sample.",
            app="The QC page's table of down-weighted genes lists them.",
        )
    ]

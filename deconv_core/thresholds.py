"""Every threshold a trust judgement uses, defined once, with its source or reason.

The core's checks, the per-sample verdict, the dashboard's captions and help
texts and the README quote these names; nothing else spells the numbers.
Fractions are unitless (0-1); correlations are Pearson r of observed versus
fitted expression on the signature genes the fit used.
"""

from __future__ import annotations

__all__ = [
    "ALPHA",
    "CENTRED_GENE_MEAN",
    "CENTRED_NEGATIVE_SHARE",
    "LINEAR_TOTAL",
    "LINEAR_TOTAL_TOLERANCE",
    "LOG_FLOOR_MIN_VALUES",
    "LOG_FLOOR_SHARE",
    "COVERAGE_ERROR",
    "COVERAGE_FAIR",
    "COVERAGE_GOOD",
    "DOWNWEIGHTED",
    "DRIVEN_SHARE",
    "FRAGILE_SHARE",
    "GENE_Z",
    "GOOD_R",
    "GOOD_R2",
    "MAX_CONDITION",
    "METHOD_AGREEMENT_R",
    "METHOD_NEGLIGIBLE",
    "METHOD_RANK_GAP",
    "MAX_COSINE",
    "MIN_GENES_ABSOLUTE",
    "MIN_SAMPLES_FOR_AGREEMENT",
    "MIN_SAMPLES_FOR_GENE_FLAGS",
    "MIN_SAMPLES_FOR_OUTLIERS",
    "MIN_SAMPLES_PLATFORM",
    "NULL_SAMPLES",
    "OUTLIER_MADS",
    "OUTLIER_SPREAD_RATIO",
    "MIXED_UNITS_RATIO",
    "PERCENT_ABOVE",
    "POOR_R",
    "POOR_R2",
    "RECOVERY_R",
    "SET_ASIDE",
    "SET_ASIDE_SHARE",
    "SMALL_COHORT",
    "WHOLE_TRANSCRIPTOME_GENES",
]

# -- per-sample fit (the verdict) --------------------------------------------------------------
# Set on planted mixtures with realistic multiplicative noise (log-normal sd 0.2-0.3 gives
# r > 0.95 and R² > 0.9), so that a sample whose marker genes the mixture cannot explain
# stands out.  "good" needs both r >= GOOD_R and R² >= GOOD_R2; "poor" is below either of
# POOR_R and POOR_R2; in between is "check".
#: Fit correlation at or above which (with :data:`GOOD_R2`) a fit is good.
GOOD_R = 0.9
#: Share of variance explained at or above which (with :data:`GOOD_R`) a fit is good.
GOOD_R2 = 0.8
#: Fit correlation below which a fit is poor.
POOR_R = 0.75
#: Share of variance explained below which a fit is poor.
POOR_R2 = 0.5
#: Permutation p-value above which a fit is no better than random mixtures drawn from the
#: data (CIBERSORT's cut-off, Newman et al. 2015): the sample's proportions may be meaningless.
ALPHA = 0.05
#: Residual spread of a sample, as a multiple of the cohort's median, above which it is an
#: outlier (and also above the median + 5 MAD); needs :data:`MIN_SAMPLES_FOR_OUTLIERS`.
OUTLIER_SPREAD_RATIO = 2.0
#: Fewest fitted samples for the outlier check: fewer cannot define "typical".
MIN_SAMPLES_FOR_OUTLIERS = 5
#: An outlier's residual spread is also above the cohort's median + this many robust SDs
#: (1.4826 × MAD), so a tight cohort does not flag ordinary samples.
OUTLIER_MADS = 5.0

# -- signature coverage ------------------------------------------------------------------------
#: Share of signature genes found at or above which coverage is good.
COVERAGE_GOOD = 0.8
#: Share below which the estimates rest on few genes (a warning; verdict "check").
COVERAGE_FAIR = 0.5
#: Share below which the run is refused: the signature and the data barely overlap
#: (usually other gene ids or another species).
COVERAGE_ERROR = 0.2

# -- residuals ---------------------------------------------------------------------------------
#: Standardised residual (log2 miss over the sample's robust spread) that counts as extreme;
#: a gene whose median over the samples is beyond it is misdescribed by the signature.
GENE_Z = 3.0
#: Fewest samples for flagging genes: one sample cannot tell a gene from a sample effect.
MIN_SAMPLES_FOR_GENE_FLAGS = 3
#: Robustness weight under which the robust fit counts a gene as down-weighted in a sample
#: (less than half the pull of a normal gene).
DOWNWEIGHTED = 0.5
#: Robustness weight under which the robust fit has set a gene aside in a sample: Huber's
#: weight is its threshold over the residual, so the residual is over 20 thresholds (~27
#: robust SDs) and the gene barely pulls on the estimate.  The fit statistics (r, R², the
#: verdict's) leave such genes out: one gene the estimate does not rest on made every sample
#: of the Finotello 2019 read counts "poor" (ADAM6, weight 0.003; r 0.09-0.45 with it,
#: about 0.8 without, proportions within 0.017).
SET_ASIDE = 0.05
#: Share of a sample's genes (with a value) set aside above which the sample is to check: a
#: stray gene or two is an artefact (ADAM6 in read counts; at most 2 of 170 in the Finotello
#: and Hoek PBMC), several at once are something the signature misses in that sample (the
#: demo's activated T/NK program: 4 of 170 genes in S04 and S13).
SET_ASIDE_SHARE = 0.02

# -- identifiability ---------------------------------------------------------------------------
#: Cosine between two cell types' profiles at or above which least squares cannot reliably
#: tell them apart (their sum is still estimated well).
MAX_COSINE = 0.85
#: Condition number of the (weighted) signature above which small changes in the data move
#: the estimates a lot; good immune signatures stay well below it (TIL10: about 7).
MAX_CONDITION = 50.0

# -- confounding (leave-genes-out refits) ------------------------------------------------------
#: Leaving a sample's suspect genes out lowers an estimate by at least this share of its
#: value: the estimate is driven by genes, not cells.  Calibrated on planted TIL10 mixtures
#: (deconv_core.confounding).
DRIVEN_SHARE = 0.25
#: Leaving a single gene out lowers an estimate by at least this share: a fragile estimate.
FRAGILE_SHARE = 0.5

# -- absolute mode -----------------------------------------------------------------------------
#: Fewest genes in the expression data for absolute mode: each sample is normalised to one
#: million over all its genes, which is a transcriptome total only with (nearly) all genes.
MIN_GENES_ABSOLUTE = 5000
#: Fewest genes of single-cell data for a signature built from it to be on a whole-transcriptome
#: scale (per-cell CPM over these genes); with fewer, absolute mode is refused with it.
WHOLE_TRANSCRIPTOME_GENES = 15000
#: Correlation over held-out pseudo-bulk mixtures (estimated against true fractions of one
#: cell type) below which a single-cell signature is said to recover that type poorly.
#: Looser than :data:`POOR_R` for a fit: it judges one type's estimates, not a profile.
RECOVERY_R = 0.7
#: Fewest samples fitted together to estimate the gene-wise factors between a signature from
#: another platform (microarray, single-cell) and bulk RNA-seq (deconv_core.platform): a median
#: over samples of a gene's observed/fitted ratio, as for the outlier check.
MIN_SAMPLES_PLATFORM = 5

# -- input shapes ------------------------------------------------------------------------------
#: Share of negative values at or above which log-like data are refused as centred, z-scored
#: or log-ratio data: log2 expression is negative only below 1 unit, a small share of a table;
#: a ratio or a centred table is negative about half the time.
CENTRED_NEGATIVE_SHARE = 0.2
#: Median absolute gene mean under which log-like data with negative values are refused as
#: centred (each gene's mean near 0, as after per-gene centring); log2 expression has gene
#: means of several units.
CENTRED_GENE_MEAN = 0.5
#: Share of values sitting exactly at a negative minimum from which log-like data are read as
#: log(x + p) of data with zeros, p = base**minimum (log2(TPM + 0.001), UCSC Xena's TCGA/GTEx
#: convention): every zero lands on that one floor, 15% of the Hoek 2015 PBMC TPM; centred or
#: z-scored values share their minimum with a handful of values at most (6e-6 of the same
#: table z-scored per gene), so they are still refused.
LOG_FLOOR_SHARE = 0.01
#: Fewest values at that minimum for a floor: in a table of 100 values or fewer, one value is
#: already 1% (a small z-scored table would pass as logs); a zero-heavy RNA-seq table has
#: thousands (Hoek 2015: 38,000).
LOG_FLOOR_MIN_VALUES = 20
#: Per-sample total of TPM and CPM: how the log base of RNA-seq data with zeros is told. Un-logged
#: with the right base, a whole-transcriptome table sums to it in every sample; with another
#: base (log10 read as log2, ln read as log10, ...) the totals are off by orders of magnitude.
LINEAR_TOTAL = 1e6
#: Relative distance from :data:`LINEAR_TOTAL` within which every sample's total must fall for
#: a log base to be chosen (genes lost to id harmonisation, rounding of the logs); when no base
#: or several bases fit, the base is not guessed: log2 is kept and a warning names --scale.
LINEAR_TOTAL_TOLERANCE = 0.1

# -- measured fractions (flow cytometry and the like) -----------------------------------------
#: A measured-fractions file with a value above this is read as percentages (a fraction is at
#: most 1; a little headroom for rounding of fractions that add up past 1).
PERCENT_ABOVE = 1.5
#: In a file read as percentages, a sample whose values are all at most 1 and add up to less
#: than the typical sample's total over this ratio was written as fractions (a hundredfold
#: smaller; ten is the geometric midpoint of 1 and 100): the file mixes units and is refused.
MIXED_UNITS_RATIO = 10

# -- cohort statistics -------------------------------------------------------------------------
#: Fewer samples than this: correlations across samples (estimated vs measured) are shown
#: with a caution, since r of a handful of points is mostly noise.
SMALL_COHORT = 10

# -- methods side by side (deconv_core.methods) ------------------------------------------------
# On planted mixtures (TIL10 profiles, log-normal noise sd 0.3) the robust fit, the nu-SVR and
# the EPIC-style fit rank samples alike per cell type with Spearman r > 0.9, and marker scores
# track the matching fractions with r > 0.8; below 0.5 two methods do not agree on which
# samples have more of a cell type.
#: Spearman r across samples between the robust fit and another method below which a cell
#: type is flagged (``methods_disagree``).
METHOD_AGREEMENT_R = 0.5
#: Fewest samples with both estimates for that flag: r of fewer points is mostly noise.
MIN_SAMPLES_FOR_AGREEMENT = 5
#: Fraction under which both methods say a cell type is about absent from a sample: such
#: samples are left out of the rank comparison (ranks of near-zeros are ranks of noise; M1
#: macrophages at 0 and 0.0014 in the Hoek 2015 PBMC flagged a clean sample).
METHOD_NEGLIGIBLE = 0.01
#: Gap between a sample's rank percentiles (0-1) under two disagreeing methods at or above
#: which the sample is named (``methods_disagree_sample``): half the cohort apart.
METHOD_RANK_GAP = 0.5
# -- large cohorts (the Dask engine) -----------------------------------------------------------
#: Samples whose observed values the Dask engine pools for the permutation test's random
#: mixtures, drawn at random with the run's seed: the null needs the data's expression levels,
#: not every sample, and this many samples (hundreds of thousands of values) pin those levels
#: while the driver keeps one bounded table.  A cohort this size or smaller pools every sample,
#: so its p-values equal the in-memory engine's.
NULL_SAMPLES = 1000

"""What else was tried for issue 15's remaining accuracy gaps, measured in one run.

Every variant runs on the inputs of ``benchmarks/accuracy.py`` and
``benchmarks/singlecell_accuracy.py`` (same categories, same metrics: pooled
Pearson r / RMSE / mean per-category r) beside the product's defaults, so the
README can quote why none of them became a default:

- the fit's loss and gene weighting (the options the product exposes: loss
  ``huber``/``squares`` × weighting ``none``/``sqrt``/``relative``), i.e. in
  which space the fit's error lives (linear, variance ∝ mean, relative error);
- the fit in log space: per sample, non-negative least squares on
  log2(fitted + 1) against log2(observed + 1) (values per million), the
  defaults' genes and (platform-corrected) signature, started from their fit;
- an ensemble: the mean of the robust fit and the CIBERSORT-style ν-SVR;
- a free additive offset per sample in the robust fit (what the ν-SVR's
  centring of signature and mixture amounts to), refitted once on the
  defaults' genes, weights and (platform-corrected) signature;
- for GSE11058 only, two guesses at why issue 15's ν-SVR (0.928 / 0.055) is
  ahead of our re-implementation: CIBERSORT's default quantile normalisation
  of the mixtures (Newman et al., Nat Methods 2015), and a signature made of
  the pure replicates' means instead of the review's marker signature;
- for the single-cell signature: estimates renormalised over the leukocytes
  (platelets, which flow cytometry does not count, removed; the same mapping
  would apply to any method), TIL10's mRNA-content factors borrowed by lineage
  instead of the reference's median counts, and a Rectangle-style hierarchical
  refit (Rectangle's idea, our own simplified version): the full fit gives the
  total of the T-cell subsets and of monocytes/mDC, and each total is split
  again on the genes that differ at least twofold within the group;
- for the single-cell builder itself (``--builder`` prints only this table):
  other ways to rank, count and weigh marker genes and to estimate mRNA
  content (``BUILDER_VARIANTS``: ideas from Rectangle, AutoGeneS and DeconV in
  our own simplified versions, applied by replacing one private step of
  ``deconv_core.singlecell`` for the run), each measured on the whole
  reference, on the held-out cells check and on four halves of the reference's
  donors (``DONOR_HALVES``: the signature built from the cells of four of the
  eight donors P1-P8, then both bulk datasets deconvolved), so that a change
  is only kept if it helps beyond the one full reference.
  Issue 15's third round added the reference's donors (read from its
  annotation; the product's reader has no donor column, so these steps find
  each cell's donor by its counts): markers ranked by a test between the type
  × donor pseudo-bulks (Rectangle's DE on pseudo-bulks) or by their lower
  quartile, genes varying across donors left out or weighted down (weights
  from the between-donor spread, the brief's "noisy genes weigh less"),
  profiles as the mean of the donor pseudo-bulks, robust per-gene means
  over a type's cells (trimmed or winsorised), and an ensemble (the mean
  estimate of signatures built from random subsets of the cells).

A further round (``internal_rows``, every variant on all eight rows) changes
one step inside ``deconv_core.deconvolve`` for the length of a run (the
product is untouched):

- Huber's tuning constant (1.345 by default; the residual scale is each
  sample's median absolute residual / 0.6745, so any other scale estimate
  that differs from it by a constant factor is the same as another constant);
- genes standardised as dtangle or CIBERSORTx-style methods do, on top of
  the defaults' weights: each gene's equation divided by (the square root
  of) its signature row norm or its standard deviation across the cell types;
- genes chosen inside the fit: genes whose leave-one-out influence on the
  proportions (median over samples, ``deconv_core.downdate``) is extreme
  (robust z above 3 on the log scale) are dropped and the fit repeated;
- bounded leverage (a Mallows-type GM-estimator: Huber bounds a gene's
  residual, this also bounds its leverage h): each gene's equation weighted
  by sqrt(min(1, 3k/g / h)), k cell types, g genes;
- weights from each gene's residual spread across the cohort (feasible
  generalised least squares: 1 / sqrt(MAD² + median MAD²) per gene);
- genes whose platform factor is extreme (robust z above 3 on the log scale)
  left out of the final fit instead of corrected half-way;
- the platform correction applied to every signature, also one from the
  same platform as the bulk (a between-laboratory batch effect);
- a ridge penalty (α times the mean diagonal of the Gram matrix), the
  ν-SVR's other ingredient besides centring, meant for collinear subsets;
- ribosomal-protein genes left out of each sample's total (they vary with
  library preparation; absolute mode reads the coefficients as mRNA shares).

A third round (issue 15's bulk rows; same ``internal_rows`` and three more
tables):

- Huber's threshold as a quantile of each sample's |residuals| (the share
  of genes down-weighted fixed, as ν fixes the ν-SVR's share of support
  vectors) instead of 1.345 × MAD / 0.6745;
- Huber's fit without the non-negativity constraint, negatives set to 0
  after (CIBERSORT's order);
- the ν-SVR's ε-insensitive loss without its ridge term (a linear programme
  per sample, x ≥ 0; ν = 1 is least absolute deviations);
- the brightest genes (largest signature value above a high quantile) given
  the weight of a gene at that quantile: array saturation, or a few genes
  deciding an unweighted fit; on every row or on unweighted fits only;
- the platform factors with or without the pattern shared by a cell type's
  genes on every signature (the defaults remove it for single-cell builds
  only, ``deconv_core.platform``);
- on the four cross-platform rows (``cross_platform_rows``): the
  signature's log contrasts between cell types scaled by a global power
  (arrays compress fold changes), and a ComBat-like B-mode matching each
  gene's log location and spread over samples to the bulk's;
- on the immunoStates rows (``ensemble_lines``): the mean of the robust fit
  and the product's ν-SVR, with the time each takes;
- where GSE11058's error sits (``cell_line_errors``): per mixture design,
  per cell line, and whether bright probes read non-linearly.
- the single-cell rule on small cohorts (``platform_subsets``): random
  5-sample subsets fitted with the platform factors without (default) and
  with cell-type patterns.

Why immunoStates puts NK cells and mDC near zero on Finotello
(``absorbed_lines``): each estimate beside the sum with its nearest lineage
(NK + CD8 T; monocytes + mDC + neutrophils), with the defaults, without the
borrowed mRNA factors and without the platform correction.

What the ν-SVR does differently on GSE11058 (``svr_tube``): the ν it chose,
the share of genes that are its support vectors (the rest sit inside its
ε-tube and do not count), the share the robust fit down-weights, and each
cell line's mean error with both.

Usage: python benchmarks/accuracy_tried.py [--data DIR] [--builder | --internals]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.optimize import least_squares, linprog, nnls

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import DEFAULT_DATA, _triple, datasets, metrics, summed  # noqa: E402
from peers import NUS, nu_svr  # noqa: E402
from singlecell_accuracy import SC_FINOTELLO_GROUPS, SC_HOEK_GROUPS, _present  # noqa: E402

from deconv_core import deconvolve, load_expression, load_signature  # noqa: E402
from deconv_core.deconvolve import coefficients_to_proportions  # noqa: E402
from deconv_core.downdate import fit_full, leave_each_out  # noqa: E402
from deconv_core.identifiability import condition_number  # noqa: E402
from deconv_core.io.singlecell import SingleCellData, read_single_cell  # noqa: E402
from deconv_core.mrna import borrowed_mrna_factors  # noqa: E402
from deconv_core.singlecell import build_signature  # noqa: E402
from deconv_core.solvers import huber_nnls  # noqa: E402

FITS = [(w, loss) for w in ("none", "sqrt", "relative") for loss in ("huber", "squares")]
# Closely related cell types of the single-cell reference, refitted within their group.
RELATED = (["T cells CD4 conv", "T cells CD8", "Tregs"], ["Monocytes", "mDC"])


def quantile_normalised(table: pd.DataFrame) -> pd.DataFrame:
    """Every sample given the mean sorted distribution (genes × samples)."""
    ranks = table.rank(axis=0, method="first").astype(int).to_numpy() - 1
    reference = np.sort(table.to_numpy(dtype=float), axis=0).mean(axis=1)
    return pd.DataFrame(reference[ranks], index=table.index, columns=table.columns)


def pure_mean_signature(data: Path) -> pd.DataFrame:
    """GSE11058's pure cell-line replicates averaged per line (probes × lines, linear)."""
    folder = data / "GSE11058_Abbas2009_cellline_mixtures"
    pure = pd.read_csv(folder / "pure_celllines_marker_probes_linear.tsv", sep="\t", index_col=0)
    labels = pd.read_csv(folder / "pure_sample_annotations.tsv", sep="\t", index_col=0)["Class"]
    return pd.DataFrame({t: pure[labels.index[labels == t]].mean(axis=1) for t in labels.unique()})


def with_offset(result, signature, mode: str) -> pd.DataFrame:
    """Proportions (samples × columns) of the robust fit with a free offset per sample.

    The offset is two constant columns, one added and one subtracted, so that
    the non-negative fit leaves its sign free; both are dropped afterwards.
    """
    weights = result.gene_weights.to_numpy()
    Sw = result.signature_matrix.to_numpy(dtype=float) * weights[:, None]
    level = np.abs(Sw).mean() * weights[:, None]
    coef, _ = huber_nnls(
        np.hstack([Sw, level, -level]), result.observed.to_numpy(dtype=float) * weights[:, None]
    )
    props, _ = coefficients_to_proportions(coef[:-2], signature, mode=mode)
    return pd.DataFrame(props.T, index=result.proportions.index, columns=result.proportions.columns)


def log_space(result, signature, mode: str) -> pd.DataFrame:
    """Proportions (samples × columns) of a fit of log2(S f + 1) to log2(y + 1) per sample."""
    S = result.signature_matrix.to_numpy(dtype=float)
    coefs = []
    for sample in result.observed.columns:
        y = np.log2(result.observed[sample].to_numpy(dtype=float) + 1.0)
        start = result.coefficients.loc[sample].to_numpy(dtype=float) + 1e-6
        fit = least_squares(lambda f, y=y: np.log2(S @ f + 1.0) - y, start, bounds=(0, np.inf))
        coefs.append(fit.x)
    props, _ = coefficients_to_proportions(np.array(coefs).T, signature, mode=mode)
    return pd.DataFrame(props.T, index=result.proportions.index, columns=result.proportions.columns)


def bulk_rows(data: Path) -> list[tuple[str, str, tuple]]:
    """(dataset, variant, metrics) for the rows of benchmarks/accuracy.py."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for ds in datasets(data, Path(tmp)):
            expression = load_expression(ds.expression)
            signature = load_signature(str(ds.signature))
            default = deconvolve(expression.table, signature, mode=ds.mode, exclude=ds.exclude)
            ours = summed(default.proportions, ds.groups)
            truth = ds.truth.loc[[s for s in ds.truth.index if s in ours.index]]
            estimates = {"defaults": ours}
            for weighting, loss in FITS:
                result = deconvolve(
                    expression.table,
                    signature,
                    mode=ds.mode,
                    exclude=ds.exclude,
                    weighting=weighting,
                    loss=loss,
                )
                estimates[f"weighting {weighting}, loss {loss}"] = summed(
                    result.proportions, ds.groups
                )
            in_log = log_space(default, signature, ds.mode)
            estimates["fit in log space"] = summed(in_log, ds.groups)
            estimates["free offset per sample"] = summed(
                with_offset(default, signature, ds.mode), ds.groups
            )
            used = signature.matrix.loc[list(default.genes_used)]
            linear = expression.table  # linear whatever the file's scale
            svr = summed(nu_svr(linear, used), ds.groups)
            estimates["ν-SVR"] = svr
            estimates["mean of defaults and ν-SVR"] = (ours + svr[ours.columns]) / 2
            if ds.name.startswith("GSE11058"):
                normalised = quantile_normalised(linear)
                estimates["ν-SVR, quantile-normalised mixtures"] = nu_svr(normalised, used)
                pure = pure_mean_signature(data)
                estimates["ν-SVR, pure-replicate signature"] = nu_svr(linear, pure)
            out += [(ds.name, v, metrics(e, truth)) for v, e in estimates.items()]
    return out


def hierarchical_coefficients(
    result, profiles: pd.DataFrame, bulk: pd.DataFrame, groups=RELATED
) -> pd.DataFrame:
    """Coefficients (cell types × samples) with each related group's total split again.

    ``profiles``: genes × cell types of the whole reference (CPM); ``bulk``:
    genes × samples in the fit's scale (each sample summing to one million).
    """
    coef = result.coefficients.T.copy()
    for group in groups:
        rest = [c for c in coef.index if c not in group]
        within = profiles[group] + 1.0
        spread = np.log2(within.max(axis=1) / within.min(axis=1))
        genes = spread.index[(spread >= 1.0) & spread.index.isin(bulk.index)]
        remainder = bulk.loc[genes] - profiles.loc[genes, rest] @ coef.loc[rest]
        S = profiles.loc[genes, group].to_numpy(dtype=float)
        weights = 1.0 / np.sqrt(S.mean(axis=1) + 1.0)
        for sample in bulk.columns:
            y = np.clip(remainder[sample].to_numpy(dtype=float), 0.0, None)
            split = nnls(S * weights[:, None], y * weights)[0]
            if split.sum() > 0:
                coef.loc[group, sample] = split / split.sum() * coef.loc[group, sample].sum()
    return coef


def _single_cell_cases(data: Path):
    """The single-cell build, its signature and (dataset, bulk, truth, groups) per PBMC set."""
    sc_dir = data / "scRNA_PBMC_reference_deconvBench_sc1"
    cells = read_single_cell(
        sc_dir / "counts_genes_x_cells.tsv",
        labels=sc_dir / "cell_annotations.tsv",
        label_column="cell_type",
    )
    build = build_signature(cells, seed=0, name="sc1 PBMC")
    ours = dataclasses.replace(build.signature, whole_transcriptome=True)
    fin = data / "GSE107572_Finotello2019_PBMC"
    hoek = data / "GSE64655_Hoek2015_PBMC"
    fin_truth = pd.read_csv(fin / "ground_truth_facs_fractions_9types.tsv", sep="\t", index_col=0)
    hoek_truth = pd.read_csv(hoek / "ground_truth_facs_fractions.tsv", sep="\t", index_col=0)
    cases = []
    for name, folder, truth, groups in (
        ("Finotello (single-cell)", fin, fin_truth[list(SC_FINOTELLO_GROUPS)], SC_FINOTELLO_GROUPS),
        ("Hoek (single-cell)", hoek, hoek_truth, SC_HOEK_GROUPS),
    ):
        table = load_expression(folder / "expression_tpm.tsv").table
        table = table.loc[table.index.isin(build.profiles.index)]
        cases.append((name, table, truth, _present(groups, ours.cell_types)))
    return build, ours, cases


def single_cell_rows(data: Path) -> list[tuple[str, str, tuple]]:
    """(dataset, variant, metrics) for the rows of benchmarks/singlecell_accuracy.py."""
    build, ours, cases = _single_cell_cases(data)
    borrowed, _ = borrowed_mrna_factors(ours.cell_types)
    til10_factors = dataclasses.replace(ours, mrna_scaling={**ours.mrna_scaling, **borrowed})
    out = []
    for name, table, truth, present in cases:
        default = deconvolve(table, ours, mode="absolute", exclude=None)
        p = default.proportions
        leukocytes = p.drop(columns=["Platelet", "other"]).div(1.0 - p["Platelet"], axis=0)
        borrowed_fit = deconvolve(table, til10_factors, mode="absolute", exclude=None)
        coef = hierarchical_coefficients(default, build.profiles, table / table.sum() * 1e6)
        props, _ = coefficients_to_proportions(coef.to_numpy(), ours, mode="absolute")
        estimates = {
            "defaults": p,
            "over leukocytes (platelets out)": leukocytes,
            "TIL10's mRNA factors by lineage": borrowed_fit.proportions,
            "hierarchical refit of related types": pd.DataFrame(
                props.T, index=p.index, columns=p.columns
            ),
            "free offset per sample": with_offset(default, ours, "absolute"),
        }
        out += [
            (name, v, metrics(summed(e, present), truth.loc[e.index])) for v, e in estimates.items()
        ]
    return out


# --- Engine steps: one step inside the fit changed for the length of a run. ---------------

# The engine module (``deconv_core.deconvolve`` the attribute is the function).
_ENGINE = importlib.import_module("deconv_core.deconvolve")
_FIT = _ENGINE._fit_by_pattern
_WEIGHTS = _ENGINE.gene_weights
_PLATFORM = _ENGINE.platform_factors


@contextlib.contextmanager
def _replaced(*steps: tuple[str, object]) -> Iterator[None]:
    """Each ``deconv_core.deconvolve.<name>`` replaced by its value inside the block."""
    old = [(name, getattr(_ENGINE, name)) for name, _ in steps]
    for name, value in steps:
        setattr(_ENGINE, name, value)
    try:
        yield
    finally:
        for name, value in old:
            setattr(_ENGINE, name, value)


def standardised_weights(kind: str, power: float) -> Callable:
    """The defaults' gene weights times (row norm or sd across cell types) ** -power."""

    def weights(signature: np.ndarray, *, weighting: str = "sqrt") -> np.ndarray:
        base = _WEIGHTS(signature, weighting=weighting)
        if signature.shape[0] == 0:
            return base
        spread = np.linalg.norm(signature, axis=1) if kind == "norm" else signature.std(axis=1)
        extra = np.maximum(spread, spread.mean() * 1e-3) ** -power
        return base * extra / (base * extra).mean()

    return weights


def without_influential(z: float = 3.0) -> Callable:
    """The fit repeated without the genes of extreme leave-one-out influence.

    A gene's influence in a sample is the L1 change of the (unscaled) shares
    when it is left out (``deconv_core.downdate``, exact refits); genes whose
    median influence over samples is more than ``z`` robust SDs above the
    median gene on the log scale are dropped.
    """

    def fit(Sw, Y, weights, loss, samples, warnings):
        coef, robustness = _FIT(Sw, Y, weights, loss, samples, warnings)
        if np.isnan(Y).any():
            return coef, robustness
        full = fit_full(Sw, Y * weights[:, None], robustness, coef)
        refits = leave_each_out(full)
        with np.errstate(all="ignore"):
            shares = refits / refits.sum(axis=1, keepdims=True)
            change = np.abs(shares - (coef / coef.sum(axis=0))[None]).sum(axis=1)
        level = np.log(np.nanmedian(change, axis=1) + 1e-12)
        spread = np.median(np.abs(level - np.median(level))) / 0.6745
        keep = (level - np.median(level)) <= z * spread
        if keep.all():
            return coef, robustness
        coef, kept = _FIT(Sw[keep], Y[keep], weights[keep], loss, samples, [])
        robustness = np.full(Y.shape, np.nan)
        robustness[keep] = kept
        return coef, robustness

    return fit


def cohort_scaled(Sw, Y, weights, loss, samples, warnings):
    """The fit repeated with each gene weighted by its residual spread over the cohort."""
    coef, _ = _FIT(Sw, Y, weights, loss, samples, warnings)
    spread = np.nanmedian(np.abs(Y * weights[:, None] - Sw @ np.nan_to_num(coef)), axis=1)
    variance = spread**2 + np.median(spread) ** 2
    extra = (variance / np.median(variance)) ** -0.5
    return _FIT(Sw * extra[:, None], Y, weights * extra, loss, samples, [])


def ridge(alpha: float) -> Callable:
    """The fit with ``alpha * mean(diag(S'S))`` times ||x||² added (k zero-target rows)."""

    def fit(Sw, Y, weights, loss, samples, warnings):
        g, k = Sw.shape
        lam = alpha * np.trace(Sw.T @ Sw) / k
        coef, robustness = _FIT(
            np.vstack([Sw, np.sqrt(lam) * np.eye(k)]),
            np.vstack([Y, np.zeros((k, Y.shape[1]))]),
            np.concatenate([weights, np.ones(k)]),
            loss,
            samples,
            warnings,
        )
        return coef, robustness[:g]

    return fit


def leverage_bounded(Sw, Y, weights, loss, samples, warnings):
    """The fit with each gene's equation weighted by sqrt(min(1, 3k/g / leverage))."""
    g, k = Sw.shape
    leverage = (np.linalg.qr(Sw)[0] ** 2).sum(axis=1)
    extra = np.sqrt(np.minimum(1.0, 3.0 * k / g / np.maximum(leverage, np.finfo(float).tiny)))
    return _FIT(Sw * extra[:, None], Y, weights * extra, loss, samples, warnings)


def _extreme_marked(S: np.ndarray, Y: np.ndarray, coef: np.ndarray, **options) -> np.ndarray:
    """The platform factors, NaN for genes whose log factor is more than 3 robust SDs out."""
    factors = _PLATFORM(S, Y, coef, **options)
    level = np.log(factors)
    spread = np.median(np.abs(level - np.median(level))) / 0.6745
    return np.where(np.abs(level - np.median(level)) > 3.0 * spread, np.nan, factors)


def _without_marked(Sw, Y, weights, loss, samples, warnings):
    """The fit on the genes whose signature row is not NaN (see :func:`_extreme_marked`)."""
    kept = ~np.isnan(Sw).any(axis=1)
    coef, robustness = _FIT(Sw[kept], Y[kept], weights[kept], loss, samples, warnings)
    out = np.full(Y.shape, np.nan)
    out[kept] = robustness
    return coef, out


def _no_ribosomal(table: pd.DataFrame) -> pd.DataFrame:
    return table.loc[~table.index.str.match(r"^RP[SL]\d")]


def _reweighted(threshold: Callable, solve: Callable) -> Callable:
    """Huber reweighting per sample: weights min(1, threshold(|r|) / |r|), refits by ``solve``.

    A plain loop (60 rounds at most) written for this benchmark; with scipy's
    NNLS and 1.345 × MAD / 0.6745 it reproduces the defaults within 0.001
    on all eight rows (measured once).  Negative coefficients are set to 0 at the end.
    """

    def fit(S: np.ndarray, Y: np.ndarray, **_) -> tuple[np.ndarray, np.ndarray]:
        X, W = np.zeros((S.shape[1], Y.shape[1])), np.ones_like(Y)
        for j, y in enumerate(Y.T):
            x = solve(S, y)
            for _ in range(60):
                r = np.abs(y - S @ x)
                W[:, j] = np.minimum(1.0, threshold(r) / np.maximum(r, 1e-300))
                root = np.sqrt(W[:, j])
                x, previous = solve(S * root[:, None], y * root), x
                if np.linalg.norm(x - previous) <= 1e-7 * np.linalg.norm(x):
                    break
            X[:, j] = np.clip(x, 0.0, None)
        return X, W

    return fit


def quantile_huber(share: float) -> Callable:
    """Huber's threshold at the ``share`` quantile of each sample's |residuals|, x ≥ 0.

    The ν-SVR fixes the share of genes outside its tube (ν); this fixes the
    share of genes down-weighted (1 - ``share``) instead of a multiple of the
    residuals' MAD.
    """
    return _reweighted(lambda r: np.quantile(r, share), lambda A, b: nnls(A, b)[0])


def unconstrained_huber() -> Callable:
    """Huber's fit (1.345 × MAD / 0.6745) without x ≥ 0, negatives set to 0 after.

    CIBERSORT's order: the ν-SVR is fitted unconstrained and clipped after.
    """
    return _reweighted(
        lambda r: 1.345 * np.median(r) / 0.6745, lambda A, b: np.linalg.lstsq(A, b, rcond=None)[0]
    )


def epsilon_insensitive(nu: float) -> Callable:
    """The ν-SVR's loss without its ridge: a linear programme per sample, x ≥ 0.

    Minimises ν·g·ε + Σ max(0, |y - Sx| - ε) over x ≥ 0 and ε ≥ 0 (g genes),
    so about a share ν of the genes lies outside the tube (Schölkopf et al.,
    Neural Comput 2000, without the ||x||² term); ν = 1 gives ε = 0, least
    absolute deviations.  Solved with scipy's HiGHS.
    """

    def fit(S: np.ndarray, Y: np.ndarray, **_) -> tuple[np.ndarray, np.ndarray]:
        g, k = S.shape
        cost = np.concatenate([np.zeros(k), [nu * g], np.ones(2 * g)])
        tube, zero = -np.ones((g, 1)), np.zeros((g, g))
        lhs = np.block([[-S, tube, -np.eye(g), zero], [S, tube, zero, -np.eye(g)]])
        X = np.zeros((k, Y.shape[1]))
        for j, y in enumerate(Y.T):
            size = np.abs(y).mean() or 1.0
            rhs = np.concatenate([-y, y]) / size
            X[:, j] = linprog(cost, A_ub=lhs, b_ub=rhs, bounds=(0, None), method="highs").x[:k]
            X[:, j] *= size
        return X, np.ones_like(Y)

    return fit


def bright_capped(quantile: float, *, unweighted_only: bool = False) -> Callable:
    """The defaults' gene weights times min(1, cap / the gene's largest signature value).

    ``cap`` is the ``quantile`` of the genes' largest values: the brightest
    genes (saturating on arrays, dominating an unweighted fit) count as if
    they were at the cap.  ``unweighted_only``: only where the weighting is
    ``"none"`` (array and TIL10 rows; the weighted fits already shrink bright
    genes).
    """

    def weights(signature: np.ndarray, *, weighting: str = "sqrt") -> np.ndarray:
        base = _WEIGHTS(signature, weighting=weighting)
        if signature.shape[0] == 0 or (unweighted_only and weighting != "none"):
            return base
        brightest = signature.max(axis=1)
        cap = np.quantile(brightest, quantile)
        extra = np.minimum(1.0, cap / np.maximum(brightest, np.finfo(float).tiny))
        return base * extra / (base * extra).mean()

    return weights


def _platform_by_type(keep: bool) -> Callable:
    """``platform_factors`` with ``cell_type_scale=keep`` whatever the signature's platform.

    The defaults keep a cell type's shared pattern in the factors for
    array-derived signatures and remove it for single-cell builds
    (``deconv_core.platform``); these variants do one or the other for all.
    """
    return lambda S, Y, coef, **_: _PLATFORM(S, Y, coef, cell_type_scale=keep)


#: (variant, engine steps replaced as (name, value) pairs, transformation of the bulk or None).
INTERNAL_VARIANTS = [
    *(
        (f"Huber tuning {t}", [("huber_nnls", functools.partial(huber_nnls, tuning=t))], None)
        for t in (1.0, 2.0, 3.0)
    ),
    *(
        (
            f"genes standardised: weights × {what} ** -{p}",
            [("gene_weights", standardised_weights(kind, p))],
            None,
        )
        for kind, what in (("norm", "row norm"), ("sd", "sd across cell types"))
        for p in (0.5, 1.0)
    ),
    (
        "genes of extreme influence dropped (z > 3)",
        [("_fit_by_pattern", without_influential())],
        None,
    ),
    ("leverage bounded (Mallows, 3k/g)", [("_fit_by_pattern", leverage_bounded)], None),
    ("genes weighted by their residual spread", [("_fit_by_pattern", cohort_scaled)], None),
    (
        "genes of extreme platform factor (z > 3) dropped, not corrected",
        [("platform_factors", _extreme_marked), ("_fit_by_pattern", _without_marked)],
        None,
    ),
    ("platform correction on every signature", [("from_other_platform", lambda _: True)], None),
    ("ridge penalty α = 0.01", [("_fit_by_pattern", ridge(0.01))], None),
    ("ribosomal-protein genes out of the totals", [], _no_ribosomal),
    *(
        (f"Huber threshold = {q} quantile of |r|", [("huber_nnls", quantile_huber(q))], None)
        for q in (0.5, 0.75, 0.9)
    ),
    ("Huber without x ≥ 0, clipped after", [("huber_nnls", unconstrained_huber())], None),
    *(
        (f"ε-insensitive loss, no ridge, ν = {nu}", [("huber_nnls", epsilon_insensitive(nu))], None)
        for nu in (0.25, 0.5, 1.0)
    ),
    ("bright genes capped at the 98th percentile", [("gene_weights", bright_capped(0.98))], None),
    *(
        (
            f"bright genes capped at the {q:g} quantile, unweighted fits only",
            [("gene_weights", bright_capped(q, unweighted_only=True))],
            None,
        )
        for q in (0.97, 0.98, 0.99)
    ),
    *(
        (
            f"platform factors {label} cell-type patterns, any other platform",
            [("platform_factors", _platform_by_type(keep))],
            None,
        )
        for keep, label in ((False, "without"), (True, "with"))
    ),
]


def _all_cases(data: Path, workdir: Path):
    """(dataset, bulk, signature, mode, exclude, groups, truth) for all eight rows."""
    out = []
    for ds in datasets(data, workdir):
        table = load_expression(ds.expression).table
        signature = load_signature(str(ds.signature))
        out.append((ds.name, table, signature, ds.mode, ds.exclude, ds.groups, ds.truth))
    _, ours, cases = _single_cell_cases(data)
    for name, table, truth, present in cases:
        out.append((name, table, ours, "absolute", None, present, truth))
    return out


def internal_rows(data: Path) -> list[tuple[str, str, tuple]]:
    """(dataset, variant, metrics) of every engine-step variant on all eight rows."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = _all_cases(data, Path(tmp))
        for variant, steps, transform in [("defaults", [], None), *INTERNAL_VARIANTS]:
            for name, table, signature, mode, exclude, groups, truth in cases:
                bulk = transform(table) if transform else table
                with _replaced(*steps):
                    result = deconvolve(bulk, signature, mode=mode, exclude=exclude)
                estimate = summed(result.proportions, groups)
                truth = truth.loc[[s for s in truth.index if s in estimate.index]]
                out.append((name, variant, metrics(estimate, truth)))
    return out


def cell_line_errors(data: Path) -> list[str]:
    """GSE11058: where the error sits and whether bright probes read non-linearly.

    Per mixture design the RMSE, per cell line the mean error; then each
    probe's log2(observed / fit with the true fractions) (one scale per
    sample, least squares), median by the probe's largest signature value and
    by the cell line that expresses it most: saturation of the pure arrays
    would show as bright probes reading higher in the mixtures.
    """
    with tempfile.TemporaryDirectory() as tmp:
        ds = datasets(data, Path(tmp))[0]
        table = load_expression(ds.expression).table
    signature = load_signature(str(ds.signature))
    result = deconvolve(table, signature, mode=ds.mode, exclude=ds.exclude)
    truth = ds.truth
    error = result.proportions.loc[truth.index, truth.columns] - truth
    designs = truth.round(3).astype(str).agg(" / ".join, axis=1)
    by_design = (error**2).groupby(designs).mean().mean(axis=1) ** 0.5
    S = result.signature_matrix.to_numpy()
    Y = result.observed[truth.index].to_numpy()
    F = S @ truth.to_numpy().T
    F *= (F * Y).sum(axis=0) / (F * F).sum(axis=0)
    ratio = np.log2(Y / F)
    brightest = S.max(axis=1)
    edges = np.quantile(brightest, [0, 0.5, 0.9, 0.95, 1])
    bins = np.clip(np.searchsorted(edges, brightest, side="right") - 1, 0, 3)
    return [
        "RMSE per design (Jurkat / IM-9 / Raji / THP-1): "
        + "; ".join(f"{d} {v:.3f}" for d, v in by_design.items()),
        "mean error per cell line: " + ", ".join(f"{c} {v:+.3f}" for c, v in error.mean().items()),
        "median log2(observed / true-fraction fit) by the probe's largest signature value: "
        + ", ".join(
            f"{edges[b]:.0f}-{edges[b + 1]:.0f} {np.median(ratio[bins == b]):+.2f}"
            for b in range(4)
        ),
        "... by the line expressing it most: "
        + ", ".join(
            f"{c} {np.median(ratio[S.argmax(axis=1) == i]):+.2f}"
            for i, c in enumerate(result.signature_matrix.columns)
        ),
    ]


def contrasts_scaled(signature, power: float):
    """The signature with each gene's log contrasts between cell types times ``power``.

    log S'[g, t] = mean_t log S[g, t] + power × (log S[g, t] - that mean), on
    values above 1 (others kept): arrays compress fold changes compared with
    RNA-seq, so a power above 1 would undo a global compression.
    """
    values = signature.matrix.to_numpy(dtype=float)
    logs = np.log(np.maximum(values, 1.0))
    centre = logs.mean(axis=1, keepdims=True)
    scaled = np.where(values > 1.0, np.exp(centre + power * (logs - centre)), values)
    matrix = pd.DataFrame(scaled, index=signature.matrix.index, columns=signature.matrix.columns)
    return dataclasses.replace(signature, matrix=matrix)


def location_scale_corrected(table: pd.DataFrame, signature, mode: str, exclude, shrink: float):
    """A ComBat-like B-mode: each gene's log location and spread matched to the bulk.

    From a first fit without the platform correction, per gene: the log factor
    (median of log observed/fitted, centred; half applied, as the product
    does) and the spread ratio p = sd over samples of log observed / of log
    fitted (clipped to [0.5, 2], raised to ``shrink``), applied to the gene's
    log contrasts between cell types as in :func:`contrasts_scaled`.
    """
    first = deconvolve(table, signature, mode=mode, exclude=exclude, platform_correction=False)
    genes = list(first.genes_used)
    S = signature.matrix.loc[genes].to_numpy(dtype=float)
    Y, F = first.observed.to_numpy(), first.fitted.to_numpy()
    usable = (Y > 0) & (F > 0)
    log_y = np.log(np.where(usable, Y, np.nan))
    log_f = np.log(np.where(usable, F, np.nan))
    factor = np.nan_to_num(np.nanmedian(log_y - log_f, axis=1))
    factor -= np.median(factor)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.nanstd(log_y, axis=1) / np.nanstd(log_f, axis=1)
    spread = np.clip(np.nan_to_num(spread, nan=1.0, posinf=1.0), 0.5, 2.0) ** shrink
    logs = np.log(np.maximum(S, 1e-3))
    centre = logs.mean(axis=1, keepdims=True)
    corrected = np.exp(centre + (logs - centre) * spread[:, None] + 0.5 * factor[:, None])
    matrix = pd.DataFrame(
        np.where(S > 1e-3, corrected, S), index=genes, columns=signature.cell_types
    )
    return dataclasses.replace(signature, matrix=matrix)


def cross_platform_rows(data: Path) -> list[tuple[str, str, tuple]]:
    """The four cross-platform rows with the signature transformed before the fit."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = _all_cases(data, Path(tmp))[4:]
    variants = [
        *(
            (f"log contrasts × {p} (global fold-change expansion)", p, None)
            for p in (0.8, 1.2, 1.4)
        ),
        *((f"ComBat-like location + spread, spread^{s}", None, s) for s in (0.5, 1.0)),
    ]
    for label, power, shrink in variants:
        for name, table, signature, mode, exclude, groups, truth in cases:
            if power is not None:
                result = deconvolve(table, contrasts_scaled(signature, power), mode=mode)
            else:
                sig = location_scale_corrected(table, signature, mode, exclude, shrink)
                result = deconvolve(
                    table, sig, mode=mode, exclude=exclude, platform_correction=False
                )
            estimate = summed(result.proportions, groups)
            kept = truth.loc[[s for s in truth.index if s in estimate.index]]
            out.append((name, label, metrics(estimate, kept)))
    return out


def ensemble_lines(data: Path) -> list[str]:
    """immunoStates rows: the robust fit averaged with the product's ν-SVR, and its cost.

    The ν-SVR (``deconv_core.methods.nu_svr``) runs on the robust fit's
    observed values with the signature as given or platform-corrected; its
    fractions go through the same mRNA-content conversion as ours.
    """
    from deconv_core.methods import nu_svr as product_svr

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = _all_cases(data, Path(tmp))[4:6]
    for name, table, signature, mode, exclude, groups, truth in cases:
        start = time.perf_counter()
        result = deconvolve(table, signature, mode=mode, exclude=exclude)
        ours_s = time.perf_counter() - start
        for label, S in (
            ("as given", signature.matrix.loc[list(result.genes_used)]),
            ("corrected", result.signature_matrix),
        ):
            start = time.perf_counter()
            svr = product_svr(result.observed, S).values.to_numpy().T
            svr_s = time.perf_counter() - start
            converted, _ = coefficients_to_proportions(svr, signature, mode=mode)
            svr = pd.DataFrame(
                converted.T, index=result.proportions.index, columns=result.proportions.columns
            )
            mean = summed((result.proportions + svr) / 2, groups)
            alone, both = metrics(summed(svr, groups), truth), metrics(mean, truth)
            lines.append(
                f"{name}, ν-SVR on the signature {label}: ν-SVR {_triple(alone)}, mean with "
                f"ours {_triple(both)}; ours {ours_s:.2f} s, ν-SVR {svr_s:.2f} s"
            )
    return lines


def _pooled(estimate: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float]:
    """Pooled r and RMSE on the samples and categories of ``truth`` found in ``estimate``."""
    kept = truth.loc[[s for s in truth.index if s in estimate.index]]
    return metrics(estimate, kept)[:2]


def platform_subsets(data: Path, draws: int = 10, size: int = 5) -> list[str]:
    """Single-cell rows on random small cohorts: platform factors without / with cell-type patterns.

    ``draws`` random subsets of ``size`` samples (seed 0) of each dataset; how
    often the default (patterns left out) has the higher pooled r and the
    lower RMSE, and the means of both.
    """
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        cases = _all_cases(data, Path(tmp))[6:]
    lines = []
    for name, table, signature, mode, exclude, groups, truth in cases:
        runs = []
        for _ in range(draws):
            subset = table[list(rng.choice(table.columns, size, replace=False))]
            pair = []
            for steps in ([], [("platform_factors", _platform_by_type(True))]):
                with _replaced(*steps):
                    result = deconvolve(subset, signature, mode=mode, exclude=exclude)
                pair.append(_pooled(summed(result.proportions, groups), truth))
            runs.append(pair)
        runs = np.array(runs)  # draws × (default, earlier) × (r, RMSE)
        higher, lower = (runs[:, 0, 0] > runs[:, 1, 0]).sum(), (runs[:, 0, 1] < runs[:, 1, 1]).sum()
        lines.append(
            f"{name}, {draws} subsets of {size} samples: higher r {higher}, "
            f"lower RMSE {lower}; mean r / RMSE "
            f"{runs[:, 0, 0].mean():.3f} / {runs[:, 0, 1].mean():.3f} against "
            f"{runs[:, 1, 0].mean():.3f} / {runs[:, 1, 1].mean():.3f}"
        )
    return lines


#: immunoStates subsets absent from PBMC (left out in one variant of :func:`absorbed_lines`).
NOT_IN_BLOOD = [
    "MAST_cell",
    "basophil",
    "eosinophil",
    "hematopoietic_progenitor",
    "macrophage_m0",
    "macrophage_m1",
    "macrophage_m2",
]
#: Genes that tell NK cells from cytotoxic T cells or mark them classically.
NK_GENES = ["GNLY", "NKG7", "PRF1", "KLRF1", "KLRD1", "CD160", "NCR1", "SH2D1B", "FCGR3A"]


def absorbed_lines(data: Path) -> list[str]:
    """immunoStates → Finotello: NK cells and mDC beside the lineage that absorbs them."""
    with tempfile.TemporaryDirectory() as tmp:
        ds = [d for d in datasets(data, Path(tmp)) if "Finotello" in d.name][-1]
        table = load_expression(ds.expression).table
    signature = load_signature(str(ds.signature))
    blood = dataclasses.replace(signature, matrix=signature.matrix.drop(columns=NOT_IN_BLOOD))
    nk_genes = [g for g in NK_GENES if g in signature.matrix.index]
    lines = [f"NK genes in immunoStates: {', '.join(nk_genes)} (of {', '.join(NK_GENES)})"]
    for label, sig, options in (
        ("defaults", signature, {}),
        ("no mRNA factors", signature, {"mrna_scaling": False}),
        ("no platform correction", signature, {"platform_correction": False}),
        ("without the subsets absent from blood", blood, {}),
    ):
        result = deconvolve(table, sig, mode=ds.mode, exclude=ds.exclude, **options)
        proportions = result.proportions.reindex(columns=signature.cell_types, fill_value=0.0)
        estimate = summed(proportions, ds.groups).loc[ds.truth.index]
        parts = []
        for categories in (
            ["NK cells"],
            ["mDC"],
            ["NK cells", "T cells CD8"],
            ["Monocytes", "mDC", "Neutrophils"],
        ):
            est, tru = estimate[categories].sum(axis=1), ds.truth[categories].sum(axis=1)
            r = np.corrcoef(est, tru)[0, 1] if np.ptp(est) > 0 else float("nan")
            parts.append(f"{' + '.join(categories)} {est.mean():.3f} ({tru.mean():.3f}, r {r:.2f})")
        lines.append(f"{label}: " + "; ".join(parts))
    return lines


def svr_tube(data: Path) -> list[str]:
    """GSE11058: the ν-SVR's support vectors beside the genes Huber down-weights."""
    from sklearn.svm import NuSVR

    with tempfile.TemporaryDirectory() as tmp:
        ds = datasets(data, Path(tmp))[0]
        table = load_expression(ds.expression).table
    signature = load_signature(str(ds.signature))
    result = deconvolve(table, signature, mode=ds.mode, exclude=ds.exclude)
    genes = list(result.genes_used)
    S = signature.matrix.loc[genes].to_numpy(dtype=float)
    Sz = (S - S.mean()) / S.std()
    chosen, support = [], []
    for sample in table.columns:
        y = table.loc[genes, sample].to_numpy(dtype=float)
        yz = (y - y.mean()) / y.std()
        fits = [NuSVR(kernel="linear", nu=nu, C=1.0).fit(Sz, yz) for nu in NUS]
        errors = [np.sqrt(np.mean((Sz @ f.coef_.ravel() - yz) ** 2)) for f in fits]
        best = int(np.argmin(errors))
        chosen.append(NUS[best])
        support.append(fits[best].support_.size / len(genes))
    truth = ds.truth
    svr = nu_svr(table, signature.matrix.loc[genes], choose_on="raw").loc[truth.index]
    ours = result.proportions.loc[truth.index, truth.columns]
    bias = ", ".join(
        f"{c} {(ours[c] - truth[c]).mean():+.3f} / {(svr[c] - truth[c]).mean():+.3f}"
        for c in truth.columns
    )
    down = (result.robustness < 1).mean()
    return [
        f"ν chosen: {sorted(set(chosen))}; support vectors {min(support):.2f}-{max(support):.2f} "
        f"of the genes; Huber down-weights {down.min():.2f}-{down.max():.2f}",
        f"mean error per cell line, ours / ν-SVR: {bias}",
    ]


# ---------------------------------------------------------------------------
# The single-cell builder: variants of its steps, checked on donor halves
# ---------------------------------------------------------------------------

_sc = importlib.import_module("deconv_core.singlecell")
_fit = importlib.import_module("deconv_core.deconvolve")
_STEPS = {name: getattr(_sc, name) for name in ("_profiles", "_candidates", "_choose_markers")}
_BUILD = _sc._build
_GENE_WEIGHTS = _fit.gene_weights
# Halves of the reference's eight donors (P1-P8) a signature is built from.
DONOR_HALVES = {
    "P1-P4": ("P1", "P2", "P3", "P4"),
    "P5-P8": ("P5", "P6", "P7", "P8"),
    "odd donors": ("P1", "P3", "P5", "P7"),
    "even donors": ("P2", "P4", "P6", "P8"),
}
# Genes whose single-cell level says little about a bulk: immunoglobulin and T-cell receptor
# segments (clonal), ribosomal proteins and mitochondrial transcripts (capture-dependent).
_NOISY_GENES = r"^(IG[HKL][VCDJ]|IGLL|JCHAIN|TR[ABDG][VCDJ]\d|MT-|RP[LS]\d|RP[LS]X)"


def _type_sums(values: sparse.csr_array, codes: np.ndarray, k: int) -> np.ndarray:
    """Per-type sums (genes × types) of a genes × cells matrix."""
    n = values.shape[1]
    membership = sparse.csr_array((np.ones(n), (np.arange(n), codes)), shape=(n, k))
    return np.asarray((values @ membership).todense())


def _log_moments(profiles) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-type mean and variance (genes × types) of cells' log2(CPM + 1), cells per type."""
    k = profiles.cpm.shape[1]
    log = profiles.cell_cpm.copy()
    log.data = np.log2(log.data + 1.0)
    sizes = np.bincount(profiles.codes, minlength=k).astype(float)
    mean = _type_sums(log, profiles.codes, k) / sizes
    squares = log.copy()
    squares.data = squares.data**2
    var = np.maximum(_type_sums(squares, profiles.codes, k) / sizes - mean**2, 0.0)
    return mean, var * sizes / np.maximum(sizes - 1, 1), sizes


def _welch_t(profiles) -> Callable:
    """Pairwise score: Welch's t of the cells' log2(CPM + 1), type a against type b."""
    mean, var, n = _log_moments(profiles)
    return lambda a, b, g: (
        (mean[g, a] - mean[g, b]) / np.sqrt(var[g, a] / n[a] + var[g, b] / n[b] + 1e-9)
    )


def _subsampled(profiles, masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """log2(mean CPM + 1) and detection (draws × genes × types) on subsets of the cells."""
    k = profiles.cpm.shape[1]
    logs, detections = [], []
    for mask in masks:
        cells = np.flatnonzero(mask)
        values = profiles.cell_cpm[:, cells]
        sizes = np.bincount(profiles.codes[cells], minlength=k).astype(float)
        seen = values.copy()
        seen.data = (seen.data > 0).astype(float)
        logs.append(np.log2(_type_sums(values, profiles.codes[cells], k) / sizes + 1.0))
        detections.append(_type_sums(seen, profiles.codes[cells], k) / sizes)
    return np.stack(logs), np.stack(detections)


def _random_masks(codes: np.ndarray, draws: int, share: float) -> list[np.ndarray]:
    """``draws`` seeded random subsets with ``share`` of each type's cells."""
    rng = np.random.default_rng(0)
    masks = []
    for _ in range(draws):
        mask = np.zeros(codes.size, dtype=bool)
        for t in np.unique(codes):
            cells = np.flatnonzero(codes == t)
            mask[rng.choice(cells, max(1, int(cells.size * share)), replace=False)] = True
        masks.append(mask)
    return masks


def _stability_bound(profiles) -> Callable:
    """Pairwise score: mean - sd of log fold × detection over 20 subsets of 70% of the cells."""
    log, det = _subsampled(profiles, _random_masks(profiles.codes, 20, 0.7))

    def score(a, b, g):
        draws = (log[:, g, a] - log[:, g, b]) * det[:, g, a]
        return draws.mean(axis=0) - draws.std(axis=0)

    return score


def _split_half(profiles) -> Callable:
    """Pairwise score: the smaller log fold change of two random halves × detection."""
    half = _random_masks(profiles.codes, 1, 0.5)[0]
    log, _ = _subsampled(profiles, [half, ~half])
    return lambda a, b, g: (
        np.minimum(log[0, g, a] - log[0, g, b], log[1, g, a] - log[1, g, b])
        * profiles.detection[g, a]
    )


def _reranked(make_score: Callable) -> Callable:
    """A ``_candidates`` step that ranks every pair's candidates by another score."""

    def candidates(profiles, types, **options):
        ranked, table, weak = _STEPS["_candidates"](profiles, types, **options)
        score = make_score(profiles)
        for a, row in enumerate(ranked):
            for b, genes in enumerate(row):
                if a != b and genes.size:
                    row[b] = genes[np.argsort(-score(a, b, genes), kind="stable")]
        return ranked, table, weak

    return candidates


def _without(pattern: str, genes: pd.Index) -> Callable:
    """A ``_candidates`` step that never proposes genes matching ``pattern``."""
    noisy = np.asarray(genes.str.match(pattern), dtype=bool)

    def candidates(profiles, types, **options):
        ranked, table, weak = _STEPS["_candidates"](profiles, types, **options)
        return [[g[~noisy[g]] for g in row] for row in ranked], table, weak

    return candidates


def _relative_rows(cpm: np.ndarray) -> np.ndarray:
    """Rows divided by their mean: the matrix a relative-error fit sees."""
    return cpm / np.maximum(cpm.mean(axis=1, keepdims=True), 1e-9)


def _kappa_relative(cpm, ranked, **options):
    """The markers-per-pair search on the condition number of the relative-error rows."""
    return _STEPS["_choose_markers"](_relative_rows(cpm), ranked, **options)


def _greedy_rows(cpm: np.ndarray, ranked, *, start: int = 3, pool: int = 30) -> np.ndarray:
    """Genes added one at a time while they lower the relative rows' condition number.

    From the union of ``start`` markers per pair, over the ``pool`` best per
    pair (the joint criterion of AutoGeneS and Rectangle's condition-number
    search, as a greedy forward selection on the Gram matrix).
    """
    rows = _relative_rows(cpm)
    chosen = list(_sc._pair_union(ranked, start))
    rest = np.setdiff1d(_sc._pair_union(ranked, pool), chosen)
    gram = rows[chosen].T @ rows[chosen]

    def kappa(eigen):
        return np.sqrt(eigen[..., -1] / np.maximum(eigen[..., 0], 1e-300))

    current = kappa(np.linalg.eigvalsh(gram))
    while rest.size:
        outer = rows[rest][:, :, None] * rows[rest][:, None, :]
        trial = kappa(np.linalg.eigvalsh(gram[None] + outer))
        best = int(np.argmin(trial))
        if trial[best] >= current:
            break
        current, gram = trial[best], gram + outer[best]
        chosen.append(int(rest[best]))
        rest = np.delete(rest, best)
    return np.sort(np.asarray(chosen))


def _built_and_ranked(counts, codes, types, genes, options: dict):
    """The default build, its profiles and its ranked candidates (for steps that redo the genes)."""
    built = _BUILD(counts, codes, types, genes, **options)
    profiles = _STEPS["_profiles"](counts, codes, len(types))
    ranked, _, _ = _STEPS["_candidates"](
        profiles,
        types,
        min_log2_fold_change=options["min_log2_fold_change"],
        min_detection=options["min_detection"],
    )
    return built, profiles, ranked


def _greedy_build(counts, codes, types, genes, **options):
    """A ``_build`` step whose matrix holds the greedy genes (:func:`_greedy_rows`)."""
    built, profiles, ranked = _built_and_ranked(counts, codes, types, genes, options)
    matrix = built.profiles.iloc[_greedy_rows(profiles.cpm, ranked)]
    return dataclasses.replace(
        built, matrix=matrix, condition_number=condition_number(matrix.to_numpy())
    )


def _nearest_pair_build(counts, codes, types, genes, *, extra: int = 5, **options):
    """A ``_build`` step adding ``extra`` markers to each type's pairs with its nearest type.

    Rectangle's hierarchy, flattened: the nearest type is the one whose
    profile correlates best (log2 CPM + 1 over the 2,000 most variable genes).
    """
    built, profiles, ranked = _built_and_ranked(counts, codes, types, genes, options)
    chosen = built.conditioning.loc[built.conditioning["chosen"], "markers_per_pair"]
    n = int(chosen.iloc[0]) + extra
    log = np.log2(profiles.cpm + 1.0)
    variable = np.argsort(-log.var(axis=1))[:2000]
    similarity = np.corrcoef(log[variable].T)
    np.fill_diagonal(similarity, -1.0)
    rows = set(built.profiles.index.get_indexer(built.matrix.index).tolist())
    for a in range(len(types)):
        b = int(np.argmax(similarity[a]))
        rows |= set(ranked[a][b][:n].tolist()) | set(ranked[b][a][:n].tolist())
    matrix = built.profiles.iloc[sorted(rows)]
    return dataclasses.replace(
        built, matrix=matrix, condition_number=condition_number(matrix.to_numpy())
    )


def _stable_build(counts, codes, types, genes, **options):
    """A ``_build`` step keeping the genes chosen in at least half of 10 subsets of 70% of cells.

    Stability selection: the whole gene choice (candidates and the
    markers-per-pair search) is rerun on each subset.
    """
    built = _BUILD(counts, codes, types, genes, **options)
    counts = sparse.csc_array(counts)
    chosen = np.zeros(len(genes))
    for mask in _random_masks(codes, 10, 0.7):
        cells = np.flatnonzero(mask)
        subset = _STEPS["_profiles"](counts[:, cells], codes[cells], len(types))
        ranked, _, _ = _STEPS["_candidates"](
            subset,
            types,
            min_log2_fold_change=options["min_log2_fold_change"],
            min_detection=options["min_detection"],
        )
        _, rows, _ = _STEPS["_choose_markers"](
            subset.cpm,
            ranked,
            min_markers=options["min_markers"],
            max_markers=options["max_markers"],
        )
        chosen[rows] += 1
    matrix = built.profiles.iloc[np.flatnonzero(chosen >= 5)]
    return dataclasses.replace(
        built, matrix=matrix, condition_number=condition_number(matrix.to_numpy())
    )


def _mrna_by(statistic: Callable) -> Callable:
    """A ``_profiles`` step whose mRNA factor is ``statistic`` of the type's counts per cell."""

    def profiles(counts, codes, k):
        built = _STEPS["_profiles"](counts, codes, k)
        totals = np.asarray(counts.sum(axis=0)).ravel()
        factors = np.array([statistic(totals[codes == t]) for t in range(k)])
        return dataclasses.replace(built, median_counts=factors)

    return profiles


def _mrna_pooled_within(
    groups: tuple[list[str], ...], statistic: Callable = np.median, *, til10_ratios: bool = False
) -> Callable:
    """A ``_profiles`` factory: each group of types shares one ``statistic`` of counts per cell.

    A median over about 30 cells is noisy (Tregs 997 against CD4 T cells
    1,455 on the reference); related types share one over all their cells.
    ``til10_ratios``: the shared level times TIL10's factor of each type's
    lineage over their mean (quanTIseq's ratios within the group, the
    reference's level).
    """

    def factory(data: SingleCellData) -> Callable:
        def profiles(counts, codes, k):
            built = _STEPS["_profiles"](counts, codes, k)
            names = [t for t in data.labels.unique() if (data.labels == t).sum() >= 10]
            totals = np.asarray(counts.sum(axis=0)).ravel()
            factors = built.median_counts.copy()
            for group in groups:
                members = [names.index(t) for t in group if t in names]
                factors[members] = statistic(totals[np.isin(codes, members)])
                if til10_ratios:
                    borrowed = borrowed_mrna_factors([names[m] for m in members])[0]
                    ratios = np.array([borrowed[names[m]] for m in members])
                    factors[members] *= ratios / ratios.mean()
            return dataclasses.replace(built, median_counts=factors)

        return profiles

    return factory


def _pooled_profiles(counts, codes, k):
    """A ``_profiles`` step with each type's summed counts as its profile (CPM)."""
    built = _STEPS["_profiles"](counts, codes, k)
    summed_counts = _type_sums(sparse.csr_array(counts), codes, k)
    return dataclasses.replace(built, cpm=summed_counts / summed_counts.sum(axis=0) * 1e6)


def _sampling_variance(counts, codes, k) -> tuple[np.ndarray, np.ndarray]:
    """Mean CPM (genes × types) and the sampling variance of that mean."""
    profiles = _STEPS["_profiles"](counts, codes, k)
    squares = profiles.cell_cpm.copy()
    squares.data = squares.data**2
    sizes = np.bincount(codes, minlength=k).astype(float)
    variance = np.maximum(_type_sums(squares, codes, k) / sizes - profiles.cpm**2, 0.0)
    return profiles.cpm, variance / np.maximum(sizes - 1, 1)


def _donor_variance(counts, codes, k) -> tuple[np.ndarray, np.ndarray]:
    """Mean CPM (genes × types) and the variance of the type × donor pseudo-bulks.

    Not divided by the number of donors: a bulk sample is a new donor, whose
    profile differs from the mean by the between-donor spread itself.
    """
    profiles = _with_donors(counts, codes, k)
    log, group_type = _DONOR_GROUPS[id(profiles)]
    linear = 2.0**log - 1.0
    variance = np.stack(
        [
            linear[:, group_type == t].var(axis=1, ddof=1)
            if (group_type == t).sum() > 1
            else np.zeros(linear.shape[0])
            for t in range(k)
        ],
        axis=1,
    )
    return profiles.cpm, variance


def _precision_weighted(
    floor: float, variance_of: Callable = _sampling_variance
) -> tuple[Callable, Callable]:
    """A ``_build`` step and a ``gene_weights`` that also weigh genes by profile precision.

    Each marker's relative variance in the reference, v = sum over types of
    var(mean CPM) / (sum of mean CPM)² (``variance_of``: the sampling variance
    of the mean by default, or the spread between donors), divides its
    relative-error weight by sqrt(floor + v) (``floor``: the error shared by
    all genes, bulk and platform).  The signature format has no per-gene
    weights, so the fit finds them by the signature row's values (benchmark
    only).
    """
    precision: dict[bytes, float] = {}

    def build(counts, codes, types, genes, **options):
        built = _BUILD(counts, codes, types, genes, **options)
        cpm, variance = variance_of(counts, codes, len(types))
        rows = built.profiles.index.get_indexer(built.matrix.index)
        relative = variance[rows].sum(axis=1) / np.maximum(cpm[rows].sum(axis=1), 1e-9) ** 2
        for values, v in zip(built.matrix.to_numpy(dtype=float), relative, strict=True):
            precision[values.tobytes()] = float(v)
        return built

    def gene_weights(signature, *, weighting="sqrt"):
        weights = _GENE_WEIGHTS(signature, weighting=weighting)
        if weighting != "relative":
            return weights
        v = np.array([precision.get(np.ascontiguousarray(r).tobytes(), 0.0) for r in signature])
        weights = weights / np.sqrt(floor + v)
        return weights / weights.mean()

    return build, gene_weights


def _trimmed_mean(values: np.ndarray) -> float:
    return float(stats.trim_mean(values, 0.2))


# Donor of each reference cell (filled by ``builder_rows``), keyed by the cell's counts:
# the replaced steps see columns of a counts matrix, not cell names.
_DONOR_OF: dict[bytes, str] = {}
_DONOR_GROUPS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _cell_keys(counts) -> list[bytes]:
    dense = np.asarray(sparse.csc_array(counts).todense())
    return [np.ascontiguousarray(dense[:, j]).tobytes() for j in range(dense.shape[1])]


def _with_donors(counts, codes, k):
    """A ``_profiles`` step that also records each type × donor group of the cells.

    A group is a donor's cells of one type (at least 2 cells; Rectangle's
    pseudo-bulk per cell type and sample): its log2(mean CPM + 1) profile is
    kept (genes × groups) with the group's type.
    """
    built = _STEPS["_profiles"](counts, codes, k)
    donors = pd.factorize(np.array([_DONOR_OF[key] for key in _cell_keys(counts)]))[0]
    groups = codes * (donors.max() + 1) + donors
    ids, sizes = np.unique(groups, return_counts=True)
    ids = ids[sizes >= 2]
    member = np.flatnonzero(np.isin(groups, ids))
    position = np.searchsorted(ids, groups[member])
    means = _type_sums(built.cell_cpm[:, member], position, ids.size) / np.bincount(position)
    _DONOR_GROUPS[id(built)] = (np.log2(means + 1.0), ids // (donors.max() + 1))
    return built


def _donor_mean_profiles(counts, codes, k):
    """A ``_profiles`` step whose profile is the mean of the type × donor pseudo-bulks.

    Every donor weighs the same whatever its number of cells (one donor with
    many cells of a type no longer makes the type's profile).
    """
    built = _with_donors(counts, codes, k)
    log, group_type = _DONOR_GROUPS.pop(id(built))
    cpm = built.cpm.copy()
    for t in range(k):
        if (group_type == t).any():
            cpm[:, t] = (2.0 ** log[:, group_type == t] - 1.0).mean(axis=1)
    return dataclasses.replace(built, cpm=cpm)


def _trimmed_profiles(share: float, *, renormalised: bool = False) -> Callable:
    """A ``_profiles`` step whose profile is each gene's ``share``-trimmed mean CPM over cells.

    The trimmed means of a type sum to less than a million, the less the more
    its cells differ; ``renormalised`` scales each column back to a million.
    """

    def profiles(counts, codes, k):
        built = _STEPS["_profiles"](counts, codes, k)
        dense = built.cell_cpm.toarray()
        cpm = np.stack([stats.trim_mean(dense[:, codes == t], share, axis=1) for t in range(k)], 1)
        if renormalised:
            cpm = cpm / cpm.sum(axis=0) * 1e6
        return dataclasses.replace(built, cpm=cpm)

    return profiles


def _winsorised_profiles(share: float) -> Callable:
    """A ``_profiles`` step whose profile is each gene's ``share``-winsorised mean CPM."""

    def profiles(counts, codes, k):
        built = _STEPS["_profiles"](counts, codes, k)
        dense = built.cell_cpm.toarray()
        cpm = np.stack(
            [
                stats.mstats.winsorize(dense[:, codes == t], (share, share), axis=1).mean(axis=1)
                for t in range(k)
            ],
            1,
        )
        return dataclasses.replace(built, cpm=np.asarray(cpm))

    return profiles


def _split_roles(select: Callable, values: Callable) -> Callable:
    """A ``_build`` step choosing genes on ``select``'s profiles, with ``values``' levels."""

    def build(counts, codes, types, genes, **options):
        with mock.patch.object(_sc, "_profiles", select):
            built = _BUILD(counts, codes, types, genes, **options)
        cpm = values(counts, codes, len(types)).cpm
        profiles = pd.DataFrame(cpm, index=built.profiles.index, columns=types)
        matrix = profiles.loc[built.matrix.index]
        return dataclasses.replace(
            built,
            matrix=matrix,
            profiles=profiles,
            condition_number=condition_number(matrix.to_numpy()),
        )

    return build


def _donor_t(profiles) -> Callable:
    """Pairwise score: Welch's t between the type × donor pseudo-bulks of a and of b."""
    log, group_type = _DONOR_GROUPS[id(profiles)]
    k = profiles.cpm.shape[1]
    parts = [log[:, group_type == t] for t in range(k)]
    mean = np.stack([p.mean(axis=1) for p in parts], axis=1)
    var = np.stack([p.var(axis=1, ddof=1) if p.shape[1] > 1 else 0 * p[:, 0] for p in parts], 1)
    n = np.array([max(p.shape[1], 1) for p in parts], dtype=float)
    return lambda a, b, g: (
        (mean[g, a] - mean[g, b]) / np.sqrt(var[g, a] / n[a] + var[g, b] / n[b] + 0.01)
    )


def _donor_quartile(profiles) -> Callable:
    """Pairwise score: the lower quartile over a's donor pseudo-bulks of the log fold over b,
    times detection (a marker must hold in most donors, not on average)."""
    log, group_type = _DONOR_GROUPS[id(profiles)]
    mean_log = np.log2(profiles.cpm + 1.0)

    def score(a, b, g):
        folds = log[np.ix_(g, group_type == a)] - mean_log[g, b][:, None]
        return np.quantile(folds, 0.25, axis=1) * profiles.detection[g, a]

    return score


def _donor_steady(max_sd: float) -> Callable:
    """A ``_candidates`` step dropping genes whose level varies across a's donors.

    The sd of log2 pseudo-bulk (type a × donor) above ``max_sd`` marks a gene
    that is noisy between donors (noisy genes weigh less: here, not at all).
    """

    def candidates(profiles, types, **options):
        ranked, table, weak = _STEPS["_candidates"](profiles, types, **options)
        log, group_type = _DONOR_GROUPS[id(profiles)]
        out = []
        for a, row in enumerate(ranked):
            sd = log[:, group_type == a].std(axis=1, ddof=1)
            out.append([g[sd[g] <= max_sd] if g.size > 6 else g for g in row])
        return out, table, weak

    return candidates


@dataclasses.dataclass(frozen=True)
class BuilderVariant:
    """A way of building: build_signature options and replaced steps (module, name, factory).

    Each factory takes the single-cell data and returns the replacement.
    ``bagged`` (draws, share): the bulk estimates are the mean of those of
    ``draws`` signatures, each built from a random ``share`` of every type's
    cells (an ensemble over gene choices; the held-out cells check is the
    defaults').
    """

    name: str
    options: dict = dataclasses.field(default_factory=dict)
    steps: tuple[tuple[object, str, Callable], ...] = ()
    bagged: tuple[int, float] | None = None


def _step(name: str, replacement) -> tuple[object, str, Callable]:
    return (_sc, name, lambda data: replacement)


def _precision_steps(
    floor: float, variance_of: Callable = _sampling_variance
) -> tuple[tuple[object, str, Callable], ...]:
    pair: dict[float, tuple] = {}

    def part(i):
        return lambda data: pair.setdefault(floor, _precision_weighted(floor, variance_of))[i]

    return ((_sc, "_build", part(0)), (_fit, "gene_weights", part(1)))


# The T-cell subsets share one mRNA factor (the most robust variant; combined with others below).
_T_POOLED = (_sc, "_profiles", _mrna_pooled_within((RELATED[0],)))

BUILDER_VARIANTS = (
    BuilderVariant("defaults"),
    *(
        BuilderVariant(
            f"mean estimate of {draws} signatures from {share:.0%} of the cells (bagging)",
            bagged=(draws, share),
        )
        for draws, share in ((10, 0.7), (20, 0.9))
    ),
    BuilderVariant(
        "pairs ranked by Welch t of type × donor pseudo-bulks (Rectangle-style DE)",
        steps=(_step("_profiles", _with_donors), _step("_candidates", _reranked(_donor_t))),
    ),
    BuilderVariant(
        "pairs ranked by the lower quartile over donors of log fold × detection",
        steps=(
            _step("_profiles", _with_donors),
            _step("_candidates", _reranked(_donor_quartile)),
        ),
    ),
    BuilderVariant(
        "genes varying across donors left out (sd of log2 pseudo-bulk > 1)",
        steps=(_step("_profiles", _with_donors), _step("_candidates", _donor_steady(1.0))),
    ),
    BuilderVariant(
        "platform factors with cell-type patterns (the default before issue 15's third round)",
        steps=((_fit, "platform_factors", lambda data: _platform_by_type(True)),),
    ),
    BuilderVariant(
        "markers per pair by κ of the relative-error rows",
        steps=(_step("_choose_markers", _kappa_relative),),
    ),
    BuilderVariant(
        "greedy genes lowering κ of the relative-error rows",
        steps=(_step("_build", _greedy_build),),
    ),
    BuilderVariant(
        "5 more markers for each type's nearest type",
        steps=(_step("_build", _nearest_pair_build),),
    ),
    BuilderVariant(
        "genes chosen in ≥ 5 of 10 subsets of 70% of cells (stability selection)",
        steps=(_step("_build", _stable_build),),
    ),
    BuilderVariant(
        "pairs ranked by Welch t of log CPM (DE test)",
        steps=(_step("_candidates", _reranked(_welch_t)),),
    ),
    BuilderVariant(
        "pairs ranked by mean - sd over 20 subsets of 70% of cells",
        steps=(_step("_candidates", _reranked(_stability_bound)),),
    ),
    BuilderVariant(
        "pairs ranked by the smaller fold of two halves",
        steps=(_step("_candidates", _reranked(_split_half)),),
    ),
    BuilderVariant(
        "Ig, TCR, ribosomal and mitochondrial genes left out",
        steps=((_sc, "_candidates", lambda data: _without(_NOISY_GENES, data.genes)),),
    ),
    BuilderVariant("detection ≥ 40% (default 25%)", options={"min_detection": 0.4}),
    BuilderVariant("profiles from summed counts", steps=(_step("_profiles", _pooled_profiles),)),
    BuilderVariant(
        "profiles: mean of the type × donor pseudo-bulks",
        steps=(_step("_profiles", _donor_mean_profiles),),
    ),
    *(
        BuilderVariant(
            f"profiles: {share:.0%}-{kind} mean CPM over cells",
            steps=(_step("_profiles", robust(share)),),
        )
        for kind, robust, shares in (
            ("trimmed", _trimmed_profiles, (0.1, 0.05, 0.2)),
            ("winsorised", _winsorised_profiles, (0.1, 0.05)),
        )
        for share in shares
    ),
    BuilderVariant(
        "profiles: 10%-trimmed mean CPM over cells, each type scaled back to a million",
        steps=(_step("_profiles", _trimmed_profiles(0.1, renormalised=True)),),
    ),
    BuilderVariant(
        "profiles: 10%-winsorised mean CPM + donor-agreement weights (floor 1)",
        steps=(
            _step("_profiles", _winsorised_profiles(0.1)),
            *_precision_steps(1.0, _donor_variance),
        ),
    ),
    BuilderVariant(
        "genes chosen on 10%-trimmed means, levels the means",
        steps=(_step("_build", _split_roles(_trimmed_profiles(0.1), _STEPS["_profiles"])),),
    ),
    BuilderVariant(
        "genes chosen on means, levels 10%-trimmed means",
        steps=(_step("_build", _split_roles(_STEPS["_profiles"], _trimmed_profiles(0.1))),),
    ),
    BuilderVariant(
        "mRNA factor: mean counts per cell", steps=(_step("_profiles", _mrna_by(np.mean)),)
    ),
    BuilderVariant("mRNA factor: one median over the T-cell subsets' cells", steps=(_T_POOLED,)),
    BuilderVariant(
        "mRNA factor: one mean over the T-cell subsets' cells",
        steps=((_sc, "_profiles", _mrna_pooled_within((RELATED[0],), np.mean)),),
    ),
    BuilderVariant(
        "mRNA factor: one 20%-trimmed mean over the T-cell subsets' cells",
        steps=((_sc, "_profiles", _mrna_pooled_within((RELATED[0],), _trimmed_mean)),),
    ),
    BuilderVariant(
        "mRNA factor: one median over the T-cell subsets' cells, TIL10's ratios between them",
        steps=((_sc, "_profiles", _mrna_pooled_within((RELATED[0],), til10_ratios=True)),),
    ),
    BuilderVariant(
        "mRNA factor: one median over T-cell subsets and NK cells",
        steps=((_sc, "_profiles", _mrna_pooled_within(([*RELATED[0], "NK cells"],))),),
    ),
    BuilderVariant(
        "mRNA factor: one median over the lymphocytes (T, NK, B cells)",
        steps=((_sc, "_profiles", _mrna_pooled_within(([*RELATED[0], "NK cells", "B cells"],))),),
    ),
    BuilderVariant(
        "mRNA factor: one median over T-cell subsets, one over monocytes and mDC",
        steps=((_sc, "_profiles", _mrna_pooled_within(RELATED)),),
    ),
    *(
        BuilderVariant(f"mRNA factor: one median over the T-cell subsets + {name}", steps=steps)
        for name, steps in (
            ("precision weights (floor 0.5)", (_T_POOLED, *_precision_steps(0.5))),
            (
                "5 more markers for each type's nearest type",
                (_T_POOLED, _step("_build", _nearest_pair_build)),
            ),
            ("stability selection", (_T_POOLED, _step("_build", _stable_build))),
            (
                "Ig, TCR, ribosomal and mitochondrial genes left out",
                (_T_POOLED, (_sc, "_candidates", lambda data: _without(_NOISY_GENES, data.genes))),
            ),
        )
    ),
    BuilderVariant(
        "mRNA factor: 20%-trimmed mean counts per cell",
        steps=(_step("_profiles", _mrna_by(_trimmed_mean)),),
    ),
    BuilderVariant("precision weights (floor 0.2)", steps=_precision_steps(0.2)),
    BuilderVariant(
        "donor-agreement weights (floor 0.2)", steps=_precision_steps(0.2, _donor_variance)
    ),
    BuilderVariant(
        "donor-agreement weights (floor 0.5)", steps=_precision_steps(0.5, _donor_variance)
    ),
    BuilderVariant(
        "donor-agreement weights (floor 1)", steps=_precision_steps(1.0, _donor_variance)
    ),
    BuilderVariant(
        "donor-agreement weights (floor 0.5) + trimmed-mean mRNA",
        steps=(
            *_precision_steps(0.5, _donor_variance),
            _step("_profiles", _mrna_by(_trimmed_mean)),
        ),
    ),
    BuilderVariant("precision weights (floor 0.5)", steps=_precision_steps(0.5)),
    BuilderVariant(
        "precision weights (floor 0.2) + trimmed-mean mRNA",
        steps=(*_precision_steps(0.2), _step("_profiles", _mrna_by(_trimmed_mean))),
    ),
)


@dataclasses.dataclass(frozen=True)
class _Bulk:
    name: str
    table: pd.DataFrame  # genes × samples, TPM
    truth: pd.DataFrame  # samples × categories
    groups: dict[str, list[str]]


def _bulk_cases(data: Path) -> list[_Bulk]:
    fin = data / "GSE107572_Finotello2019_PBMC"
    hoek = data / "GSE64655_Hoek2015_PBMC"
    fin_truth = pd.read_csv(fin / "ground_truth_facs_fractions_9types.tsv", sep="\t", index_col=0)
    return [
        _Bulk(
            "Finotello",
            load_expression(fin / "expression_tpm.tsv").table,
            fin_truth[list(SC_FINOTELLO_GROUPS)],
            SC_FINOTELLO_GROUPS,
        ),
        _Bulk(
            "Hoek",
            load_expression(hoek / "expression_tpm.tsv").table,
            pd.read_csv(hoek / "ground_truth_facs_fractions.tsv", sep="\t", index_col=0),
            SC_HOEK_GROUPS,
        ),
    ]


def _bagged_signatures(cells: SingleCellData, signature, draws: int, share: float) -> list:
    """Signatures built like ``signature`` from ``draws`` random ``share`` of each type's cells."""
    types = signature.cell_types
    _, counts, codes = _sc._used_cells(cells, {t: i for i, t in enumerate(types)})
    options = {
        "min_log2_fold_change": 1.0,
        "min_detection": 0.25,
        "min_markers": 3,
        "max_markers": 10,
        "with_mrna": True,
    }
    out = []
    for mask in _random_masks(codes, draws, share):
        keep = np.flatnonzero(mask)
        built = _BUILD(counts[:, keep], codes[keep], types, cells.genes, **options)
        out.append(dataclasses.replace(signature, matrix=built.matrix, mrna_scaling=built.mrna))
    return out


def _measured(cells: SingleCellData, cases: list[_Bulk], variant: BuilderVariant) -> dict:
    """Build with the variant; metrics on each bulk case and on the held-out cells."""
    with ExitStack() as stack:
        for module, name, factory in variant.steps:
            stack.enter_context(mock.patch.object(module, name, factory(cells)))
        build = build_signature(cells, seed=0, name="sc1 PBMC", **variant.options)
        signature = dataclasses.replace(build.signature, whole_transcriptome=True)
        signatures = (
            _bagged_signatures(cells, signature, *variant.bagged) if variant.bagged else [signature]
        )
        out = {"held-out": tuple(build.validation.loc["all", ["pearson_r", "rmse"]])}
        for case in cases:
            table = case.table.loc[case.table.index.isin(build.profiles.index)]
            groups = _present(case.groups, signature.cell_types)
            estimates = [
                summed(deconvolve(table, s, mode="absolute", exclude=None).proportions, groups)
                for s in signatures
            ]
            estimate = sum(estimates) / len(estimates)
            categories = [c for c in case.truth.columns if c in estimate.columns]
            out[case.name] = metrics(estimate, case.truth.loc[estimate.index, categories])
    return out


def _donor_half(cells: SingleCellData, donors: pd.Series, half: tuple[str, ...]):
    """The cells of the donors in ``half`` (``donors``: donor of each cell)."""
    keep = np.flatnonzero(donors.reindex(cells.cells).isin(half).to_numpy())
    return dataclasses.replace(
        cells, counts=cells.counts[:, keep], cells=cells.cells[keep], labels=cells.labels.iloc[keep]
    )


def builder_rows(data: Path) -> list[tuple[str, dict, list[dict]]]:
    """(variant, measures on the whole reference, measures on each donor half)."""
    sc_dir = data / "scRNA_PBMC_reference_deconvBench_sc1"
    cells = read_single_cell(
        sc_dir / "counts_genes_x_cells.tsv",
        labels=sc_dir / "cell_annotations.tsv",
        label_column="cell_type",
    )
    donors = pd.read_csv(sc_dir / "cell_annotations.tsv", sep="\t", index_col=0)["donor"]
    for key, cell in zip(_cell_keys(cells.counts), cells.cells, strict=True):
        _DONOR_OF[key] = donors[cell]
    halves = [_donor_half(cells, donors, h) for h in DONOR_HALVES.values()]
    cases = _bulk_cases(data)
    return [
        (
            v.name,
            _measured(cells, cases, v),
            [_measured(half, cases, v) for half in halves],
        )
        for v in BUILDER_VARIANTS
    ]


_DIRECTIONS = {"Finotello": (1, -1, 1), "Hoek": (1, -1, 1), "held-out": (1, -1)}


def _better_worse(runs: list[dict], baseline: list[dict]) -> tuple[int, int]:
    """Measures (of every run) better and worse than the defaults' by more than 0.0005."""
    better = worse = 0
    for run, base in zip(runs, baseline, strict=True):
        for key, signs in _DIRECTIONS.items():
            for value, reference, sign in zip(run[key], base[key], signs, strict=False):
                better += sign * (value - reference) > 0.0005
                worse += sign * (value - reference) < -0.0005
    return better, worse


def _mean_measures(runs: list[dict]) -> dict:
    return {key: tuple(np.mean([r[key] for r in runs], axis=0)) for key in _DIRECTIONS}


def print_builder_table(rows: list[tuple[str, dict, list[dict]]]) -> None:
    """Markdown table of the builder variants against the defaults (the first row)."""
    _, base_full, base_halves = rows[0]
    print(
        "| builder variant | Finotello | Hoek | held-out cells r / RMSE "
        "| donor halves (mean of 4): Finotello | Hoek | held-out "
        "| measures better / worse than defaults (of 40) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, full, halves in rows:
        mean = _mean_measures(halves)
        better, worse = _better_worse([full, *halves], [base_full, *base_halves])
        print(
            f"| {name} | {_triple(full['Finotello'])} | {_triple(full['Hoek'])} "
            f"| {full['held-out'][0]:.3f} / {full['held-out'][1]:.3f} "
            f"| {_triple(mean['Finotello'])} | {_triple(mean['Hoek'])} "
            f"| {mean['held-out'][0]:.3f} / {mean['held-out'][1]:.3f} | {better} / {worse} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--builder", action="store_true", help="only the builder variants")
    only.add_argument("--internals", action="store_true", help="only the engine-step variants")
    args = parser.parse_args()
    if not args.builder:
        print("| dataset | variant | pooled r / RMSE / mean per-type r |")
        print("|---|---|---|")
        rows = [] if args.internals else bulk_rows(args.data) + single_cell_rows(args.data)
        for name, variant, m in rows + internal_rows(args.data):
            print(f"| {name} | {variant} | {_triple(m)} |")
        print("\nimmunoStates → Finotello, mean estimate (measured, between-sample r):")
        for line in absorbed_lines(args.data):
            print(f"  {line}")
        print("GSE11058, the ν-SVR (ν chosen on the unclipped fit) beside the robust fit:")
        for line in svr_tube(args.data):
            print(f"  {line}")
        print("GSE11058, where the robust fit's error sits:")
        for line in cell_line_errors(args.data):
            print(f"  {line}")
        print("\nCross-platform rows, the signature transformed before the fit:")
        print("| dataset | variant | pooled r / RMSE / mean per-type r |\n|---|---|---|")
        for name, variant, m in cross_platform_rows(args.data):
            print(f"| {name} | {variant} | {_triple(m)} |")
        print("\nimmunoStates rows, the robust fit averaged with the ν-SVR:")
        for line in ensemble_lines(args.data):
            print(f"  {line}")
        print("\nPlatform factors without (default) / with cell-type patterns, small cohorts:")
        for line in platform_subsets(args.data):
            print(f"  {line}")
        print()
    if not args.internals:
        print_builder_table(builder_rows(args.data))


if __name__ == "__main__":
    main()

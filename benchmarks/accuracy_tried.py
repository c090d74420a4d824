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
  again on the genes that differ at least twofold within the group.

A third round (``internal_rows``, every variant on all eight rows) changes
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

Why immunoStates puts NK cells and mDC near zero on Finotello
(``absorbed_lines``): each estimate beside the sum with its nearest lineage
(NK + CD8 T; monocytes + mDC + neutrophils), with the defaults, without the
borrowed mRNA factors and without the platform correction.

What the ν-SVR does differently on GSE11058 (``svr_tube``): the ν it chose,
the share of genes that are its support vectors (the rest sit inside its
ε-tube and do not count), the share the robust fit down-weights, and each
cell line's mean error with both.

Usage: python benchmarks/accuracy_tried.py [--data DIR] [--internals]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, nnls

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import DEFAULT_DATA, _triple, datasets, metrics, summed  # noqa: E402
from peers import NUS, nu_svr  # noqa: E402
from singlecell_accuracy import SC_FINOTELLO_GROUPS, SC_HOEK_GROUPS, _present  # noqa: E402

from deconv_core import deconvolve, load_expression, load_signature  # noqa: E402
from deconv_core.deconvolve import coefficients_to_proportions  # noqa: E402
from deconv_core.downdate import fit_full, leave_each_out  # noqa: E402
from deconv_core.io.singlecell import read_single_cell  # noqa: E402
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


# --- Third round: one step inside the engine changed for the length of a run. ---------------

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


def _extreme_marked(S: np.ndarray, Y: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """The platform factors, NaN for genes whose log factor is more than 3 robust SDs out."""
    factors = _PLATFORM(S, Y, coef)
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
    """(dataset, variant, metrics) of every third-round variant on all eight rows."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--internals", action="store_true", help="only the third round (engine steps changed)"
    )
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()

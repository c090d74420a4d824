"""Several deconvolution methods side by side, and how far they agree.

Besides the default robust fit (:func:`deconv_core.deconvolve.deconvolve`)
three methods from the literature are re-implemented here from their papers'
descriptions (no code of theirs was used):

``nu-svr``
    CIBERSORT-style linear ν-support-vector regression (Newman et al., Nat
    Methods 2015;12:453): the signature matrix is standardised as a whole (one
    mean and SD over all its values) and each sample over its signature genes;
    a linear ν-SVR (scikit-learn's ``NuSVR``, C = 1) is fitted for ν in
    :data:`NU_VALUES`; negative coefficients are set to 0, the rest normalised
    to sum 1, and the ν whose reconstruction has the lowest RMSE is kept.
    Fractions of the signature's cell types (relative).
``epic``
    EPIC-style constrained weighted least squares with an uncharacterised
    compartment (Racle et al., eLife 2017;6:e26476): mRNA shares ``f ≥ 0`` with
    ``sum(f) ≤ 1`` fitted on TPM-like data, gene weights from the signature's
    per-gene variability when it is given (else uniform, and a note says so),
    ``other = 1 − sum`` and the mRNA-content correction of the signature.
    Fractions of all cells.
``mcp-counter``
    MCP-counter-style marker scores (Becht et al., Genome Biol 2016;17:218):
    per sample, the mean of log2(TPM-like + 1) over each population's CC0
    markers (``assets/panels/MCPcounter_marker_genes.tsv``), i.e. the log2 of
    a geometric mean.  Scores, not fractions: arbitrary units, comparable
    between samples for one population only.

Every :class:`MethodResult` declares its :attr:`~MethodResult.kind`
(``"fraction"`` or ``"score"``); :func:`compare_methods` correlates the
methods per cell type across samples (Spearman, since scores only rank
samples) and names the samples where they disagree most.  Fractions are
compared on one basis (:data:`BASES`): the robust fit in relative mode and the
ν-SVR give shares of the signature's cell types, the EPIC-style fit and the
robust fit in absolute mode shares of all cells, with ``other``; every fraction
is therefore renormalised to shares of the cell types both methods describe
before it is ranked, so that a method whose ``other`` varies between samples
does not look like one that disagrees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from deconv_core.coverage import gene_rows
from deconv_core.deconvolve import (
    DeconvResult,
    absolute_mode_problems,
    coefficients_to_proportions,
)
from deconv_core.options import METHODS
from deconv_core.signatures import Signature
from deconv_core.threads import BLOCK_WORKERS, map_on_threads
from deconv_core.thresholds import (
    METHOD_AGREEMENT_R,
    METHOD_NEGLIGIBLE,
    METHOD_RANK_GAP,
    MIN_SAMPLES_FOR_AGREEMENT,
)
from deconv_core.validation import DeconvWarning, InputError
from deconv_core.verdict import format_against

__all__ = [
    "AGREEMENT_COLUMNS",
    "BASES",
    "EPITHELIAL_FILE",
    "KINDS",
    "MARKER_FILE",
    "METHOD_LABELS",
    "NU_VALUES",
    "STROMA",
    "MethodResult",
    "MethodsComparison",
    "MethodEstimates",
    "agreement_summary",
    "compare_estimates",
    "compare_methods",
    "compared_values",
    "constrained_wls",
    "epithelial_markers",
    "estimate_methods",
    "join_estimates",
    "marker_panels",
    "marker_scores",
    "method_overview",
    "methods_table",
    "nu_svr",
    "other_composition",
    "resolve_methods",
    "run_methods",
    "shown_quantity",
    "too_few_to_compare",
]

#: What a method's numbers are: shares of cells, or scores in arbitrary units.
KINDS = ("fraction", "score")
#: ν values tried per sample (CIBERSORT, Newman 2015).
NU_VALUES = (0.25, 0.5, 0.75)
#: MCP-counter's CC0 marker lists (population per gene).
MARKER_FILE = (
    Path(__file__).resolve().parent.parent / "assets" / "panels" / ("MCPcounter_marker_genes.tsv")
)
#: Epithelial (carcinoma) markers written for this project (MIT; assets/panels/PROVENANCE.md).
EPITHELIAL_FILE = MARKER_FILE.parent / "epithelial_markers.tsv"
#: The stromal populations shown beside 'other'.
STROMA = ("Fibroblasts", "Endothelial cells")
#: Words shown for each method.
METHOD_LABELS = {
    "robust": "robust fit (default)",
    "nu-svr": "ν-SVR (CIBERSORT-style)",
    "epic": "constrained WLS with other (EPIC-style)",
    "mcp-counter": "marker scores (MCP-counter-style)",
}
#: Columns of :attr:`MethodsComparison.agreement`.
AGREEMENT_COLUMNS = (
    "cell_type",
    "method_a",
    "method_b",
    "basis",
    "n",
    "spearman_r",
    "disagree_most",
    "flagged",
)
#: What the two sides of a comparison are (the ``basis`` column of
#: :attr:`MethodsComparison.agreement`).  Relative fractions (the robust fit in relative mode,
#: the ν-SVR) are shares of the signature's cell types; absolute ones (EPIC-style, the robust
#: fit in absolute mode) are shares of all cells and fall as ``other`` rises.  Ranking one
#: beside the other confuses "more of this cell type among the cells the signature describes"
#: with "more of those cells", so fractions are renormalised before they are compared.  A
#: marker score follows the amount of its population in the whole sample (Becht 2016), so it is
#: compared with fractions of all cells; beside shares it measures something else.
BASES = {
    "shares": "fractions renormalised to shares of the cell types both methods describe "
    "('other' removed; each sample sums to 1 over them)",
    "all cells": "fractions of all cells as reported (both methods estimate 'other')",
    "score": "a marker score (arbitrary units) as it is, ranked against the summed fractions "
    "of all cells of the cell types its markers cover",
    "score vs shares": "a marker score against summed shares from a method without 'other': "
    "the score follows the cells' amount in the whole sample, shares the composition of the "
    "signature's cell types; shown, never flagged",
}
#: The bases on which a low r counts as disagreement (``flagged``).
_FLAGGED_BASES = ("shares", "all cells", "score")
# Bases on which both sides are fractions (0-1): near-zero pairs carry no order.
_FRACTION_BASES = ("shares", "all cells")
# MCP-counter population -> pattern over normalised signature cell-type names (lower case,
# non-alphanumerics as spaces) of the cell types it covers; used to compare scores with
# fractions (sums of the matched types).
_POPULATION_PATTERNS = {
    "T cells": r"\bt cells?\b|\btregs?\b",
    "CD8 T cells": r"\bcd8\b",
    "Cytotoxic lymphocytes": r"\bcd8\b|\bnk\b|natural killer",
    "NK cells": r"\bnk\b|natural killer",
    "B lineage": r"\bb cells?\b|\bplasma\b",
    "Monocytic lineage": r"monocyte|macrophage",
    "Myeloid dendritic cells": r"(?<!plasmacytoid )dendritic",
    "Neutrophils": r"neutrophil",
    "Fibroblasts": r"fibroblast",
    "Endothelial cells": r"endothelial",
}
# EPIC-style weights are capped at this multiple of their median so that a gene with a tiny
# reported variability cannot decide the fit alone (our choice; EPIC also bounds its weights).
_WEIGHT_CAP = 100.0


@dataclass(frozen=True)
class MethodResult:
    """One method's estimates.

    Attributes
    ----------
    method
        One of :data:`deconv_core.options.METHODS` but ``"all"``.
    kind
        ``"fraction"`` (shares of cells) or ``"score"`` (arbitrary units).
    units
        What a number means, in words.
    values
        Samples × cell types (or marker populations); NaN where not estimated.
    details
        Samples × method-specific columns (e.g. the chosen ν and its RMSE).
    warnings
        What the method noticed: run-wide notes first, then per sample in
        sample order (so that parts of a cohort join, :func:`join_estimates`).
    applicable
        False when the method's assumptions do not hold for these inputs
        (EPIC-style fractions with a signature that is not a whole
        transcriptome): its estimates are shown but never flag the robust fit.
    """

    method: str
    kind: str
    units: str
    values: pd.DataFrame
    details: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: tuple[DeconvWarning, ...] = ()
    applicable: bool = True

    @property
    def label(self) -> str:
        """The method's name in words."""
        return METHOD_LABELS[self.method]


@dataclass(frozen=True)
class MethodsComparison:
    """Several methods on one run and how far they agree.

    Attributes
    ----------
    results
        One :class:`MethodResult` per method, the robust fit first.
    agreement
        One row per cell type and pair of methods (:data:`AGREEMENT_COLUMNS`).
    other
        :func:`other_composition` (empty when the run has no ``other``).
    warnings
        The methods' warnings and the disagreement flags.
    """

    results: tuple[MethodResult, ...]
    agreement: pd.DataFrame
    other: pd.DataFrame
    warnings: tuple[DeconvWarning, ...]

    def get(self, method: str) -> MethodResult | None:
        """The result of ``method``, or None when it was not run."""
        return next((r for r in self.results if r.method == method), None)


def resolve_methods(chosen: Sequence[str]) -> tuple[str, ...]:
    """The methods to run, in :data:`~deconv_core.options.METHODS` order, the robust fit first.

    ``"all"`` stands for every method.
    """
    wanted = set(chosen)
    if "all" in wanted:
        wanted = set(METHODS)
    return tuple(m for m in METHODS if m != "all" and (m in wanted or m == "robust"))


def _tpm_like(expression: pd.DataFrame, genes: Sequence[str]) -> pd.DataFrame:
    """Rows ``genes`` of ``expression`` normalised to 1e6 per sample over all its genes.

    Only those rows are copied: a cohort's whole table can be large.
    """
    totals = expression.sum(axis=0, skipna=True).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return expression.loc[list(genes)].astype(float) / totals.where(totals > 0) * 1e6


def _svr_one(X: np.ndarray, y: np.ndarray, nu: float) -> tuple[np.ndarray, float]:
    """Fit one standardised sample at one ν; return normalised weights and reconstruction RMSE.

    ``X``: kept genes × cell types, ``y``: kept genes (both standardised, unitless).
    """
    from sklearn.svm import NuSVR  # scikit-learn is imported only when the method runs

    # Not kernel="precomputed" (tried): libsvm keeps its kernel columns in float32 and
    # stops at tol 1e-3, so a Gram matrix from numpy (last bits unlike libsvm's BLAS ddot
    # per pair) moved fractions by up to 3.6e-3; built with ddot it gave the same bits but
    # saved only 1-4% on noisy data, where the iterations cost (median 1e4-8e4 a fit).
    model = NuSVR(nu=nu, C=1.0, kernel="linear").fit(X, y)
    w = np.clip(model.coef_.ravel(), 0.0, None)
    if not w.sum() > 0:
        return np.full(X.shape[1], np.nan), np.inf
    w = w / w.sum()
    return w, float(np.sqrt(np.mean((X @ w - y) ** 2)))


def _svr_sample(S: np.ndarray, y: np.ndarray, nu_values: Sequence[float]) -> np.ndarray:
    """The best ν-SVR fit of one sample, as one row: weights, then RMSE, then ν.

    ``S``: genes × cell types, the standardised signature; ``y``: genes, linear,
    NaN where missing.  Returns cell types + 2 values: the weights (NaN when not
    estimated), the RMSE in standardised units (inf when not estimated) and the
    chosen ν (NaN when not estimated).
    """
    keep = np.isfinite(y)
    best = (np.full(S.shape[1], np.nan), np.inf, np.nan)
    if keep.sum() > S.shape[1] and np.std(y[keep]) > 0:
        ys = (y[keep] - y[keep].mean()) / y[keep].std()
        X = S[keep]
        for nu in nu_values:
            w, rmse = _svr_one(X, ys, nu)
            if rmse < best[1]:
                best = (w, rmse, nu)
    return np.concatenate([best[0], [best[1], best[2]]])


def _svr_samples(S: np.ndarray, Y: np.ndarray, nu_values: Sequence[float]) -> np.ndarray:
    """:func:`_svr_sample` for every sample, on :data:`SVR_WORKERS` threads.

    ``S``: genes × cell types, standardised; ``Y``: genes × samples, linear, NaN
    where missing.  Returns samples × (cell types + 2), in the samples' order.

    libsvm's training runs without the GIL (scikit-learn's ``_libsvm.pyx`` calls
    ``svm_train`` inside ``with nogil``) and is nearly all of a fit's time, so
    threads fit samples in parallel: on this 2-core machine, with the second
    core free, 1.77-1.93x faster than the plain per-sample loop (four runs of
    ``benchmarks/svr_speed.py``); forked processes
    (:func:`deconv_core.threads.run_in_forks`) gave 1.31-1.84x where threads gave
    1.76-1.96x, so nothing forks.  When other work holds the second core neither gains
    (``benchmarks/svr_speed.py`` prints the cores it got).  Every sample is
    fitted alone (its own problem and model; the state libsvm shares between
    calls, its print function and the seed of the generator it draws from only
    for probability estimates, is not used by these fits), so its answer is the
    same to the last bit whatever the number of threads.
    """
    import sklearn.svm  # noqa: F401  (imported once, before the threads start)

    rows = map_on_threads(
        lambda j: _svr_sample(S, Y[:, j], nu_values), range(Y.shape[1]), SVR_WORKERS
    )
    return np.array(rows, dtype=float).reshape(Y.shape[1], S.shape[1] + 2)


def nu_svr(
    observed: pd.DataFrame, signature: pd.DataFrame, *, nu_values: Sequence[float] = NU_VALUES
) -> MethodResult:
    """CIBERSORT-style linear ν-SVR fractions (see the module docstring).

    The samples are fitted side by side (:func:`_svr_samples`); each one's
    answer is that of a plain per-sample ``NuSVR`` loop.

    Parameters
    ----------
    observed
        Genes × samples, linear, the signature's genes (NaN where missing).
    signature
        Genes × cell types, linear, same genes.
    nu_values
        ν values to try; the one with the lowest reconstruction RMSE is kept.

    Returns
    -------
    MethodResult
        ``values``: samples × cell types, each sample summing to 1 (NaN when
        no cell type has a positive weight or fewer genes than cell types + 1
        have values); ``details``: ``nu`` and ``rmse`` (standardised units).
    """
    S = signature.to_numpy(dtype=float)
    S = (S - S.mean()) / (S.std() or 1.0)
    k = S.shape[1]
    fitted = _svr_samples(S, observed.to_numpy(dtype=float), tuple(nu_values))
    rmse = fitted[:, k]
    index = pd.Index([str(s) for s in observed.columns], name="sample")
    warnings = tuple(
        _not_estimated("nu-svr", sample)
        for sample, fine in zip(index, np.isfinite(rmse), strict=True)
        if not fine
    )
    details = np.column_stack([fitted[:, k + 1], np.where(np.isfinite(rmse), rmse, np.nan)])
    return MethodResult(
        method="nu-svr",
        kind="fraction",
        units="fraction of the signature's cell types (each sample sums to 1)",
        values=pd.DataFrame(
            fitted[:, :k], index=index, columns=[str(c) for c in signature.columns]
        ),
        details=pd.DataFrame(details, index=index.copy(), columns=["nu", "rmse"]),
        warnings=warnings,
    )


#: Threads fitting samples' ν-SVRs side by side (:func:`_svr_samples`).
SVR_WORKERS = BLOCK_WORKERS


def _not_estimated(method: str, sample: str) -> DeconvWarning:
    return DeconvWarning(
        "info",
        "method_not_estimated",
        f"{METHOD_LABELS[method]}: sample {sample} has no estimate (no signal on the signature's "
        "genes, or too few of them have values).",
        sample,
    )


def _epic_weights(
    signature: pd.DataFrame, variability: pd.DataFrame | None
) -> tuple[np.ndarray, DeconvWarning]:
    """Per-gene weights (EPIC: mean profile over its variability) and a note on them."""
    if variability is None:
        return np.ones(signature.shape[0]), DeconvWarning(
            "info",
            "epic_uniform_weights",
            "EPIC-style fit: this signature gives no per-gene variability, so every gene was "
            "weighted equally (EPIC weighs genes by how stable their reference profiles are).",
        )
    sd = variability.reindex(index=signature.index, columns=signature.columns).to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = signature.to_numpy(float).sum(axis=1) / np.nansum(sd, axis=1)
    finite = np.isfinite(w) & (w > 0)
    cap = _WEIGHT_CAP * float(np.median(w[finite])) if finite.any() else 1.0
    w = np.where(finite, np.minimum(w, cap), cap)
    return w, DeconvWarning(
        "info",
        "epic_weights",
        "EPIC-style fit: genes weighted by their reference profile over its variability "
        f"(capped at {_WEIGHT_CAP:g}x the median weight).",
    )


def _solve_capped(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``min ||A f − b||`` with ``f ≥ 0`` and ``sum(f) ≤ 1`` (A: genes × k, b: genes)."""
    # Imported here: scipy.optimize is about a third of the command line's start-up, and
    # a run without --method epic never needs it.
    from scipy.optimize import nnls as scipy_nnls

    f, _ = scipy_nnls(A, b, maxiter=50 * A.shape[1])
    if f.sum() <= 1.0:
        return f
    # The cap is active: solve with sum(f) = 1 as a heavily weighted extra equation.
    big = 1e4 * float(np.linalg.norm(A)) or 1.0
    f, _ = scipy_nnls(
        np.vstack([A, np.full((1, A.shape[1]), big)]),
        np.append(b, big),
        maxiter=50 * A.shape[1],
    )
    return f / max(f.sum(), 1.0)


def constrained_wls(
    observed: pd.DataFrame,
    signature: Signature,
    genes: Sequence[str],
    *,
    variability: pd.DataFrame | None = None,
) -> MethodResult:
    """EPIC-style fractions of all cells with an ``other`` compartment.

    Parameters
    ----------
    observed
        Genes × samples, TPM-like (each sample normalised to 1e6 over all its
        genes), the fitted genes (NaN where missing).
    signature
        The signature (its matrix restricted to ``genes`` is used; its
        mRNA-content factors turn mRNA shares into cell shares).
    genes
        The genes of ``observed``, in its row order.
    variability
        Genes × cell types SD of the reference profiles (linear), or None:
        uniform weights, with a note.

    Returns
    -------
    MethodResult
        ``values``: samples × (cell types, ``other``), fractions of all cells;
        ``details``: ``mrna_share`` (the fitted sum of mRNA shares, ≤ 1).
    """
    S = signature.matrix.loc[list(genes)]
    weights, note = _epic_weights(S, variability)
    root = np.sqrt(weights)
    A_all = S.to_numpy(float) * root[:, None]
    k = S.shape[1]
    coef = np.full((k, observed.shape[1]), np.nan)
    warnings, not_estimated = [note], []
    for j, sample in enumerate(observed.columns):
        y = observed[sample].to_numpy(float)
        keep = np.isfinite(y)
        if keep.sum() <= k or not np.any(y[keep] > 0):
            not_estimated.append(_not_estimated("epic", str(sample)))
            continue
        coef[:, j] = _solve_capped(A_all[keep], y[keep] * root[keep])
    problems = absolute_mode_problems(signature)
    if problems:
        warnings.append(
            DeconvWarning(
                "info",
                "epic_other_unreliable",
                f"EPIC-style fractions need a whole-transcriptome TPM signature with "
                f"mRNA-content factors; {signature.name}: {problems[0]}. They are shown for "
                "comparison but do not flag disagreement.",
            )
        )
    fractions, conversion = coefficients_to_proportions(coef, signature, mode="absolute")
    warnings.extend(w for w in conversion if w.code != "overshoot")  # the cap prevents it
    warnings.extend(not_estimated)  # run-wide first, then per sample (as join_estimates)
    index = pd.Index([str(s) for s in observed.columns], name="sample")
    return MethodResult(
        method="epic",
        kind="fraction",
        units="fraction of all cells; 'other' is the part the signature's cell types leave",
        values=pd.DataFrame(fractions.T, index=index, columns=[*map(str, S.columns), "other"]),
        details=pd.DataFrame({"mrna_share": coef.sum(axis=0)}, index=index.copy()),
        warnings=tuple(warnings),
        applicable=not problems,
    )


@lru_cache(maxsize=1)
def marker_panels() -> dict[str, tuple[str, ...]]:
    """MCP-counter's CC0 markers: population → gene symbols (file order)."""
    table = pd.read_csv(MARKER_FILE, sep="\t", dtype=str)
    panels: dict[str, list[str]] = {}
    for gene, population in zip(table["HUGO symbols"], table["Cell population"], strict=True):
        panels.setdefault(str(population), []).append(str(gene))
    return {p: tuple(g) for p, g in panels.items()}


@lru_cache(maxsize=1)
def epithelial_markers() -> tuple[str, ...]:
    """The epithelial (carcinoma) markers beside 'other' (gene symbols, file order)."""
    return tuple(pd.read_csv(EPITHELIAL_FILE, sep="\t", dtype=str)["gene"])


def _epithelial_score(expression: pd.DataFrame) -> pd.Series | None:
    """Epithelial marker score per sample, or None when fewer than half its markers are found."""
    scored = marker_scores(expression, {"Epithelial cells": epithelial_markers()})
    found = scored.details.loc["Epithelial cells", "markers_found"]
    return scored.values["Epithelial cells"] if found * 2 >= len(epithelial_markers()) else None


def marker_scores(
    expression: pd.DataFrame, panels: Mapping[str, Sequence[str]] | None = None
) -> MethodResult:
    """MCP-counter-style scores: mean log2(TPM-like + 1) of each population's markers.

    Parameters
    ----------
    expression
        Genes × samples, linear scale (all genes: each sample is normalised to
        1e6 over them first, so library size does not move the scores).
    panels
        Population → marker genes (default :func:`marker_panels`); matched
        by :func:`deconv_core.coverage.gene_rows`.

    Returns
    -------
    MethodResult
        ``values``: samples × populations, arbitrary units (NaN for a
        population none of whose markers are in the data, or a sample with no
        values); ``details``: ``markers_found`` per population (one row per
        population, index ``population``).
    """
    panels = marker_panels() if panels is None else panels
    # The coverage rule: same symbol ignoring case, else the same HGNC gene (CXorf36 = DIPK2B).
    found = {
        p: [expression.index[i] for i in gene_rows(expression.index, list(genes)).values()]
        for p, genes in panels.items()
    }
    data = _tpm_like(expression, sorted({g for genes in found.values() for g in genes}, key=str))
    scores, found_rows, missing = {}, [], []
    for population, genes in panels.items():
        found_rows.append((population, len(found[population]), len(genes)))
        if not found[population]:
            missing.append(population)
            scores[population] = pd.Series(np.nan, index=expression.columns)
            continue
        scores[population] = np.log2(data.loc[found[population]] + 1.0).mean(axis=0)
    warnings = []
    if missing:
        warnings.append(
            DeconvWarning(
                "warning",
                "markers_missing",
                f"Marker scores: no marker of {', '.join(missing)} is in the data; "
                "those scores are empty.",
            )
        )
    values = pd.DataFrame(scores)
    values.index = pd.Index([str(s) for s in values.index], name="sample")
    details = pd.DataFrame(found_rows, columns=["population", "markers_found", "markers"])
    return MethodResult(
        method="mcp-counter",
        kind="score",
        units="marker score: mean log2(TPM-like + 1) of the population's markers; arbitrary "
        "units, compare one population between samples only (not a fraction)",
        values=values,
        details=details.set_index("population"),
        warnings=tuple(warnings),
    )


def _robust(result: DeconvResult) -> MethodResult:
    units = (
        "fraction of all cells; 'other' is the part the signature's cell types leave"
        if result.mode == "absolute"
        else "fraction of the signature's cell types (each sample sums to 1)"
    )
    return MethodResult("robust", "fraction", units, result.proportions.copy())


@dataclass(frozen=True)
class MethodEstimates:
    """The chosen methods' per-sample estimates, before they are compared.

    Every method estimates each sample on its own, so the estimates of parts
    of a cohort (the Dask engine's chunks of samples) join into those of the
    whole (:func:`join_estimates`); only the comparison needs every sample.

    Attributes
    ----------
    results
        One :class:`MethodResult` per method, the robust fit first; each one's
        warnings run-wide first, then per sample in sample order.
    epithelial
        Epithelial marker score per sample (arbitrary units), or None when the
        marker scores were not run or the data lack the markers.
    """

    results: tuple[MethodResult, ...]
    epithelial: pd.Series | None = None


def estimate_methods(
    expression: pd.DataFrame,
    result: DeconvResult,
    signature: Signature,
    methods: Sequence[str],
) -> MethodEstimates:
    """Run the chosen methods beside the robust fit, sample by sample.

    Parameters
    ----------
    expression
        Genes × samples, linear (the run's expression table, all genes).
    result
        The run's robust fit (its genes, observed values and proportions).
    signature
        The run's signature.
    methods
        Method names (:data:`~deconv_core.options.METHODS`; ``"all"`` for every one).

    Returns
    -------
    MethodEstimates
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"Unknown method {unknown[0]!r}; use one of {', '.join(METHODS)}.")
    results = [_robust(result)]
    chosen = resolve_methods(methods)
    if "nu-svr" in chosen:
        results.append(nu_svr(result.observed, result.signature_matrix))
    if "epic" in chosen:
        results.append(constrained_wls(result.observed, signature, result.genes_used))
    if "mcp-counter" in chosen:
        results.append(marker_scores(expression))
    epithelial = _epithelial_score(expression) if "mcp-counter" in chosen else None
    return MethodEstimates(tuple(results), epithelial)


def join_estimates(parts: Sequence[MethodEstimates]) -> MethodEstimates:
    """The estimates of parts of a cohort (disjoint samples, in order) as one.

    Per-sample tables are stacked; per-population details (the marker
    scores' markers found, which depend on the genes only) and run-wide
    warnings are each part's, kept once.
    """
    joined = []
    for same in zip(*(p.results for p in parts), strict=True):
        first = same[0]
        details = (
            pd.concat([r.details for r in same])
            if first.details.index.name == "sample"
            else first.details
        )
        warnings = tuple(dict.fromkeys(w for r in same for w in r.warnings if not w.sample))
        per_sample = tuple(w for r in same for w in r.warnings if w.sample)
        joined.append(
            replace(
                first,
                values=pd.concat([r.values for r in same]),
                details=details,
                warnings=(*warnings, *per_sample),
            )
        )
    scores = [p.epithelial for p in parts]
    epithelial = None if scores[0] is None else pd.concat(scores)
    return MethodEstimates(tuple(joined), epithelial)


def compare_estimates(
    estimates: MethodEstimates, *, names: Mapping[str, str] | None = None
) -> MethodsComparison:
    """The methods' estimates compared (:func:`compare_methods`, :func:`other_composition`).

    ``names`` maps cell-type ids to display names for the warnings' messages.
    """
    results = estimates.results
    agreement, flags = compare_methods(results, names=names)
    other = other_composition(results, epithelial=estimates.epithelial)
    warnings = [w for r in results for w in r.warnings] + flags
    return MethodsComparison(tuple(results), agreement, other, tuple(warnings))


def run_methods(
    expression: pd.DataFrame,
    result: DeconvResult,
    signature: Signature,
    methods: Sequence[str],
) -> MethodsComparison:
    """Run the chosen methods beside the robust fit and compare them.

    :func:`estimate_methods` (same parameters), then :func:`compare_estimates`.

    Returns
    -------
    MethodsComparison
    """
    estimates = estimate_methods(expression, result, signature, methods)
    return compare_estimates(estimates, names=signature.shown_names)


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _matched_types(population: str, cell_types: Sequence[str]) -> list[str]:
    """The signature cell types an MCP-counter population covers."""
    pattern = _POPULATION_PATTERNS.get(population)
    if pattern is None:
        return []
    return [c for c in cell_types if re.search(pattern, _normalised(c))]


@dataclass(frozen=True)
class _Quantity:
    """One compared quantity: each method's per-sample values and the basis they are on.

    ``bases`` maps each method to ``"shares"``, ``"all cells"`` or ``"score"``
    (what its values are); :meth:`pairs` turns two of them into a :data:`BASES` key.
    """

    values: dict[str, pd.Series]
    bases: dict[str, str]

    def pairs(self) -> list[tuple[str, str, str]]:
        """``(method_a, method_b, basis)`` for each pair compared.

        For a score population only the score and each fraction: two fractions'
        sums would be labelled a score though neither is one, and their cell
        types are compared one by one anyway.
        """
        out = []
        methods = list(self.values)
        of_score = "score" in self.bases.values()
        for i, a in enumerate(methods):
            for b in methods[i + 1 :]:
                sides = {self.bases[a], self.bases[b]}
                if of_score and (sides == {"score"} or "score" not in sides):
                    continue  # a score's quantity compares the score with each fraction
                if "score" in sides:
                    basis = "score" if "all cells" in sides else "score vs shares"
                else:
                    (basis,) = sides  # the fraction sides of one quantity share a basis
                out.append((a, b, basis))
        return out


def _shares(values: pd.DataFrame, usable: pd.DataFrame) -> pd.DataFrame:
    """``values`` renormalised to sum 1 per sample over the cell types ``usable`` there.

    ``usable`` (samples × the compared cell types, bool): where every method has
    an estimate.  NaN elsewhere, and for a sample whose usable values sum to 0
    or less.
    """
    part = values[list(usable.columns)].astype(float).where(usable.to_numpy())
    total = part.sum(axis=1, min_count=1)
    return part.div(total.where(total > 0), axis=0)


def _quantities(results: Sequence[MethodResult]) -> dict[str, _Quantity]:
    """Compared quantity → each method's per-sample values and their basis (:data:`BASES`).

    Fractions are compared per cell type as shares of the cell types every
    fraction method describes (``other`` removed), ``other`` as a fraction of
    all cells; a score population is compared with the summed fractions of all
    cells of the cell types it covers from methods that report ``other``, and
    with their summed shares from the others.
    """
    fractions = [r for r in results if r.kind == "fraction"]
    # A cell type no method can estimate anywhere (no marker found) is left out of the
    # comparison; in each sample the shares are over the cell types every method estimates
    # there, so one blank estimate does not void the sample's other comparisons.
    shared = [
        str(c)
        for c in (fractions[0].values.columns if fractions else ())
        if c != "other"
        and all(c in f.values.columns and f.values[c].notna().any() for f in fractions)
    ]
    usable = None
    for f in fractions:
        known = f.values[shared].notna()
        usable = known if usable is None else usable & known.reindex(usable.index, fill_value=False)
    shares = {f.method: _shares(f.values, usable) for f in fractions}
    out: dict[str, _Quantity] = {}
    for cell_type in shared:
        values = {m: s[cell_type] for m, s in shares.items()}
        out[cell_type] = _Quantity(values, dict.fromkeys(values, "shares"))
    with_other = {f.method: f.values["other"] for f in fractions if "other" in f.values.columns}
    if with_other:
        out["other"] = _Quantity(with_other, dict.fromkeys(with_other, "all cells"))
    for r in (r for r in results if r.kind == "score"):
        for population in r.values.columns:
            covered = _matched_types(str(population), shared)
            if not covered:
                continue
            values, bases = {}, {}
            for f in fractions:
                absolute = "other" in f.values.columns
                source = f.values if absolute else shares[f.method]
                values[f.method] = source[covered].sum(axis=1, min_count=len(covered))
                bases[f.method] = "all cells" if absolute else "shares"
            values[r.method], bases[r.method] = r.values[population], "score"
            out[f"{population}{_SCORE_OF}{_PLUS.join(covered)}"] = _Quantity(values, bases)
    return out


# How a compared quantity names a score population and the cell types it covers:
# "T cells (score) ~ T.cells.CD4 + T.cells.CD8" (ids; shown_quantity gives display names).
_SCORE_OF, _PLUS = " (score) ~ ", " + "


def shown_quantity(quantity: str, names: Mapping[str, str] | None) -> str:
    """A compared quantity with its cell types by display name.

    Parameters
    ----------
    quantity
        A ``cell_type`` of :attr:`MethodsComparison.agreement`: a cell-type id
        (or ``other``), or a score population and the ids it covers
        (``"T cells (score) ~ T.cells.CD4 + T.cells.CD8"``).
    names
        Cell-type id → display name
        (:attr:`~deconv_core.signatures.Signature.shown_names`); ids not in it stay.
    """
    shown = names or {}
    population, score, types = quantity.partition(_SCORE_OF)
    if not score:
        return shown.get(quantity, quantity)
    return population + score + _PLUS.join(shown.get(t, t) for t in types.split(_PLUS))


def _pair_agreement(a: pd.Series, b: pd.Series, *, fractions: bool) -> tuple[int, float, pd.Series]:
    """n, Spearman r and each sample's rank-percentile gap over the samples both have.

    With ``fractions``, samples where both values are below
    :data:`~deconv_core.thresholds.METHOD_NEGLIGIBLE` are left out (the cell
    type is about absent: their order is noise).
    """
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    if fractions:
        both = both[(both >= METHOD_NEGLIGIBLE).any(axis=1)]
    n = len(both)
    if n < MIN_SAMPLES_FOR_AGREEMENT:  # r and rank gaps of fewer samples are mostly noise
        return n, float("nan"), pd.Series(dtype=float)
    ranks = both.rank(pct=True)
    gap = (ranks.iloc[:, 0] - ranks.iloc[:, 1]).abs()
    if both.iloc[:, 0].nunique() < 2 or both.iloc[:, 1].nunique() < 2:
        return n, float("nan"), gap
    r = float(ranks.iloc[:, 0].corr(ranks.iloc[:, 1]))
    return n, r, gap


def _worst(gap: pd.Series, how_many: int = 3) -> str:
    if gap.empty:
        return ""
    top = gap.sort_values(ascending=False, kind="stable").head(how_many)
    return ", ".join(f"{s} ({g:.2f})" for s, g in top.items() if g > 0)


def compare_methods(
    results: Sequence[MethodResult], *, names: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, list[DeconvWarning]]:
    """How far the methods rank samples alike, per cell type, and the disagreement flags.

    Parameters
    ----------
    results
        The methods' results (the robust fit among them for flags).
    names
        Cell-type id → display name for the warnings' messages
        (:func:`shown_quantity`); the table and the warnings' ``cell_type`` keep ids.

    Returns
    -------
    agreement : pandas.DataFrame
        :data:`AGREEMENT_COLUMNS`: per compared quantity and pair of methods,
        the basis both sides were put on (a :data:`BASES` key: fractions as
        shares of the cell types both describe, ``other`` as a fraction of all
        cells, a score as it is beside fractions of all cells, or beside
        shares: never flagged), the samples with both values (``n``),
        Spearman's r across them (NaN below
        :data:`~deconv_core.thresholds.MIN_SAMPLES_FOR_AGREEMENT` samples), the
        samples whose rank percentiles differ most (with the gap, 0-1), and
        ``flagged``: a pair with the robust fit (and a method applicable to
        these inputs, :attr:`MethodResult.applicable`), on a basis where both
        sides measure the same thing, whose r is below
        :data:`~deconv_core.thresholds.METHOD_AGREEMENT_R` over at least
        :data:`~deconv_core.thresholds.MIN_SAMPLES_FOR_AGREEMENT` samples.
    warnings : list of DeconvWarning
        ``methods_disagree`` per flagged quantity; ``methods_disagree_sample``
        for each sample whose rank gap in a flagged pair is at least
        :data:`~deconv_core.thresholds.METHOD_RANK_GAP`.
    """
    rows, warnings, sample_notes, sample_types = [], [], {}, {}
    applicable = {r.method for r in results if r.applicable}
    for quantity, compared in _quantities(results).items():
        for a, b, basis in compared.pairs():
            n, r, gap = _pair_agreement(
                compared.values[a], compared.values[b], fractions=basis in _FRACTION_BASES
            )
            flagged = (
                "robust" in (a, b)
                and basis in _FLAGGED_BASES
                and {a, b} <= applicable
                and n >= MIN_SAMPLES_FOR_AGREEMENT
                and np.isfinite(r)
                and r < METHOD_AGREEMENT_R
            )
            rows.append([quantity, a, b, basis, n, r, _worst(gap), flagged])
            if not flagged:
                continue
            other = b if a == "robust" else a
            shown = shown_quantity(quantity, names)
            warnings.append(_disagree_warning(quantity, shown, other, r, n))
            for sample in gap.index[gap >= METHOD_RANK_GAP]:
                sample_notes.setdefault(str(sample), []).append(f"{shown} ({other})")
                sample_types.setdefault(str(sample), []).append(quantity)
    warnings.extend(
        DeconvWarning(
            "warning",
            "methods_disagree_sample",
            f"the methods rank it far apart for {'; '.join(what)}",
            sample,
            cell_type=", ".join(dict.fromkeys(sample_types[sample])),
        )
        for sample, what in sample_notes.items()
    )
    return pd.DataFrame(rows, columns=list(AGREEMENT_COLUMNS)), warnings


def _disagree_warning(quantity: str, shown: str, other: str, r: float, n: int) -> DeconvWarning:
    return DeconvWarning(
        "warning",
        "methods_disagree",
        f"The robust fit and the {METHOD_LABELS[other]} rank samples differently for {shown} "
        f"(Spearman r = {format_against(r, (METHOD_AGREEMENT_R,))} over {n} samples, below "
        f"{METHOD_AGREEMENT_R:g}); treat "
        "comparisons of this cell type between samples with care.",
        cli="See methods_agreement.csv for the samples where they disagree most.",
        app="See the agreement table on the Methods page.",
        cell_type=quantity,
    )


def other_composition(
    results: Sequence[MethodResult], *, epithelial: pd.Series | None = None
) -> pd.DataFrame:
    """What 'other' may be made of: 'other', a tumour-content bound and stromal scores.

    Parameters
    ----------
    results
        The methods' results: the robust fit (absolute mode, with ``other``)
        and, when run, the marker scores.
    epithelial
        Epithelial marker score per sample (:func:`epithelial_markers`), or
        None when the data lack them; added as ``Epithelial cells score``.

    Returns
    -------
    pandas.DataFrame
        Index ``sample``: ``other`` (fraction of all cells the signature's
        cell types leave), ``tumour_at_most`` (fraction; an upper bound of the
        cancer-cell content: 'other' also holds stroma and any cell type the
        signature lacks, and stromal scores cannot be turned into fractions),
        and one ``<population> score`` column per :data:`STROMA` population
        (arbitrary units), then the epithelial score when given.  Empty when
        the robust fit has no ``other``.
        ``attrs["kinds"]`` maps each column to ``"fraction"`` or ``"score"``.
    """
    robust = next((r for r in results if r.method == "robust"), None)
    if robust is None or "other" not in robust.values.columns:
        return pd.DataFrame()
    table = pd.DataFrame(
        {"other": robust.values["other"], "tumour_at_most": robust.values["other"]}
    )
    kinds = {"other": "fraction", "tumour_at_most": "fraction"}
    scores = next((r for r in results if r.kind == "score"), None)
    if scores is not None:
        for population in STROMA:
            if population in scores.values.columns:
                table[f"{population} score"] = scores.values[population].reindex(table.index)
                kinds[f"{population} score"] = "score"
    if epithelial is not None:
        table["Epithelial cells score"] = epithelial.reindex(table.index)
        kinds["Epithelial cells score"] = "score"
    table.attrs["kinds"] = kinds
    return table


def methods_table(comparison: MethodsComparison) -> pd.DataFrame:
    """Every method's estimates as one long table (``methods.csv``).

    Columns ``method``, ``kind`` (fraction / score), ``sample``,
    ``cell_type`` (or marker population) and ``value``; samples in input order.
    """
    frames = []
    for r in comparison.results:
        long = r.values.rename_axis(index="sample", columns="cell_type").stack()
        frame = long.rename("value").reset_index()
        frame.insert(0, "kind", r.kind)
        frame.insert(0, "method", r.method)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def compared_values(
    comparison: MethodsComparison, quantity: str
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One compared quantity's values per method, and each method's kind.

    Parameters
    ----------
    comparison
        The run's methods.
    quantity
        A ``cell_type`` of :attr:`MethodsComparison.agreement`.

    Returns
    -------
    values : pandas.DataFrame
        Samples × methods (robust fit's sample order), as they are compared
        (:data:`BASES`): fractions as shares of the compared cell types (for a
        score population: fractions of all cells where the method reports
        ``other``), scores as they are.
    kinds : dict
        Method → ``"fraction"`` or ``"score"``.
    """
    compared = _quantities(comparison.results).get(quantity)
    if compared is None:
        raise InputError(f"No method estimates {quantity!r}.")
    kinds = {r.method: r.kind for r in comparison.results if r.method in compared.values}
    return pd.DataFrame(compared.values), kinds


def agreement_summary(agreement: pd.DataFrame) -> pd.DataFrame:
    """Per compared quantity, its least agreeing pair with the robust fit.

    Parameters
    ----------
    agreement
        :attr:`MethodsComparison.agreement`.

    Returns
    -------
    pandas.DataFrame
        Index ``cell_type`` (first-seen order): ``lowest_r`` (Spearman r of
        the pair with the robust fit that agrees least), ``with`` (that
        method), ``basis`` (:data:`BASES`), ``n``, ``disagree_most`` and
        ``flagged``; quantities without
        a pair with the robust fit are left out.
    """
    pairs = _with_robust(agreement)
    pairs = pairs.assign(
        other=np.where(pairs["method_a"] == "robust", pairs["method_b"], pairs["method_a"])
    )
    rows = []
    for quantity, group in pairs.groupby("cell_type", sort=False):
        worst = group.sort_values("spearman_r", na_position="first", kind="stable").iloc[0]
        rows.append(
            [
                quantity,
                worst["spearman_r"],
                worst["other"],
                worst["basis"],
                worst["n"],
                worst["disagree_most"],
                bool(group["flagged"].any()),
            ]
        )
    columns = ["cell_type", "lowest_r", "with", "basis", "n", "disagree_most", "flagged"]
    return pd.DataFrame(rows, columns=columns).set_index("cell_type")


def _with_robust(agreement: pd.DataFrame) -> pd.DataFrame:
    """The rows of :attr:`MethodsComparison.agreement` that pair a method with the robust fit."""
    return agreement[(agreement["method_a"] == "robust") | (agreement["method_b"] == "robust")]


def too_few_to_compare(agreement: pd.DataFrame) -> str | None:
    """Why nothing could be compared, or None when some pair has enough samples.

    Parameters
    ----------
    agreement
        :attr:`MethodsComparison.agreement`.

    Returns
    -------
    str or None
        A sentence naming :data:`~deconv_core.thresholds.MIN_SAMPLES_FOR_AGREEMENT`
        and the most samples any pair with the robust fit shares, when no pair
        reaches it (no r is computed then, and nothing is flagged); None
        otherwise, or when only the robust fit ran.
    """
    with_robust = _with_robust(agreement)
    if with_robust.empty:
        return None
    most = int(with_robust["n"].max())
    if most >= MIN_SAMPLES_FOR_AGREEMENT:
        return None
    noun = "sample" if most == 1 else "samples"
    return (
        f"not compared: comparing methods needs at least {MIN_SAMPLES_FOR_AGREEMENT} samples "
        f"estimated by both, and the robust fit shares at most {most} {noun} with another method"
    )


def method_overview(comparison: MethodsComparison) -> pd.DataFrame:
    """What each method reports: ``method``, ``kind``, ``units`` and ``applicable``."""
    return pd.DataFrame(
        [[r.label, r.kind, r.units, r.applicable] for r in comparison.results],
        columns=["method", "kind", "units", "applicable"],
    )

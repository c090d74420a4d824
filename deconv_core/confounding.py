"""Why an estimate may be wrong: gene influence, marker panels, gene explainer.

A deconvolution counts cells by the expression of marker genes.  When a
sample's cells express a marker more than the reference profile does
(activated T cells raise ICOS and CTLA4, Treg markers in TIL10; tumour cells
express some immune genes), the fit reads it as more cells.
:func:`flag_confounders` looks for that in every sample:

1. Noise level.  Every signature gene is dropped in turn and all samples
   are refitted (one batched NNLS call per gene), giving each gene's
   *leave-one-out* prediction: what the other genes say it should be.  Log2
   ratios of measured to predicted values, multiplied by sqrt(1 - leverage)
   (externally studentised: a gene that few others back up is predicted less
   precisely), are divided by the sample's robust spread of those values
   (1.4826 × MAD; at least the cohort's median in-fit spread).
2. ``panel_excess``: each marker panel with at least two genes in the fit is
   left out as a whole and all samples refitted; the panel's genes, together,
   are far above what the other genes predict (score at least ``min_z``,
   measured / predicted at least ``min_fold``).  Leaving the panel out as a
   whole avoids masking (two inflated genes hiding each other), and the score
   weights each gene by how well other genes back up its cell types.
3. Suspect genes: the panel's raised genes, and single genes at least
   ``min_z_gene`` robust standard deviations and ``min_fold`` times above
   their leave-one-out prediction (only genes other genes back up).
4. ``driven_by_genes``: refitting a sample without its suspect genes lowers a
   cell type's estimate by at least ``min_influence`` of its value, and the
   cell type accounts for at least 20% of those genes' fitted expression.
   The message names the sample, the cell type, the genes, their panel and
   the panel's likely cause ("activated cells, not more cells?").
5. ``fragile_estimate``: dropping a single gene lowers an estimate by at
   least ``fragile_influence``: the estimate rests on few genes.  Listed in
   the findings table; the warnings summarise it per cell type (``few_genes``)
   when it happens in a quarter of the samples.

Thresholds were calibrated on planted TIL10 mixtures with multiplicative
(log-normal, sd 0.2-0.3) noise.  With the least-squares fit, one warning
fired on 4,800 clean planted samples (a single gene 5.4x its prediction) and
the activation finding fired in 99% of 2,400 samples with ICOS, CTLA4 and
FASLG multiplied by 6.  With the robust (Huber) default, re-measured on new
seeds: no warning on 4,800 clean samples, and 2,397 of 2,400 activated
samples flagged (the robust fit already discounts the activation genes, so the
finding is usually ``panel_excess`` rather than ``driven_by_genes``).
``tests/core/test_confounding.py`` checks both behaviours on fixed seeds.
Refits that leave out a gene or a panel keep the robustness weights of the
result's fit (the estimator linearised at its solution); they run on the engine
shared with :mod:`deconv_core.qc`, :mod:`deconv_core.refit`.

:func:`explain_gene` splits a signature gene's measured expression among the
cell types.  Marker panels ship in ``assets/panels`` (see its PROVENANCE.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from deconv_core.coverage import RowIndex
from deconv_core.deconvolve import DeconvResult, coefficients_to_proportions
from deconv_core.downdate import FullFit, fit_full, leave_each_out, leave_out
from deconv_core.refit import (
    PSEUDOCOUNT,
    as_signature,
    fit_arrays,
    log_ratios,
    robust_spread,
    robust_weights,
)
from deconv_core.signatures import Signature
from deconv_core.solvers import per_sample
from deconv_core.threads import BLOCK_WORKERS, map_on_threads
from deconv_core.thresholds import DOWNWEIGHTED
from deconv_core.validation import DeconvWarning, InputError

__all__ = [
    "PANEL_DIR",
    "ConfoundingReport",
    "GeneExplanation",
    "MarkerPanel",
    "explain_gene",
    "flag_confounders",
    "load_panels",
    "panel_table",
]

#: Folder of the shipped marker panels.
PANEL_DIR = Path(__file__).resolve().parent.parent / "assets" / "panels"

# Samples per batch of the leave-one-gene-out refits: at most _CHUNK, and at
# most _CHUNK_FLOATS genes × cell types × samples floats (16 MB) per array, so
# the memory stays bounded for large signatures (LM22, ABIS) too.
_CHUNK = 1000
_CHUNK_FLOATS = 2_000_000
#: Threads the chunks run on (the answers do not depend on it).
CHECK_WORKERS = BLOCK_WORKERS
_FINDING_COLUMNS = [
    "sample",
    "cell_type",
    "code",
    "genes",
    "panels",
    "fold",
    "estimate",
    "estimate_without",
    "cause",
    "message",
]
# Predicting up to this factor more than measured still reads "all of it".
_CLOSE_ENOUGH = 1.25
# Share of assessed samples with a fragile estimate that earns a cohort note.
_FRAGILE_COHORT_SHARE = 0.25
# A cell type is "driven" only by suspect genes whose fitted expression it
# accounts for at least this share of.
_MIN_SHARE = 0.2
# A panel in excess names its genes at least this many robust SDs above
# their prediction (the panel score is the evidence; this picks the genes).
_MEMBER_Z = 2.0
# Largest leverage of a gene that can be a suspect on its own.
_MAX_SUSPECT_LEVERAGE = 0.3
# Leverage cap: keeps the studentising factor sqrt(1 - leverage) away from 0.
_MAX_LEVERAGE = 0.95
# What to do about a confounding finding, on each surface.
_ADVICE = {
    code: {
        "cli": "Rerun with --loss squares to see the estimate without the robust discount.",
        "app": "Choose Fit 'Least squares' on the Results page to see the estimate without "
        "the robust discount.",
    }
    for code in ("driven_by_genes", "panel_excess")
}
_GENERIC_CAUSE = (
    "cells here express these genes more than the signature's reference cells do (another cell "
    "state, or cells the signature lacks), not necessarily more cells."
)


@dataclass(frozen=True)
class MarkerPanel:
    """A named gene list that points to a likely cause.

    Attributes
    ----------
    name
        Short key, e.g. ``"activation"`` or ``"mcp_t_cells"``.
    title
        Human-readable name used in messages.
    genes
        Gene symbols (HGNC), in file order.
    cause
        Clause naming the likely cause when the genes are higher than the
        signature predicts.
    basis
        What the list rests on (sources, cited).
    licence
        Licence of the list.
    tested
        Whether :func:`flag_confounders` tests the panel for excess (True for
        the curated and tumour panels).  MCP-counter populations are only used
        to label genes: they mark the very cell types a signature models, so
        an "excess" of them mostly reflects how the fit split related cell
        types (e.g. CD4 T cells versus Tregs), not a confounder.
    """

    name: str
    title: str
    genes: tuple[str, ...]
    cause: str
    basis: str
    licence: str
    tested: bool = True


@dataclass(frozen=True)
class ConfoundingReport:
    """Result of :func:`flag_confounders`.

    Attributes
    ----------
    findings
        One row per finding: ``sample``, ``cell_type`` (the estimate
        concerned; several comma-separated for panel findings), ``code``
        (``driven_by_genes``, ``panel_excess``, ``fragile_estimate``),
        ``genes`` and ``panels`` (comma-separated), ``fold`` (measured /
        predicted expression of the genes, linear; NaN for fragile
        estimates), ``estimate`` and ``estimate_without`` (the proportion, and
        the proportion refitted without the genes, unitless), ``cause``,
        ``message``.
    warnings
        The same findings as warning records (severity ``warning``).
    """

    findings: pd.DataFrame
    warnings: tuple[DeconvWarning, ...]


@dataclass(frozen=True)
class GeneExplanation:
    """Result of :func:`explain_gene`; all values in the fit scale.

    Attributes
    ----------
    gene
        The gene explained, as spelled in the signature.
    parts
        Tidy table, one row per sample and part: ``sample``, ``part`` (a
        cell type or ``unexplained``), ``expression`` (coefficient × the cell
        type's signature expression of the gene; observed − fitted for
        ``unexplained``), ``share`` (``expression`` / observed).
    summary
        Index ``sample``: ``gene``, ``observed``, ``fitted``, ``unexplained``,
        ``explained_share`` (fitted / observed), ``weight`` (the gene's
        robustness weight in the fit, 0-1), one column per cell type (its
        part), ``sentence``.  The cell-type columns sum to ``fitted``;
        ``fitted + unexplained = observed``.
    """

    gene: str
    parts: pd.DataFrame
    summary: pd.DataFrame


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


@lru_cache(maxsize=1)
def _load_panels_cached() -> tuple[MarkerPanel, ...]:
    meta = json.loads((PANEL_DIR / "panels.json").read_text(encoding="utf-8"))
    panels: list[MarkerPanel] = []
    curated = meta["curated"]
    table = pd.read_csv(PANEL_DIR / curated["file"], sep="\t", dtype=str)
    for name, info in curated["panels"].items():
        genes = tuple(table.loc[table["panel"] == name, "gene"])
        panels.append(
            MarkerPanel(
                name, info["title"], genes, info["cause"], info["basis"], curated["licence"]
            )
        )
    tumour = meta["tumour_aberrant"]
    genes = tuple((PANEL_DIR / tumour["file"]).read_text(encoding="utf-8").split())
    panels.append(
        MarkerPanel(
            "tumour_aberrant",
            tumour["title"],
            genes,
            tumour["cause"],
            tumour["basis"],
            tumour["licence"],
        )
    )
    mcp = meta["mcp_counter"]
    fixes = mcp["symbol_fixes"]
    markers = pd.read_csv(PANEL_DIR / mcp["file"], sep="\t", dtype=str)
    for population, rows in markers.groupby("Cell population", sort=False):
        genes = tuple(fixes.get(g, g) for g in rows["HUGO symbols"] if fixes.get(g, g) != "")
        panels.append(
            MarkerPanel(
                f"mcp_{_slug(population)}",
                mcp["title"].format(population=population),
                genes,
                mcp["cause"].format(population=population),
                mcp["basis"],
                mcp["licence"],
                tested=False,
            )
        )
    return tuple(panels)


def load_panels() -> dict[str, MarkerPanel]:
    """The shipped marker panels, by name (a new dict on every call).

    Returns
    -------
    dict of str to MarkerPanel
        Curated panels (``activation``, ``interferon``, ``proliferation``,
        ``mhc_class_ii``, ``haemoglobin``, ``ribosomal``, ``mitochondrial``),
        TIL10's ``tumour_aberrant`` genes and one ``mcp_*`` panel per
        MCP-counter population, in that order (the order in which a likely
        cause is chosen).
    """
    return {p.name: p for p in _load_panels_cached()}


def panel_table(panels: dict[str, MarkerPanel] | None = None) -> pd.DataFrame:
    """Panels as a tidy table, one row per panel and gene.

    Parameters
    ----------
    panels
        Panels by name (default: :func:`load_panels`).

    Returns
    -------
    pandas.DataFrame
        Columns ``panel``, ``title``, ``gene``.
    """
    panels = load_panels() if panels is None else panels
    rows = [(p.name, p.title, g) for p in panels.values() for g in p.genes]
    return pd.DataFrame(rows, columns=["panel", "title", "gene"])


def _panel_rows(genes: list[str], panels: dict[str, MarkerPanel]) -> dict[str, list[int]]:
    """Panel name → the rows of ``genes`` its genes match, sorted
    (:func:`deconv_core.coverage.gene_rows`'s rule: same symbol ignoring case,
    else same HGNC gene)."""
    index = RowIndex(genes)
    return {name: sorted(set(index.rows(list(p.genes)).values())) for name, p in panels.items()}


def _gene_panels(
    genes: list[str], panels: dict[str, MarkerPanel], panel_rows: dict[str, list[int]]
) -> list[list[MarkerPanel]]:
    """For each gene, the panels that list it, in panel order."""
    found: list[list[MarkerPanel]] = [[] for _ in genes]
    for name, panel in panels.items():
        for row in panel_rows[name]:
            found[row].append(panel)
    return found


def _join(items: list[str]) -> str:
    return ", ".join(items)


def _cause(panel_lists: list[list[MarkerPanel]]) -> tuple[list[str], str, str]:
    """Titles of the panels involved, and the title and cause of the one covering most genes.

    Ties go to the panel listed first (curated panels come first).
    """
    order: list[MarkerPanel] = []
    counts: dict[str, int] = {}
    for members in panel_lists:
        for p in members:
            if p not in order:
                order.append(p)
            counts[p.name] = counts.get(p.name, 0) + 1
    if not order:
        return [], "", _GENERIC_CAUSE
    best = max(order, key=lambda p: counts[p.name])  # max keeps the first of equals
    return [p.title for p in order], best.title, best.cause


def _proportions(
    coef: np.ndarray, sig: Signature, result: DeconvResult, *, axis: int = 0
) -> np.ndarray:
    """Cell-type proportions of coefficients (cell types along ``axis``) in the result's mode."""
    props, _ = coefficients_to_proportions(
        coef, sig, mode=result.mode, mrna_scaling=result.mrna_scaling, axis=axis
    )
    k = coef.shape[axis]  # absolute mode appends "other": left out
    return props if props.shape[axis] == k else props.take(np.arange(k), axis=axis)


def _hat_matrix(Sw: np.ndarray) -> np.ndarray:
    """Hat matrix of the unconstrained weighted least-squares fit on all cell types.

    Parameters
    ----------
    Sw : (g, k) weighted signature.

    Returns
    -------
    (g, g) projection onto the span of the cell types' profiles.  Its
    diagonal is each gene's leverage (near 1 for a gene that alone marks a
    cell type).  All cell types are used, not only the ones a sample's NNLS
    fit kept: a cell type fitted at zero by chance must still protect its
    markers from being called "in excess".
    """
    return Sw @ np.linalg.pinv(Sw.T @ Sw) @ Sw.T


def _panel_score(
    hat: np.ndarray, rows: np.ndarray, ratios: np.ndarray, spread: np.ndarray
) -> np.ndarray:
    """Score of a common excess of a panel's genes over their leave-panel-out prediction.

    For linear least squares the leave-panel-out residuals ``e`` of the
    panel's ``p`` genes have covariance ``sigma**2 (I - H)^-1``, with ``H`` the
    panel's block of the hat matrix.  The most powerful test of a common
    positive shift is then ``Z = 1'(I - H) e / (sigma sqrt(1'(I - H) 1))``,
    about standard normal without a shift.  Genes that mark cell types few
    other genes mark get little weight: their excess cannot be told from more
    cells.

    Parameters
    ----------
    hat : (g, g) hat matrix; rows : (p,) panel gene rows;
    ratios : (p, m) log2 leave-panel-out ratios; spread : (m,) per-sample
    noise level of the log2 ratios.

    Returns
    -------
    (m,) scores (NaN where the panel cannot be tested).
    """
    contrast = (np.eye(rows.size) - hat[np.ix_(rows, rows)]).sum(axis=0)  # 1'(I - H)
    total = float(contrast.sum())
    if total <= 1e-6:
        return np.full(ratios.shape[1], np.nan)
    return contrast @ np.nan_to_num(ratios) / np.sqrt(total) / spread


@dataclass(frozen=True)
class _Thresholds:
    min_fold: float
    min_z: float
    min_z_gene: float
    min_influence: float
    fragile_influence: float
    min_estimate: float


def _finding(sample, cell_type, code, genes, panels, fold, estimate, without, cause, message):
    return [sample, cell_type, code, genes, panels, fold, estimate, without, cause, message]


def flag_confounders(
    result: DeconvResult,
    signature: Signature | pd.DataFrame,
    *,
    panels: dict[str, MarkerPanel] | None = None,
    min_fold: float = 2.0,
    min_z: float = 5.0,
    min_z_gene: float = 6.0,
    min_influence: float = 0.25,
    fragile_influence: float = 0.5,
    min_estimate: float = 0.02,
) -> ConfoundingReport:
    """Find estimates driven by genes that the signature's cells do not explain.

    See the module docstring for the method.

    Parameters
    ----------
    result
        The deconvolution to assess.
    signature
        The signature it was computed with (for the mRNA-content factors).
    panels
        Marker panels by name (default: the shipped ones, :func:`load_panels`).
    min_fold
        Measured / predicted expression (linear) at which a panel, or a single
        gene, is in excess (default 2).
    min_z
        Panel score at which a panel is in excess (default 5).
    min_z_gene
        Studentised leave-one-out log ratio at which a single gene, outside
        any panel in excess, is a suspect (default 6).
    min_influence
        Relative drop of an estimate, when the suspect genes are left out,
        that makes it "driven" by them (default 0.25).
    fragile_influence
        Relative drop of an estimate, when one gene is left out, that makes
        it rest on few genes (default 0.5).
    min_estimate
        Estimates below this proportion are not assessed (default 0.02).

    Returns
    -------
    ConfoundingReport
        Per-sample findings, and warnings: one per ``driven_by_genes`` and
        ``panel_excess`` finding (severity ``warning``, naming the sample),
        and one ``few_genes`` record per cell type (severity ``info``, for
        the whole cohort) when single genes swing its estimate in at least a
        quarter of the samples assessed.
    """
    panels = load_panels() if panels is None else panels
    limits = _Thresholds(
        min_fold, min_z, min_z_gene, min_influence, fragile_influence, min_estimate
    )
    sig = as_signature(signature, result)
    genes = [str(x) for x in result.signature_matrix.index]
    panel_rows = _panel_rows(genes, panels)
    gene_panels = _gene_panels(genes, panels, panel_rows)
    testable = _testable_panels(panels, panel_rows)
    samples = [str(s) for s in result.observed.columns]
    k = result.signature_matrix.shape[1]
    spread_floor = _cohort_spread(result)
    arrays = _Arrays.of(result)
    step = max(1, min(_CHUNK, _CHUNK_FLOATS // (len(genes) * k)))
    chunks = [slice(a, min(a + step, len(samples))) for a in range(0, len(samples), step)]

    def flag(cols: slice) -> tuple[list[list], np.ndarray, list[dict[str, int]]]:
        fragile = np.zeros((2, k), dtype=int)  # samples assessed, samples fragile
        fragile_genes: list[dict[str, int]] = [{} for _ in range(k)]
        found = _flag_chunk(
            result, sig, arrays, cols, genes, gene_panels, testable, limits,
            fragile, fragile_genes, spread_floor,
        )  # fmt: skip
        return found, fragile, fragile_genes

    # Chunks on a few threads, each with its own counts, joined in order.
    findings: list[list] = []
    fragile = np.zeros((2, k), dtype=int)
    fragile_genes: list[dict[str, int]] = [{} for _ in range(k)]
    for found, counts, genes_counted in map_on_threads(flag, chunks, CHECK_WORKERS):
        findings.extend(found)
        fragile += counts
        for total, part in zip(fragile_genes, genes_counted, strict=True):
            for gene, count in part.items():
                total[gene] = total.get(gene, 0) + count
    table = pd.DataFrame(findings, columns=_FINDING_COLUMNS)
    for column in ("fold", "estimate", "estimate_without"):
        table[column] = table[column].astype(float)
    warnings = [
        DeconvWarning(
            "warning",
            row.code,
            row.message,
            row.sample,
            cell_type=row.cell_type,
            **_ADVICE[row.code],
        )
        for row in table.itertuples(index=False)
        if row.code != "fragile_estimate"
    ]
    cell_types = [str(c) for c in result.signature_matrix.columns]
    warnings.extend(
        _few_genes_warnings(
            cell_types, _shown_names(sig, result), fragile, fragile_genes, fragile_influence
        )
    )
    return ConfoundingReport(findings=table, warnings=tuple(warnings))


def _testable_panels(
    panels: dict[str, MarkerPanel], panel_rows: dict[str, list[int]]
) -> list[tuple[MarkerPanel, np.ndarray]]:
    """Panels testable on these data (at least two of their genes fitted), with their gene rows."""
    testable = []
    for name, panel in panels.items():
        rows = panel_rows[name]
        if panel.tested and len(rows) >= 2:
            testable.append((panel, np.array(rows)))
    return testable


def _cohort_spread(result: DeconvResult) -> float:
    """Median over fitted samples of the in-fit robust spread of log ratios (0 if none)."""
    in_fit = robust_spread(
        log_ratios(result.observed.to_numpy(dtype=float), result.fitted.to_numpy(dtype=float))
    )
    fitted_ok = ~result.coefficients.isna().any(axis=1).to_numpy()
    return float(np.median(in_fit[fitted_ok])) if fitted_ok.any() else 0.0


def _shown_names(sig: Signature, result: DeconvResult) -> list[str]:
    """The display name of each of the result's cell types, in its column order."""
    names = sig.shown_names
    return [names.get(str(c), str(c)) for c in result.signature_matrix.columns]


def _few_genes_warnings(
    cell_types: list[str],
    shown: list[str],
    fragile: np.ndarray,
    fragile_genes: list[dict[str, int]],
    fragile_influence: float,
) -> list[DeconvWarning]:
    """One ``few_genes`` record per cell type fragile in at least a quarter of the samples."""
    warnings = []
    assessed, fragile_count = fragile
    for t, (cell_type, name) in enumerate(zip(cell_types, shown, strict=True)):
        if fragile_count[t] and fragile_count[t] >= _FRAGILE_COHORT_SHARE * assessed[t]:
            common = sorted(fragile_genes[t].items(), key=lambda item: (-item[1], item[0]))[:3]
            warnings.append(
                DeconvWarning(
                    "info",
                    "few_genes",
                    f"{name} estimates rest on few genes: in {fragile_count[t]} of "
                    f"{assessed[t]} samples leaving out a single gene (most often "
                    f"{_join([gene for gene, _ in common])}) lowers the estimate by "
                    f"{fragile_influence:.0%} or more. Check those genes and the confidence "
                    "intervals.",
                    cli="Add --bootstrap 200 to write the intervals.",
                    app="Turn on the intervals ('Show ... intervals') on the Results page.",
                    cell_type=cell_type,
                )
            )
    return warnings


@dataclass(frozen=True)
class _Chunk:
    """One chunk of m samples as arrays (g genes used, k cell types), for :func:`_flag_chunk`."""

    Sw: np.ndarray  # (g, k) weighted signature
    hat: np.ndarray  # (g, g) its hat matrix (:func:`_hat_matrix`)
    fit: FullFit  # the weighted fit every refit without some genes starts from
    robust: np.ndarray | None  # (g, m) robustness weights, None for least squares
    S: np.ndarray  # (g, k) signature
    Y: np.ndarray  # (g, m) observed values
    coef: np.ndarray  # (k, m) coefficients of the fit
    props: np.ndarray  # (k, m) proportions of the fit
    ok: np.ndarray  # (m,) samples with a fit
    fitted: np.ndarray  # (g, m) fitted values
    samples: list[str]
    cell_types: list[str]
    shown: list[str]  # the cell types' display names, for the messages
    genes: list[str]
    gene_panels: list[list[MarkerPanel]]


@dataclass(frozen=True)
class _LeaveOneOut:
    """Step 1 of :func:`_flag_chunk`: each gene against what the other genes predict."""

    ratios: np.ndarray  # (g, m) log2 ratios of observed to leave-one-out predictions
    props: np.ndarray  # (g, k, m) proportions without each gene
    hat: np.ndarray  # (g, g) hat matrix of the weighted signature
    spread: np.ndarray  # (m,) robust spread of the studentised ratios, floored
    scale: np.ndarray  # (g, m) multiplies a log ratio into a studentised score
    suspect: np.ndarray  # (g, m) bool, single-gene suspects (panels add theirs later)


@dataclass(frozen=True)
class _Arrays:
    """A result's arrays for every sample, taken once and sliced by each :class:`_Chunk`."""

    Sw: np.ndarray  # (g, k) weighted signature
    hat: np.ndarray  # (g, g) its hat matrix, the same for every chunk
    Yw: np.ndarray  # (g, n) weighted observed values, 0 where missing
    nan: np.ndarray  # (g, n) missing values
    robust: np.ndarray | None  # (g, n) robustness weights, None for least squares
    S: np.ndarray  # (g, k) signature
    Y: np.ndarray  # (g, n) observed values
    coef: np.ndarray  # (k, n) coefficients
    props: np.ndarray  # (k, n) proportions

    @classmethod
    def of(cls, result: DeconvResult) -> _Arrays:
        Sw, Yw, nan, _ = fit_arrays(result)
        S = result.signature_matrix.to_numpy(dtype=np.float64)
        return cls(
            Sw=Sw,
            hat=_hat_matrix(Sw),
            Yw=Yw,
            nan=nan,
            robust=robust_weights(result),
            S=S,
            Y=result.observed.to_numpy(dtype=np.float64),
            coef=result.coefficients.to_numpy(dtype=float).T,
            props=result.proportions.to_numpy(dtype=float).T[: S.shape[1]],
        )


def _chunk(
    result: DeconvResult,
    sig: Signature,
    arrays: _Arrays,
    cols: slice,
    genes: list[str],
    gene_panels: list[list[MarkerPanel]],
) -> _Chunk:
    S, Sw = arrays.S, arrays.Sw
    coef = arrays.coef[:, cols]  # (k, m)
    robust = None if arrays.robust is None else arrays.robust[:, cols]
    # Least squares: weight 1 for every present value, 0 for missing ones.
    weights = (~arrays.nan[:, cols]).astype(np.float64) if robust is None else robust
    return _Chunk(
        Sw=Sw,
        hat=arrays.hat,
        fit=fit_full(Sw, arrays.Yw[:, cols], weights, np.nan_to_num(coef)),
        robust=robust,
        S=S,
        Y=arrays.Y[:, cols],
        coef=coef,
        props=arrays.props[:, cols],  # (k, m)
        ok=~np.isnan(coef).any(axis=0),
        fitted=per_sample(S, np.nan_to_num(coef)),
        samples=[str(s) for s in result.observed.columns[cols]],
        cell_types=[str(c) for c in result.signature_matrix.columns],
        shown=_shown_names(sig, result),
        genes=genes,
        gene_panels=gene_panels,
    )


def _flag_chunk(
    result: DeconvResult,
    sig: Signature,
    arrays: _Arrays,
    cols: slice,
    genes: list[str],
    gene_panels: list[list[MarkerPanel]],
    testable: list[tuple[MarkerPanel, np.ndarray]],
    limits: _Thresholds,
    fragile: np.ndarray,
    fragile_genes: list[dict[str, int]],
    spread_floor: float,
) -> list[list]:
    """:func:`flag_confounders` on the samples ``cols``; updates the fragile counts."""
    c = _chunk(result, sig, arrays, cols, genes, gene_panels)
    loo = _leave_genes_out(c, sig, result, limits, spread_floor)
    excess = _panels_in_excess(c, testable, loo, limits)
    coef_drop = _refit_without_suspects(c, loo.suspect)
    props_drop = _proportions(coef_drop, sig, result)
    predicted_drop = per_sample(c.S, np.nan_to_num(coef_drop))
    findings: list[list] = []
    # Which estimates one gene swings by fragile_influence: one pass over the
    # (g, k, m) block instead of a strided read per sample and cell type.
    with np.errstate(divide="ignore", invalid="ignore"):
        swing = c.props[None] - loo.props  # in place below: (g, k, m) is the chunk's biggest
        swing /= c.props[None]
    swung = (np.nan_to_num(swing, copy=False) >= limits.fragile_influence).any(axis=0)
    for s in np.flatnonzero(c.ok):
        driven, named, reported_types = _driven_findings(
            c, s, loo, coef_drop, props_drop, predicted_drop, limits
        )
        findings.extend(driven)
        findings.extend(_panel_findings(c, s, excess, named))
        findings.extend(
            _fragile_findings(
                c, s, loo, reported_types, limits, fragile, fragile_genes, swung[:, s]
            )
        )
    return findings


def _leave_genes_out(
    c: _Chunk, sig: Signature, result: DeconvResult, limits: _Thresholds, spread_floor: float
) -> _LeaveOneOut:
    """Step 1: leave each gene out in turn: single-gene suspects and fragility."""
    # Each refit keeps the fit's robustness weights (the estimator linearised
    # at its solution), as a refit from scratch with those weights would.
    coef_loo = leave_each_out(c.fit)
    predicted_loo = np.einsum("ik,iks->is", c.S, coef_loo)
    ratios_loo = log_ratios(c.Y, predicted_loo)
    props_loo = _proportions(coef_loo, sig, result, axis=1)
    # Log ratios are studentised: a gene that few others back up (high
    # leverage) is predicted less precisely without itself, so its ratio is
    # multiplied by sqrt(1 - leverage) (externally studentised residuals),
    # then divided by the sample's robust spread of those values.
    hat = c.hat
    leverage = np.minimum(np.diag(hat), _MAX_LEVERAGE)[:, None]
    studentised = ratios_loo * np.sqrt(1.0 - leverage)
    # A sample's own spread rests on ~150 genes and can come out low by
    # chance; the cohort's typical spread is a floor (a single sample is its
    # own cohort).
    spread = np.maximum(robust_spread(studentised), spread_floor)
    scale = np.sqrt(1.0 - leverage) / spread
    min_log_fold = np.log2(limits.min_fold)
    # A single gene is a suspect only if other genes back up its cell types
    # (low leverage): otherwise more expression and more cells look the same.
    with np.errstate(invalid="ignore"):
        suspect = (
            (ratios_loo * scale >= limits.min_z_gene)
            & (ratios_loo >= min_log_fold)
            & (leverage <= _MAX_SUSPECT_LEVERAGE)
        )
    return _LeaveOneOut(
        ratios=ratios_loo, props=props_loo, hat=hat, spread=spread, scale=scale, suspect=suspect
    )


def _panels_in_excess(
    c: _Chunk,
    testable: list[tuple[MarkerPanel, np.ndarray]],
    loo: _LeaveOneOut,
    limits: _Thresholds,
) -> list[tuple[MarkerPanel, int, list[int], float]]:
    """Step 2: leave each panel out; its raised genes join ``loo.suspect`` (in place).

    A panel is in excess when its genes, together, are far above what the
    other genes predict (no masking between them).  Returns (panel, sample
    position, gene rows most raised first, fold) per panel in excess.
    """
    excess: list[tuple[MarkerPanel, int, list[int], float]] = []
    for panel, rows in testable:
        drop = np.zeros(c.S.shape[0], dtype=bool)
        drop[rows] = True
        coef_out = leave_out(c.fit, drop)
        predicted = per_sample(c.S[rows], coef_out)
        ratios = log_ratios(c.Y[rows], predicted)
        z = ratios * loo.scale[rows]
        score = _panel_score(loo.hat, rows, ratios, loo.spread)
        with np.errstate(invalid="ignore"):
            fold = (np.nansum(c.Y[rows], axis=0) + PSEUDOCOUNT) / (
                np.nansum(np.maximum(predicted, 0.0), axis=0) + PSEUDOCOUNT
            )
            hit = c.ok & (score >= limits.min_z) & (fold >= limits.min_fold)
            member = (z >= _MEMBER_Z) & (ratios > 0)
        for s in np.flatnonzero(hit):
            order = rows[member[:, s]][np.argsort(-ratios[member[:, s], s], kind="stable")]
            if order.size:
                loo.suspect[order, s] = True
                excess.append((panel, int(s), [int(i) for i in order], float(fold[s])))
    return excess


def _refit_without_suspects(c: _Chunk, suspect: np.ndarray) -> np.ndarray:
    """Step 3: (k, m) coefficients without each sample's suspects."""
    coef_drop = c.coef.copy()
    has = np.flatnonzero(suspect.any(axis=0) & c.ok)
    if has.size:
        coef_drop[:, has] = leave_out(c.fit.columns(has), suspect[:, has])
    return coef_drop


def _driven_findings(
    c: _Chunk,
    s: int,
    loo: _LeaveOneOut,
    coef_drop: np.ndarray,
    props_drop: np.ndarray,
    predicted_drop: np.ndarray,
    limits: _Thresholds,
) -> tuple[list[list], set[int], set[int]]:
    """Step 3's findings for sample ``s``: ``driven_by_genes`` rows, gene rows named, types."""
    findings: list[list] = []
    reported_types: set[int] = set()
    named: set[int] = set()
    sus = np.flatnonzero(loo.suspect[:, s])
    if not sus.size or np.isnan(coef_drop[:, s]).any():
        return findings, named, reported_types
    sample = c.samples[s]
    for t in range(c.S.shape[1]):
        estimate, without = c.props[t, s], props_drop[t, s]
        if estimate < limits.min_estimate or (estimate - without < limits.min_influence * estimate):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            share = c.S[sus, t] * c.coef[t, s] / c.fitted[sus, s]
        mine = np.flatnonzero(share >= _MIN_SHARE)
        if mine.size == 0:
            continue
        idx = sus[mine[np.argsort(-loo.ratios[sus[mine], s], kind="stable")]]
        fold = (c.Y[idx, s].sum() + PSEUDOCOUNT) / (
            max(predicted_drop[idx, s].sum(), 0.0) + PSEUDOCOUNT
        )
        names = [c.genes[i] for i in idx]
        titles, main, cause = _cause([c.gene_panels[i] for i in idx])
        label = f" ({main} panel)" if main else ""
        cell_type = c.cell_types[t]
        findings.append(
            _finding(
                sample,
                cell_type,
                "driven_by_genes",
                _join(names),
                _join(titles),
                fold,
                estimate,
                without,
                cause,
                f"Sample {sample}: the {c.shown[t]} estimate ({estimate:.1%}; "
                f"{without:.1%} without these genes) is driven by {_join(names)}{label}, "
                f"whose expression is {fold:.1f}x what the signature predicts from the "
                f"other genes: {cause}",
            )
        )
        named.update(int(i) for i in idx)
        reported_types.add(t)
    return findings, named, reported_types


def _panel_findings(
    c: _Chunk,
    s: int,
    excess: list[tuple[MarkerPanel, int, list[int], float]],
    named: set[int],
) -> list[list]:
    """Step 4: panels in excess in sample ``s`` with genes not named yet (updates ``named``)."""
    findings: list[list] = []
    sample = c.samples[s]
    for panel, _, idx, fold in (e for e in excess if e[1] == s):
        if set(idx) <= named:
            continue
        names = [c.genes[i] for i in idx]
        types = list(dict.fromkeys(int(np.argmax(c.S[i])) for i in idx))
        marks = [c.cell_types[t] for t in types]
        findings.append(
            _finding(
                sample,
                _join(marks),
                "panel_excess",
                _join(names),
                panel.title,
                fold,
                np.nan,
                np.nan,
                panel.cause,
                f"Sample {sample}: {_join(names)} ({panel.title} panel) are {fold:.1f}x "
                f"what the signature predicts from the other genes: {panel.cause} In the "
                f"signature they mark {_join([c.shown[t] for t in types])}, whose estimates "
                "may be inflated."
                + (
                    ""
                    if c.robust is None
                    else _discount_note(
                        float(np.mean(c.robust[idx, s])),
                        "them",
                        ", which limits the inflation (a least-squares fit would not).",
                    )
                ),
            )
        )
        named.update(idx)
    return findings


def _fragile_findings(
    c: _Chunk,
    s: int,
    loo: _LeaveOneOut,
    reported_types: set[int],
    limits: _Thresholds,
    fragile: np.ndarray,
    fragile_genes: list[dict[str, int]],
    swung: np.ndarray,
) -> list[list]:
    """Step 5: estimates of sample ``s`` that rest on one or a few genes (updates the counts).

    ``swung`` (k,) says which cell types' estimates some single gene swings
    by ``fragile_influence`` or more (the others need no closer look).
    """
    findings: list[list] = []
    sample = c.samples[s]
    for t in range(c.S.shape[1]):
        estimate = c.props[t, s]
        if estimate < limits.min_estimate or t in reported_types:
            continue
        fragile[0, t] += 1
        if not swung[t]:
            continue
        drop = (estimate - loo.props[:, t, s]) / estimate
        top = np.flatnonzero(np.nan_to_num(drop) >= limits.fragile_influence)
        if top.size == 0:
            continue
        top = top[np.argsort(-drop[top], kind="stable")][:3]
        fragile[1, t] += 1
        for i in top:
            fragile_genes[t][c.genes[i]] = fragile_genes[t].get(c.genes[i], 0) + 1
        first = int(top[0])
        titles, _, _ = _cause([c.gene_panels[i] for i in top])
        findings.append(
            _finding(
                sample,
                c.cell_types[t],
                "fragile_estimate",
                _join([c.genes[i] for i in top]),
                _join(titles),
                np.nan,
                estimate,
                float(loo.props[first, t, s]),
                "the estimate depends on few genes",
                f"Sample {sample}: the {c.shown[t]} estimate ({estimate:.1%}) rests on few "
                f"genes: without {c.genes[first]} it would be {loo.props[first, t, s]:.1%}.",
            )
        )
    return findings


def _discount_note(weight: float, subject: str, consequence: str) -> str:
    """A clause saying the robust fit discounted ``subject`` (empty above the threshold).

    ``weight`` is a robustness weight (all 1 for least squares, NaN where
    missing: both give no clause).
    """
    if np.isnan(weight) or weight >= DOWNWEIGHTED:
        return ""
    return f" The robust fit gave {subject} {weight:.0%} of a normal gene's weight{consequence}"


def _percent(x: float) -> str:
    return f"{x:.0%}"


def _sentence(gene: str, sample: str, observed: float, fitted: float, parts: pd.Series) -> str:
    """One plain sentence saying which cell types account for a gene in a sample."""
    if np.isnan(observed):
        return f"Sample {sample} has no value for {gene}."
    if np.isnan(fitted):
        return f"Sample {sample} could not be deconvolved, so {gene} cannot be split."
    ranked = parts[parts > 0].sort_values(ascending=False, kind="stable")
    main, total = [], 0.0
    for cell_type, value in ranked.items():
        main.append(str(cell_type))
        total += value
        if total >= 0.8 * fitted or len(main) == 3:
            break
    if fitted <= 0:
        return (
            f"None of {gene} in sample {sample} is accounted for by the signature's cell types "
            "(the cell types that express it were estimated at zero)."
        )
    if observed <= 0:
        return (
            f"{gene} is not measured in sample {sample}, but the signature's cell types predict "
            f"{fitted:.3g} (mostly {_join(main)})."
        )
    if fitted > observed * _CLOSE_ENOUGH:
        return (
            f"The signature's cell types predict {fitted / observed:.1f}x the {gene} measured "
            f"in sample {sample} (mostly from {_join(main)}): these cells express less of it "
            "here than in the reference, or they are overestimated."
        )
    if fitted > observed:
        return (
            f"All of {gene} in sample {sample} is accounted for by {_join(main)} (the fit "
            f"predicts {fitted / observed:.2f}x what was measured)."
        )
    if len(main) == 1:
        who = main[0]
    else:
        who = _join([f"{c} ({_percent(ranked[c] / observed)})" for c in main])
    rest = 1.0 - fitted / observed
    return (
        f"{_percent(fitted / observed)} of {gene} in sample {sample} is accounted for by {who}; "
        f"{_percent(rest)} is not explained by the signature's cell types."
    )


def explain_gene(
    result: DeconvResult, gene: str, *, names: Mapping[str, str] | None = None
) -> GeneExplanation:
    """How much of a gene's measured expression each cell type accounts for.

    In every sample the fit predicts a signature gene's expression as
    ``sum_t coefficient_t × signature[gene, t]``; each term is the part of
    the gene's expression attributed to cell type ``t``.  What the cell types
    do not account for is ``observed − fitted`` (negative when they predict
    more than was measured).

    Parameters
    ----------
    result
        A deconvolution result.
    gene
        Gene symbol (case-insensitive); must be one of the signature genes
        used in the fit.
    names
        Cell-type id → display name for the sentences
        (:attr:`~deconv_core.signatures.Signature.shown_names`); the tables keep the ids.

    Returns
    -------
    GeneExplanation
        Parts per sample and cell type in the fit scale (expression
        normalised to 1e6 per sample over all genes, TPM-like), the gene's
        robustness weight in each sample (``weight``, 0-1), and one sentence
        per sample (noting when the robust fit discounted the gene).

    Raises
    ------
    InputError
        If the gene is not a signature gene used in the fit (not in the
        signature, missing from the data, or on the exclusion list).
    """
    name = _fitted_gene_name(result, gene)
    profile = result.signature_matrix.loc[name].to_numpy(dtype=float)  # (k,)
    coef = result.coefficients.to_numpy(dtype=float)  # (n, k)
    contributions = coef * profile[None, :]  # (n, k)
    observed = result.observed.loc[name].to_numpy(dtype=float)
    fitted = contributions.sum(axis=1)
    unexplained = observed - fitted
    cell_types = [str(c) for c in result.signature_matrix.columns]
    samples = pd.Index([str(s) for s in result.coefficients.index], name="sample")
    weight = result.robustness.loc[name].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        explained_share = np.where(observed > 0, fitted / observed, np.nan)
        shares = np.where(observed[:, None] > 0, contributions / observed[:, None], np.nan)
        unexplained_share = np.where(observed > 0, unexplained / observed, np.nan)
    summary = pd.DataFrame(
        {
            "gene": name,
            "observed": observed,
            "fitted": fitted,
            "unexplained": unexplained,
            "explained_share": explained_share,
            "weight": weight,
        },
        index=samples,
    )
    parts_wide = pd.DataFrame(contributions, index=samples, columns=cell_types)
    summary = pd.concat([summary, parts_wide], axis=1)
    shown = parts_wide.rename(columns=lambda c: (names or {}).get(c, c))
    summary["sentence"] = [
        _sentence(name, s, observed[j], fitted[j], shown.iloc[j])
        + _discount_note(weight[j], name, " here, so it barely moved this sample's proportions.")
        for j, s in enumerate(samples)
    ]
    n, k = contributions.shape
    parts = pd.DataFrame(
        {
            "sample": np.repeat(np.asarray(samples), k + 1),
            "part": np.tile(cell_types + ["unexplained"], n),
            "expression": np.column_stack([contributions, unexplained]).ravel(),
            "share": np.column_stack([shares, unexplained_share]).ravel(),
        }
    )
    return GeneExplanation(gene=name, parts=parts, summary=summary)


def _fitted_gene_name(result: DeconvResult, gene: str) -> str:
    """The fit's spelling of ``gene`` (case-insensitive), or an error saying why it is absent."""
    wanted = str(gene).strip()
    used = {str(g).upper(): str(g) for g in result.genes_used}
    examples = ", ".join(sorted(used.values())[:5])
    if not wanted:
        raise InputError(
            f"No gene was named; name one of the {len(used)} {result.signature_name} signature "
            f"genes used in the fit (e.g. {examples})."
        )
    if wanted.upper() in used:
        return used[wanted.upper()]
    if wanted.upper() in {str(g).upper() for g in result.genes_missing}:
        raise InputError(
            f"{wanted} is a gene of the {result.signature_name} signature but was not used "
            "in the fit: it is missing from the expression data (no row with a value)."
        )
    if wanted.upper() in {str(g).upper() for g in result.genes_excluded}:
        raise InputError(
            f"{wanted} is a gene of the {result.signature_name} signature but was not used "
            "in the fit: it is on the exclusion list.",
            cli="Rerun with --exclude none to keep the listed genes.",
            app="Choose 'keep all signature genes' under 'Leave out the signature's noisy "
            "genes' on the Results page to keep the listed genes.",
        )
    raise InputError(
        f"{wanted} is not one of the {len(used)} {result.signature_name} signature genes "
        "used in the fit, so the signature's cell types cannot account for it; pick a "
        f"signature gene (e.g. {examples})."
    )

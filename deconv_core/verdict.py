"""One verdict per sample: good, check or poor, with the reasons in words.

The verdict is computed once, here, from the fit statistics, the permutation
p-value when there is one, the signature coverage and the run's warnings;
``fit.csv``, every export, the Results charts and table, the QC page and the
command line all read it.  The limits are those of
:mod:`deconv_core.thresholds`, the same the core's ``poor_fit`` and
``fit_not_significant`` warnings use, so a sample is "poor" exactly when the
core flags it (or could not fit it).

poor
    Not deconvolved (an ``error`` about the sample), or a poor fit (Pearson r
    below :data:`~deconv_core.thresholds.POOR_R` or R² below
    :data:`~deconv_core.thresholds.POOR_R2`), or no better than random
    mixtures (p-value above :data:`~deconv_core.thresholds.ALPHA`).
check
    A fair fit (r below :data:`~deconv_core.thresholds.GOOD_R` or R² below
    :data:`~deconv_core.thresholds.GOOD_R2`), or a warning about the sample
    (outlying residuals, estimates driven by genes rather than cells, values
    missing for most markers of a cell type), or a
    warning that weakens every sample of the run (low signature coverage,
    absolute mode on data that are not a whole transcriptome).
good
    None of the above.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from deconv_core.thresholds import ALPHA, GENE_Z, GOOD_R, GOOD_R2, POOR_R, POOR_R2
from deconv_core.validation import DeconvWarning

__all__ = [
    "RUN_CODES",
    "VERDICTS",
    "fit_grade",
    "fit_stats",
    "format_against",
    "sample_verdicts",
    "verdict_counts",
    "worst_first",
]

#: Verdicts, best first.
VERDICTS = ("good", "check", "poor")
#: Run-wide warning codes that make every sample at best "check", with the reason shown.
RUN_CODES = {
    "low_coverage": "few signature genes were found in the data",
    "cell_type_coverage": "few marker genes were found for some cell types (see coverage)",
    "few_genes_absolute": "absolute fractions from data that are not a whole transcriptome",
    "absolute_counts": "absolute fractions from counts, not TPM",
    "absolute_mrna_shares": "absolute numbers are mRNA shares (no mRNA-content correction)",
    "mouse_signature_human_data": "a mouse signature on human data",
}
# Per-sample warning codes and the words they add to a "check" reason.
_SAMPLE_CODES = {
    "outlier_fit": "its genes miss the fit far more than the cohort's",
    "driven_by_genes": "some estimates are driven by genes, not cells",
    "panel_excess": "a marker panel is far above what the other genes predict",
    "sample_cell_type_coverage": "few marker genes of a cell type have values in it "
    "(see sample_coverage)",
    "genes_set_aside": "the robust fit set aside several of its genes (see the warnings)",
}
# Warnings the verdict itself restates from the fit statistics and p-values.
_RESTATED = ("poor_fit", "fit_not_significant")


def fit_grade(r: float, r2: float) -> str:
    """Grade one fit by its Pearson r and R²: ``"good"``, ``"check"`` or ``"poor"``.

    NaN (no fit) is ``"poor"``.  The limits are
    :data:`~deconv_core.thresholds.GOOD_R`, ``GOOD_R2``, ``POOR_R`` and ``POOR_R2``.
    """
    if not (np.isfinite(r) and np.isfinite(r2)) or r < POOR_R or r2 < POOR_R2:
        return "poor"
    if r < GOOD_R or r2 < GOOD_R2:
        return "check"
    return "good"


def format_against(
    value: float,
    limits: Sequence[float],
    *,
    digits: int = 2,
    significant: bool = False,
    ties: str = "above",
) -> str:
    """``value`` as text with just enough digits to stay on its side of every limit.

    Rounded to ``digits``, R² = 0.7997 reads "0.80" next to "good needs R² ≥
    0.8": the verdict then contradicts its own reason.  Digits are added until
    the number shown falls on the same side of each limit as the value.

    Parameters
    ----------
    value
        The number (NaN and infinities are written as Python writes them).
    limits
        Thresholds the text is read against.
    digits
        Decimals (or significant digits with ``significant``) when they suffice.
    significant
        Count significant digits (``g`` format, for p-values) instead of decimals.
    ties
        Which side a value equal to a limit is on: ``"above"`` for limits met
        with ≥ (r, R²), ``"below"`` for limits exceeded with > (p-values).
    """
    if ties not in ("above", "below"):
        raise ValueError(f"ties must be 'above' or 'below', got {ties!r}")

    def side(x: float, limit: float) -> bool:
        return x >= limit if ties == "above" else x > limit

    kind = "g" if significant else "f"
    text = f"{value:.{digits}{kind}}"
    if not np.isfinite(value):
        return text
    for more in range(digits, 17):
        text = f"{value:.{more}{kind}}"
        if all(side(float(text), limit) == side(value, limit) for limit in limits):
            return text
    return repr(float(value))


def fit_stats(r: float, r2: float) -> str:
    """The text ``r = …, R² = …`` of a reason, each number on its true side of the limits.

    Two decimals unless a value below :data:`~deconv_core.thresholds.GOOD_R`,
    ``GOOD_R2``, ``POOR_R`` or ``POOR_R2`` would round up to it
    (:func:`format_against`): R² = 0.7997 is "0.7997", not "0.80".
    """
    shown_r = format_against(r, (POOR_R, GOOD_R))
    return f"r = {shown_r}, R² = {format_against(r2, (POOR_R2, GOOD_R2))}"


def _misses(z: pd.DataFrame | None) -> dict[str, str]:
    """Per sample, the (at most 3) genes the fit misses most (``|z| >= GENE_Z``), as words.

    The three genes are picked for all samples at once (a per-sample pandas sort
    took seconds for 1,000 samples).
    """
    if z is None:
        return {}
    values = z.to_numpy(dtype=np.float64)
    size = np.nan_to_num(np.abs(values), nan=-1.0)
    top = _top_three(size)
    genes = [str(g) for g in z.index]
    out = {}
    for j, sample in enumerate(z.columns):
        parts = [
            f"{genes[i]} ({'higher' if values[i, j] > 0 else 'lower'})"
            for i in top[:, j]
            if size[i, j] >= GENE_Z
        ]
        out[str(sample)] = "largest misses: " + ", ".join(parts) if parts else ""
    return out


def _top_three(size: np.ndarray) -> np.ndarray:
    """Rows of the (up to) 3 largest values of each column, largest first, ties by row.

    The same as ``np.argsort(-size, axis=0, kind="stable")[:3]`` for a
    (genes, samples) array without NaN, at a fraction of the cost: a partition
    finds each column's 3rd largest value; a column with exactly 3 values at or
    above it orders those 3 alone, any other (ties at the 3rd) is sorted whole.
    Returns (min(3, genes), samples) row indices.
    """
    if size.shape[0] <= 3:
        return np.argsort(-size, axis=0, kind="stable")[:3]
    third = -np.partition(-size, 2, axis=0)[2]
    above = size >= third
    count = above.sum(axis=0)
    plain = np.flatnonzero(count == 3)
    top = np.empty((3, size.shape[1]), dtype=np.intp)
    rows = np.nonzero(above[:, plain].T)[1].reshape(-1, 3)  # by column, rows ascending
    order = np.argsort(-size[rows, plain[:, None]], axis=1, kind="stable")
    top[:, plain] = np.take_along_axis(rows, order, axis=1).T
    crowded = np.flatnonzero(count != 3)
    top[:, crowded] = np.argsort(-size[:, crowded], axis=0, kind="stable")[:3]
    return top


def _sample_reasons(
    sample: str,
    r: float,
    r2: float,
    p: float,
    errors: list[str],
    notes: list[str],
    run_notes: list[str],
) -> tuple[str, list[str]]:
    """The verdict of one sample and its reasons (short clauses)."""
    if errors:
        return "poor", ["not deconvolved: " + errors[0]]
    grade = fit_grade(r, r2)
    stats = fit_stats(r, r2)
    reasons = []
    if not np.isfinite(r2):  # R² is undefined only when the observed values do not vary
        reasons.append(f"no fit to judge ({stats}: the sample's signature genes hold one value)")
    elif grade == "poor":
        reasons.append(f"poor fit ({stats}; poor below r {POOR_R:g} or R² {POOR_R2:g})")
        if r >= GOOD_R:  # poor by R² alone: the pattern is right, the sizes are not
            reasons.append(
                "the fitted values follow the sample's pattern (r) but not their sizes (R²): "
                "some genes' levels differ systematically between the signature and the data "
                "(another platform or protocol?)"
            )
    elif grade == "check":
        reasons.append(f"fair fit ({stats}; good needs r ≥ {GOOD_R:g} and R² ≥ {GOOD_R2:g})")
    if np.isfinite(p) and p > ALPHA:
        grade = "poor"
        shown = format_against(p, (ALPHA,), significant=True, ties="below")
        reasons.append(f"no better than random mixtures (permutation p = {shown} > {ALPHA:g})")
    if notes or run_notes:
        grade = "check" if grade == "good" else grade
        reasons.extend([*notes, *run_notes])
    if grade == "good":
        reasons.append(f"good fit ({stats}" + (f", p = {p:.2g})" if np.isfinite(p) else ")"))
    return grade, reasons


def sample_verdicts(
    fit: pd.DataFrame,
    warnings: Sequence[DeconvWarning] = (),
    *,
    p_values: pd.Series | None = None,
    z: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The verdict of every sample, with its reasons.

    Parameters
    ----------
    fit
        Samples × (``pearson_r``, ``r2``, ...), the result's fit statistics.
    warnings
        Every warning of the run (input, signature, result, quality checks,
        confounding); errors about a sample make it poor, warnings about a
        sample and the run-wide codes of :data:`RUN_CODES` make it "check".
    p_values
        Permutation p-value per sample, or None when not computed.
    z
        Genes × samples standardised residuals, to name the genes the fit
        misses most in the reasons; None to leave them out.

    Returns
    -------
    pandas.DataFrame
        Index ``sample`` (the fit's order); columns ``verdict`` (one of
        :data:`VERDICTS`) and ``reasons`` (clauses joined by "; ").
    """
    errors: dict[str, list[str]] = {}
    notes: dict[str, list[str]] = {}
    for w in warnings:
        if w.sample and w.severity == "error":
            errors.setdefault(w.sample, []).append(w.message)
        elif w.sample and w.severity == "warning" and w.code not in _RESTATED:
            note = _SAMPLE_CODES.get(w.code, w.message)
            if note not in notes.get(w.sample, []):
                notes.setdefault(w.sample, []).append(note)
    codes = {w.code for w in warnings if not w.sample}
    run_notes = [text for code, text in RUN_CODES.items() if code in codes]
    rows = []
    misses_by_sample = _misses(z)
    for sample, r, r2 in zip(fit.index, fit["pearson_r"], fit["r2"], strict=True):
        name = str(sample)
        p = float(p_values.get(sample, np.nan)) if p_values is not None else np.nan
        grade, reasons = _sample_reasons(
            name, float(r), float(r2), p, errors.get(name, []), notes.get(name, []), run_notes
        )
        misses = misses_by_sample.get(name, "") if grade != "good" else ""
        rows.append([name, grade, "; ".join([*reasons, misses] if misses else reasons)])
    table = pd.DataFrame(rows, columns=["sample", "verdict", "reasons"]).set_index("sample")
    table.index = pd.Index(table.index, name="sample")
    return table


def worst_first(verdicts: pd.DataFrame, fit: pd.DataFrame) -> list[str]:
    """Sample names, poor first, then check, then good; within each, lowest R² first.

    Parameters
    ----------
    verdicts
        :func:`sample_verdicts`.
    fit
        The fit statistics (for R²; samples without a fit come first).
    """
    rank = verdicts["verdict"].map({v: -i for i, v in enumerate(VERDICTS)})
    r2 = fit["r2"].reindex(verdicts.index).astype(float).fillna(-np.inf)
    order = pd.DataFrame({"rank": rank, "r2": r2}).sort_values(["rank", "r2"], kind="stable")
    return [str(s) for s in order.index]


def verdict_counts(verdicts: pd.DataFrame) -> dict[str, int]:
    """Number of samples per verdict, in :data:`VERDICTS` order."""
    counts = verdicts["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS}

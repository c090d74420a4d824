"""Plain-language report cards with traffic lights: input health and per-sample fit.

Pure functions (no streamlit): they turn the core's records into rows a page
shows as they are, so the wording and the thresholds live in one place and
are tested directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deconv_core.deconvolve import DeconvResult, coverage_table
from deconv_core.expression import ExpressionData
from deconv_core.signatures import Signature
from deconv_core.validation import DeconvWarning

__all__ = [
    "FIT_THRESHOLDS",
    "LIGHTS",
    "HealthItem",
    "coverage_card",
    "fit_report",
    "input_health",
    "signature_genes_found",
]

#: Traffic lights as words (the page colours them; words survive copy, export and
#: screens without colour or emoji fonts).
LIGHTS = {"green": "good", "yellow": "check", "red": "problem"}

#: Fit thresholds of the report card: ``good`` needs both r and R² at or above
#: the first pair; ``poor`` is below either of the second pair.  Set on planted
#: mixtures with realistic noise (log-normal sd 0.2-0.3 gives r > 0.95) so that
#: a sample whose marker genes the mixture cannot explain stands out.
FIT_THRESHOLDS = {"good_r": 0.9, "good_r2": 0.8, "poor_r": 0.75, "poor_r2": 0.5}

# Warnings the QC page details in a section of their own: the card points there instead of
# quoting them (deconv_core.confounding's per-sample findings).
_POINTERS = {
    code: "Some of its estimates are driven by genes, not cells (see 'Estimates driven by "
    "genes, not cells')."
    for code in ("driven_by_genes", "panel_excess")
}
# A standardised residual this large is unusual for its sample (deconv_core.qc uses 3 too).
_MISS_Z = 3.0
# Signature coverage: share of genes found for green / at least yellow.
_COVERAGE_GOOD = 0.8
_COVERAGE_FAIR = 0.5


@dataclass(frozen=True)
class HealthItem:
    """One line of the input health card.

    Attributes
    ----------
    check
        What was checked ("Orientation").
    finding
        What was found, short ("genes as rows").
    light
        ``"green"``, ``"yellow"`` or ``"red"``.
    explanation
        One or two plain sentences: what it means and what to do.
    """

    check: str
    finding: str
    light: str
    explanation: str


_DELIMITER_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", " ": "spaces", "": ""}


def _messages(expression: ExpressionData, *codes: str) -> list[str]:
    return [w.message for w in expression.warnings if w.code in codes]


def signature_genes_found(expression_genes: pd.Index, signature: Signature) -> list[str]:
    """Signature genes present in the expression data (case-insensitive, as the fit matches)."""
    upper = {str(g).upper() for g in expression_genes}
    return [str(g) for g in signature.matrix.index if str(g).upper() in upper]


def input_health(
    expression: ExpressionData, signature: Signature | None = None
) -> list[HealthItem]:
    """The input health card of an expression upload.

    Parameters
    ----------
    expression
        The loaded expression data (with its read and harmonisation record).
    signature
        The signature to check coverage against (skipped when None).

    Returns
    -------
    list of HealthItem
        Format, size, orientation, gene ids, scale, counts vs TPM, duplicates,
        renamed genes, missing values and (with a signature) coverage, in
        that order.
    """
    info = expression.read_info
    genes, samples = expression.table.shape
    items: list[HealthItem] = []

    fmt = info.format.upper() + (", gzip-compressed" if info.compression == "gzip" else "")
    details = [f"encoding {info.encoding}"] if info.encoding else []
    if info.delimiter:
        details.append(f"{_DELIMITER_NAMES.get(info.delimiter, info.delimiter)}-separated")
    if info.decimal == ",":
        details.append("decimal commas")
    explanation = "The file was read as " + (", ".join([fmt, *details]) if details else fmt) + "."
    if info.comment_lines:
        explanation += f" {info.comment_lines} comment line(s) starting with # were skipped."
    if info.dropped_columns:
        shown = ", ".join(info.dropped_columns[:5])
        explanation += f" Annotation column(s) left out because they are not samples: {shown}."
    light = "yellow" if info.encoding == "latin-1" else "green"
    if light == "yellow":
        explanation += " The text encoding was guessed (latin-1); check accented names."
    items.append(HealthItem("Format", fmt, light, explanation))

    dropped = _messages(expression, "empty_sample", "zero_sample")
    if genes < 1000:
        light, text = (
            "yellow",
            f"Only {genes:,} genes: relative proportions work if the signature genes are there, "
            "but absolute mode needs the whole transcriptome (5,000+ genes).",
        )
    elif genes < 5000:
        light, text = (
            "yellow",
            f"{genes:,} genes: fewer than a whole transcriptome; absolute fractions ('other') "
            "will be biased. Relative mode is fine.",
        )
    else:
        light, text = "green", f"{genes:,} genes: enough for relative and absolute mode."
    if dropped:
        light = "yellow"
        text += f" {len(dropped)} sample(s) were left out: " + " ".join(dropped[:3])
    items.append(HealthItem("Size", f"{samples:,} samples × {genes:,} genes", light, text))

    if expression.transposed:
        items.append(
            HealthItem(
                "Orientation",
                "samples were rows: turned around",
                "yellow",
                "The file had samples as rows and genes as columns; it was transposed so genes "
                "are rows. Check that the sample names shown look like your samples.",
            )
        )
    else:
        items.append(
            HealthItem(
                "Orientation",
                "genes as rows, samples as columns",
                "green",
                "Genes are rows and samples are columns, as expected.",
            )
        )

    id_text = {
        "symbol": ("green", "HGNC gene symbols, the ids the signatures use."),
        "ensembl": ("green", "Ensembl gene ids; they were mapped to HGNC symbols offline."),
        "mixed": (
            "yellow",
            "A mix of gene symbols and other ids; rows that are not human gene ids match no "
            "signature gene.",
        ),
        "other": (
            "red",
            "Most row names are not human gene ids (probe ids, Entrez ids, another species?). "
            "Map them to gene symbols before uploading.",
        ),
    }
    light, text = id_text.get(expression.id_type, ("yellow", "Unrecognised gene ids."))
    items.append(HealthItem("Gene ids", expression.id_type, light, text))

    scale = expression.scale
    if scale.startswith("log") or scale == "ln":
        items.append(
            HealthItem(
                "Scale",
                f"{scale}, converted with {expression.transformation}",
                "yellow",
                "The values look log-transformed; they were converted back to linear scale "
                "because deconvolution needs linear values. If they were linear already, declare "
                "the scale as linear.",
            )
        )
    else:
        items.append(
            HealthItem(
                "Scale",
                "linear",
                "green",
                "Values are on a linear scale (not log), as deconvolution needs.",
            )
        )

    if scale == "counts":
        items.append(
            HealthItem(
                "Counts vs TPM",
                "raw counts → counts per million",
                "yellow",
                "All values are whole numbers, like raw read counts; each sample was normalised "
                "to counts per million. Gene length is not corrected, so TPM gives more accurate "
                "proportions.",
            )
        )
    else:
        items.append(
            HealthItem(
                "Counts vs TPM",
                "TPM-like",
                "green",
                "Values have decimals, as TPM, FPKM or array intensities do; used as they are.",
            )
        )

    changes = expression.gene_changes
    kinds = changes["kind"].astype(str).value_counts().to_dict() if len(changes) else {}
    n_dup = int(kinds.get("duplicate", 0))
    if n_dup:
        dup = _messages(expression, "duplicate_genes")
        items.append(
            HealthItem(
                "Duplicates",
                f"{n_dup} duplicated row(s)",
                "yellow",
                dup[0] if dup else f"{n_dup} gene rows were duplicates and were collapsed.",
            )
        )
    else:
        items.append(HealthItem("Duplicates", "none", "green", "Every gene id occurs once."))

    labels = {
        "ensembl": "Ensembl → symbol",
        "previous": "outdated symbol",
        "alias": "alias",
        "excel_date": "Excel date repaired",
        "case": "case fixed",
        "withdrawn": "withdrawn",
        "ambiguous": "ambiguous, kept",
    }
    renamed = {k: v for k, v in kinds.items() if k in labels and v}
    if renamed:
        worrying = any(k in renamed for k in ("excel_date", "withdrawn", "ambiguous"))
        finding = ", ".join(f"{v:,} {labels[k]}" for k, v in renamed.items())
        messages = _messages(
            expression,
            "symbols_renamed",
            "excel_dates",
            "case_fixed",
            "withdrawn_symbols",
            "ambiguous_symbols",
        )
        text = " ".join(messages[:3]) or "Gene ids were harmonised to HGNC symbols."
        items.append(HealthItem("Renamed genes", finding, "yellow" if worrying else "green", text))
    else:
        items.append(HealthItem("Renamed genes", "none", "green", "No gene id needed renaming."))

    missing = _messages(expression, "missing_values")
    if missing:
        items.append(
            HealthItem(
                "Missing values",
                f"in {len(missing)} sample(s)",
                "yellow",
                "Some samples have empty cells; those genes are left out of that sample's fit "
                "only. " + missing[0],
            )
        )
    else:
        items.append(HealthItem("Missing values", "none", "green", "Every cell has a value."))

    if signature is not None:
        found = signature_genes_found(expression.table.index, signature)
        n_sig = signature.matrix.shape[0]
        share = len(found) / n_sig if n_sig else 0.0
        light = (
            "green" if share >= _COVERAGE_GOOD else "yellow" if share >= _COVERAGE_FAIR else "red"
        )
        items.append(
            HealthItem(
                "Signature coverage",
                f"{len(found)} of {n_sig} {signature.name} genes ({share:.0%})",
                light,
                "How many of the signature's genes your data has; below 80% the estimates rest on "
                "fewer genes, below 50% they are unreliable. Per cell type below.",
            )
        )
    return items


def coverage_card(expression_genes: pd.Index, signature: Signature) -> pd.DataFrame:
    """Per-cell-type coverage of the signature's marker genes, with a traffic light.

    Parameters
    ----------
    expression_genes
        Gene ids of the expression data.
    signature
        The signature.

    Returns
    -------
    pandas.DataFrame
        Index ``cell_type``; columns ``light``, ``found``, ``marker_genes``,
        ``fraction`` and ``missing`` (comma-separated genes).
    """
    found = signature_genes_found(expression_genes, signature)
    table = coverage_table(signature.matrix, found)
    lights = [
        LIGHTS["green"]
        if f >= _COVERAGE_GOOD
        else LIGHTS["yellow"]
        if f >= _COVERAGE_FAIR
        else LIGHTS["red"]
        for f in table["fraction"].fillna(0.0)
    ]
    table.insert(0, "light", lights)
    return table[["light", "found", "marker_genes", "fraction", "missing"]]


def _light_of(r: float, r2: float) -> str:
    t = FIT_THRESHOLDS
    if not (np.isfinite(r) and np.isfinite(r2)):
        return "red"
    if r < t["poor_r"] or r2 < t["poor_r2"]:
        return "red"
    if r < t["good_r"] or r2 < t["good_r2"]:
        return "yellow"
    return "green"


def fit_report(
    result: DeconvResult,
    z: pd.DataFrame | None = None,
    warnings: Sequence[DeconvWarning] = (),
    *,
    p_values: pd.Series | None = None,
) -> pd.DataFrame:
    """Per-sample fit report card.

    Parameters
    ----------
    result
        The deconvolution result (its ``fit`` table).
    z
        Genes × samples standardised residuals
        (:func:`deconv_core.qc.standardised_residuals`); the genes with
        ``|z| >= 3`` that the fit misses most are named in the reason.
    warnings
        Warnings of the run (e.g. ``result.warnings`` plus
        :func:`deconv_core.qc.qc_warnings`); a sample's ``error`` means it was
        not deconvolved (red), a sample's ``warning`` turns green into yellow
        and is quoted.
    p_values
        Permutation p-value of each sample's fit
        (:func:`deconv_core.qc.permutation_test`), or None.

    Returns
    -------
    pandas.DataFrame
        Index ``sample``; columns ``light``, ``pearson_r``, ``rmse``,
        ``r2``, ``p_value`` (NaN without ``p_values``) and ``reason`` (a plain
        sentence), in input order.
    """
    errors: dict[str, list[str]] = {}
    cautions: dict[str, list[str]] = {}
    for w in (*result.warnings, *warnings):
        if w.sample and w.severity == "error":
            errors.setdefault(w.sample, []).append(w.message)
        elif w.sample and w.severity == "warning":
            text = _POINTERS.get(w.code, w.message)
            if text not in cautions.get(w.sample, []):
                cautions.setdefault(w.sample, []).append(text)
    rows = []
    for sample, fit in result.fit.iterrows():
        sample = str(sample)
        r, r2 = float(fit["pearson_r"]), float(fit["r2"])
        light = _light_of(r, r2)
        misses = ""
        if z is not None and sample in z.columns:
            col = z[sample].dropna()
            top = col.abs().sort_values(ascending=False).index[:3]
            parts = [
                f"{g} ({'higher' if col[g] > 0 else 'lower'})"
                for g in top
                if abs(col[g]) >= _MISS_Z
            ]
            if parts:
                misses = " Largest misses: " + ", ".join(parts) + "."
        if sample in cautions and light == "green":
            light = "yellow"
        if sample in errors:
            light = "red"
            reason = "Not deconvolved: " + errors[sample][0]
        elif light == "green":
            reason = (
                f"Good fit: the estimated mixture explains this sample's signature genes well "
                f"(r = {r:.2f}, R² = {r2:.2f})."
            )
        elif light == "yellow":
            reason = (
                f"Fair fit (r = {r:.2f}, R² = {r2:.2f}): part of the signature-gene expression "
                f"is not explained; read its proportions with care.{misses}"
            )
        else:
            reason = (
                f"Poor fit (r = {r:.2f}, R² = {r2:.2f}): the signature explains this sample "
                "badly. Possible causes: cell types or activation states the signature lacks, "
                f"tumour cells expressing marker genes, another platform or species.{misses}"
            )
        if sample in cautions and sample not in errors:
            reason += " Also: " + " ".join(cautions[sample][:2])
        rows.append(
            {
                "sample": sample,
                "light": LIGHTS[light],
                "pearson_r": r,
                "rmse": float(fit["rmse"]),
                "r2": r2,
                "p_value": float(p_values.get(sample, np.nan)) if p_values is not None else np.nan,
                "reason": reason,
            }
        )
    return pd.DataFrame(
        rows, columns=["sample", "light", "pearson_r", "rmse", "r2", "p_value", "reason"]
    ).set_index("sample")

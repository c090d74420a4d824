"""Plain-language input health card with traffic lights.

Pure functions (no streamlit): they turn the core's records into rows a page
shows as they are.  The thresholds are the core's (:mod:`deconv_core.thresholds`);
the per-sample fit verdict is the core's too (:mod:`deconv_core.verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from deconv_core.coverage import coverage_table, genes_found
from deconv_core.expression import ExpressionData
from deconv_core.scale import LOG_SCALES
from deconv_core.signatures import Signature
from deconv_core.thresholds import COVERAGE_FAIR, COVERAGE_GOOD, MIN_GENES_ABSOLUTE
from ui.screen import counted

__all__ = [
    "LIGHTS",
    "HealthItem",
    "coverage_card",
    "input_health",
]

#: Traffic lights as words, the same words as the verdicts and coverage levels (the
#: page colours them; words survive copy, export and screens without colour).
LIGHTS = {"green": "good", "yellow": "check", "red": "poor"}
# Coverage level (deconv_core.coverage) → traffic light.
_LEVEL_LIGHTS = {word: light for light, word in LIGHTS.items()}


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
    items: list[HealthItem] = []
    for section in _SECTIONS:
        items.extend(section(expression))
    if signature is not None:
        items.append(_coverage_item(expression, signature))
    return items


def _change_kinds(expression: ExpressionData) -> dict[str, int]:
    """How many gene-id changes of each kind the harmonisation made."""
    changes = expression.gene_changes
    return changes["kind"].astype(str).value_counts().to_dict() if len(changes) else {}


def _format_items(expression: ExpressionData) -> list[HealthItem]:
    """Format: how the file was read."""
    items: list[HealthItem] = []
    info = expression.read_info
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
    return items


def _size_items(expression: ExpressionData) -> list[HealthItem]:
    """Size: samples × genes, and samples left out."""
    items: list[HealthItem] = []
    genes, samples = expression.table.shape
    dropped = _messages(expression, "empty_sample", "zero_sample")
    if genes < MIN_GENES_ABSOLUTE:
        light, text = (
            "yellow",
            f"{genes:,} genes: fewer than a whole transcriptome ({MIN_GENES_ABSOLUTE:,}+ genes); "
            "absolute fractions ('other') will be biased. Relative mode is fine.",
        )
    else:
        light, text = "green", f"{genes:,} genes: enough for relative and absolute mode."
    if dropped:
        light = "yellow"
        text += f" {len(dropped)} sample(s) were left out: " + " ".join(dropped[:3])
    size = f"{counted(samples, 'sample')} × {counted(genes, 'gene')}"
    items.append(HealthItem("Size", size, light, text))
    return items


def _orientation_items(expression: ExpressionData) -> list[HealthItem]:
    """Orientation: whether the table was turned around."""
    items: list[HealthItem] = []
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
    return items


def _id_items(expression: ExpressionData) -> list[HealthItem]:
    """Gene ids: symbols, Ensembl or something else."""
    items: list[HealthItem] = []
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
    return items


def _scale_items(expression: ExpressionData) -> list[HealthItem]:
    """Scale (log or linear) and counts vs TPM."""
    items: list[HealthItem] = []
    scale = expression.scale
    if scale in LOG_SCALES:
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
    return items


def _duplicate_items(expression: ExpressionData) -> list[HealthItem]:
    """Duplicated gene rows."""
    items: list[HealthItem] = []
    kinds = _change_kinds(expression)
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
    return items


#: How the health card names each kind of gene-id change (deconv_core.genes.CHANGE_KINDS;
#: duplicates have their own item).
RENAME_LABELS = {
    "ensembl": "Ensembl → symbol",
    "version": "Ensembl version dropped",
    "previous": "outdated symbol",
    "alias": "alias",
    "excel_date": "Excel date repaired",
    "case": "case fixed",
    "withdrawn": "withdrawn",
    "ambiguous": "ambiguous, kept",
    "taken": "old name of a gene also present, kept apart",
}


def _renamed_items(expression: ExpressionData) -> list[HealthItem]:
    """Gene ids renamed to HGNC symbols."""
    items: list[HealthItem] = []
    kinds = _change_kinds(expression)
    renamed = {k: v for k, v in kinds.items() if k in RENAME_LABELS and v}
    if renamed:
        worrying = any(k in renamed for k in ("excel_date", "withdrawn", "ambiguous"))
        finding = ", ".join(f"{v:,} {RENAME_LABELS[k]}" for k, v in renamed.items())
        messages = _messages(
            expression,
            "symbols_renamed",
            "excel_dates",
            "case_fixed",
            "withdrawn_symbols",
            "ambiguous_symbols",
            "ensembl_version",
            "symbols_taken",
        )
        text = " ".join(messages[:3]) or "Gene ids were harmonised to HGNC symbols."
        items.append(HealthItem("Renamed genes", finding, "yellow" if worrying else "green", text))
    else:
        items.append(HealthItem("Renamed genes", "none", "green", "No gene id needed renaming."))
    return items


def _missing_items(expression: ExpressionData) -> list[HealthItem]:
    """Missing values."""
    items: list[HealthItem] = []
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
    return items


# The card's sections, in order (the signature coverage comes last, when there is one).
_SECTIONS = (
    _format_items,
    _size_items,
    _orientation_items,
    _id_items,
    _scale_items,
    _duplicate_items,
    _renamed_items,
    _missing_items,
)


def _coverage_item(expression: ExpressionData, signature: Signature) -> HealthItem:
    table = coverage_card(expression.table_for(signature), signature, total=True)
    row = table.loc["all"]
    return HealthItem(
        "Signature coverage",
        f"{row['found']:,} of {row['marker_genes']:,} {signature.name} genes "
        f"({row['fraction']:.0%})",
        _LEVEL_LIGHTS[row["light"]],
        f"How many of the signature's genes your data has (with values); below "
        f"{COVERAGE_GOOD:.0%} the estimates rest on fewer genes, below {COVERAGE_FAIR:.0%} they "
        "are unreliable. Per cell type below.",
    )


def coverage_card(
    expression: pd.DataFrame, signature: Signature, *, total: bool = False
) -> pd.DataFrame:
    """Per-cell-type coverage of the signature's marker genes, with its level as a light word.

    Parameters
    ----------
    expression
        Genes × samples expression table (a gene counts when it has a value).
    signature
        The signature.
    total
        Append the row ``all`` for the whole signature.

    Returns
    -------
    pandas.DataFrame
        Index ``cell_type``; columns ``light`` (good / check / poor),
        ``found``, ``marker_genes``, ``fraction`` and ``missing``
        (:func:`deconv_core.coverage.coverage_table`).
    """
    genes = [str(g) for g in signature.matrix.index]
    table = coverage_table(signature.matrix, genes_found(expression, genes), total=total)
    table = table.rename(columns={"level": "light"})
    return table[["light", "found", "marker_genes", "fraction", "missing"]]

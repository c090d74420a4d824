"""Files the dashboard offers for download: spreadsheet-safe tables, charts, a zip.

Pure functions (no streamlit), called lazily by the download buttons.

Spreadsheet safety: sample, gene and cell-type names come from users' files.
A CSV cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return) is run as a formula by Excel and LibreOffice ("CSV injection"), so
such text cells get a leading apostrophe (:func:`safe_text`).  In XLSX every
text cell is written with the explicit string type, so no text ever becomes a
formula and no apostrophe is needed.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from deconv_core.deconvolve import DeconvResult
from deconv_core.expression import ExpressionData
from deconv_core.groups import group_proportions
from deconv_core.report import INTERVALS_FILE, all_warnings, build_manifest
from deconv_core.signatures import Signature
from deconv_core.validation import DeconvWarning, warnings_frame

__all__ = [
    "FORMULA_PREFIXES",
    "INDEX_LABELS",
    "bundle_zip",
    "figure_html",
    "result_tables",
    "safe_frame",
    "safe_text",
    "to_csv_bytes",
    "to_xlsx_bytes",
    "workbook_sheets",
]

#: Leading characters that make a spreadsheet read a text cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe.

    Parameters
    ----------
    value
        Any cell value; only ``str`` values are changed.

    Returns
    -------
    The value, or ``"'" + value`` for text starting with one of
    :data:`FORMULA_PREFIXES`.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index are formula-safe."""
    out = frame.copy()
    out.columns = [safe_text(str(c)) for c in out.columns]
    out.index = pd.Index([safe_text(str(i)) for i in out.index], name=out.index.name)
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(safe_text).astype(object)
    return out


def to_csv_bytes(
    frame: pd.DataFrame, *, index: bool = True, index_label: str | None = None
) -> bytes:
    """UTF-8 CSV of a table, formula-safe, numbers with 6 significant digits."""
    buffer = io.StringIO()
    safe_frame(frame).to_csv(
        buffer, index=index, index_label=index_label, float_format="%.6g", lineterminator="\n"
    )
    return buffer.getvalue().encode("utf-8")


def to_xlsx_bytes(
    sheets: Mapping[str, pd.DataFrame], *, index_labels: Mapping[str, str] | None = None
) -> bytes:
    """An XLSX workbook with one sheet per table; text cells are explicit strings.

    Parameters
    ----------
    sheets
        Sheet name (fixed by the caller, at most 31 characters) → table; the
        index is written as the first column.
    index_labels
        Sheet name → header of the index column (default: the index's name).

    Returns
    -------
    bytes
        The workbook.
    """
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, frame in sheets.items():
        sheet = workbook.create_sheet(title=name[:31])
        label = (index_labels or {}).get(name) or frame.index.name or ""
        header = [label, *[str(c) for c in frame.columns]]
        rows = [header]
        for idx, values in zip(frame.index, frame.itertuples(index=False), strict=True):
            rows.append([str(idx), *values])
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    continue
                if isinstance(value, np.generic):
                    value = value.item()
                if isinstance(value, str):
                    cell = sheet.cell(row=r, column=c)
                    # Assign the value, then force the string type: openpyxl would
                    # otherwise turn text starting with "=" into a formula.
                    cell.value = value
                    cell.data_type = "s"
                else:
                    sheet.cell(row=r, column=c, value=value)
        for c in range(1, len(header) + 1):
            sheet.column_dimensions[get_column_letter(c)].width = 16 if c > 1 else 22
        sheet.freeze_panes = "B2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def figure_html(
    fig: go.Figure, config: Mapping[str, Any], *, include_plotlyjs: bool | str = True
) -> bytes:
    """A chart as an HTML page (self-contained when ``include_plotlyjs`` is True)."""
    text = fig.to_html(config=dict(config), include_plotlyjs=include_plotlyjs, full_html=True)
    return text.encode("utf-8")


def result_tables(
    result: DeconvResult,
    expression: ExpressionData,
    signature: Signature,
    *,
    warnings: Sequence[DeconvWarning] | None = None,
    intervals: pd.DataFrame | None = None,
    p_values: pd.Series | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables offered for download, by file stem.

    Parameters
    ----------
    result, expression, signature
        The run.
    warnings
        Every warning to list (default: those of the input, the signature and
        the result, :func:`deconv_core.report.all_warnings`).
    intervals
        Bootstrap intervals (:func:`deconv_core.qc.bootstrap_intervals`), or None.
    p_values
        Permutation p-value per sample, or None (the ``p_value`` column of
        ``fit`` is then empty, as in the command line's ``fit.csv``).
    groups
        Cell-type groups in use (group → members), or None / empty.

    Returns
    -------
    dict
        ``proportions`` (samples × cell types), ``fit`` (samples × statistics
        and ``p_value``), ``coverage`` (cell types × counts), ``warnings`` (one
        row per warning), ``residuals`` (genes × samples, TPM-like),
        ``robustness`` (genes × samples, the robust fit's weights, 0-1) and, when
        given, ``intervals`` (one row per sample and cell type: ``sample``,
        ``cell_type``, ``estimate``, ``lower``, ``upper``) and
        ``group_proportions`` (samples × groups).
    """
    if warnings is None:
        warnings = all_warnings(result, expression, signature)
    fit = result.fit.copy()
    fit["p_value"] = np.nan if p_values is None else p_values.reindex(fit.index).to_numpy()
    tables = {
        "proportions": result.proportions,
        "fit": fit,
        "coverage": result.coverage,
        "warnings": warnings_frame(list(warnings)),
        "residuals": result.residuals,
        "robustness": result.robustness,
    }
    if intervals is not None:
        tables["intervals"] = intervals
    if groups:
        tables["group_proportions"] = group_proportions(result.proportions, groups)
    return tables


#: Header of the index column of each table in CSV and XLSX files.
INDEX_LABELS = {
    "proportions": "sample",
    "fit": "sample",
    "coverage": "cell_type",
    "residuals": "gene",
    "robustness": "gene",
    "group_proportions": "sample",
    "intervals": "sample",
}
# Tables written without their (positional) index.
_NO_INDEX = ("warnings", "intervals")


def workbook_sheets(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The sheets of the XLSX download, in order: every table but the gene-level ones.

    The tidy intervals get ``sample`` as their index column.
    """
    order = ("proportions", "intervals", "fit", "warnings", "coverage", "group_proportions")
    sheets = {}
    for name in order:
        if name in tables:
            table = tables[name]
            sheets[name] = table.set_index("sample") if name == "intervals" else table
    return sheets


def bundle_zip(
    result: DeconvResult,
    expression: ExpressionData,
    signature: Signature,
    *,
    parameters: dict[str, Any],
    signature_sha256: str = "",
    extra_inputs: Mapping[str, Mapping[str, Any]] | None = None,
    figures: Mapping[str, tuple[go.Figure, Mapping[str, Any]]] | None = None,
    warnings: Sequence[DeconvWarning] | None = None,
    intervals: pd.DataFrame | None = None,
    p_values: pd.Series | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
) -> bytes:
    """Everything about a run in one zip, with the manifest needed to reproduce it.

    Parameters
    ----------
    result, expression, signature, parameters, signature_sha256
        As for :func:`deconv_core.report.build_manifest`.
    extra_inputs
        Further inputs for the manifest's ``inputs`` (e.g. the sample
        metadata and measured fractions: file name and sha256).
    warnings, intervals, p_values, groups
        Every warning of the run, the bootstrap intervals, the permutation
        p-values and the cell-type groups in use (see :func:`result_tables`).
    figures
        File stem → (figure, plotly config); written to ``charts/`` as HTML
        pages sharing one ``charts/plotly.min.js`` (the folder is
        self-contained and a tenth of the size of one page per chart with its
        own copy).

    Returns
    -------
    bytes
        A zip with the files of :data:`deconv_core.report.OUTPUT_FILES`
        (formula-safe CSVs and ``manifest.json``), ``intervals.csv`` and
        ``group_proportions.csv`` when given, ``results.xlsx`` and the charts.
    """
    tables = result_tables(
        result,
        expression,
        signature,
        warnings=warnings,
        intervals=intervals,
        p_values=p_values,
        groups=groups,
    )
    manifest = build_manifest(
        result,
        expression,
        signature,
        parameters=parameters,
        signature_sha256=signature_sha256,
        extra_warnings=tuple(warnings or ()),
    )
    for name, entry in (extra_inputs or {}).items():
        manifest["inputs"][name] = dict(entry)
    manifest["files"] = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def add(name: str, data: bytes) -> None:
            archive.writestr(name, data)
            manifest["files"].append(name)

        for stem, table in tables.items():
            name = INTERVALS_FILE if stem == "intervals" else f"{stem}.csv"
            if stem in _NO_INDEX:
                add(name, to_csv_bytes(table, index=False))
            else:
                add(name, to_csv_bytes(table, index_label=INDEX_LABELS[stem]))
        add("results.xlsx", to_xlsx_bytes(workbook_sheets(tables), index_labels=INDEX_LABELS))
        if figures:
            from plotly.offline import get_plotlyjs

            add("charts/plotly.min.js", get_plotlyjs().encode("utf-8"))
            for stem, (fig, config) in figures.items():
                add(f"charts/{stem}.html", figure_html(fig, config, include_plotlyjs="directory"))
        archive.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
    return buffer.getvalue()

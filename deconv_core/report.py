"""The one writer of a run's outputs: tables, workbook, manifest, folder and zip.

The command line (:func:`write_outputs`) and the dashboard (:func:`bundle_zip`
and the single-table downloads) both write an
:class:`~deconv_core.analysis.Analysis` through the functions here, so the
same run gives the same files, byte for byte, and one manifest schema.

Files (CSV: UTF-8, comma-separated, header row, numbers with 6 significant
digits, rows in input order):

``proportions.csv``
    Index ``sample``; one column per cell type (plus ``other`` in absolute
    mode).
``fit.csv``
    Index ``sample``; ``pearson_r``, ``spearman_r``, ``rmse`` (relative),
    ``r2``, ``p_value`` (permutation p-value; empty when not computed),
    ``verdict`` (good / check / poor) and ``reasons`` (in words).
``coverage.csv``
    Index ``cell_type``; ``marker_genes``, ``found``, ``fraction``,
    ``level``, ``missing``.
``sample_coverage.csv``
    When some sample lacks values for marker genes the cohort has: one row
    per such sample and cell type, ``sample``, ``cell_type``,
    ``marker_genes``, ``found`` (markers with a value in the sample),
    ``fraction``, ``level``, ``missing``.
``warnings.csv``
    ``severity``, ``code``, ``sample``, ``message`` and what to do on the
    ``command_line`` and on the ``dashboard``; the header only when there are
    none.
``residuals.csv``
    Genes used × samples, observed − fitted in the fit scale (per-sample
    normalised to 1e6, TPM-like).
``robustness.csv``
    Genes used × samples, the weight the robust fit gave each gene in each
    sample (0-1; all 1 for a least-squares fit; empty where a value was
    missing).
``intervals.csv``
    When bootstrap intervals were computed: one row per sample and cell type,
    ``sample``, ``cell_type``, ``estimate``, ``lower``, ``upper``.
``group_proportions.csv``
    When cell-type groups are in use: samples × groups (sums of members).
``agreement.csv``
    When measured fractions are loaded (dashboard): index ``category``;
    ``n``, ``pearson_r``, ``rmse``, ``bias`` (:func:`deconv_core.agreement.agreement_table`)
    and, from the dashboard, ``note`` (:func:`deconv_core.agreement.agreement_with_gaps`).
``methods.csv``, ``methods_agreement.csv``, ``methods_other.csv``
    With ``--method``: every method's estimates (``method``, ``kind``:
    fraction or score, ``sample``, ``cell_type``, ``value``); per cell type
    and pair of methods, ``n``, ``spearman_r``, the samples they disagree on
    most and ``flagged``; in absolute mode, 'other' beside a tumour-content
    upper bound and the stromal marker scores
    (:mod:`deconv_core.methods`).
``results.xlsx``
    The sample-level tables as sheets (proportions as percent with one
    decimal, r with two; header row frozen), a ``notes`` sheet (units, what
    the mode means, parameters, input hashes, versions) and a ``parameters``
    sheet (the manifest's parameters, for programs).
``manifest.json``
    Written last: the inputs' identities (SHA-256, also of built-in
    signatures), parameters, transformations, verdict counts, files and
    package versions, so the run can be reproduced.  The dashboard's zip also
    holds the input files under ``inputs/`` and the SHA-256 of every file
    (``checksums``), so it can be uploaded again to restore the run
    (:mod:`deconv_core.session`).

Spreadsheet safety: sample, gene and cell-type names come from users' files.
A CSV cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage
return) is run as a formula by Excel and LibreOffice ("CSV injection"), so
such text cells get a leading apostrophe (:func:`safe_text`).  In XLSX every
text cell is written with the explicit string type instead.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deconv_core.analysis import Analysis
from deconv_core.bundle import MANIFEST_FILE
from deconv_core.floattext import g6_lines
from deconv_core.groups import group_proportions
from deconv_core.io.tables import GZIP_MAGIC, ZIP_MAGIC
from deconv_core.methods import methods_table
from deconv_core.session import InputFile, input_members, sha256_hex
from deconv_core.threads import deferred_stop_signals
from deconv_core.validation import InputError, warnings_frame
from deconv_core.verdict import verdict_counts
from deconv_core.xlsx import Sheet, workbook_bytes

__all__ = [
    "FORMULA_PREFIXES",
    "INDEX_LABELS",
    "MANIFEST_FILE",
    "bundle_zip",
    "build_manifest",
    "check_out_dir",
    "output_files",
    "output_tables",
    "package_versions",
    "parameters",
    "safe_frame",
    "safe_text",
    "to_csv_bytes",
    "to_xlsx_bytes",
    "write_file",
    "workbook_notes",
    "write_outputs",
]

#: Leading characters that make a spreadsheet read a text cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Header of the index column of each table (None: written without an index).
INDEX_LABELS: dict[str, str | None] = {
    "proportions": "sample",
    "fit": "sample",
    "coverage": "cell_type",
    "sample_coverage": None,
    "warnings": None,
    "residuals": "gene",
    "robustness": "gene",
    "intervals": None,
    "group_proportions": "sample",
    "agreement": "category",
    "methods": None,
    "methods_agreement": None,
    "methods_other": "sample",
}
# Sheets of the workbook, in order (gene-level tables stay in CSV only).
_SHEETS = (
    "proportions",
    "group_proportions",
    "intervals",
    "fit",
    "coverage",
    "sample_coverage",
    "agreement",
    "warnings",
)


def safe_text(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with an apostrophe.

    Only ``str`` values starting with one of :data:`FORMULA_PREFIXES` change.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells, column names and index are formula-safe."""
    out = frame.copy()
    out.columns = [safe_text(str(c)) for c in out.columns]
    out.index = pd.Index([safe_text(str(i)) for i in out.index], name=out.index.name)
    # The dtypes at once: selecting each column of a 1,000-sample table took 0.1 s.
    # A repeated label selects a frame, which is_numeric_dtype never calls numeric.
    repeated = out.columns.duplicated(keep=False)
    for column, dtype, twice in zip(out.columns, out.dtypes, repeated, strict=True):
        if twice or not pd.api.types.is_numeric_dtype(dtype):
            out[column] = out[column].map(safe_text).astype(object)
    return out


def to_csv_bytes(frame: pd.DataFrame, *, index_label: str | None = None) -> bytes:
    """UTF-8 CSV of a table, formula-safe, numbers with 6 significant digits.

    ``index_label`` None writes the table without its index.
    """
    safe = safe_frame(frame)
    if len(safe.columns) and all(pd.api.types.is_float_dtype(t) for t in safe.dtypes):
        return _float_csv_bytes(safe, index_label)
    buffer = io.StringIO()
    safe.to_csv(
        buffer,
        index=index_label is not None,
        index_label=index_label,
        float_format="%.6g",
        lineterminator="\n",
    )
    return buffer.getvalue().encode("utf-8")


def _float_csv_bytes(frame: pd.DataFrame, index_label: str | None) -> bytes:
    """:func:`to_csv_bytes` of an all-float table: the same bytes as pandas, faster.

    The numbers are formatted a block of cells at a time by
    :func:`deconv_core.floattext.g6_lines` (pandas formats cell by cell in
    Python: 20 s under load for a 1,000-sample run's residuals and robustness
    tables; one ``%`` operation per row 0.4 s, this 0.1 s); NaN is an empty
    field, as pandas writes it.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    labels = [] if index_label is None else [index_label]
    writer.writerow(labels + [str(c) for c in frame.columns])
    out = [buffer.getvalue().encode("utf-8")]
    lines = g6_lines(frame.to_numpy(dtype=np.float64))
    if index_label is None:
        out += [line + b"\n" for line in lines]
        return b"".join(out)
    label_writer = csv.writer(buffer, lineterminator="")
    for label, line in zip(frame.index, lines, strict=True):
        buffer.seek(0)
        buffer.truncate()
        label_writer.writerow([label])
        out.append(buffer.getvalue().encode("utf-8") + b"," + line + b"\n")
    return b"".join(out)


def output_tables(analysis: Analysis) -> dict[str, pd.DataFrame]:
    """Every table of a run, by file stem (see the module docstring for each)."""
    result = analysis.result
    tables = {
        "proportions": result.proportions,
        "fit": analysis.fit_table,
        "coverage": result.coverage,
        "warnings": warnings_frame(list(analysis.warnings)),
        "residuals": result.residuals,
        "robustness": result.robustness,
    }
    if not result.sample_coverage.empty:
        tables["sample_coverage"] = result.sample_coverage
    if analysis.intervals is not None:
        tables["intervals"] = analysis.intervals
    if analysis.groups:
        tables["group_proportions"] = group_proportions(result.proportions, analysis.groups)
    if analysis.methods is not None:
        tables["methods"] = methods_table(analysis.methods)
        tables["methods_agreement"] = analysis.methods.agreement
        if not analysis.methods.other.empty:
            tables["methods_other"] = analysis.methods.other
    return tables


def parameters(analysis: Analysis) -> dict[str, Any]:
    """The manifest's ``parameters``: the options and the cell-type groups in use."""
    out = analysis.options.as_parameters()
    out["groups"] = {g: list(m) for g, m in analysis.groups.items()}
    return out


def to_xlsx_bytes(
    sheets: Mapping[str, pd.DataFrame],
    index_labels: Mapping[str, str | None],
    formats: Mapping[str, Mapping[str, str]] | None = None,
) -> bytes:
    """An XLSX workbook with one sheet per table; text cells are explicit strings.

    Every sheet's header row is frozen (and its first column when it is the
    index); numbers are stored with 16 significant digits (as openpyxl stored
    them) and shown in a number format.  Written by :mod:`deconv_core.xlsx`.

    Parameters
    ----------
    sheets
        Sheet name (at most 31 characters) → table.
    index_labels
        Sheet name → header of the index column, or None to leave the index out.
    formats
        Sheet name → column → Excel number format (``"*"``: every numeric
        column); other numbers show as ``0.0000``.
    """
    shown_formats = formats or {}
    book = []
    for name, frame in sheets.items():
        label = index_labels.get(name)
        rows = frame.reset_index() if label is not None else frame
        header = [str(c) for c in rows.columns]
        if label is not None:
            header[0] = label
        book.append(
            Sheet(
                name=name,
                header=header,
                columns=[_xlsx_values(rows.iloc[:, j]) for j in range(rows.shape[1])],
                formats=_column_formats(rows.columns, shown_formats.get(name, {})),
                freeze_first_column=label is not None,
            )
        )
    return workbook_bytes(book)


def _column_formats(columns: pd.Index, formats: Mapping[str, str]) -> list[str]:
    """The number format of each column: its own, the sheet's ``"*"``, else ``0.0000``."""
    default = formats.get("*", _NUMBER)
    return [formats.get(str(c), default) for c in columns]


_NUMBER = "0.0000"


def _xlsx_values(column: pd.Series) -> list[Any]:
    """A column's cells for :class:`~deconv_core.xlsx.Sheet`: None, str, bool, int or float."""
    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan).tolist()
        return [None if v != v else v for v in values]
    return [_xlsx_value(v) for v in column.tolist()]


def _xlsx_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | float):
        return value
    return str(value)


def output_files(analysis: Analysis, *, agreement: pd.DataFrame | None = None) -> dict[str, bytes]:
    """The files of a run but the manifest, by file name (CSV tables, then ``results.xlsx``).

    Parameters
    ----------
    analysis
        The run.
    agreement
        Estimated vs measured fractions per category
        (:func:`deconv_core.agreement.agreement_table`) when measured fractions
        are loaded: written as ``agreement.csv`` and an ``agreement`` sheet.
    """
    tables = output_tables(analysis)
    if agreement is not None:
        tables["agreement"] = agreement
    files = {
        f"{stem}.csv": to_csv_bytes(t, index_label=INDEX_LABELS[stem]) for stem, t in tables.items()
    }
    labels = {**INDEX_LABELS, "notes": None, "parameters": None}
    files["results.xlsx"] = to_xlsx_bytes(_workbook_sheets(analysis, tables), labels, _FORMATS)
    return files


def _workbook_sheets(
    analysis: Analysis, tables: Mapping[str, pd.DataFrame]
) -> dict[str, pd.DataFrame]:
    """The workbook's sheets by name: the sample-level ``tables``, notes and parameters."""
    sheets = {name: tables[name] for name in _SHEETS if name in tables}
    sheets["notes"] = workbook_notes(analysis, list(sheets))
    sheets["parameters"] = pd.DataFrame(
        [[k, _parameter_text(v)] for k, v in parameters(analysis).items()],
        columns=["parameter", "value"],
    )
    return sheets


def _parameter_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# Number formats of the workbook: proportions as percent with one decimal, correlations
# with two decimals (the dashboard's formats, README "Reading the numbers").
_PERCENT, _R = "0.0%", "0.00"
_FORMATS: dict[str, dict[str, str]] = {
    "proportions": {"*": _PERCENT},
    "group_proportions": {"*": _PERCENT},
    "intervals": {"estimate": _PERCENT, "lower": _PERCENT, "upper": _PERCENT},
    "fit": {"pearson_r": _R, "spearman_r": _R, "r2": _R, "rmse": _PERCENT, "p_value": "0.000"},
    "coverage": {"fraction": _PERCENT},
    "sample_coverage": {"fraction": _PERCENT},
    "agreement": {"pearson_r": _R, "rmse": _PERCENT, "bias": _PERCENT},
}

# What each sheet's numbers are (the notes sheet's "units" rows).
_UNITS = {
    "proportions": "fractions of 1 per sample (shown as percent; 0.125 = 12.5 %)",
    "group_proportions": "sums of each group's member cell types, fractions of 1",
    "intervals": "estimate and the bootstrap interval's lower and upper bound, fractions of 1",
    "fit": "observed vs fitted expression on the genes used: pearson_r, spearman_r and r2 "
    "without unit; rmse = root-mean-square residual / mean expression (shown as percent); "
    "p_value from the permutation test (empty when not run)",
    "coverage": "marker_genes and found are gene counts; fraction = found / marker_genes",
    "sample_coverage": "per sample lacking values: marker_genes and found (markers with a "
    "value in the sample) are gene counts; fraction = found / marker_genes",
    "agreement": "per measured category: n samples, pearson_r (two decimals), rmse and bias "
    "(estimated - measured) in fraction units, shown as percentage points; note: why a "
    "category is compared on fewer samples than were measured, or not at all (n 0)",
}
_MODES = {
    "relative": "shares among the signature's cell types only; each sample sums to 100 %",
    "absolute": "shares of all cells in the sample, with 'other' for cells the signature does "
    "not describe; needs whole-transcriptome TPM and mRNA-content factors",
}


def workbook_notes(analysis: Analysis, sheets: Iterable[str]) -> pd.DataFrame:
    """The workbook's ``notes`` sheet: units, what the mode means, parameters, inputs, versions.

    Parameters
    ----------
    analysis
        The run.
    sheets
        The workbook's table sheets (each gets a "units" row when it holds numbers).

    Returns
    -------
    pandas.DataFrame
        Columns ``topic`` and ``note``, one row per fact (a person reads it; the
        ``parameters`` sheet and ``manifest.json`` hold the same facts for programs).
    """
    result = analysis.result
    versions = package_versions()
    rows = [("tool", f"deconv-explorer {versions['deconv-explorer']}")]
    rows += [(f"units: {n}", _UNITS[n]) for n in sheets if n in _UNITS]
    rows.append(("mode of this run", f"{result.mode}: {result.meaning}"))
    rows += [(f"{mode} mode means", text) for mode, text in _MODES.items()]
    rows += [(f"parameter: {k}", _parameter_text(v)) for k, v in parameters(analysis).items()]
    shown = analysis.signature.shown_names  # the sheets keep the ids; the dashboard shows these
    rows += [(f"cell type: {c}", f"shown as {n}") for c, n in shown.items() if c != n]
    for name, entry in _inputs(analysis).items():
        label = entry.get("file") or entry.get("name") or name
        rows.append((f"input: {name}", f"{label} (SHA-256 {entry.get('sha256', 'n/a')})"))
    rows += [(f"version: {k}", v) for k, v in versions.items()]
    return pd.DataFrame(rows, columns=["topic", "note"])


def package_versions() -> dict[str, str]:
    """Versions of Python and the numerical packages, for the manifest."""
    versions = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "pandas", "openpyxl"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    from deconv_core import __version__

    versions["deconv-explorer"] = __version__
    return versions


def _inputs(analysis: Analysis) -> dict[str, Any]:
    expression, signature = analysis.expression, analysis.signature
    info = expression.read_info
    inputs: dict[str, Any] = {
        "expression": {
            "file": expression.name,
            "sha256": expression.sha256,
            "format": info.format,
            "compression": info.compression,
            "encoding": info.encoding,
            "delimiter": info.delimiter,
            "decimal": info.decimal,
            "comment_lines": info.comment_lines,
            "dropped_columns": list(info.dropped_columns),
            "genes": int(expression.shape[0]),
            "samples": int(expression.shape[1]),
            "species": expression.species,
        },
        "signature": {
            "name": signature.name,
            "builtin": signature.builtin,
            "sha256": signature.sha256,
            "licence": signature.licence,
            "citation": signature.citation,
            "genes": int(signature.matrix.shape[0]),
            "cell_types": signature.cell_types,
            "whole_transcriptome": signature.whole_transcriptome,
            "species": signature.species,
            "mrna_scaling_factors": bool(signature.mrna_scaling),
        },
    }
    for name, entry in analysis.side_inputs.items():
        inputs[name] = dict(entry)
    return inputs


def build_manifest(
    analysis: Analysis,
    *,
    interface: str,
    files: list[str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Describe a run completely enough to reproduce it (one schema for every surface).

    Parameters
    ----------
    analysis
        The run.
    interface
        ``"command line"`` or ``"dashboard"``: where the run was made.
    files
        The files written with the manifest.
    extra
        Surface-specific context outside the parameters (e.g. the
        dashboard's measured-fraction mapping under ``"comparison"``).

    Returns
    -------
    dict
        JSON-serialisable: ``tool``, ``interface``, ``inputs``,
        ``parameters``, ``transformations``, ``result``, ``files``,
        ``versions`` (and the keys of ``extra``).
    """
    expression, result = analysis.expression, analysis.result
    changes = expression.gene_changes
    manifest = {
        "tool": "deconv-explorer",
        "interface": interface,
        "inputs": _inputs(analysis),
        "parameters": parameters(analysis),
        "transformations": {
            "transposed": expression.transposed,
            "gene_id_type": expression.id_type,
            "gene_id_changes": [
                {"original": str(o), "new": str(n), "kind": str(k)}
                for o, n, k in zip(
                    changes["original"], changes["new"], changes["kind"], strict=True
                )
            ],
            "scale_detected": expression.scale,
            "scale_transformation": expression.transformation,
            "fit_normalisation": "each sample scaled to sum to 1e6 over all its genes",
        },
        "result": {
            "mode": result.mode,
            "meaning": result.meaning,
            "weighting": result.weighting,
            "genes_used": len(result.genes_used),
            "genes_missing": list(result.genes_missing),
            "genes_excluded": list(result.genes_excluded),
            "samples": int(result.proportions.shape[0]),
            "verdicts": verdict_counts(analysis.verdicts),
            "warnings": len(analysis.warnings),
        },
        "files": [*files, MANIFEST_FILE],
        "versions": package_versions(),
    }
    clash = set(extra or {}) & set(manifest)
    if clash:
        raise ValueError(f"extra may not replace the manifest's own keys: {sorted(clash)}")
    manifest.update(dict(extra or {}))
    return manifest


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode("utf-8")


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """The output folder as a path, refused when it cannot hold a run.

    Raises
    ------
    InputError
        An empty name, a path that is an existing file, or a folder whose
        parent is an existing file.
    """
    text = _path_text(out_dir, "folder", "results")
    target = Path(text).expanduser()
    if target.exists() and not target.is_dir():
        raise InputError(f"The output folder {text!r} is an existing file; choose a folder.")
    for parent in target.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"Cannot create {text!r}: {parent} is a file; choose a folder.")
            break
    return target


def _earlier_files(target: Path) -> set[str]:
    """Files an earlier run of this tool wrote into ``target`` (its manifest says which).

    Only names this writer produces count, and only when the manifest is this
    tool's: an unrelated ``manifest.json`` never makes it delete anything.
    """
    try:
        manifest = json.loads((target / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if not isinstance(manifest, dict) or manifest.get("tool") != "deconv-explorer":
        return set()
    listed = manifest.get("files", [])
    return {n for n in listed if isinstance(n, str) and _own_file(n)}


# Every file name this writer may put into an output folder, and the cards' names
# (deconv_core.card.card_file_name: card_<sample>.html / .png, no folder; the sample's
# letters and digits may be any script's, as str.isalnum and \w allow).
_OWN_FILES = {*(f"{stem}.csv" for stem in INDEX_LABELS), "results.xlsx", MANIFEST_FILE}
_CARD_FILE = re.compile(r"card_[\w.-]+\.(html|png)")


def _own_file(name: str) -> bool:
    return name in _OWN_FILES or _CARD_FILE.fullmatch(name) is not None


def _path_text(path: str | os.PathLike, kind: str, example: str) -> str:
    """The path as text; an empty one is refused (it would mean the current folder)."""
    text = os.fspath(path)
    if not text.strip():
        raise InputError(
            f"The output {kind} is empty; give the {kind} to write to, e.g. --out {example}."
        )
    return text


def write_file(path: str | os.PathLike, data: bytes) -> Path:
    """Write one file whole or not at all: a temporary file beside it, then a rename.

    Raises
    ------
    InputError
        An empty path.
    """
    target = Path(_path_text(path, "file", "gene.csv")).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not tempfile.mkstemp: its file is 0600 whatever the umask, and the rename keeps that
    # mode; created with 0666 here, the umask decides, as for the other commands' files.
    staging = target.parent / f".{target.name}.partial-{secrets.token_hex(8)}"
    handle = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        with deferred_stop_signals():
            os.replace(staging, target)
    finally:
        Path(staging).unlink(missing_ok=True)
    return target


def write_outputs(
    out_dir: str | os.PathLike,
    analysis: Analysis,
    *,
    extra: Mapping[str, bytes] | None = None,
    cards: Mapping[str, Sequence[str]] | None = None,
) -> list[Path]:
    """Write every file of a run into ``out_dir``: complete, or not at all.

    The files are written to a temporary folder beside ``out_dir`` first and
    moved into place only when all of them exist, the manifest last, with
    Ctrl-C and SIGTERM held during the move.  An interruption before that
    leaves ``out_dir`` as it was (an earlier run there stays whole); files of
    an earlier run that this run does not write (e.g. its ``intervals.csv``)
    are removed, so the folder never mixes two runs.  The manifest lists every
    file with its SHA-256 (``checksums``), as the bundle's does.

    Parameters
    ----------
    out_dir
        The output folder (created when missing).
    analysis
        The run.
    extra
        Further files of the run by name, written and listed with the others
        (the tumour-board cards, :func:`deconv_core.card.card_file_names`).
    cards
        Sample → the names of its card files in ``extra``: listed in the
        manifest under ``cards`` (``sample`` and ``files``), so each file
        names its sample whatever its file name had to become.

    Returns
    -------
    list of pathlib.Path
        The files written, the manifest last.

    Raises
    ------
    InputError
        An unusable ``out_dir`` (:func:`check_out_dir`).
    """
    target = check_out_dir(out_dir)
    files = {**output_files(analysis), **(extra or {})}
    context: dict[str, Any] = {
        "checksums": {name: sha256_hex(data) for name, data in files.items()}
    }
    if cards:
        unknown = sorted({n for names in cards.values() for n in names} - set(files))
        if unknown:
            raise ValueError(f"cards names files that are not written: {unknown}")
        context["cards"] = [
            {"sample": str(sample), "files": list(names)} for sample, names in cards.items()
        ]
    manifest = build_manifest(analysis, interface="command line", files=list(files), extra=context)
    files[MANIFEST_FILE] = _manifest_bytes(manifest)
    staging = _staging_folder(target)
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        with deferred_stop_signals():
            target.mkdir(exist_ok=True)
            stale = _earlier_files(target) - set(files)
            names = list(files)
            # The first move proves the folders are on one file system before anything of
            # an earlier run is removed; then the manifest goes, so that until the last
            # move the folder is visibly incomplete.
            os.replace(staging / names[0], target / names[0])
            (target / MANIFEST_FILE).unlink(missing_ok=True)
            for name in stale:
                (target / name).unlink(missing_ok=True)
            for name in names[1:]:
                os.replace(staging / name, target / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [target / name for name in files]


def _staging_folder(target: Path) -> Path:
    """A new temporary folder on the target's file system: beside it, or inside it when the
    target is a mount point (a volume) whose parent is another file system."""
    real = target.resolve()
    if real.is_dir() and os.path.ismount(real):
        where = real
    else:
        real.parent.mkdir(parents=True, exist_ok=True)
        where = real.parent
    return Path(tempfile.mkdtemp(prefix=f".{real.name or 'out'}.partial-", dir=where))


def bundle_zip(
    analysis: Analysis,
    *,
    charts: Mapping[str, bytes] | None = None,
    extra: Mapping[str, Any] | None = None,
    agreement: pd.DataFrame | None = None,
    inputs: Mapping[str, InputFile] | None = None,
    files: Mapping[str, bytes] | None = None,
) -> bytes:
    """Every file of a run in one zip, the dashboard's "Everything" download.

    Parameters
    ----------
    analysis
        The run.
    charts
        File name under ``charts/`` → bytes (HTML pages and their shared
        ``plotly.min.js``), or None.
    extra
        Dashboard context for the manifest (see :func:`build_manifest`).
    agreement
        The estimated-vs-measured table, when measured fractions are loaded
        (see :func:`output_files`).
    inputs
        The input files as uploaded, by slot (:data:`deconv_core.session.INPUT_SLOTS`):
        written under ``inputs/`` with a ``session`` entry in the manifest, so
        the bundle restores the run (:func:`deconv_core.session.read_bundle`);
        None leaves them out.
    files
        :func:`output_files` of this same run when the caller has them
        already (the dashboard offers them one by one too), so the tables
        and the XLSX are not written twice; None: written here.

    Returns
    -------
    bytes
        The files of :func:`output_files`, the charts, the inputs and
        ``manifest.json``, whose ``checksums`` give every other file's SHA-256.
    """
    files = dict(output_files(analysis, agreement=agreement) if files is None else files)
    for name, data in (charts or {}).items():
        files[f"charts/{name}"] = data
    context = dict(extra or {})
    members: dict[str, bytes] = {}
    if inputs:
        members, context["session"] = input_members(inputs)
        files.update(members)
    context["checksums"] = {name: sha256_hex(data) for name, data in files.items()}
    manifest = build_manifest(analysis, interface="dashboard", files=list(files), extra=context)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            if name in members:
                archive.writestr(name, data, **_input_compression(data))
            else:
                archive.writestr(name, data)
        archive.writestr(MANIFEST_FILE, _manifest_bytes(manifest))
    return buffer.getvalue()


def _input_compression(data: bytes) -> dict[str, int]:
    """How an input goes into the zip: stored when already compressed (gzip, xlsx), else
    deflated at level 1 (a 133 MB TSV: 4 s instead of 37 s at the default level 6, for a
    zip 16 % larger; measured 2026-12-01 with benchmarks/card_session.py's cohort)."""
    if data[:2] == GZIP_MAGIC or data[:4] in ZIP_MAGIC:
        return {"compress_type": zipfile.ZIP_STORED}
    return {"compress_type": zipfile.ZIP_DEFLATED, "compresslevel": 1}

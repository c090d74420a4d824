"""Per-sample side tables: sample metadata and measured fractions.

Pure functions (no streamlit), so they are tested directly.  Both tables are
samples × columns with the sample id in the first column; errors are
:class:`~deconv_core.validation.InputError` sentences like the core's.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from deconv_core.io import read_table
from deconv_core.io.limits import (
    DAMAGED_ZIP_ERRORS,
    ReadLimits,
    check_archive_size,
    check_text_table,
)
from deconv_core.io.tables import check_xlsx_budget
from deconv_core.thresholds import MIXED_UNITS_RATIO, PERCENT_ABOVE
from deconv_core.validation import InputError, check_unique_labels

__all__ = [
    "MAX_GROUP_LEVELS",
    "SampleTable",
    "group_columns",
    "match_report",
    "no_match_sentence",
    "match_samples",
    "read_measured",
    "read_metadata",
]

#: A metadata column is offered for grouping when it has 2 to this many distinct values.
MAX_GROUP_LEVELS = 12

# Side tables are small: a quarter of an expression upload's budget is plenty.
DASHBOARD_TABLE_LIMITS = ReadLimits(max_text_bytes=256 * 2**20, max_memory=512 * 2**20)


@dataclass(frozen=True)
class SampleTable:
    """A per-sample table a user uploaded.

    Attributes
    ----------
    table
        Samples × columns (index = sample id, str).  Metadata keeps text and
        numbers as read; measured fractions are floats in [0, 1].
    name
        File name as uploaded.
    sha256
        Hex digest of the file's bytes (for the manifest).
    notes
        Plain-language sentences about what was done (e.g. "percent values
        were divided by 100").
    """

    table: pd.DataFrame
    name: str
    sha256: str
    notes: tuple[str, ...] = ()


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-16" and data[:2] not in (b"\xff\xfe", b"\xfe\xff"):
            continue
        return text
    return data.decode("latin-1")


def read_metadata(data: bytes, name: str) -> SampleTable:
    """Read a sample-metadata file: sample id in the first column, then any columns.

    Parameters
    ----------
    data
        Bytes of a CSV, TSV or TXT file (delimiter sniffed) or an XLSX file.
    name
        Its file name.

    Returns
    -------
    SampleTable
        Samples × columns, values as text (numbers stay numbers).

    Raises
    ------
    InputError
        Empty file, no columns besides the sample id, or duplicated sample ids.
    """
    if not data:
        raise InputError(
            f"The metadata file {name} is empty; upload a CSV with one row per sample."
        )
    if data[:2] == b"PK":
        check_archive_size(data, DASHBOARD_TABLE_LIMITS, what="metadata")
        # The sheet's size is checked (stated and counted) before pandas reads it.
        check_xlsx_budget(data, DASHBOARD_TABLE_LIMITS, what="metadata")
    else:
        check_text_table(data, DASHBOARD_TABLE_LIMITS, what="metadata")
    if data[:2] == b"PK":
        try:
            frame = pd.read_excel(io.BytesIO(data), dtype=str)
        except (ValueError, OSError, KeyError, *DAMAGED_ZIP_ERRORS) as exc:
            raise InputError(
                f"The metadata file {name} is not a readable Excel .xlsx workbook (another zip "
                "archive, or a damaged file); save it again as .xlsx or CSV."
            ) from exc
    else:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        if data.startswith(b"%PDF") or (b"\x00" in data[:4096] and not utf16):
            raise InputError(
                f"The metadata file {name} is not a text table or an Excel .xlsx workbook (it "
                "holds binary data); save it as CSV or XLSX and upload that."
            )
        text = _decode(data)
        lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
        if not lines:
            raise InputError(
                f"The metadata file {name} has no rows; upload a CSV with a header row."
            )
        try:
            delimiter = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",\t;").delimiter
        except csv.Error:
            delimiter = ","
        try:
            frame = pd.read_csv(
                io.StringIO("\n".join(lines)), sep=delimiter, dtype=str, keep_default_na=False
            )
        except pd.errors.ParserError as exc:
            raise InputError(
                f"The metadata file {name} could not be split into cells ({str(exc).strip()}); "
                "save it as a CSV with one header row and one row per sample."
            ) from exc
    if frame.empty and frame.shape[1] >= 2:
        raise InputError(
            f"The metadata file {name} has a header row but no rows of samples; add one row "
            "per sample below it."
        )
    if frame.shape[1] < 2:
        raise InputError(
            f"The metadata file {name} has {frame.shape[1]} column(s); it needs the sample id in "
            "the first column and at least one more column (e.g. group)."
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    check_unique_labels(pd.Index(frame.columns[1:]), what="column names of the metadata")
    ids = frame.iloc[:, 0].astype(str).str.strip()
    check_unique_labels(
        pd.Index(ids), what="sample ids in the first column of the metadata", axis="rows"
    )
    table = frame.iloc[:, 1:].copy()
    table.index = pd.Index(list(ids), name="sample")
    for column in table.columns:
        values = table[column].astype(str).str.strip()
        values = values.where(~values.isin(["", "NA", "N/A", "nan", "NaN"]), None)
        numeric = pd.to_numeric(values, errors="coerce")
        if values.notna().any() and numeric[values.notna()].notna().all():
            table[column] = numeric.astype(float)
        else:
            table[column] = values.astype(object)
    return SampleTable(table=table, name=name, sha256=hashlib.sha256(data).hexdigest())


def read_measured(data: bytes, name: str) -> SampleTable:
    """Read measured cell fractions (e.g. flow cytometry): samples × categories.

    Parameters
    ----------
    data
        Bytes of a file in any format :func:`deconv_core.io.read_table`
        reads; sample ids in the first column, one numeric column per
        category.  Fractions (0–1) or percentages (0–100).  Columns of text
        or TRUE/FALSE (e.g. a mixture name, "is pure sample") are ignored,
        with a note naming them.
    name
        Its file name.

    Returns
    -------
    SampleTable
        Samples × categories, fractions in [0, 1].

    Raises
    ------
    InputError
        Unreadable file, negative values, values above 100, or percentages
        with some samples written as fractions (mixed units).
    """
    read = read_table(
        data,
        name=name,
        what="measured fractions",
        limits=DASHBOARD_TABLE_LIMITS,
        text_columns="anywhere",
    )
    table = read.table.copy()
    table.index = pd.Index([str(s).strip() for s in table.index], name="sample")
    table.columns = [str(c).strip() for c in table.columns]
    check_unique_labels(
        pd.Index(table.index), what="sample ids of the measured fractions", axis="rows"
    )
    values = table.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    notes = []
    if read.info.dropped_columns:
        ignored, many = ", ".join(read.info.dropped_columns), len(read.info.dropped_columns) > 1
        notes.append(
            f"Column{'s' if many else ''} {ignored} {'were' if many else 'was'} ignored: "
            f"{'they hold' if many else 'it holds'} text or true/false values (a description "
            "of the samples), not fractions."
        )
    if finite.size == 0:
        raise InputError(f"The measured-fractions file {name} has no numbers.")
    if np.isinf(values).any():
        raise InputError(
            f"The measured-fractions file {name} holds infinite values; give fractions (0–1) "
            "or percentages (0–100), and leave unmeasured cells empty."
        )
    if (finite < 0).any():
        raise InputError(
            f"The measured-fractions file {name} holds negative values; give fractions (0–1) "
            "or percentages (0–100)."
        )
    if finite.max() > 100:
        raise InputError(
            f"The measured-fractions file {name} holds values above 100 (maximum "
            f"{finite.max():.4g}); give fractions (0–1) or percentages (0–100), not cell counts."
        )
    if finite.max() > PERCENT_ABOVE:
        _check_one_unit(table, name)
        table = table / 100.0
        notes.append("Values above 1 were read as percentages and divided by 100.")
    return SampleTable(
        table=table.astype(float),
        name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        notes=tuple(notes),
    )


def _check_one_unit(percent: pd.DataFrame, name: str) -> None:
    """Refuse a table of percentages in which some samples were written as fractions.

    ``percent``: samples × categories as read, some value above
    :data:`~deconv_core.thresholds.PERCENT_ABOVE`.  A sample whose values are
    all at most 1 and add up to less than the typical percentage sample's total
    over the same categories (those the sample has a value for: a panel that
    measured one rare population is not a sample of fractions) divided by
    :data:`~deconv_core.thresholds.MIXED_UNITS_RATIO` is a sample of fractions
    (0.3 for 30%): dividing the whole table by 100 would make it a hundred times
    too small, and no single unit reads the file right.
    """
    largest = percent.max(axis=1)
    totals = percent.sum(axis=1, min_count=1)
    in_percent = largest > 1
    typical = pd.Series(np.nan, index=percent.index)
    for sample in percent.index[(largest > 0) & (largest <= 1)]:
        measured = percent.columns[percent.loc[sample].notna()]
        typical[sample] = percent.loc[in_percent, measured].sum(axis=1, min_count=1).median()
    small = totals * MIXED_UNITS_RATIO < typical
    if not small.any():
        return
    typical = float(typical[small].median())
    fractions = [str(s) for s in percent.index[small]]
    shown = ", ".join(fractions[:5]) + (
        f" and {len(fractions) - 5} more" if len(fractions) > 5 else ""
    )
    percents = [str(s) for s in percent.index[in_percent]]
    shown_percent = ", ".join(percents[:3]) + (
        f" and {len(percents) - 3} more" if len(percents) > 3 else ""
    )
    raise InputError(
        f"The measured-fractions file {name} mixes units: {shown_percent} "
        f"{'is' if len(percents) == 1 else 'are'} in percentages (values add up to about "
        f"{typical:.3g}) while {shown} {'has' if len(fractions) == 1 else 'have'} every value "
        f"at most 1 (adding up to about {float(totals[small].median()):.2g}, fractions); write "
        "every sample the same way, all as fractions (0–1) or all as percentages (0–100)."
    )


def match_samples(samples: list[str] | pd.Index, table: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``table`` in the order of ``samples`` (exact ids, else case-insensitive).

    Parameters
    ----------
    samples
        Sample names of the expression data.
    table
        Samples × columns, index = sample id.

    Returns
    -------
    pandas.DataFrame
        Index = the expression's sample names that have a row in ``table``.
    """
    exact = {str(s): s for s in table.index}
    folded = {str(s).strip().lower(): s for s in table.index}
    rows, index = [], []
    for sample in samples:
        key = exact.get(str(sample), folded.get(str(sample).strip().lower()))
        if key is not None:
            rows.append(key)
            index.append(str(sample))
    out = table.loc[rows].copy()
    out.index = pd.Index(index, name="sample")
    return out


def _examples(items: list[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def no_match_sentence(samples: list[str] | pd.Index, table: SampleTable) -> str:
    """The sentence refusing a side table none of whose ids is a sample name."""
    samples = [str(s) for s in samples]
    folded = {s.strip().lower() for s in samples}
    unknown = [str(i) for i in table.table.index if str(i).strip().lower() not in folded]
    return (
        f"None of the {len(table.table)} ids in the first column of {table.name} "
        f"({_examples(unknown)}) is a sample name of the expression data "
        f"({_examples(samples)}); put the sample ids, spelled as in the expression file, "
        "in the first column."
    )


def match_report(
    samples: list[str] | pd.Index, table: SampleTable, *, what: str
) -> tuple[bool, str]:
    """How a side table's sample ids match the expression's samples, in one plain sentence.

    Parameters
    ----------
    samples
        Sample names of the expression data.
    table
        The sample metadata or measured fractions.
    what
        What the table holds, for the sentence (``"metadata"``).

    Returns
    -------
    (complete, sentence)
        ``complete`` is True when every expression sample has a row.  The
        sentence gives the count and, when some are missing, examples of the
        samples without a row; ids that match no sample are named either way
        (their rows are left out, e.g. a FACS sample without expression).
    """
    samples = [str(s) for s in samples]
    matched = match_samples(samples, table.table)
    n, k = len(samples), len(matched)
    sentence = f"{k} of {n} expression samples have {what}."
    found = set(matched.index)
    folded = {s.strip().lower() for s in samples}
    unknown = [str(i) for i in table.table.index if str(i).strip().lower() not in folded]
    if k == 0:
        return False, f"{sentence} {no_match_sentence(samples, table)}"
    if k < n:
        sentence += f" Without {what}: {_examples([s for s in samples if s not in found])}."
    if unknown:
        sentence += f" Ids of {table.name} that match no sample: {_examples(unknown)}."
    return k == n, sentence


def group_columns(table: pd.DataFrame) -> list[str]:
    """Text columns usable for grouping: 2 to :data:`MAX_GROUP_LEVELS` distinct values.

    Numeric columns (e.g. cellularity) are measurements, not groups, and are left out.
    """
    usable = []
    for column in table.columns:
        if pd.api.types.is_numeric_dtype(table[column]):
            continue
        levels = table[column].dropna().astype(str).nunique()
        if 2 <= levels <= MAX_GROUP_LEVELS:
            usable.append(str(column))
    return usable

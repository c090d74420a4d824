"""Read single-cell counts and their cell labels, from tables or AnnData ``.h5ad`` files.

Input
-----
A counts matrix, genes × cells (CSV, TSV or TXT, gzipped or not; a cells ×
genes file is recognised by its gene-like column names and transposed) or an
AnnData ``.h5ad`` file (read with h5py: ``X`` dense or CSR/CSC, ``obs`` and
``var`` indexes, categorical ``obs`` columns), plus one label per cell: a
column of a CSV/TSV file whose first column (or a column named ``cell``,
``barcode``, ``cell_id`` ...) holds the cell names, or an ``obs`` column of the
h5ad.  Gene ids are harmonised to HGNC symbols like bulk data (duplicates
after renaming are summed, as counts should be).

Raw counts (UMI or reads) are expected.  Other scales are detected on the
non-zero values and handled as follows (:func:`detect_single_cell_scale`):

- whole numbers: raw counts, used as they are;
- non-integer values below 50 (log-normalised, e.g. scanpy's
  ``normalize_total`` + ``log1p``, scale ``lnp1``): converted back with ``expm1`` (natural
  log) or ``2**x - 1`` (log2), whichever makes the cells' totals most equal,
  ``expm1`` when neither does; warning ``log_scale``.  Library sizes are lost
  in such data, so the signature gets no mRNA-content factors;
- other non-negative values (CPM, TPM): used as linear, with a note;
- negative values (scaled or z-scored data): refused, asking for raw counts.

In an h5ad whose ``X`` is not whole numbers, ``layers/counts`` or ``raw/X`` is
used instead when it holds whole numbers.

:func:`read_single_cell` returns a :class:`SingleCellData`; building a
signature from it is :func:`deconv_core.singlecell.build_signature`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy  # scipy.sparse loads on first use: a plain run never needs it

from deconv_core.genes import harmonise_genes, orient_genes_as_rows
from deconv_core.io.limits import DEFAULT_LIMITS, ReadLimits, gunzip_capped
from deconv_core.io.tables import GZIP_MAGIC, HDF5_MAGIC, read_table
from deconv_core.options import SINGLE_CELL_SCALE_ALIASES, SINGLE_CELL_SCALES, check_choice
from deconv_core.validation import DeconvWarning, InputError, read_input_file

__all__ = [
    "DAMAGED_HDF5_ERRORS",
    "SINGLE_CELL_SCALES",
    "SingleCellData",
    "detect_single_cell_scale",
    "h5_index",
    "h5_strings",
    "read_single_cell",
]

# Non-integer data whose maximum is below this is log (as for bulk, quanTIseq's rule).
_LOG_MAX = 50.0
# Per-cell totals this equal (coefficient of variation) mean the cells were
# normalised to a common total before the log, which identifies the log base.
_EQUAL_TOTALS_CV = 0.01
# Column names taken as cell ids / labels when none is named (lower case).
_ID_COLUMNS = ("cell", "cells", "barcode", "barcodes", "cell_id", "cell_barcode", "cell_name")
_LABEL_COLUMNS = (
    "cell_type",
    "celltype",
    "cell_types",
    "cell_type_fine",
    "cell_type_coarse",
    "label",
    "labels",
    "annotation",
    "cluster",
    "bulk_labels",
)
_UNLOG = {"lnp1": np.expm1, "log2p1": lambda v: np.exp2(v) - 1.0}


@dataclass(frozen=True)
class SingleCellData:
    """Single-cell counts with one label per cell.

    Attributes
    ----------
    counts
        Sparse genes × cells matrix (``scipy.sparse.csc_array``, float64) on
        the scale given by :attr:`scale` after undoing any log.
    genes
        Harmonised gene symbols (rows of :attr:`counts`), unique.
    cells
        Cell names (columns of :attr:`counts`), unique.
    labels
        Cell type of every cell (index = :attr:`cells`, str).
    scale
        What the input was: ``"counts"``, ``"lnp1"`` or ``"log2p1"`` (undone)
        or ``"linear"``.
    name
        File name of the counts.
    warnings
        What was found and changed on the way.
    """

    counts: scipy.sparse.csc_array
    genes: pd.Index
    cells: pd.Index
    labels: pd.Series
    scale: str
    name: str
    warnings: tuple[DeconvWarning, ...]

    def cell_type_counts(self) -> pd.Series:
        """Number of cells per cell type, in order of first appearance."""
        return self.labels.value_counts(sort=False)


def _raw_bytes(source: str | os.PathLike | bytes, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    return read_input_file(source, what=what)


def h5_strings(dataset: Any) -> np.ndarray:
    """Decode an h5py dataset of strings (or numbers) to an object array of str."""
    if dataset.dtype.kind in ("S", "O", "U"):
        return np.asarray(dataset.asstr()[()], dtype=object)
    return np.asarray([str(v) for v in dataset[()]], dtype=object)


def h5_index(group: Any) -> np.ndarray:
    key = group.attrs.get("_index", "_index")
    key = key.decode() if isinstance(key, bytes) else str(key)
    if key not in group:
        raise InputError(
            f"The h5ad file has no index in '{group.name}'; it does not look like an AnnData "
            "file written by anndata 0.7 or later."
        )
    return h5_strings(group[key])


def _h5_matrix(node: Any) -> scipy.sparse.csr_array:
    """Read an AnnData matrix (cells × genes) as CSR, dense or sparse on disk."""
    import h5py

    if isinstance(node, h5py.Dataset):
        return scipy.sparse.csr_array(np.asarray(node[()], dtype=np.float64))
    encoding = node.attrs.get("encoding-type", node.attrs.get("h5sparse_format", ""))
    encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
    shape = tuple(int(x) for x in node.attrs.get("shape", node.attrs.get("h5sparse_shape", ())))
    if not {"data", "indices", "indptr"} <= set(node.keys()) or len(shape) != 2:
        raise InputError(
            f"The h5ad matrix '{node.name}' is neither dense nor CSR/CSC sparse; save the "
            "AnnData with anndata 0.7 or later."
        )
    parts = (node["data"][()].astype(np.float64), node["indices"][()], node["indptr"][()])
    kind = scipy.sparse.csc_array if encoding.startswith("csc") else scipy.sparse.csr_array
    stored = kind(parts, shape=shape)
    stored.check_format(full_check=True)  # a damaged file's pointers fail later otherwise
    return scipy.sparse.csr_array(stored)


def _h5_column(obs: Any, column: str) -> np.ndarray:
    """An ``obs`` column as an object array of str (NaN for missing categories)."""
    import h5py

    node = obs[column]
    if isinstance(node, h5py.Group):
        if {"categories", "codes"} <= set(node.keys()):
            categories = h5_strings(node["categories"])
            codes = node["codes"][()].astype(np.int64)
            out = np.full(codes.shape, np.nan, dtype=object)
            ok = codes >= 0
            out[ok] = categories[codes[ok]]
            return out
        raise InputError(
            f"The obs column {column!r} of the h5ad file has an encoding this tool cannot "
            "read; use a categorical or text column of cell types."
        )
    if "categories" in node.attrs:  # anndata < 0.8: codes + a reference to the categories
        categories = h5_strings(obs.file[node.attrs["categories"]])
        codes = node[()].astype(np.int64)
        out = np.full(codes.shape, np.nan, dtype=object)
        out[codes >= 0] = categories[codes[codes >= 0]]
        return out
    return h5_strings(node)


def _obs_columns(obs: Any) -> list[str]:
    index_key = obs.attrs.get("_index", "_index")
    index_key = index_key.decode() if isinstance(index_key, bytes) else str(index_key)
    return [k for k in obs if k not in (index_key, "__categories")]


def _choose_column(columns: Sequence[str], wanted: str | None, what: str) -> str:
    names = [str(c) for c in columns]
    if wanted is not None:
        if wanted in names:
            return wanted
        lower = {n.lower(): n for n in names}
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        raise InputError(
            f"The {what} has no column {wanted!r}; its columns are {', '.join(names[:20])}."
        )
    lower = {n.lower(): n for n in names}
    for candidate in _LABEL_COLUMNS:
        if candidate in lower:
            return lower[candidate]
    if len(names) == 1:
        return names[0]
    raise InputError(
        f"Cannot tell which column of the {what} holds the cell types (columns: "
        f"{', '.join(names[:20])}).",
        cli="Name it with --label-column.",
        app="Choose it under 'Column with the cell types'.",
    )


def _read_h5ad(
    raw: bytes, *, label_column: str | None, want_labels: bool
) -> tuple[scipy.sparse.csr_array, np.ndarray, np.ndarray, pd.Series | None, list[DeconvWarning]]:
    """Counts (cells × genes CSR), gene ids, cell ids, obs labels, warnings."""
    # h5py is imported only for h5ad input, keeping the command line quick to start.
    import h5py

    try:
        handle = h5py.File(io.BytesIO(raw), "r")
    except DAMAGED_HDF5_ERRORS as exc:
        raise InputError(f"The h5ad file cannot be opened ({exc}); is it complete?") from exc
    try:
        with handle as f:
            return _h5ad_contents(f, label_column=label_column, want_labels=want_labels)
    except InputError:
        raise
    except DAMAGED_HDF5_ERRORS as exc:
        raise InputError(
            f"The h5ad file is damaged ({exc}); save it again from AnnData (adata.write_h5ad)."
        ) from exc


#: What reading a damaged HDF5 file (an h5ad; an ARCHS4 store, deconv_core.io.chunked)
#: raises (flipping bytes of an h5ad that opened found each): h5py's OSError,
#: RuntimeError and KeyError (an object past the end, an address overflow, a bad message
#: flag), and from the values read, ValueError (sparse pointers), IndexError (category
#: codes), TypeError and OverflowError (attributes of the wrong kind).
DAMAGED_HDF5_ERRORS = (
    OSError,
    RuntimeError,
    KeyError,
    ValueError,
    IndexError,
    TypeError,
    OverflowError,
)


def _h5ad_contents(
    f: Any, *, label_column: str | None, want_labels: bool
) -> tuple[scipy.sparse.csr_array, np.ndarray, np.ndarray, pd.Series | None, list[DeconvWarning]]:
    """:func:`_read_h5ad`'s reading of the open file ``f``."""
    if "X" not in f or "obs" not in f or "var" not in f:
        raise InputError(
            "The h5ad file lacks X, obs or var; it does not look like an AnnData file."
        )
    cells = h5_index(f["obs"])
    matrix, genes, warnings = _raw_counts(f)
    labels = None
    if want_labels:
        column = _choose_column(_obs_columns(f["obs"]), label_column, "h5ad obs table")
        labels = pd.Series(_h5_column(f["obs"], column), index=cells, name=column)
    if matrix.shape != (cells.size, genes.size):
        raise InputError(
            f"The h5ad matrix is {matrix.shape[0]} × {matrix.shape[1]} but obs has "
            f"{cells.size} cells and var {genes.size} genes; the file is inconsistent."
        )
    return matrix, genes, cells, labels, warnings


def _raw_counts(f: Any) -> tuple[scipy.sparse.csr_array, np.ndarray, list[DeconvWarning]]:
    """X and its genes, or the raw counts in ``layers/counts`` or ``raw/X`` when X is not."""
    matrix, genes = _h5_matrix(f["X"]), h5_index(f["var"])
    if _whole_numbers(matrix.data):
        return matrix, genes, []
    for path, var in (("layers/counts", "var"), ("raw/X", "raw/var")):
        if path in f and var in f:
            alt = _h5_matrix(f[path])
            if _whole_numbers(alt.data) and alt.shape[0] == matrix.shape[0]:
                note = DeconvWarning(
                    "info",
                    "h5ad_counts_layer",
                    f"The h5ad file's X is not raw counts; the raw counts in '{path}' were used "
                    "instead.",
                )
                return alt, h5_index(f[var]), [note]
    return matrix, genes, []


def _whole_numbers(values: np.ndarray) -> bool:
    return bool(values.size == 0 or np.all(values == np.round(values)))


def _read_labels(source: str | os.PathLike | bytes, *, label_column: str | None) -> pd.Series:
    """Cell name → label from a CSV/TSV file (first column or an id column = cell names)."""
    raw = _raw_bytes(source, "labels")
    if raw[:2] == GZIP_MAGIC:
        raw = gunzip_capped(raw, DEFAULT_LIMITS.max_text_bytes, what="labels")
    text = raw.decode("utf-8-sig", errors="replace")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) < 2:
        raise InputError(
            "The labels file has no data rows; it needs a header and one row per cell "
            "(cell name, cell type)."
        )
    header = lines[0]
    sep = "\t" if "\t" in header else ";" if header.count(";") > header.count(",") else ","
    table = pd.read_csv(io.StringIO("\n".join(lines)), sep=sep, dtype=str, keep_default_na=False)
    table.columns = [str(c).strip() for c in table.columns]
    if table.shape[1] < 2:
        raise InputError(
            "The labels file has a single column; it needs the cell names in one column and "
            "the cell types in another (tab- or comma-separated)."
        )
    lower = {c.lower(): c for c in table.columns}
    id_column = next((lower[c] for c in _ID_COLUMNS if c in lower), table.columns[0])
    others = [c for c in table.columns if c != id_column]
    column = _choose_column(others, label_column, "labels file")
    ids = table[id_column].str.strip()
    if ids.duplicated().any():
        dup = ids[ids.duplicated()].iloc[0]
        raise InputError(
            f"The labels file names cell {dup!r} more than once; give one row per cell."
        )
    values = table[column].str.strip().replace({"": np.nan, "NA": np.nan, "nan": np.nan})
    return pd.Series(values.to_numpy(dtype=object), index=pd.Index(ids, dtype=object), name=column)


def _harmonise(genes: np.ndarray) -> tuple[pd.Index, scipy.sparse.csr_array | None, list]:
    """Harmonised unique gene ids and a (new genes × old genes) summing matrix."""
    probe = pd.DataFrame({"x": np.zeros(len(genes))}, index=pd.Index(genes, dtype=object))
    mapped = harmonise_genes(probe, what="single-cell counts")
    rename = {
        str(o): str(n) for o, n, k in mapped.changes.itertuples(index=False) if k != "duplicate"
    }
    new = []
    for gene in genes:
        label = None if gene is None or (isinstance(gene, float) and np.isnan(gene)) else str(gene)
        if label is not None and label.strip().lower() in ("", "nan", "na", "none"):
            label = None
        new.append(rename.get(label, label) if label is not None else None)
    keep = [i for i, g in enumerate(new) if g is not None]
    unique = pd.Index(list(dict.fromkeys(new[i] for i in keep)), dtype=object)
    warnings = [w for w in mapped.warnings if w.code != "duplicate_genes"]
    if len(unique) == len(genes):
        return unique, None, warnings
    position = {g: i for i, g in enumerate(unique)}
    rows = [position[new[i]] for i in keep]
    summing = scipy.sparse.csr_array(
        (np.ones(len(keep)), (rows, keep)), shape=(len(unique), len(genes))
    )
    n_dup = len(keep) - len(unique)
    if n_dup:
        warnings.append(
            DeconvWarning(
                "info",
                "duplicate_genes",
                f"{n_dup} gene rows of the single-cell counts repeated another gene's id after "
                "harmonising; their counts were summed.",
            )
        )
    return unique, summing, warnings


def detect_single_cell_scale(values: np.ndarray, totals_by_base: dict[str, np.ndarray]) -> str:
    """Decide the scale of single-cell data from its non-zero values.

    Parameters
    ----------
    values
        The non-zero values (any order).
    totals_by_base
        Per-cell totals after undoing each log: ``{"lnp1": expm1 totals,
        "log2p1": 2**x - 1 totals}`` (only needed for non-integer values
        below 50).

    Returns
    -------
    str
        ``"counts"`` (whole numbers), ``"lnp1"`` or ``"log2p1"`` (non-integer
        with maximum below 50; the base whose totals are most equal across
        cells, ``"lnp1"`` by default), ``"linear"`` otherwise.  Negative data
        are refused by the caller.
    """
    if values.size == 0 or _whole_numbers(values):
        return "counts"
    if float(values.max()) >= _LOG_MAX:
        return "linear"
    cv = {"lnp1": np.inf}
    for base, totals in totals_by_base.items():
        ok = totals[totals > 0]
        cv[base] = float(ok.std() / ok.mean()) if ok.size > 1 and ok.mean() > 0 else np.inf
    best = min(cv, key=cv.get)
    return best if cv[best] < _EQUAL_TOTALS_CV else "lnp1"


def read_single_cell(
    counts: str | os.PathLike | bytes,
    *,
    labels: str | os.PathLike | bytes | pd.Series | None = None,
    label_column: str | None = None,
    name: str | None = None,
    scale: str = "auto",
    limits: ReadLimits = DEFAULT_LIMITS,
) -> SingleCellData:
    """Read a single-cell counts matrix and its cell labels.

    A text counts table is read within ``limits``
    (:class:`~deconv_core.io.limits.ReadLimits`; default: the command line's).

    Parameters
    ----------
    counts
        Path or raw bytes of a genes × cells table (CSV, TSV, TXT, optionally
        gzipped; cells × genes is transposed) or of an AnnData ``.h5ad`` file
        (recognised by content).
    labels
        Path or bytes of a CSV/TSV with the cell names in its first column
        (or a column named ``cell``, ``barcode``, ``cell_id`` ...) and the cell
        types in another; or a Series cell name → cell type.  May be None for
        an h5ad file, whose ``obs`` then gives the labels.
    label_column
        Column of the labels file (or of the h5ad ``obs``) holding the cell
        types.  Default: the first of ``cell_type``, ``celltype``, ``label``,
        ``annotation``, ``cluster`` ... present, or the only other column.
    name
        File name of the counts (for messages and metadata).
    scale
        ``"auto"`` (detect, see the module docstring), or declare
        ``"counts"``, ``"lnp1"`` (ln(x + 1); ``"log1p"``, its former name, is
        accepted), ``"log2p1"`` or ``"linear"``.

    Returns
    -------
    SingleCellData
        Only the cells with a label; genes harmonised to HGNC symbols.

    Raises
    ------
    InputError
        Unreadable files, negative (scaled) values, labels that match no cell,
        fewer than two labelled cell types.
    """
    scale = check_choice("single-cell scale", SINGLE_CELL_SCALE_ALIASES.get(scale, scale))
    label = name or (Path(counts).name if not isinstance(counts, bytes) else "uploaded counts")
    raw = _raw_bytes(counts, "single-cell counts")
    warnings: list[DeconvWarning] = []
    obs_labels = None
    if raw[:8] == HDF5_MAGIC:
        matrix, genes, cells, obs_labels, h5_warnings = _read_h5ad(
            raw, label_column=label_column, want_labels=labels is None
        )
        warnings.extend(h5_warnings)
        matrix = scipy.sparse.csc_array(matrix.T)  # genes × cells
    else:
        if labels is None:
            raise InputError(
                "Cell labels are missing; give a labels file (cell name, cell type) with the "
                "counts, or use an h5ad file whose obs holds the cell types."
            )
        matrix, genes, cells, table_warnings = _read_counts_table(raw, label, limits)
        warnings.extend(table_warnings)
    _check_counts(matrix, cells)

    # Labels, aligned by cell name.
    if isinstance(labels, pd.Series):
        series = labels.copy()
        series.index = pd.Index([str(i) for i in series.index], dtype=object)
    elif labels is not None:
        series = _read_labels(labels, label_column=label_column)
    else:
        series = obs_labels
    matrix, cell_labels, label_warnings = _align_labels(matrix, cells, series)
    warnings.extend(label_warnings)

    # Gene ids, harmonised like bulk data; duplicates summed.
    gene_index, summing, gene_warnings = _harmonise(genes)
    warnings.extend(gene_warnings)
    if summing is not None:
        matrix = scipy.sparse.csc_array(summing @ matrix)

    matrix, detected, scale_warnings = _linear_scale(matrix, scale)
    warnings.extend(scale_warnings)
    return SingleCellData(
        counts=matrix,
        genes=gene_index,
        cells=cell_labels.index,
        labels=cell_labels,
        scale=detected,
        name=label,
        warnings=tuple(warnings),
    )


def _read_counts_table(
    raw: bytes, label: str, limits: ReadLimits
) -> tuple[scipy.sparse.csc_array, np.ndarray, np.ndarray, list[DeconvWarning]]:
    """A counts table (genes × cells or transposed): matrix, gene ids, cell names, warnings."""
    warnings: list[DeconvWarning] = []
    read = read_table(raw, name=label, what="single-cell counts", limits=limits)
    warnings.extend(read.warnings)
    table, _, orient = orient_genes_as_rows(read.table, what="single-cell counts")
    warnings.extend(orient)
    values = table.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(values).any():
        rows, cols = np.nonzero(np.isnan(values))
        raise InputError(
            f"The single-cell counts have {rows.size} empty cell(s) (first: gene "
            f"{table.index[rows[0]]} in {table.columns[cols[0]]}); write 0 for no counts."
        )
    genes = np.asarray([str(g) for g in table.index], dtype=object)
    cells = np.asarray([str(c) for c in table.columns], dtype=object)
    return scipy.sparse.csc_array(values), genes, cells, warnings


def _check_counts(matrix: scipy.sparse.csc_array, cells: np.ndarray) -> None:
    """Refuse infinite, missing or negative values and repeated cell names."""
    if not np.isfinite(matrix.data).all():
        raise InputError("The single-cell counts hold infinite or missing values; give raw counts.")
    if (matrix.data < 0).any():
        raise InputError(
            "The single-cell counts hold negative values, so they look scaled or z-scored; "
            "give the raw counts (in AnnData: layers['counts'] or .raw)."
        )
    if pd.Index(cells).duplicated().any():
        dup = pd.Index(cells)[pd.Index(cells).duplicated()][0]
        raise InputError(f"The cell name {dup!r} appears more than once in the counts; rename it.")


def _cells(n: int) -> str:
    return "1 cell has" if n == 1 else f"{n:,} cells have"


def _align_labels(
    matrix: scipy.sparse.csc_array, cells: np.ndarray, series: pd.Series
) -> tuple[scipy.sparse.csc_array, pd.Series, list[DeconvWarning]]:
    """Keep the cells with a label: their columns of ``matrix`` and their labels (by cell name)."""
    warnings: list[DeconvWarning] = []
    cell_index = pd.Index(cells, dtype=object)
    matched = cell_index.isin(series.index)
    if not matched.any():
        raise InputError(
            f"None of the {cell_index.size} cell names of the counts (e.g. {cell_index[0]!r}) "
            f"appear in the labels (e.g. {series.index[0]!r}); the labels file's first column "
            "must hold the counts' cell names."
        )
    aligned = series.reindex(cell_index)
    blank = aligned.isna() | (aligned.astype(str).str.strip() == "")
    if (~matched).any():
        warnings.append(
            DeconvWarning(
                "warning",
                "unlabelled_cells",
                f"{int((~matched).sum())} of {cell_index.size} cells have no row in the labels "
                f"(e.g. {cell_index[~matched][0]}); they were left out.",
            )
        )
    empty = blank.to_numpy() & matched  # named in the labels, but without a cell type
    if empty.any():
        warnings.append(
            DeconvWarning(
                "warning",
                "unlabelled_cells",
                f"{_cells(int(empty.sum()))} an empty label (e.g. {cell_index[empty][0]}); "
                "left out.",
            )
        )
    keep = np.flatnonzero(~blank.to_numpy())
    cell_labels = pd.Series(
        [str(x).strip() for x in aligned.to_numpy()[keep]],
        index=cell_index[keep],
        name="cell_type",
        dtype=object,
    )
    return scipy.sparse.csc_array(matrix[:, keep]), cell_labels, warnings


def _linear_scale(
    matrix: scipy.sparse.csc_array, scale: str
) -> tuple[scipy.sparse.csc_array, str, list[DeconvWarning]]:
    """Detect (``scale="auto"``) or apply the declared scale; undo a log.

    Returns the linear matrix, the scale the input was in and what was done.
    """
    warnings: list[DeconvWarning] = []
    detected = scale
    if scale == "auto":
        totals = {}
        if not _whole_numbers(matrix.data) and float(matrix.data.max()) < _LOG_MAX:
            totals = {
                base: np.asarray(_apply(matrix, func).sum(axis=0)).ravel()
                for base, func in _UNLOG.items()
            }
        detected = detect_single_cell_scale(matrix.data, totals)
    how = "detected" if scale == "auto" else "declared"
    if detected in _UNLOG:
        if matrix.data.size and float(matrix.data.max()) > 1000:
            raise InputError(
                f"The single-cell counts were declared {detected} but hold values above 1000; "
                "declare them as counts or linear."
            )
        formula = "expm1(x)" if detected == "lnp1" else "2**x - 1"
        matrix = _apply(matrix, _UNLOG[detected])
        warnings.append(
            DeconvWarning(
                "warning",
                "log_scale",
                f"The single-cell values look log-transformed ({how} {detected}); they were "
                f"converted back with {formula}. Library sizes are lost in such data, so the "
                "signature gets no mRNA-content factors; raw counts are better.",
            )
        )
    elif detected == "linear":
        warnings.append(
            DeconvWarning(
                "info",
                "not_counts",
                f"The single-cell values are not whole numbers ({how} linear, e.g. CPM or "
                "TPM); they were used as linear expression.",
            )
        )
    return matrix, detected, warnings


def _apply(matrix: scipy.sparse.csc_array, func) -> scipy.sparse.csc_array:
    """Apply an elementwise function that maps 0 to 0 to the stored values."""
    out = matrix.copy()
    out.data = func(out.data)
    return out

"""Build a signature from single-cell RNA-seq counts, and check it on held-out cells.

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
  ``normalize_total`` + ``log1p``): converted back with ``expm1`` (natural
  log) or ``2**x - 1`` (log2), whichever makes the cells' totals most equal,
  ``expm1`` when neither does; warning ``log_scale``.  Library sizes are lost
  in such data, so the signature gets no mRNA-content factors;
- other non-negative values (CPM, TPM): used as linear, with a note;
- negative values (scaled or z-scored data): refused, asking for raw counts.

In an h5ad whose ``X`` is not whole numbers, ``layers/counts`` or ``raw/X`` is
used instead when it holds whole numbers.

Method (:func:`build_signature`)
--------------------------------
1. Cell types with fewer than ``min_cells`` cells are left out (warning
   ``few_cells``); at least two must remain.
2. Pseudo-bulk profiles: each cell is scaled to one million (counts per
   million, CPM) and the cells of a type are averaged: genes × cell types on a
   TPM-like scale (no gene-length correction, which UMI data do not need).
3. mRNA content: the median total counts per cell of each type, used as the
   signature's mRNA-scaling factors so that fits of bulk data give cell (not
   mRNA) fractions, as TIL10's factors do in quanTIseq.
4. Marker candidates of a cell type: genes it expresses most, at least
   ``2**min_log2_fold_change`` times the runner-up type (pseudo-count 1 CPM)
   and detected (count > 0) in at least ``min_detection`` of its cells; ranked
   by AUC, the chance that a cell of the type has more of the gene (per-cell
   CPM) than a cell of another type (the Mann-Whitney statistic behind the
   Wilcoxon marker tests of scanpy and Seurat; with few cells per type it is
   less swayed by a handful of high cells than the fold change), ties broken by
   fold change.  A type with fewer than 3 candidates takes the 3 genes with
   the best fold change instead, below the threshold (warning
   ``weak_markers``).
5. Gene count: the signature is the union of the top ``n`` candidates of every
   type, ``n`` from ``min_markers`` to ``max_markers`` in steps of 5; the
   ``n`` with the lowest condition number is kept (CIBERSORT's rule, Newman et
   al. 2015), and the condition number is reported.
6. Validation: ``test_fraction`` of every type's cells are held out (seeded).
   Steps 2-5 are rerun on the remaining cells; ``n_mixtures`` pseudo-bulk
   mixtures of ``cells_per_mixture`` held-out cells each, with Dirichlet(1)
   proportions, are summed from their raw counts and deconvolved with
   :func:`deconv_core.deconvolve.deconvolve` (relative mode); Pearson r and
   RMSE against the cell fractions drawn are reported per type and pooled.
   The returned signature is then built from all cells with the same
   parameters, so the validation measures the method on unseen cells rather
   than this exact matrix.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from deconv_core.deconvolve import deconvolve
from deconv_core.genes import harmonise_genes, orient_genes_as_rows
from deconv_core.identifiability import condition_number
from deconv_core.io import read_table
from deconv_core.ranking import average_ranks
from deconv_core.signatures import Signature, check_signature
from deconv_core.validation import DeconvWarning, InputError

__all__ = [
    "SINGLE_CELL_SCALES",
    "SignatureBuild",
    "SingleCellData",
    "build_signature",
    "detect_single_cell_scale",
    "read_single_cell",
    "write_signature_build",
]

#: Scales :func:`read_single_cell` accepts; ``"auto"`` detects.
SINGLE_CELL_SCALES = ("auto", "counts", "log1p", "log2p1", "linear")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_GZIP_MAGIC = b"\x1f\x8b"
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
_MIN_CANDIDATES = 3
_UNLOG = {"log1p": np.expm1, "log2p1": lambda v: np.exp2(v) - 1.0}
_MARKER_STEP = 5
# Fewer genes than this are not a whole transcriptome (absolute mode normalises
# bulk over all its genes; the deconvolve module asks for 5,000 at least).
_WHOLE_TRANSCRIPTOME = 15000


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
        What the input was: ``"counts"``, ``"log1p"`` or ``"log2p1"`` (undone)
        or ``"linear"``.
    name
        File name of the counts.
    warnings
        What was found and changed on the way.
    """

    counts: sparse.csc_array
    genes: pd.Index
    cells: pd.Index
    labels: pd.Series
    scale: str
    name: str
    warnings: tuple[DeconvWarning, ...]

    def cell_type_counts(self) -> pd.Series:
        """Number of cells per cell type, in order of first appearance."""
        return self.labels.value_counts(sort=False)


@dataclass(frozen=True)
class SignatureBuild:
    """A signature built from single-cell data and its validation.

    Attributes
    ----------
    signature
        The signature: marker genes × cell types, CPM-like, with
        mRNA-scaling factors (median counts per cell) when the input was raw
        counts.
    profiles
        All genes × cell types: the pseudo-bulk profiles (mean per-cell CPM).
    markers
        One row per selected marker: ``cell_type``, ``rank``, ``gene``,
        ``expression`` (CPM), ``runner_up`` (cell type), ``log2_fold_change``,
        ``detection`` (share of the type's cells with a count),
        ``detection_elsewhere`` (highest share among the other types),
        ``auc`` (chance that a cell of the type has more of the gene than a
        cell of another type).
    cells
        Per cell type (index ``cell_type``): ``n_cells``, ``used`` (bool),
        ``n_train``, ``n_test`` (validation split), ``median_counts``.
    conditioning
        The gene-count search: ``markers_per_type``, ``n_genes``,
        ``condition_number``, ``chosen`` (bool).
    condition_number
        Of the returned signature (2-norm).
    validation
        Per cell type, then ``all`` (pooled over mixtures × types): ``pearson_r``,
        ``rmse``, ``mean_true``, ``mean_estimate``, ``n_train``, ``n_test``.
    mixture_truth, mixture_estimate
        Mixtures × cell types: cell fractions drawn and estimated.
    parameters
        Every parameter of the build (for a manifest).
    warnings
        Everything worth knowing, as data.
    """

    signature: Signature
    profiles: pd.DataFrame
    markers: pd.DataFrame
    cells: pd.DataFrame
    conditioning: pd.DataFrame
    condition_number: float
    validation: pd.DataFrame
    mixture_truth: pd.DataFrame
    mixture_estimate: pd.DataFrame
    parameters: dict[str, object] = field(default_factory=dict)
    warnings: tuple[DeconvWarning, ...] = ()


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _raw_bytes(source: str | os.PathLike | bytes, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"Cannot find the {what} file {str(source)!r}; check the path.") from exc
    except IsADirectoryError as exc:
        raise InputError(f"The {what} path {str(source)!r} is a folder; give a file.") from exc


def _strings(dataset: Any) -> np.ndarray:
    """Decode an h5py dataset of strings (or numbers) to an object array of str."""
    if dataset.dtype.kind in ("S", "O", "U"):
        return np.asarray(dataset.asstr()[()], dtype=object)
    return np.asarray([str(v) for v in dataset[()]], dtype=object)


def _h5_index(group: Any) -> np.ndarray:
    key = group.attrs.get("_index", "_index")
    key = key.decode() if isinstance(key, bytes) else str(key)
    if key not in group:
        raise InputError(
            f"The h5ad file has no index in '{group.name}'; it does not look like an AnnData "
            "file written by anndata 0.7 or later."
        )
    return _strings(group[key])


def _h5_matrix(node: Any) -> sparse.csr_array:
    """Read an AnnData matrix (cells × genes) as CSR, dense or sparse on disk."""
    import h5py

    if isinstance(node, h5py.Dataset):
        return sparse.csr_array(np.asarray(node[()], dtype=np.float64))
    encoding = node.attrs.get("encoding-type", node.attrs.get("h5sparse_format", ""))
    encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
    shape = tuple(int(x) for x in node.attrs.get("shape", node.attrs.get("h5sparse_shape", ())))
    if not {"data", "indices", "indptr"} <= set(node.keys()) or len(shape) != 2:
        raise InputError(
            f"The h5ad matrix '{node.name}' is neither dense nor CSR/CSC sparse; save the "
            "AnnData with anndata 0.7 or later."
        )
    parts = (node["data"][()].astype(np.float64), node["indices"][()], node["indptr"][()])
    if encoding.startswith("csc"):
        return sparse.csr_array(sparse.csc_array(parts, shape=shape))
    return sparse.csr_array(parts, shape=shape)


def _h5_column(obs: Any, column: str) -> np.ndarray:
    """An ``obs`` column as an object array of str (NaN for missing categories)."""
    import h5py

    node = obs[column]
    if isinstance(node, h5py.Group):
        if {"categories", "codes"} <= set(node.keys()):
            categories = _strings(node["categories"])
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
        categories = _strings(obs.file[node.attrs["categories"]])
        codes = node[()].astype(np.int64)
        out = np.full(codes.shape, np.nan, dtype=object)
        out[codes >= 0] = categories[codes[codes >= 0]]
        return out
    return _strings(node)


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
        f"{', '.join(names[:20])}); name it with --label-column."
    )


def _read_h5ad(
    raw: bytes, *, label_column: str | None, want_labels: bool
) -> tuple[sparse.csr_array, np.ndarray, np.ndarray, pd.Series | None, list[DeconvWarning]]:
    """Counts (cells × genes CSR), gene ids, cell ids, obs labels, warnings."""
    # h5py is imported only for h5ad input, keeping the command line quick to start.
    import h5py

    warnings: list[DeconvWarning] = []
    try:
        handle = h5py.File(io.BytesIO(raw), "r")
    except OSError as exc:
        raise InputError(f"The h5ad file cannot be opened ({exc}); is it complete?") from exc
    with handle as f:
        if "X" not in f or "obs" not in f or "var" not in f:
            raise InputError(
                "The h5ad file lacks X, obs or var; it does not look like an AnnData file."
            )
        cells = _h5_index(f["obs"])
        matrix = _h5_matrix(f["X"])
        genes = _h5_index(f["var"])
        if not _whole_numbers(matrix.data):
            for path, var in (("layers/counts", "var"), ("raw/X", "raw/var")):
                if path in f and var in f:
                    alt = _h5_matrix(f[path])
                    if _whole_numbers(alt.data) and alt.shape[0] == matrix.shape[0]:
                        matrix, genes = alt, _h5_index(f[var])
                        warnings.append(
                            DeconvWarning(
                                "info",
                                "h5ad_counts_layer",
                                f"The h5ad file's X is not raw counts; the raw counts in "
                                f"'{path}' were used instead.",
                            )
                        )
                        break
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


def _whole_numbers(values: np.ndarray) -> bool:
    return bool(values.size == 0 or np.all(values == np.round(values)))


def _read_labels(source: str | os.PathLike | bytes, *, label_column: str | None) -> pd.Series:
    """Cell name → label from a CSV/TSV file (first column or an id column = cell names)."""
    raw = _raw_bytes(source, "labels")
    if raw[:2] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)
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


def _harmonise(genes: np.ndarray) -> tuple[pd.Index, sparse.csr_array | None, list]:
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
    summing = sparse.csr_array((np.ones(len(keep)), (rows, keep)), shape=(len(unique), len(genes)))
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
        Per-cell totals after undoing each log: ``{"log1p": expm1 totals,
        "log2p1": 2**x - 1 totals}`` (only needed for non-integer values
        below 50).

    Returns
    -------
    str
        ``"counts"`` (whole numbers), ``"log1p"`` or ``"log2p1"`` (non-integer
        with maximum below 50; the base whose totals are most equal across
        cells, ``"log1p"`` by default), ``"linear"`` otherwise.  Negative data
        are refused by the caller.
    """
    if values.size == 0 or _whole_numbers(values):
        return "counts"
    if float(values.max()) >= _LOG_MAX:
        return "linear"
    cv = {"log1p": np.inf}
    for base, totals in totals_by_base.items():
        ok = totals[totals > 0]
        cv[base] = float(ok.std() / ok.mean()) if ok.size > 1 and ok.mean() > 0 else np.inf
    best = min(cv, key=cv.get)
    return best if cv[best] < _EQUAL_TOTALS_CV else "log1p"


def read_single_cell(
    counts: str | os.PathLike | bytes,
    *,
    labels: str | os.PathLike | bytes | pd.Series | None = None,
    label_column: str | None = None,
    name: str | None = None,
    scale: str = "auto",
) -> SingleCellData:
    """Read a single-cell counts matrix and its cell labels.

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
        ``"counts"``, ``"log1p"``, ``"log2p1"`` or ``"linear"``.

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
    if scale not in SINGLE_CELL_SCALES:
        raise InputError(f"Unknown scale {scale!r}; use one of {', '.join(SINGLE_CELL_SCALES)}.")
    label = name or (Path(counts).name if not isinstance(counts, bytes) else "uploaded counts")
    raw = _raw_bytes(counts, "single-cell counts")
    warnings: list[DeconvWarning] = []
    obs_labels = None
    if raw[:8] == _HDF5_MAGIC:
        matrix, genes, cells, obs_labels, h5_warnings = _read_h5ad(
            raw, label_column=label_column, want_labels=labels is None
        )
        warnings.extend(h5_warnings)
        matrix = sparse.csc_array(matrix.T)  # genes × cells
    else:
        if labels is None:
            raise InputError(
                "Cell labels are missing; give a labels file (cell name, cell type) with the "
                "counts, or use an h5ad file whose obs holds the cell types."
            )
        read = read_table(raw, name=label, what="single-cell counts")
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
        matrix = sparse.csc_array(values)
        genes = np.asarray([str(g) for g in table.index], dtype=object)
        cells = np.asarray([str(c) for c in table.columns], dtype=object)

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

    # Labels, aligned by cell name.
    if isinstance(labels, pd.Series):
        series = labels.copy()
        series.index = pd.Index([str(i) for i in series.index], dtype=object)
    elif labels is not None:
        series = _read_labels(labels, label_column=label_column)
    else:
        series = obs_labels
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
    elif blank.any():
        warnings.append(
            DeconvWarning(
                "warning",
                "unlabelled_cells",
                f"{int(blank.sum())} cells have an empty label; they were left out.",
            )
        )
    keep = np.flatnonzero(~blank.to_numpy())
    matrix = sparse.csc_array(matrix[:, keep])
    cell_index = cell_index[keep]
    cell_labels = pd.Series(
        [str(x).strip() for x in aligned.to_numpy()[keep]],
        index=cell_index,
        name="cell_type",
        dtype=object,
    )

    # Gene ids, harmonised like bulk data; duplicates summed.
    gene_index, summing, gene_warnings = _harmonise(genes)
    warnings.extend(gene_warnings)
    if summing is not None:
        matrix = sparse.csc_array(summing @ matrix)

    # Scale.
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
    if detected in ("log1p", "log2p1"):
        if matrix.data.size and float(matrix.data.max()) > 1000:
            raise InputError(
                f"The single-cell counts were declared {detected} but hold values above 1000; "
                "declare them as counts or linear."
            )
        formula = "expm1(x)" if detected == "log1p" else "2**x - 1"
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
    return SingleCellData(
        counts=matrix,
        genes=gene_index,
        cells=cell_index,
        labels=cell_labels,
        scale=detected,
        name=label,
        warnings=tuple(warnings),
    )


def _apply(matrix: sparse.csc_array, func) -> sparse.csc_array:
    """Apply an elementwise function that maps 0 to 0 to the stored values."""
    out = matrix.copy()
    out.data = func(out.data)
    return out


# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Profiles:
    cpm: np.ndarray  # genes × types, mean per-cell CPM
    detection: np.ndarray  # genes × types, share of cells with a count
    median_counts: np.ndarray  # types
    cell_cpm: sparse.csr_array  # genes × cells, per-cell CPM
    codes: np.ndarray  # cells, type of each cell


def _profiles(counts: sparse.csc_array, codes: np.ndarray, k: int) -> _Profiles:
    """Pseudo-bulk profiles of the cells ``counts`` (genes × cells), types ``codes``."""
    totals = np.asarray(counts.sum(axis=0)).ravel()
    scale = np.where(totals > 0, 1e6 / np.where(totals > 0, totals, 1.0), 0.0)
    n = counts.shape[1]
    membership = sparse.csr_array((np.ones(n), (np.arange(n), codes)), shape=(n, k))
    sizes = np.bincount(codes, minlength=k).astype(float)
    cpm = counts @ sparse.diags_array(scale)
    binary = counts.copy()
    binary.data = (binary.data > 0).astype(np.float64)
    mean_cpm = np.asarray((cpm @ membership).todense()) / sizes
    detection = np.asarray((binary @ membership).todense()) / sizes
    median = np.array([np.median(totals[codes == t]) for t in range(k)])
    return _Profiles(
        cpm=mean_cpm,
        detection=detection,
        median_counts=median,
        cell_cpm=sparse.csr_array(cpm),
        codes=codes,
    )


def _candidates(
    profiles: _Profiles, types: list[str], *, min_log2_fold_change: float, min_detection: float
) -> tuple[list[np.ndarray], pd.DataFrame, list[str]]:
    """Ranked marker candidates (gene positions) per type, their table, weak types."""
    cpm, detection = profiles.cpm, profiles.detection
    g, k = cpm.shape
    order = np.argsort(-cpm, axis=1, kind="stable")
    top, runner = order[:, 0], order[:, 1]
    rows = np.arange(g)
    # Pseudo-count 1 CPM: fold changes of barely expressed genes stay small.
    log2fc = np.log2((cpm[rows, top] + 1.0) / (cpm[rows, runner] + 1.0))
    own_detection = detection[rows, top]
    masked = detection.copy()
    masked[rows, top] = -np.inf
    elsewhere = masked.max(axis=1)
    ranked: list[np.ndarray] = []
    weak: list[str] = []
    auc = np.full(g, np.nan)
    for t in range(k):
        mine = (top == t) & (cpm[rows, top] > 0) & (own_detection >= min_detection)
        strong = np.flatnonzero(mine & (log2fc >= min_log2_fold_change))
        if strong.size < _MIN_CANDIDATES:
            # Only the few best fold changes: a longer list of barely higher genes
            # would fill the profile with housekeeping genes shared by all types.
            weak.append(types[t])
            fallback = np.flatnonzero(mine & (log2fc > 0))
            strong = fallback[np.argsort(-log2fc[fallback], kind="stable")[:_MIN_CANDIDATES]]
        auc[strong] = _auc(profiles.cell_cpm, strong, profiles.codes == t)
        strong = strong[np.lexsort((-log2fc[strong], -auc[strong]))]
        ranked.append(strong)
    table = pd.DataFrame(
        {
            "runner_up": np.asarray(types, dtype=object)[runner],
            "log2_fold_change": log2fc,
            "detection": own_detection,
            "detection_elsewhere": elsewhere,
            "auc": auc,
        }
    )
    return ranked, table, weak


def _auc(cell_cpm: sparse.csr_array, rows: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Area under the ROC curve of each gene in ``rows`` separating ``own`` cells from the rest.

    The Mann-Whitney U statistic / (n_own × n_rest), ties counted half: the
    chance that a random cell of the type expresses the gene more than a random
    other cell (the statistic behind Wilcoxon marker tests in scanpy and Seurat).
    """
    if rows.size == 0:
        return np.zeros(0)
    values = cell_cpm[rows].toarray()
    ranks = average_ranks(values, axis=1)
    n_own, n_rest = int(own.sum()), int((~own).sum())
    if n_rest == 0:
        return np.ones(rows.size)
    u = ranks[:, own].sum(axis=1) - n_own * (n_own + 1) / 2
    return u / (n_own * n_rest)


def _choose_markers(
    cpm: np.ndarray, ranked: list[np.ndarray], *, min_markers: int, max_markers: int
) -> tuple[int, np.ndarray, pd.DataFrame]:
    """Markers per type minimising the condition number; returns n, gene rows, the search."""
    grid = list(range(min_markers, max_markers + 1, _MARKER_STEP))
    if grid[-1] != max_markers:
        grid.append(max_markers)
    search = []
    best: tuple[float, int, np.ndarray] | None = None
    seen: set[tuple[int, ...]] = set()
    for n in grid:
        genes = np.unique(np.concatenate([r[:n] for r in ranked]))
        key = tuple(genes)
        if key in seen:  # no type has more candidates: same matrix as before
            continue
        seen.add(key)
        kappa = condition_number(cpm[genes])
        search.append({"markers_per_type": n, "n_genes": genes.size, "condition_number": kappa})
        if best is None or kappa < best[0]:
            best = (kappa, n, genes)
    assert best is not None
    table = pd.DataFrame(search)
    table["chosen"] = table["markers_per_type"] == best[1]
    return best[1], best[2], table


@dataclass(frozen=True)
class _Built:
    matrix: pd.DataFrame
    profiles: pd.DataFrame
    markers: pd.DataFrame
    conditioning: pd.DataFrame
    condition_number: float
    mrna: dict[str, float]
    weak: list[str]


def _build(
    counts: sparse.csc_array,
    codes: np.ndarray,
    types: list[str],
    genes: pd.Index,
    *,
    min_log2_fold_change: float,
    min_detection: float,
    min_markers: int,
    max_markers: int,
    with_mrna: bool,
) -> _Built:
    k = len(types)
    prof = _profiles(counts, codes, k)
    ranked, info, weak = _candidates(
        prof, types, min_log2_fold_change=min_log2_fold_change, min_detection=min_detection
    )
    empty = [types[t] for t in range(k) if ranked[t].size == 0]
    if empty:
        raise InputError(
            f"No gene is higher in {', '.join(empty)} than in every other cell type (and "
            f"detected in at least {min_detection:.0%} of its cells), so it cannot be told "
            "apart; merge its label with the most similar type or lower the detection threshold."
        )
    n, rows, search = _choose_markers(
        prof.cpm, ranked, min_markers=min_markers, max_markers=max_markers
    )
    profiles = pd.DataFrame(prof.cpm, index=genes, columns=types)
    profiles.index.name = "gene_symbol"
    ordered = [r for t in range(k) for r in ranked[t][:n]]
    ordered = list(dict.fromkeys(ordered))
    matrix = profiles.iloc[ordered]
    marker_rows = []
    for t in range(k):
        for rank, r in enumerate(ranked[t][:n], start=1):
            marker_rows.append(
                {
                    "cell_type": types[t],
                    "rank": rank,
                    "gene": str(genes[r]),
                    "expression": float(prof.cpm[r, t]),
                    "runner_up": info.at[r, "runner_up"],
                    "log2_fold_change": float(info.at[r, "log2_fold_change"]),
                    "detection": float(info.at[r, "detection"]),
                    "detection_elsewhere": float(info.at[r, "detection_elsewhere"]),
                    "auc": float(info.at[r, "auc"]),
                }
            )
    mrna = (
        {t: float(m) for t, m in zip(types, prof.median_counts, strict=True)} if with_mrna else {}
    )
    return _Built(
        matrix=matrix,
        profiles=profiles,
        markers=pd.DataFrame(marker_rows),
        conditioning=search,
        condition_number=condition_number(matrix),
        mrna=mrna,
        weak=weak,
    )


def _split(codes: np.ndarray, k: int, test_fraction: float, rng: np.random.Generator):
    """Stratified train/test split of cell positions: at least one cell on each side."""
    train, test = [], []
    for t in range(k):
        cells = rng.permutation(np.flatnonzero(codes == t))
        n_test = min(max(1, int(round(cells.size * test_fraction))), cells.size - 1)
        test.append(cells[:n_test])
        train.append(cells[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def build_signature(
    data: SingleCellData,
    *,
    min_cells: int = 10,
    min_log2_fold_change: float = 1.0,
    min_detection: float = 0.25,
    min_markers: int = 10,
    max_markers: int = 100,
    test_fraction: float = 0.3,
    n_mixtures: int = 50,
    cells_per_mixture: int = 500,
    seed: int = 0,
    name: str = "single-cell signature",
) -> SignatureBuild:
    """Build a signature from labelled single-cell data and validate it.

    The method and its parameters are described in the module docstring.

    Parameters
    ----------
    data
        Labelled single-cell data from :func:`read_single_cell`.
    min_cells
        Cell types with fewer cells are left out (warning ``few_cells``).
    min_log2_fold_change
        Marker threshold: log2 of the fold change over the runner-up cell type
        (default 1, a two-fold change), on mean CPM with pseudo-count 1.
    min_detection
        Marker threshold: share of the type's cells with a non-zero count.
    min_markers, max_markers
        Range of markers per cell type searched for the lowest condition number.
    test_fraction
        Share of each type's cells held out for validation.
    n_mixtures, cells_per_mixture
        Size of the simulated pseudo-bulk validation.
    seed
        Seed of the split and of the mixtures; the same seed gives the same result.
    name
        Name of the signature.

    Returns
    -------
    SignatureBuild
        The signature (marker genes × cell types, CPM-like, linear), its
        markers, conditioning, cell counts, validation and warnings.

    Raises
    ------
    InputError
        Bad parameters, fewer than two cell types with ``min_cells`` cells, or
        a cell type without any marker gene.
    """
    if min_cells < 2:
        raise InputError(
            f"min_cells must be at least 2 (one cell to train, one to test), got {min_cells}."
        )
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be between 0 and 1, got {test_fraction}.")
    if not 1 <= min_markers <= max_markers:
        raise InputError(
            f"Need 1 <= min_markers <= max_markers, got {min_markers} and {max_markers}."
        )
    if n_mixtures < 3 or cells_per_mixture < 10:
        raise InputError(
            "The validation needs at least 3 mixtures of at least 10 cells each; "
            f"got {n_mixtures} mixtures of {cells_per_mixture} cells."
        )
    if not 0 <= min_detection <= 1:
        raise InputError(f"min_detection must be between 0 and 1, got {min_detection}.")
    warnings: list[DeconvWarning] = list(data.warnings)
    sizes = data.cell_type_counts()
    small = sizes[sizes < min_cells]
    used_types = [str(t) for t in sizes.index if sizes[t] >= min_cells]
    if not small.empty:
        listing = ", ".join(f"{t} ({n} cells)" for t, n in small.items())
        warnings.append(
            DeconvWarning(
                "warning",
                "few_cells",
                f"Cell types with fewer than {min_cells} cells were left out of the signature: "
                f"{listing}; a profile from so few cells is unreliable. Lower the minimum to "
                "keep them.",
            )
        )
    if len(used_types) < 2:
        raise InputError(
            f"Only {len(used_types)} cell type(s) have at least {min_cells} cells "
            f"({', '.join(f'{t}: {n}' for t, n in sizes.items())}); a signature needs at least "
            "two. Label more cells or lower the minimum number of cells."
        )
    keep = np.flatnonzero(data.labels.isin(used_types).to_numpy())
    counts = sparse.csc_array(data.counts[:, keep])
    position = {t: i for i, t in enumerate(used_types)}
    codes = np.array([position[t] for t in data.labels.to_numpy()[keep]], dtype=np.int64)
    k = len(used_types)
    with_mrna = data.scale == "counts"
    options = {
        "min_log2_fold_change": min_log2_fold_change,
        "min_detection": min_detection,
        "min_markers": min_markers,
        "max_markers": max_markers,
        "with_mrna": with_mrna,
    }

    # Validation on held-out cells.
    rng = np.random.default_rng(seed)
    train, test = _split(codes, k, test_fraction, rng)
    trained = _build(counts[:, train], codes[train], used_types, data.genes, **options)
    proportions = rng.dirichlet(np.ones(k), size=n_mixtures)
    test_cells = [test[codes[test] == t] for t in range(k)]
    picks = np.zeros((counts.shape[1], n_mixtures))
    truth = np.zeros((n_mixtures, k))
    for m in range(n_mixtures):
        per_type = rng.multinomial(cells_per_mixture, proportions[m])
        truth[m] = per_type / cells_per_mixture
        for t in range(k):
            chosen = rng.choice(test_cells[t], size=per_type[t], replace=True)
            np.add.at(picks[:, m], chosen, 1.0)
    bulk = counts @ picks  # genes × mixtures, summed raw counts
    mixtures = [f"mixture_{m + 1}" for m in range(n_mixtures)]
    bulk_table = pd.DataFrame(np.asarray(bulk), index=data.genes, columns=mixtures)
    train_signature = Signature(name=name, matrix=trained.matrix, mrna_scaling=trained.mrna)
    result = deconvolve(bulk_table, train_signature, mode="relative", exclude=None)
    estimate = result.proportions.loc[mixtures, used_types].to_numpy(dtype=float)
    n_train = np.bincount(codes[train], minlength=k)
    n_test = np.bincount(codes[test], minlength=k)
    rows = []
    for t, cell_type in enumerate(used_types):
        rows.append(
            {
                "cell_type": cell_type,
                "pearson_r": _pearson(estimate[:, t], truth[:, t]),
                "rmse": float(np.sqrt(np.nanmean((estimate[:, t] - truth[:, t]) ** 2))),
                "mean_true": float(truth[:, t].mean()),
                "mean_estimate": float(np.nanmean(estimate[:, t])),
                "n_train": int(n_train[t]),
                "n_test": int(n_test[t]),
            }
        )
    ok = ~np.isnan(estimate)
    rows.append(
        {
            "cell_type": "all",
            "pearson_r": _pearson(estimate[ok], truth[ok]),
            "rmse": float(np.sqrt(np.mean((estimate[ok] - truth[ok]) ** 2))),
            "mean_true": float(truth.mean()),
            "mean_estimate": float(np.nanmean(estimate)),
            "n_train": int(n_train.sum()),
            "n_test": int(n_test.sum()),
        }
    )
    validation = pd.DataFrame(rows).set_index("cell_type")

    # The signature itself, from all cells.
    final = _build(counts, codes, used_types, data.genes, **options)
    if final.weak:
        warnings.append(
            DeconvWarning(
                "warning",
                "weak_markers",
                f"Fewer than {_MIN_CANDIDATES} genes are at least "
                f"{2**min_log2_fold_change:.3g}-fold higher in {', '.join(final.weak)} than in "
                "every other cell type; weaker markers were used and these types may be hard "
                "to tell apart.",
            )
        )
    check_signature(final.matrix, what="built signature")
    if data.genes.size < _WHOLE_TRANSCRIPTOME:
        warnings.append(
            DeconvWarning(
                "info",
                "partial_transcriptome",
                f"The single-cell data hold {data.genes.size:,} genes, not a whole "
                "transcriptome; the profiles are shares of these genes, so use relative mode, "
                "or restrict the bulk data to the same genes for absolute mode.",
            )
        )
    poor = validation.drop(index="all")
    poor = poor[poor["pearson_r"] < 0.7]
    if not poor.empty:
        warnings.append(
            DeconvWarning(
                "warning",
                "poor_recovery",
                f"On held-out cells the signature recovers {', '.join(poor.index)} poorly "
                f"(r < 0.7); treat their estimates with caution.",
            )
        )
    column_totals = np.asarray(data.counts.sum(axis=0)).ravel()
    cells_table = pd.DataFrame(
        {
            "n_cells": sizes.astype(int),
            "used": [t in position for t in sizes.index],
            "n_train": [int(n_train[position[t]]) if t in position else 0 for t in sizes.index],
            "n_test": [int(n_test[position[t]]) if t in position else 0 for t in sizes.index],
            "median_counts": [
                float(np.median(column_totals[np.flatnonzero(data.labels.to_numpy() == t)]))
                for t in sizes.index
            ],
        },
        index=pd.Index([str(t) for t in sizes.index], name="cell_type"),
    )
    parameters = {
        "min_cells": min_cells,
        "min_log2_fold_change": min_log2_fold_change,
        "min_detection": min_detection,
        "min_markers": min_markers,
        "max_markers": max_markers,
        "test_fraction": test_fraction,
        "n_mixtures": n_mixtures,
        "cells_per_mixture": cells_per_mixture,
        "seed": seed,
        "markers_per_type": int(
            final.conditioning.loc[final.conditioning["chosen"], "markers_per_type"].iloc[0]
        ),
        "input_scale": data.scale,
    }
    signature = Signature(
        name=name,
        matrix=final.matrix,
        title=f"Signature built from single-cell data ({data.name})",
        description=(
            f"{final.matrix.shape[0]} marker genes × {k} cell types; mean per-cell CPM of "
            f"{len(keep)} cells; condition number {final.condition_number:.1f}; held-out "
            f"pseudo-bulk r {validation.loc['all', 'pearson_r']:.2f}."
        ),
        units="CPM-like (per-cell counts per million, mean per cell type; linear)",
        platform="single-cell RNA-seq (pseudo-bulk)",
        source=f"built by deconv_core.singlecell.build_signature from {data.name}",
        mrna_scaling=final.mrna,
    )
    return SignatureBuild(
        signature=signature,
        profiles=final.profiles,
        markers=final.markers,
        cells=cells_table,
        conditioning=final.conditioning,
        condition_number=final.condition_number,
        validation=validation,
        mixture_truth=pd.DataFrame(truth, index=mixtures, columns=used_types),
        mixture_estimate=pd.DataFrame(estimate, index=mixtures, columns=used_types),
        parameters=parameters,
        warnings=tuple(warnings),
    )


def write_signature_build(
    build: SignatureBuild, path: str | os.PathLike, *, provenance: dict | None = None
) -> dict[str, Path]:
    """Write a built signature and its reports next to each other.

    For ``path`` = ``DIR/NAME.tsv`` this writes ``NAME.tsv`` (marker genes ×
    cell types, tab-separated, first column ``gene_symbol``),
    ``NAME.metadata.json`` (title, units, mRNA-scaling factors, parameters,
    provenance; :func:`deconv_core.signatures.load_signature` reads it when
    loading ``NAME.tsv``), ``NAME.validation.csv`` (per cell type, then
    ``all``), ``NAME.markers.csv`` and ``NAME.cells.csv``.

    Parameters
    ----------
    build
        From :func:`build_signature`.
    path
        The signature file to write (``.tsv`` is appended if it has no
        extension); its folder is created if needed.
    provenance
        Extra provenance for the metadata (e.g. input file names and SHA-256).

    Returns
    -------
    dict
        Role (``signature``, ``metadata``, ``validation``, ``markers``,
        ``cells``) → path written.
    """
    target = Path(path)
    if target.suffix.lower() not in (".tsv", ".txt", ".csv"):
        target = target.with_name(target.name + ".tsv")
    stem = target.name[: -len(target.suffix)]
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "signature": target,
        "metadata": folder / f"{stem}.metadata.json",
        "validation": folder / f"{stem}.validation.csv",
        "markers": folder / f"{stem}.markers.csv",
        "cells": folder / f"{stem}.cells.csv",
    }
    sig = build.signature
    sep = "," if target.suffix.lower() == ".csv" else "\t"
    sig.matrix.to_csv(target, sep=sep, index_label="gene_symbol", float_format="%.6g")
    meta = {
        "name": stem,
        "title": sig.title,
        "description": sig.description,
        "units": sig.units,
        "platform": sig.platform,
        "licence": "as the single-cell data it was built from",
        "source": sig.source,
        "condition_number": build.condition_number,
        "mrna_scaling_factors": sig.mrna_scaling,
        "mrna_scaling_note": "median total counts per cell of each cell type",
        "groups": {},
        "parameters": build.parameters,
        "validation_pearson_r": build.validation.loc["all", "pearson_r"],
        "validation_rmse": build.validation.loc["all", "rmse"],
        "provenance": provenance or {},
    }
    paths["metadata"].write_text(
        json.dumps(meta, indent=1, default=str, allow_nan=True) + "\n", encoding="utf-8"
    )
    build.validation.to_csv(paths["validation"], float_format="%.6g")
    build.markers.to_csv(paths["markers"], index=False, float_format="%.6g")
    build.cells.to_csv(paths["cells"], float_format="%.6g")
    return paths

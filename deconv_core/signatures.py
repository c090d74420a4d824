"""Built-in and user-supplied signature matrices.

A signature is a genes × cell types table of reference expression on a
linear scale.  Built-ins live in ``assets/signatures/<name>/`` with their
licence, citation and provenance; any user file in a format
:func:`deconv_core.io.read_table` reads works as well.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from deconv_core.genes import harmonise_genes, orient_genes_as_rows
from deconv_core.io import read_table
from deconv_core.scale import linearise
from deconv_core.validation import DeconvWarning, InputError, check_unique_labels

__all__ = [
    "ASSET_DIR",
    "Signature",
    "builtin_names",
    "list_signatures",
    "load_signature",
    "check_signature",
]

#: Folder of shipped signatures (one sub-folder per signature).
ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "signatures"


@dataclass(frozen=True)
class Signature:
    """A reference signature and everything known about it.

    Attributes
    ----------
    name
        Short name (``"TIL10"``) or the uploaded file's name.
    matrix
        Genes × cell types, linear scale, float64, unique gene symbols.
    title, description, units, platform, licence, citation, source
        Human-readable metadata ("" when unknown, e.g. for uploads).
    mrna_scaling
        Relative mRNA content per cell type (cell types → factor), used to
        turn mRNA fractions into cell fractions; empty when not provided.
    excluded_genes
        Named gene lists the engine may drop, e.g. ``{"default": (...),
        "tumor": (...)}`` for TIL10.
    groups
        Coarser categories: group name → member cell types.
    builtin
        True for shipped signatures.
    warnings
        What happened while reading an uploaded signature.
    """

    name: str
    matrix: pd.DataFrame
    title: str = ""
    description: str = ""
    units: str = ""
    platform: str = ""
    licence: str = ""
    citation: str = ""
    source: str = ""
    mrna_scaling: dict[str, float] = field(default_factory=dict)
    excluded_genes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    builtin: bool = False
    warnings: tuple[DeconvWarning, ...] = ()

    @property
    def cell_types(self) -> list[str]:
        """Cell-type names in column order."""
        return [str(c) for c in self.matrix.columns]


def builtin_names() -> list[str]:
    """Return the names of the shipped signatures, sorted."""
    return sorted(p.name for p in ASSET_DIR.iterdir() if (p / "metadata.json").is_file())


@lru_cache(maxsize=8)
def _load_builtin(name: str) -> Signature:
    folder = ASSET_DIR / name
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    matrix = pd.read_csv(folder / "signature.tsv", sep="\t", index_col=0)
    matrix.index = matrix.index.astype(str)
    matrix.columns = matrix.columns.astype(str)
    matrix = matrix.astype(np.float64)
    return Signature(
        name=meta["name"],
        matrix=matrix,
        title=meta.get("title", ""),
        description=meta.get("description", ""),
        units=meta.get("units", ""),
        platform=meta.get("platform", ""),
        licence=meta.get("licence", ""),
        citation=meta.get("citation", ""),
        source=meta.get("source", ""),
        mrna_scaling={str(k): float(v) for k, v in meta.get("mrna_scaling_factors", {}).items()},
        excluded_genes={k: tuple(v) for k, v in meta.get("excluded_genes", {}).items()},
        groups={k: tuple(v) for k, v in meta.get("groups", {}).items()},
        builtin=True,
    )


def list_signatures() -> pd.DataFrame:
    """Describe the shipped signatures.

    Returns
    -------
    pandas.DataFrame
        One row per signature (index ``name``) with columns ``title``,
        ``n_genes``, ``n_cell_types``, ``cell_types`` (comma-separated),
        ``units``, ``licence`` and ``citation``.
    """
    rows = []
    for name in builtin_names():
        sig = _load_builtin(name)
        rows.append(
            {
                "name": sig.name,
                "title": sig.title,
                "n_genes": sig.matrix.shape[0],
                "n_cell_types": sig.matrix.shape[1],
                "cell_types": ", ".join(sig.cell_types),
                "units": sig.units,
                "licence": sig.licence,
                "citation": sig.citation,
            }
        )
    return pd.DataFrame(rows).set_index("name")


def check_signature(matrix: pd.DataFrame, *, what: str = "signature") -> None:
    """Raise :class:`InputError` unless ``matrix`` is a usable signature.

    Parameters
    ----------
    matrix
        Genes × cell types, linear scale.
    what
        Name used in messages.
    """
    check_unique_labels(matrix.columns, what=f"cell-type names of the {what}")
    if matrix.shape[1] < 1:
        raise InputError(f"The {what} has no cell-type columns; it needs one column per cell type.")
    values = matrix.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any():
        rows = np.flatnonzero(np.isnan(values).any(axis=1))
        raise InputError(
            f"The {what} has {rows.size} gene(s) with empty cells (first: "
            f"{matrix.index[rows[0]]}); every gene needs a value for every cell type."
        )
    if (values < 0).any():
        raise InputError(
            f"The {what} holds negative values; a signature must be non-negative linear "
            "expression (not log-ratios or z-scores)."
        )
    if matrix.shape[0] < matrix.shape[1]:
        raise InputError(
            f"The {what} has {matrix.shape[0]} genes for {matrix.shape[1]} cell types; it needs "
            "at least as many genes as cell types (check that genes are rows)."
        )
    zero = [str(c) for c in matrix.columns if not values[:, list(matrix.columns).index(c)].any()]
    if zero:
        raise InputError(
            f"The {what} column(s) {', '.join(zero)} are zero for every gene; remove them."
        )
    dup = matrix.T.duplicated()
    if dup.any():
        names = ", ".join(str(c) for c in matrix.columns[dup.to_numpy()])
        raise InputError(
            f"The {what} has cell-type column(s) identical to another column ({names}); "
            "identical profiles cannot be told apart, so remove the copies."
        )


def load_signature(source: str | os.PathLike | bytes, *, name: str | None = None) -> Signature:
    """Load a built-in signature by name, or read a user's signature file.

    Parameters
    ----------
    source
        A built-in name (see :func:`builtin_names`, case-insensitive), a path,
        or the raw bytes of an uploaded file (then give ``name``).
    name
        File name of uploaded bytes (used for its extension and as the
        signature's name).

    Returns
    -------
    Signature
        Genes × cell types on a linear scale, gene ids harmonised like the
        expression data.

    Raises
    ------
    InputError
        Unknown name, unreadable file, or a matrix that fails
        :func:`check_signature`.
    """
    if isinstance(source, str) and not os.path.exists(source):
        lookup = {n.lower(): n for n in builtin_names()}
        if source.lower() in lookup:
            return _load_builtin(lookup[source.lower()])
        raise InputError(
            f"No built-in signature or file named {source!r}; built-ins are "
            f"{', '.join(builtin_names())}, or give the path of a signature file."
        )
    label = name or (Path(source).name if not isinstance(source, bytes) else "uploaded signature")
    read = read_table(source, name=name, what="signature")
    warnings: list[DeconvWarning] = list(read.warnings)
    table, _, orient_warnings = orient_genes_as_rows(read.table, what="signature")
    warnings.extend(orient_warnings)
    mapped = harmonise_genes(table, what="signature")
    warnings.extend(mapped.warnings)
    raw = mapped.table
    check_unique_labels(raw.columns, what="cell-type names of the signature")
    empty = [str(c) for c in raw.columns if not np.nan_to_num(raw[c].to_numpy(dtype=float)).any()]
    if empty:
        raise InputError(
            f"The signature column(s) {', '.join(empty)} are empty or zero for every gene; "
            "remove them."
        )
    scaled = linearise(mapped.table, scale="auto", what="signature")
    # A signature of whole numbers is reference expression, not library counts:
    # keep its values (CPM would rescale each cell type differently).
    if scaled.detected == "counts":
        matrix = mapped.table.astype(np.float64)
        warnings.extend(w for w in scaled.warnings if w.code != "raw_counts")
    else:
        matrix = scaled.table
        warnings.extend(scaled.warnings)
    check_signature(matrix)
    return Signature(
        name=label,
        matrix=matrix,
        units="linear (as uploaded)" if scaled.transformation == "none" else "linearised",
        warnings=tuple(warnings),
    )

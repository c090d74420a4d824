"""Built-in and user-supplied signature matrices: the registry, validation and loading.

A signature is a genes × cell types table of reference expression on a
linear scale.  Built-ins live in ``assets/signatures/<name>/`` with their
licence, citation and provenance; any user file in a format
:func:`deconv_core.io.read_table` reads works as well.

Restricted references.  Some well-known matrices may be used but not
redistributed (CIBERSORT's LM22).  An upload is recognised by its content
(:func:`recognise_restricted`), used as given, and carries a licence reminder
(warning code ``restricted_signature``) and :attr:`Signature.restricted`.
Only the public cell-type names of such matrices are stored here.

Cell-type groups live in :mod:`deconv_core.groups` and the diagnostics of the
Signature page in :mod:`deconv_core.signature_diagnostics`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from deconv_core.genes import harmonise_genes, orient_genes_as_rows
from deconv_core.groups import check_groups
from deconv_core.io import read_table
from deconv_core.io.limits import DEFAULT_LIMITS, ReadLimits
from deconv_core.labels import display_names
from deconv_core.scale import linearise
from deconv_core.species import detect_species
from deconv_core.validation import DeconvWarning, InputError, check_unique_labels

__all__ = [
    "ASSET_DIR",
    "LM22_CELL_TYPES",
    "LM22_GROUPS",
    "RESTRICTED_REFERENCES",
    "RestrictedReference",
    "Signature",
    "builtin_names",
    "check_signature",
    "list_signatures",
    "load_signature",
    "recognise_restricted",
]

#: Folder of shipped signatures (one sub-folder per signature).
ASSET_DIR = Path(__file__).resolve().parent.parent / "assets" / "signatures"

#: Files every shipped signature folder holds besides its licence text.
_BUILTIN_FILES = ("signature.tsv", "metadata.json", "PROVENANCE.md")

#: The 22 cell-type column names of CIBERSORT's LM22 (Newman et al., Nat
#: Methods 2015;12:453).  Only these public names are stored, never the matrix.
LM22_CELL_TYPES: tuple[str, ...] = (
    "B cells naive",
    "B cells memory",
    "Plasma cells",
    "T cells CD8",
    "T cells CD4 naive",
    "T cells CD4 memory resting",
    "T cells CD4 memory activated",
    "T cells follicular helper",
    "T cells regulatory (Tregs)",
    "T cells gamma delta",
    "NK cells resting",
    "NK cells activated",
    "Monocytes",
    "Macrophages M0",
    "Macrophages M1",
    "Macrophages M2",
    "Dendritic cells resting",
    "Dendritic cells activated",
    "Mast cells resting",
    "Mast cells activated",
    "Eosinophils",
    "Neutrophils",
)

#: Default grouping of LM22's cell types: the merged classes Newman et al. 2015
#: used to compare CIBERSORT with flow cytometry (activation states pooled).
LM22_GROUPS: dict[str, tuple[str, ...]] = {
    "B cells": ("B cells naive", "B cells memory"),
    "Plasma cells": ("Plasma cells",),
    "CD8 T cells": ("T cells CD8",),
    "CD4 T cells": (
        "T cells CD4 naive",
        "T cells CD4 memory resting",
        "T cells CD4 memory activated",
        "T cells follicular helper",
        "T cells regulatory (Tregs)",
    ),
    "gamma delta T cells": ("T cells gamma delta",),
    "NK cells": ("NK cells resting", "NK cells activated"),
    "Monocytes": ("Monocytes",),
    "Macrophages": ("Macrophages M0", "Macrophages M1", "Macrophages M2"),
    "Dendritic cells": ("Dendritic cells resting", "Dendritic cells activated"),
    "Mast cells": ("Mast cells resting", "Mast cells activated"),
    "Eosinophils": ("Eosinophils",),
    "Neutrophils": ("Neutrophils",),
}


@dataclass(frozen=True)
class RestrictedReference:
    """A well-known signature that may be used but never shipped.

    Attributes
    ----------
    name
        Short name, e.g. ``"LM22"``.
    title, licence, citation
        Shown with a recognised upload.
    cell_types
        The public cell-type column names of the matrix.
    n_genes
        Number of genes (rows) of the published matrix.
    groups
        Default grouping of its cell types (group → members).
    """

    name: str
    title: str
    licence: str
    citation: str
    cell_types: tuple[str, ...]
    n_genes: int
    groups: dict[str, tuple[str, ...]]


#: Restricted references recognised by content; see :func:`recognise_restricted`.
RESTRICTED_REFERENCES: tuple[RestrictedReference, ...] = (
    RestrictedReference(
        name="LM22",
        title="CIBERSORT LM22 leukocyte signature (uploaded by the user)",
        licence=(
            "CIBERSORT licence (Stanford University): free for non-commercial academic use "
            "only; redistribution is not allowed. This tool never ships or stores it."
        ),
        citation=(
            "Newman AM, et al. Robust enumeration of cell subsets from tissue expression "
            "profiles. Nat Methods 2015;12:453-457."
        ),
        cell_types=LM22_CELL_TYPES,
        n_genes=547,
        groups=LM22_GROUPS,
    ),
)

# Recognition thresholds (see recognise_restricted): two thirds of the names,
# or a third of them together with a gene count within 10% of the original.
_NAME_SHARE = 2 / 3
_NAME_SHARE_WITH_GENES = 1 / 3
_GENE_TOLERANCE = 0.1


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
        Coarser categories: group name → member cell types.  Each cell type
        is in at most one group (checked by :func:`check_groups`); types in
        no group stand for themselves.
    builtin
        True for shipped signatures.
    warnings
        What happened while reading an uploaded signature.
    restricted
        Name of the licence-restricted reference an upload was recognised as
        (e.g. ``"LM22"``), ``""`` otherwise.  Such a signature is used as
        given, its licence is in :attr:`licence`, and a
        ``restricted_signature`` warning reminds the user; it is never stored.
    provenance
        Where the matrix came from and how it was converted (Markdown; the
        text of ``PROVENANCE.md`` for built-ins), ``""`` when unknown.
    whole_transcriptome
        True when the profiles are on a whole-transcriptome TPM-like scale
        (each reference sample normalised over all its genes), as absolute
        mode needs (:func:`deconv_core.deconvolve.absolute_mode_problems`).
        Declared by a built-in's or a sidecar's metadata
        (``"whole_transcriptome": true``); False when unknown.
    sha256
        Identity of the signature: SHA-256 of an uploaded file's bytes, or of
        a built-in's shipped ``signature.tsv`` followed by its
        ``metadata.json``; ``""`` for a table given in memory.
    display_names
        Cell-type id → name for people (``"T.cells.CD4"`` → ``"CD4 T cells"``)
        from the metadata; see :attr:`shown_names` for every cell type.
    species
        ``"human"`` or ``"mouse"`` (detected from an uploaded file's gene ids:
        a mouse signature keeps its mouse ids and is fitted to mouse data
        unmapped, :meth:`deconv_core.expression.ExpressionData.table_for`).
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
    restricted: str = ""
    provenance: str = ""
    whole_transcriptome: bool = False
    sha256: str = ""
    display_names: dict[str, str] = field(default_factory=dict)
    species: str = "human"

    @property
    def cell_types(self) -> list[str]:
        """Cell-type names in column order."""
        return [str(c) for c in self.matrix.columns]

    @property
    def shown_names(self) -> dict[str, str]:
        """Cell-type id → the name charts and on-screen tables show (``other`` included).

        The metadata's display name, else the id made readable
        (:func:`deconv_core.labels.display_names`); files keep the ids.
        """
        return display_names([*self.cell_types, "other"], self.display_names)


# ---------------------------------------------------------------------------
# Registry of built-ins
# ---------------------------------------------------------------------------


def builtin_names() -> list[str]:
    """Return the names of the shipped signatures, sorted."""
    return sorted(p.name for p in ASSET_DIR.iterdir() if (p / "metadata.json").is_file())


@lru_cache(maxsize=8)
def _load_builtin(name: str) -> Signature:
    folder = ASSET_DIR / name
    digest = hashlib.sha256()
    for file_name in ("signature.tsv", "metadata.json"):
        digest.update((folder / file_name).read_bytes())
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    matrix = pd.read_csv(folder / "signature.tsv", sep="\t", index_col=0)
    matrix.index = matrix.index.astype(str)
    matrix.columns = matrix.columns.astype(str)
    matrix = matrix.astype(np.float64)
    provenance_file = folder / meta.get("provenance_file", "PROVENANCE.md")
    provenance = provenance_file.read_text(encoding="utf-8") if provenance_file.is_file() else ""
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
        provenance=provenance,
        whole_transcriptome=bool(meta.get("whole_transcriptome", False)),
        sha256=digest.hexdigest(),
        display_names={str(k): str(v) for k, v in meta.get("display_names", {}).items()},
    )


def list_signatures() -> pd.DataFrame:
    """Describe the shipped signatures.

    Returns
    -------
    pandas.DataFrame
        One row per signature (index ``name``) with columns ``title``,
        ``n_genes``, ``n_cell_types``, ``cell_types`` (comma-separated),
        ``units``, ``platform``, ``licence``, ``citation``, ``source`` and
        ``groups`` (``"group: member, member; ..."``).
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
                "platform": sig.platform,
                "licence": sig.licence,
                "citation": sig.citation,
                "source": sig.source,
                "groups": "; ".join(f"{g}: {', '.join(m)}" for g, m in sig.groups.items()),
            }
        )
    return pd.DataFrame(rows).set_index("name")


# ---------------------------------------------------------------------------
# Validation and loading
# ---------------------------------------------------------------------------


def check_signature(matrix: pd.DataFrame, *, what: str = "signature") -> None:
    """Raise :class:`InputError` unless ``matrix`` is a usable signature.

    A usable signature has at least 2 cell types with unique, non-empty names, no empty cells,
    no negative values, at least as many genes as cell types, no all-zero
    column and no two identical columns.

    Parameters
    ----------
    matrix
        Genes × cell types, linear scale.
    what
        Name used in messages.
    """
    check_unique_labels(matrix.columns, what=f"cell-type names of the {what}")
    if matrix.shape[1] < 2:
        only = f" ({matrix.columns[0]})" if matrix.shape[1] else ""
        raise InputError(
            f"The {what} has {matrix.shape[1]} cell-type column(s){only}; it needs one column "
            "per cell type, and at least 2 cell types to split a sample between."
        )
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
    _check_enough_genes(matrix, what=what)
    zero = [str(c) for j, c in enumerate(matrix.columns) if not values[:, j].any()]
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


def _check_enough_genes(matrix: pd.DataFrame, *, what: str) -> None:
    """Refuse fewer genes than cell types (the fit would be underdetermined)."""
    if matrix.shape[0] < matrix.shape[1]:
        raise InputError(
            f"The {what} has {matrix.shape[0]} genes for {matrix.shape[1]} cell types; it needs "
            "at least as many genes as cell types (check that genes are rows)."
        )


def _normalise_name(name: object) -> str:
    """Lower-case letters and digits only: 'T.cells.regulatory..Tregs.' == LM22's name."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def recognise_restricted(matrix: pd.DataFrame) -> tuple[RestrictedReference, dict[str, str]] | None:
    """Recognise a licence-restricted reference (e.g. LM22) by its content.

    Cell-type names are compared after keeping only lower-case letters and
    digits, so R-mangled names (``T.cells.regulatory..Tregs.``) match too.
    A matrix is recognised when it has at least two thirds of the reference's
    cell-type names, or at least a third of them and a gene count within 10%
    of the reference's (LM22: 22 names, 547 genes).

    Parameters
    ----------
    matrix
        Genes × cell types (any scale).

    Returns
    -------
    tuple or None
        ``(reference, names)`` where ``names`` maps each matched reference
        cell-type name to the matrix's own column name; None when nothing is
        recognised.
    """
    columns = {_normalise_name(c): str(c) for c in matrix.columns}
    n_genes = matrix.shape[0]
    for ref in RESTRICTED_REFERENCES:
        names = {
            t: columns[_normalise_name(t)] for t in ref.cell_types if _normalise_name(t) in columns
        }
        share = len(names) / len(ref.cell_types)
        genes_match = abs(n_genes - ref.n_genes) <= _GENE_TOLERANCE * ref.n_genes
        if share >= _NAME_SHARE or (share >= _NAME_SHARE_WITH_GENES and genes_match):
            return ref, names
    return None


def _sidecar(path: Path) -> Path:
    """``sig.tsv(.gz)`` → ``sig.metadata.json`` (written by ``build-signature``)."""
    name = path.name
    for suffix in (".gz", ".tsv", ".csv", ".txt", ".tab", ".gct", ".xlsx"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return path.with_name(f"{name}.metadata.json")


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _sidecar_factors(factors: object, cell_types: list[str], file_name: str) -> dict[str, float]:
    """The sidecar's mRNA factors: cell type → a positive, finite number."""
    if not isinstance(factors, dict):
        raise InputError(
            f"The signature's metadata file {file_name!r} has mRNA factors that are not an "
            "object of cell type to number; fix or delete it."
        )

    def usable(cell_type: str, value: object) -> bool:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return cell_type in cell_types and number and math.isfinite(value) and value > 0

    bad = [str(k) for k, v in factors.items() if not usable(str(k), v)]
    if bad:
        raise InputError(
            f"The signature's metadata file {file_name!r} has mRNA factors for unknown cell "
            f"types, or that are not positive numbers ({', '.join(bad[:3])}); fix or delete it."
        )
    return {str(k): float(v) for k, v in factors.items()}


def _read_sidecar(path: Path, matrix: pd.DataFrame, data: bytes | None = None) -> dict:
    """Metadata written next to a signature file (or its bytes), checked against its columns."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8") if data is None else data.decode())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"The signature's metadata file {path.name!r} is not valid JSON ({exc}); fix or "
            "delete it."
        ) from exc
    if not isinstance(meta, dict):
        raise InputError(
            f"The signature's metadata file {path.name!r} must hold a JSON object; fix or "
            "delete it."
        )
    cell_types = [str(c) for c in matrix.columns]
    meta["mrna_scaling_factors"] = _sidecar_factors(
        meta.get("mrna_scaling_factors", {}), cell_types, path.name
    )
    meta["groups"] = check_groups(meta.get("groups", {}), cell_types, what=f"{path.name} groups")
    names = meta.get("display_names", {})
    unknown = (
        [str(k) for k, v in names.items() if str(k) not in cell_types or not _text(v)]
        if isinstance(names, dict)
        else []
    )
    if not isinstance(names, dict) or unknown:
        raise InputError(
            f"The signature's metadata file {path.name!r} has display names for unknown cell "
            f"types, or that are not text ({', '.join(unknown[:3]) or 'not an object'}); fix "
            "or delete it."
        )
    meta["display_names"] = {str(k): str(v) for k, v in names.items()}
    return meta


def load_signature(
    source: str | os.PathLike | bytes,
    *,
    name: str | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
    metadata: bytes | None = None,
) -> Signature:
    """Load a built-in signature by name, or read a user's signature file.

    A file is validated (:func:`check_signature`), linearised if it is log,
    and its gene ids harmonised like the expression data.  A file recognised
    as a licence-restricted reference (:func:`recognise_restricted`, e.g.
    CIBERSORT's LM22) is used as given, with :attr:`Signature.restricted`,
    licence, citation and a default grouping filled in, and a
    ``restricted_signature`` warning.  A path ``NAME.tsv`` with a
    ``NAME.metadata.json`` beside it (as ``build-signature`` writes) takes its
    title, mRNA factors and groups from that file.

    Parameters
    ----------
    source
        A built-in name (see :func:`builtin_names`, case-insensitive), a path,
        or the raw bytes of an uploaded file (then give ``name``).
    name
        File name of uploaded bytes (used for its extension and as the
        signature's name).
    limits
        What reading the file may cost.
    metadata
        The bytes of the file's ``NAME.metadata.json`` (uploaded bytes have
        no folder to find it in; a session bundle keeps it).

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
        return _builtin_by_name(source)
    label = name or (Path(source).name if not isinstance(source, bytes) else "uploaded signature")
    table, matrix, units, warnings = _read_matrix(source, name=name, limits=limits)
    details: dict = {"units": units, "species": detect_species(matrix.index)}
    recognised = recognise_restricted(table)
    if recognised is not None:
        restricted, warning = _restricted_details(*recognised, n_genes=matrix.shape[0])
        details.update(restricted)
        warnings.append(warning)
    sidecar = _sidecar(Path(label if isinstance(source, bytes) else source))
    if metadata is not None or (not isinstance(source, bytes) and sidecar.is_file()):
        from_sidecar, warning = _sidecar_details(sidecar, matrix, metadata)
        details.update(from_sidecar)
        warnings.append(warning)
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    details["sha256"] = hashlib.sha256(data).hexdigest()
    return Signature(name=label, matrix=matrix, warnings=tuple(warnings), **details)


def _builtin_by_name(source: str) -> Signature:
    """The built-in signature of that name (case-insensitive), or an error listing them."""
    lookup = {n.lower(): n for n in builtin_names()}
    if source.lower() in lookup:
        return _load_builtin(lookup[source.lower()])
    raise InputError(
        f"No built-in signature or file named {source!r}; built-ins are "
        f"{', '.join(builtin_names())}, or give the path of a signature file."
    )


def _read_matrix(
    source: str | os.PathLike | bytes, *, name: str | None, limits: ReadLimits
) -> tuple[pd.DataFrame, pd.DataFrame, str, list[DeconvWarning]]:
    """Read, orient, harmonise and linearise a signature file.

    Returns the oriented table as read (for :func:`recognise_restricted`), the
    checked linear matrix, its units and the warnings so far.
    """
    read = read_table(source, name=name, what="signature", limits=limits)
    warnings: list[DeconvWarning] = list(read.warnings)
    table, _, orient_warnings = orient_genes_as_rows(read.table, what="signature")
    warnings.extend(orient_warnings)
    mapped = harmonise_genes(table, what="signature", species=detect_species(table.index))
    warnings.extend(mapped.warnings)
    raw = mapped.table
    check_unique_labels(raw.columns, what="cell-type names of the signature")
    # Before the empty columns: with a gene or two most columns are zero, and naming
    # them would send the user removing cell types instead of adding genes.
    _check_enough_genes(raw, what="signature")
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
    units = "linear (as uploaded)" if scaled.transformation == "none" else "linearised"
    return table, matrix, units, warnings


def _restricted_details(
    ref: RestrictedReference, names: dict[str, str], *, n_genes: int
) -> tuple[dict, DeconvWarning]:
    """Title, licence, citation and groups of a recognised restricted reference, and its warning."""
    groups = {
        group: tuple(names[m] for m in members if m in names)
        for group, members in ref.groups.items()
    }
    details = {
        "title": ref.title,
        "licence": ref.licence,
        "citation": ref.citation,
        "restricted": ref.name,
        "groups": {g: m for g, m in groups.items() if m},
        "description": (
            f"Recognised as {ref.name} by its content ({len(names)} of "
            f"{len(ref.cell_types)} cell-type names, {n_genes} genes)."
        ),
    }
    warning = DeconvWarning(
        "warning",
        "restricted_signature",
        f"The uploaded signature looks like {ref.name} ({ref.citation.split('.')[0]} "
        f"et al.); its licence restricts use: {ref.licence} Make sure your use is "
        "covered by it.",
    )
    return details, warning


def _sidecar_details(
    sidecar: Path, matrix: pd.DataFrame, data: bytes | None = None
) -> tuple[dict, DeconvWarning]:
    """Title, mRNA factors and groups from a ``NAME.metadata.json`` sidecar, and an info note."""
    meta = _read_sidecar(sidecar, matrix, data)
    details: dict = {}
    for key in ("title", "description", "units", "platform", "licence", "citation"):
        if meta.get(key):
            details[key] = str(meta[key])
    details["source"] = str(meta.get("source", ""))
    details["mrna_scaling"] = meta["mrna_scaling_factors"]
    details["whole_transcriptome"] = meta.get("whole_transcriptome") is True
    if meta["groups"]:
        details["groups"] = meta["groups"]
    if meta["display_names"]:
        details["display_names"] = meta["display_names"]
    warning = DeconvWarning(
        "info",
        "signature_metadata",
        f"Title, mRNA-content factors and cell-type groups of the signature were "
        f"read from {sidecar.name} next to it.",
    )
    return details, warning

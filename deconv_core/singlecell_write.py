"""Write a signature built from single-cell data, with its reports, next to each other.

:func:`write_signature_build` writes what :func:`deconv_core.singlecell.build_signature`
returns: the signature table, a metadata sidecar that
:func:`deconv_core.signatures.load_signature` reads, and the validation, marker
and cell tables.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from deconv_core.singlecell import SignatureBuild
from deconv_core.validation import InputError

__all__ = ["signature_paths", "write_signature_build"]


def signature_paths(path: str | os.PathLike) -> dict[str, Path]:
    """Role (``signature``, ``metadata``, ``validation``, ``markers``, ``cells``) → file path.

    ``.tsv`` is appended to a ``path`` without a table extension.

    Raises
    ------
    InputError
        When ``path`` is a folder (existing, or written with a trailing slash):
        the files would land beside it, named after it, not inside it.
    """
    text = os.fspath(path)
    if os.path.isdir(text) or text.endswith(("/", os.sep)):
        example = Path(text) / "signature.tsv"
        raise InputError(
            f"The output '{text}' is a folder; give the signature file to write, e.g. "
            f"'{example}' (its reports are written beside it)."
        )
    target = Path(text)
    if target.suffix.lower() not in (".tsv", ".txt", ".csv"):
        target = target.with_name(target.name + ".tsv")
    stem = target.name[: -len(target.suffix)]
    folder = target.parent
    return {
        "signature": target,
        "metadata": folder / f"{stem}.metadata.json",
        "validation": folder / f"{stem}.validation.csv",
        "markers": folder / f"{stem}.markers.csv",
        "cells": folder / f"{stem}.cells.csv",
    }


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
        From :func:`deconv_core.singlecell.build_signature`.
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
    paths = signature_paths(path)
    target = paths["signature"]
    stem = target.name[: -len(target.suffix)]
    target.parent.mkdir(parents=True, exist_ok=True)
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
        "whole_transcriptome": sig.whole_transcriptome,
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

"""Write a run's results and its manifest to a folder.

Files (all CSV are UTF-8, comma-separated, with a header row):

``proportions.csv``
    Index column ``sample``; one column per cell type (plus ``other`` in
    absolute mode).
``fit.csv``
    Index ``sample``; ``pearson_r``, ``spearman_r``, ``rmse`` (relative),
    ``r2``, ``p_value`` (permutation p-value of the fit; empty when not
    computed).
``coverage.csv``
    Index ``cell_type``; ``marker_genes``, ``found``, ``fraction``, ``missing``.
``warnings.csv``
    ``severity``, ``code``, ``sample``, ``message``; the header only when
    there are none.
``residuals.csv``
    Genes used × samples, observed − fitted in the fit scale (per-sample
    normalised to 1e6, TPM-like).
``robustness.csv``
    Genes used × samples, the weight the robust fit gave each gene in each
    sample (0-1; below 1: the gene's residual was large and it pulled less;
    all 1 for a least-squares fit; empty where a value was missing).
``intervals.csv``
    Only when bootstrap intervals were computed: one row per sample and cell
    type, ``sample``, ``cell_type``, ``estimate``, ``lower``, ``upper``.
``manifest.json``
    Inputs' SHA-256 sums, parameters, package versions, and every gene-id and
    scale transformation applied, so the result can be reproduced.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deconv_core.deconvolve import DeconvResult
from deconv_core.expression import ExpressionData
from deconv_core.signatures import Signature
from deconv_core.validation import DeconvWarning, warnings_frame

__all__ = [
    "INTERVALS_FILE",
    "OUTPUT_FILES",
    "all_warnings",
    "build_manifest",
    "package_versions",
    "write_outputs",
]

#: Files :func:`write_outputs` writes.
OUTPUT_FILES = (
    "proportions.csv",
    "fit.csv",
    "coverage.csv",
    "warnings.csv",
    "residuals.csv",
    "robustness.csv",
    "manifest.json",
)
#: Written by :func:`write_outputs` only when intervals are given.
INTERVALS_FILE = "intervals.csv"


def package_versions() -> dict[str, str]:
    """Versions of Python and the numerical packages, for the manifest."""
    versions = {"python": platform.python_version()}
    for package in ("numpy", "scipy", "pandas"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    try:
        versions["deconv-explorer"] = metadata.version("deconv-explorer")
    except metadata.PackageNotFoundError:
        from deconv_core import __version__

        versions["deconv-explorer"] = __version__
    return versions


def build_manifest(
    result: DeconvResult,
    expression: ExpressionData,
    signature: Signature,
    *,
    parameters: dict[str, Any],
    signature_sha256: str = "",
    extra_warnings: Sequence[DeconvWarning] = (),
) -> dict[str, Any]:
    """Describe a run completely enough to reproduce it.

    Parameters
    ----------
    result
        The deconvolution result.
    expression
        The loaded expression input (with its history).
    signature
        The signature used.
    parameters
        The options of the run (mode, scale, exclusion list, ...).
    signature_sha256
        SHA-256 of the signature file for uploads ("" for built-ins).
    extra_warnings
        Warnings found after the fit (quality checks), counted with the rest.

    Returns
    -------
    dict
        JSON-serialisable manifest.
    """
    changes = expression.gene_changes
    info = expression.read_info
    return {
        "tool": "deconv-explorer",
        "inputs": {
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
                "genes": int(expression.table.shape[0]),
                "samples": int(expression.table.shape[1]),
            },
            "signature": {
                "name": signature.name,
                "builtin": signature.builtin,
                "sha256": signature_sha256,
                "licence": signature.licence,
                "citation": signature.citation,
                "genes": int(signature.matrix.shape[0]),
                "cell_types": signature.cell_types,
            },
        },
        "parameters": parameters,
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
            "genes_used": len(result.genes_used),
            "genes_missing": list(result.genes_missing),
            "warnings": len(all_warnings(result, expression, signature, extra_warnings)),
        },
        "versions": package_versions(),
    }


def all_warnings(
    result: DeconvResult,
    expression: ExpressionData,
    signature: Signature,
    extra: Sequence[DeconvWarning] = (),
) -> list[DeconvWarning]:
    """Warnings of the input, signature, result and ``extra`` (quality checks), without repeats."""
    seen: set[DeconvWarning] = set()
    out = []
    for w in (*expression.warnings, *signature.warnings, *result.warnings, *extra):
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def write_outputs(
    out_dir: str | Path,
    result: DeconvResult,
    expression: ExpressionData,
    signature: Signature,
    *,
    parameters: dict[str, Any],
    signature_sha256: str = "",
    intervals: pd.DataFrame | None = None,
    p_values: pd.Series | None = None,
    extra_warnings: Sequence[DeconvWarning] = (),
) -> list[Path]:
    """Write every output file of a run into ``out_dir`` (created if needed).

    Parameters
    ----------
    out_dir
        Output folder.
    result, expression, signature, parameters, signature_sha256
        As for :func:`build_manifest`.
    intervals
        Bootstrap intervals (:func:`deconv_core.qc.bootstrap_intervals`),
        written to ``intervals.csv``; None: no file.
    p_values
        Permutation p-values by sample (column ``p_value`` of ``fit.csv``);
        None: the column is empty.
    extra_warnings
        Quality-check warnings appended to ``warnings.csv``.

    Returns
    -------
    list of pathlib.Path
        The files written, in :data:`OUTPUT_FILES` order, then
        ``intervals.csv`` when written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in OUTPUT_FILES]
    result.proportions.to_csv(paths[0], index_label="sample", float_format="%.6g")
    fit = result.fit.copy()
    fit["p_value"] = np.nan if p_values is None else p_values.reindex(fit.index).to_numpy()
    fit.to_csv(paths[1], index_label="sample", float_format="%.6g")
    result.coverage.to_csv(paths[2], index_label="cell_type", float_format="%.6g")
    warnings = all_warnings(result, expression, signature, extra_warnings)
    warnings_frame(warnings).to_csv(paths[3], index=False)
    result.residuals.to_csv(paths[4], index_label="gene", float_format="%.6g")
    result.robustness.to_csv(paths[5], index_label="gene", float_format="%.4g")
    manifest = build_manifest(
        result,
        expression,
        signature,
        parameters=parameters,
        signature_sha256=signature_sha256,
        extra_warnings=extra_warnings,
    )
    paths[6].write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if intervals is not None:
        paths.append(out / INTERVALS_FILE)
        intervals.to_csv(paths[-1], index=False, float_format="%.6g")
    return paths

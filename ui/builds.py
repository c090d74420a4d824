"""Build a signature from single-cell data in the dashboard: uploads, build, report, use.

The method is :func:`deconv_core.singlecell.build_signature` (the command
line's ``build-signature``); this module reads the two uploads, runs it
behind a button, keeps the build in the session (:func:`ui.state.signature_build`)
and draws its validation report.  The files offered for download are exactly
those :func:`deconv_core.singlecell.write_signature_build` writes, so a
downloaded ``NAME.tsv`` with its ``NAME.metadata.json`` beside it loads with
its mRNA-content factors in the command line too.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from deconv_core.agreement import agreement_table, compare_fractions
from deconv_core.figures import measured_scatter_figure
from deconv_core.io.singlecell import SINGLE_CELL_SCALES, read_single_cell
from deconv_core.options import BUILD_DEFAULTS, SCALE_NAMES
from deconv_core.session import InputFile
from deconv_core.singlecell import SignatureBuild, build_signature
from deconv_core.singlecell_write import write_signature_build
from deconv_core.validation import InputError
from ui import loaders, state
from ui.screen import in_points
from ui.widgets import chart, md
from ui.widgets import table as show_table

__all__ = [
    "COUNTS_TYPES",
    "DEFAULTS",
    "LABEL_TYPES",
    "BuiltSignature",
    "build",
    "build_section",
    "label_columns",
    "signature_files",
    "use_built",
]

#: File types of the single-cell counts uploader (h5ad: AnnData).
COUNTS_TYPES = ["csv", "tsv", "txt", "gz", "h5ad"]
#: File types of the cell-labels uploader.
LABEL_TYPES = ["csv", "tsv", "txt"]
#: Build parameters and their defaults (those of ``build-signature``, defined in
#: :data:`deconv_core.options.BUILD_DEFAULTS`), with the scale of the counts.
DEFAULTS: dict[str, float | int | str] = {**BUILD_DEFAULTS, "scale": "auto"}
_DETECT = "(detect)"


@dataclass(frozen=True)
class BuiltSignature:
    """A signature built in this session, with its files.

    Attributes
    ----------
    build
        The build and its validation (:class:`deconv_core.singlecell.SignatureBuild`).
    key
        ``"built:<sha256 of the signature file>"``, the signature key once it is used.
    files
        File name → bytes, as :func:`deconv_core.singlecell.write_signature_build`
        writes them (``NAME.tsv``, ``NAME.metadata.json``, ``NAME.validation.csv``,
        ``NAME.markers.csv``, ``NAME.cells.csv``).
    stem
        ``NAME``.
    """

    build: SignatureBuild
    key: str
    files: dict[str, bytes]
    stem: str


def label_columns(data: bytes) -> list[str]:
    """Columns of a labels file that may hold the cell types (all but the first).

    Parameters
    ----------
    data
        Bytes of a CSV/TSV labels file (optionally gzipped).

    Returns
    -------
    list of str
        Column names after the first (the cell names); empty when the header
        cannot be read.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except OSError:
            return []
    text = data.decode("utf-8-sig", errors="replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return []
    header = lines[0]
    # The same delimiter rule as deconv_core.singlecell reads labels with.
    sep = "\t" if "\t" in header else ";" if header.count(";") > header.count(",") else ","
    columns = [c.strip().strip('"') for c in header.split(sep)]
    return [c for c in columns[1:] if c]


def _file_stem(name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
    return stem or "signature"


def signature_files(
    built: SignatureBuild, stem: str, *, provenance: dict | None = None
) -> dict[str, bytes]:
    """The files of a build, as the command line writes them, by file name.

    Parameters
    ----------
    built
        The build.
    stem
        File stem (letters, digits, ``_`` and ``-``).
    provenance
        Inputs for the metadata (file names and SHA-256).
    """
    with tempfile.TemporaryDirectory(prefix="deconv-build-") as folder:
        paths = write_signature_build(built, Path(folder) / f"{stem}.tsv", provenance=provenance)
        return {path.name: path.read_bytes() for path in paths.values()}


def build(
    counts: bytes,
    counts_name: str,
    labels: bytes | None,
    *,
    label_column: str | None,
    name: str,
    parameters: dict[str, float | int | str],
) -> tuple[BuiltSignature | None, str]:
    """Read the uploads, build and validate a signature, and keep it in the session.

    Parameters
    ----------
    counts, counts_name
        The counts file (genes × cells CSV/TSV, optionally gzipped, or h5ad).
    labels
        The labels file, or None for an h5ad whose ``obs`` holds the cell types.
    label_column
        Column holding the cell types, or None to detect it.
    name
        Name of the signature (also the file stem of its downloads).
    parameters
        :data:`DEFAULTS`' keys with the chosen values.

    Returns
    -------
    (BuiltSignature or None, error)
        The build and "" on success; (None, the core's sentence) on bad input.
    """
    options = {k: v for k, v in parameters.items() if k != "scale"}
    with st.status(f"Building a signature from {counts_name}…", expanded=False) as status:
        try:
            status.update(label=f"Reading {counts_name}…")
            data = read_single_cell(
                counts,
                labels=labels,
                label_column=label_column,
                name=counts_name,
                scale=str(parameters.get("scale", "auto")),
                limits=loaders.read_limits(),
            )
            status.update(
                label=f"Building and validating on {len(data.cells):,} cells "
                f"({data.labels.nunique()} cell types)…"
            )
            built = build_signature(data, name=name, **options)
        except InputError as exc:
            status.update(label="Could not build the signature", state="error")
            return None, exc.text("app")
        status.update(
            label=f"Built {name}: {built.signature.matrix.shape[0]} genes × "
            f"{built.signature.matrix.shape[1]} cell types",
            state="complete",
        )
    provenance = {
        "interface": "dashboard",
        "counts": {"file": counts_name, "sha256": hashlib.sha256(counts).hexdigest()},
        "labels": {"sha256": hashlib.sha256(labels).hexdigest()} if labels else None,
        "label_column": label_column,
    }
    stem = _file_stem(name)
    files = signature_files(built, stem, provenance=provenance)
    digest = hashlib.sha256(files[f"{stem}.tsv"]).hexdigest()
    record = BuiltSignature(build=built, key=f"built:{digest}", files=files, stem=stem)
    state.set_signature_build(record)
    return record, ""


def use_built(record: BuiltSignature) -> bool:
    """Choose the built signature (its build warnings travel with it); True when it changed."""
    built = record.build.signature
    signature = dataclasses.replace(
        built,
        licence=built.licence or "as the single-cell data it was built from",
        warnings=(*built.warnings, *record.build.warnings),
        sha256=record.key.split(":", 1)[1],
    )
    changed = state.set_signature(signature, key=record.key)
    if changed:
        # the session bundle restores it as the signature file it was written as
        table = f"{record.stem}.tsv"
        state.set_input_file("signature", InputFile(table, record.files[table]))
        metadata = f"{record.stem}.metadata.json"
        state.set_input_file("signature_metadata", InputFile(metadata, record.files[metadata]))
        loaders.follow_suggested_mode()
    return changed


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _report(record: BuiltSignature) -> None:
    """The built signature: summary, warnings, held-out validation, details and actions."""
    built = record.build
    _report_summary(built)
    for w in built.warnings:
        (st.warning if w.severity == "warning" else st.info)(md(w.text("app")))
    _validation_table(built)
    _validation_chart(record)
    with st.expander("Cells per cell type and marker genes"):
        st.dataframe(built.cells)
        st.dataframe(built.markers, hide_index=True)
        st.caption(md(_markers_caption(built)))
    _report_actions(record)


def _markers_caption(built: SignatureBuild) -> str:
    """What the marker table's columns say, with the build's own thresholds."""
    params = built.parameters
    fold = 2 ** float(params.get("min_log2_fold_change", DEFAULTS["min_log2_fold_change"]))
    detection = float(params.get("min_detection", DEFAULTS["min_detection"]))
    return (
        "Markers are chosen per pair of cell types: a gene is listed under a cell type when it "
        f"is among the best genes at least {fold:.3g}-fold higher there than in another type "
        f"and detected in at least {detection:.0%} of its cells. 'versus' names the types it "
        "was chosen against and log2_fold_change is its smallest fold change over them (log2, "
        "mean CPM + 1; lower only for the pairs a weak_markers warning names). runner_up is "
        "the other type where the gene is highest: a marker against some types may be as high, "
        "or higher, in a third (log2_fold_change_runner_up below 0), and a gene can be a "
        "marker of several types."
    )


def _report_summary(built: SignatureBuild) -> None:
    """Name, description and the headline metrics of a built signature."""
    sig = built.signature
    pooled = built.validation.loc["all"]
    st.subheader(f"Built: {md(sig.name)}")
    st.caption(md(sig.description))
    m = st.columns(5)
    m[0].metric("Cell types", sig.matrix.shape[1])
    m[1].metric("Marker genes", sig.matrix.shape[0])
    m[2].metric("Condition number", f"{built.condition_number:.1f}")
    m[3].metric("Held-out r", f"{pooled['pearson_r']:.2f}")
    # A difference of fractions: percentage points, as on the chart below and on Results.
    m[4].metric("Held-out RMSE", f"{100 * pooled['rmse']:.1f} pp")


def _validation_table(built: SignatureBuild) -> None:
    """The held-out validation table and the caption saying how it was made."""
    st.markdown("**Validation on held-out cells**")
    show_table(
        in_points(built.validation, ["rmse"]),
        column_config={
            "pearson_r": st.column_config.NumberColumn("r", format="%.2f"),
            "rmse": st.column_config.NumberColumn("RMSE", format="%.1f pp"),
            "mean_true": st.column_config.NumberColumn("mean true", format="percent"),
            "mean_estimate": st.column_config.NumberColumn("mean estimate", format="percent"),
            "n_train": st.column_config.NumberColumn("cells to build"),
            "n_test": st.column_config.NumberColumn("cells held out"),
        },
    )
    test_share = float(built.parameters.get("test_fraction", DEFAULTS["test_fraction"]))
    st.caption(
        f"{test_share:.0%} of each cell type's cells were held out, the signature rebuilt from the "
        f"others, and {len(built.mixture_truth)} pseudo-bulk mixtures of held-out cells with "
        "random known fractions deconvolved (relative mode). r: correlation of estimated and "
        "true fractions across mixtures; RMSE: typical error, in percentage points; 'all' pools "
        "every mixture and cell type. The signature itself is built from all cells."
    )


def _validation_chart(record: BuiltSignature) -> None:
    """Estimated against true fractions in the held-out pseudo-bulk mixtures."""
    built = record.build
    pairs = compare_fractions(
        built.mixture_estimate,
        built.mixture_truth,
        {str(c): [str(c)] for c in built.mixture_truth.columns},
    )
    chart(
        measured_scatter_figure(
            pairs,
            agreement_table(pairs),
            meaning="Relative fractions among the signature's cell types, in pseudo-bulk "
            "mixtures of held-out cells whose true fractions are known.",
            title="Held-out mixtures: estimated vs true fractions",
            measured_label="true",
        ),
        f"validation_{record.stem}",
        key="chart_sc_validation",
    )


def _report_actions(record: BuiltSignature) -> None:
    """The button that puts the signature in use, its downloads and what the zip holds."""
    left, mid, right = st.columns([1.2, 1, 1.6])
    in_use = state.signature_key() == record.key
    if left.button(
        "In use" if in_use else "Use this signature",
        type="primary",
        icon=":material/check:",
        disabled=in_use,
        key="sc_use",
    ):
        loaders.refresh(use_built(record))
    mid.download_button(
        "Signature (TSV)",
        data=record.files[f"{record.stem}.tsv"],
        file_name=f"{record.stem}.tsv",
        mime="text/tab-separated-values",
        key="sc_download_tsv",
        on_click="ignore",
        icon=":material/download:",
    )
    right.download_button(
        "Signature, metadata and validation (zip)",
        data=lambda: _zip(record.files),
        file_name=f"{record.stem}.zip",
        mime="application/zip",
        key="sc_download_zip",
        on_click="ignore",
        icon=":material/folder_zip:",
    )
    st.caption(
        f"The zip holds {md(', '.join(record.files))}. Keep {md(record.stem)}.tsv and its "
        ".metadata.json side by side: the command line then reads the mRNA-content factors too."
    )


def _upload_widgets() -> tuple[
    loaders.UploadedFile | None, loaders.UploadedFile | None, str | None
]:
    """The counts and labels uploaders and the label column: (counts, labels, column or None)."""
    left, right = st.columns(2)
    counts = left.file_uploader(
        "Single-cell counts",
        type=COUNTS_TYPES,
        key=state.uploader_key("upload_sc_counts"),
        help="Genes × cells raw counts (CSV/TSV, optionally gzipped; cells × genes is turned "
        "around) or an AnnData .h5ad file.",
    )
    labels = right.file_uploader(
        "Cell labels",
        type=LABEL_TYPES,
        key=state.uploader_key("upload_sc_labels"),
        help="CSV/TSV: the cell names in the first column, the cell types in another. Optional "
        "for .h5ad files whose obs holds the cell types.",
    )
    label_column: str | None = None
    if labels is not None:
        options = [_DETECT, *label_columns(labels.getvalue())]
        choice = right.selectbox(
            "Column with the cell types",
            options,
            key="sc_label_column",
            help="(detect): a column named cell_type, celltype, label, annotation, cluster ..., "
            "or the only other column.",
        )
        label_column = None if choice == _DETECT else choice
    elif counts is not None and counts.name.lower().endswith(".h5ad"):
        typed = right.text_input(
            "obs column with the cell types", key="sc_obs_column", placeholder="(detect)"
        )
        label_column = typed.strip() or None
    return counts, labels, label_column


def _name_widget(counts: loaders.UploadedFile | None) -> str:
    """The signature's name: as typed, else derived from the counts file's name."""
    stem = re.sub(r"\.(gz|h5ad|csv|tsv|txt)$", "", counts.name) if counts is not None else ""
    stem = re.sub(r"\.(csv|tsv|txt)$", "", stem)
    derived = f"{_file_stem(stem)}_signature" if stem else "single_cell_signature"
    return (
        st.text_input("Name of the signature", key="sc_name", placeholder=derived).strip()
        or derived
    )


def _parameter_widgets() -> dict[str, float | int | str]:
    """The build parameters (:data:`DEFAULTS`' keys), in a collapsed expander."""
    d = DEFAULTS
    with st.expander("Parameters"):
        c = st.columns(4)
        return {
            "min_cells": c[0].number_input(
                "Minimum cells per type", min_value=2, value=int(d["min_cells"]), key="sc_min_cells"
            ),
            "min_log2_fold_change": c[1].number_input(
                "Minimum log2 fold change",
                min_value=0.0,
                value=float(d["min_log2_fold_change"]),
                step=0.25,
                key="sc_min_lfc",
                help="Of a type over the other type of each pair of cell types; 1 = two-fold.",
            ),
            "min_detection": c[2].number_input(
                "Minimum detection",
                min_value=0.0,
                max_value=1.0,
                value=float(d["min_detection"]),
                step=0.05,
                key="sc_min_detection",
                help="Share of the type's cells in which a marker is detected.",
            ),
            "scale": c[3].selectbox(
                "Scale of the values",
                SINGLE_CELL_SCALES,
                format_func=SCALE_NAMES.get,
                key="sc_scale",
                help="Leave on 'detect' unless you know the values' scale.",
            ),
            "min_markers": c[0].number_input(
                "Markers per pair of types, from",
                min_value=1,
                value=int(d["min_markers"]),
                key="sc_min_m",
            ),
            "max_markers": c[1].number_input(
                "to", min_value=1, value=int(d["max_markers"]), key="sc_max_m"
            ),
            "test_fraction": c[2].number_input(
                "Cells held out for validation",
                min_value=0.05,
                max_value=0.9,
                value=float(d["test_fraction"]),
                step=0.05,
                key="sc_test_fraction",
            ),
            "n_mixtures": c[3].number_input(
                "Validation mixtures", min_value=3, value=int(d["n_mixtures"]), key="sc_mixtures"
            ),
            "seed": c[0].number_input("Seed", min_value=0, value=int(d["seed"]), key="sc_seed"),
        }


def build_section() -> None:
    """Uploads, parameters, the Build button and the report of the last build."""
    st.caption(
        "Raw counts of labelled single cells → a signature: each cell type's cells are averaged "
        "(counts per million); marker genes are chosen for every pair of cell types (by default "
        f"at least {2 ** float(DEFAULTS['min_log2_fold_change']):.3g}-fold higher in one type "
        f"than in the other and detected in {float(DEFAULTS['min_detection']):.0%} of its "
        "cells), so that every pair can be told apart; and the number of markers per pair that "
        "gives the lowest condition number is kept. Cell types with fewer cells than the "
        "minimum are left out. Everything runs on this computer."
    )
    counts, labels, label_column = _upload_widgets()
    name = _name_widget(counts)
    params = _parameter_widgets()
    if st.button(
        "Build signature",
        type="primary",
        icon=":material/construction:",
        disabled=counts is None,
        key="sc_build",
        help="Upload the counts (and labels) first." if counts is None else None,
    ):
        _, error = build(
            counts.getvalue(),
            counts.name,
            labels.getvalue() if labels is not None else None,
            label_column=label_column,
            name=name,
            parameters=params,
        )
        if error:
            st.error(md(error), icon=":material/error:")
    record = state.signature_build()
    if record is not None:
        _report(record)
    elif counts is None:
        st.caption("Upload the counts and the labels, then press Build.")

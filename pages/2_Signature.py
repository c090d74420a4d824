"""Signature: choose, upload or build one; its provenance, diagnostics, identifiability, groups."""

import streamlit as st

from deconv_core.coverage import genes_found, identity_matches
from deconv_core.figures import signature_heatmap_figure
from deconv_core.genes import HGNC_SNAPSHOT, HGNC_SOURCE
from deconv_core.identifiability import signature_identifiability
from deconv_core.labels import with_display_names
from deconv_core.signature_diagnostics import describe_signature
from deconv_core.signatures import builtin_names, list_signatures
from ui import builds, health, loaders, state, trust, views, widgets

widgets.page_setup("Signature")
st.title("Signature")
st.markdown(
    "A signature is a table of reference expression: genes × cell types. The estimates can only "
    "describe the cell types it contains, and only as well as its genes are present in your data."
)

current = state.signature()
sources = ["Built-in", "My own file", "Build from single-cell data"]
if state.signature_key().startswith("built:"):
    default_source = sources[2]
elif current is not None and not current.builtin:
    default_source = sources[1]
else:
    default_source = sources[0]
state.prepare_widget("signature_source", sources, default_source)  # never shown empty
source = (
    st.segmented_control("Source", sources, required=True, key="signature_source") or default_source
)

if source == "Built-in":
    names = builtin_names()
    default = current.name if current is not None and current.builtin else "TIL10"
    name = st.selectbox(
        "Built-in signature",
        names,
        index=names.index(default) if default in names else 0,
        key="signature_builtin",
    )
    loaders.refresh(loaders.choose_builtin_signature(name))
    with st.expander("All built-in signatures"):
        widgets.table(list_signatures())
elif source == "My own file":
    st.caption(
        "Genes × cell types, linear or log, in any format the expression upload reads (e.g. a "
        "CIBERSORT-style LM22 file you are licensed to use)."
    )
    file = st.file_uploader(
        "Signature file",
        type=loaders.EXPRESSION_TYPES,
        key=state.uploader_key("upload_signature"),
        help=loaders.upload_help("signature"),
    )
    error = loaders.handle_upload("signature", file)
    if error:
        st.error(widgets.md(error), icon=":material/error:")
        if state.signature() is not None:
            st.caption(f"Still using {widgets.md(state.signature().name)}.")
else:
    builds.build_section()

sig = state.signature()
if sig is None:
    widgets.needs("No signature chosen yet: pick a built-in above or upload your own file.", "home")
    st.stop()

st.divider()
st.subheader(f"In use: {widgets.md(sig.title or sig.name)}")
if sig.restricted:
    st.warning(
        f"**Licence reminder**: this file was recognised as {widgets.md(sig.restricted)}. "
        f"{widgets.md(sig.licence)} It is used in this session only and never stored; every "
        "result made with it carries a restricted_signature warning (also in the downloads). "
        "Make sure your use is covered by its licence.",
        icon=":material/gavel:",
    )
if sig.description:
    st.markdown(widgets.md(sig.description))
expression = state.expression()
description = describe_signature(
    sig, expression=expression.table_for(sig) if expression is not None else None, top_markers=10
)
facts = st.columns(3)
facts[0].metric("Cell types", sig.matrix.shape[1])
facts[1].metric("Genes", sig.matrix.shape[0])
facts[2].metric("mRNA-content factors", "yes" if sig.mrna_scaling else "no")
shown = sig.shown_names
st.markdown(
    "**Cell types**: "
    + widgets.md(", ".join(c if shown[c] == c else f"{shown[c]} ({c})" for c in sig.cell_types))
)
st.markdown("**Licence**: " + widgets.md(sig.licence or "unknown (your file)"))
st.markdown("**Citation**: " + widgets.md(sig.citation or "unknown (your file)"))
if sig.source:
    st.markdown("**Source**: " + widgets.md(sig.source))
if sig.provenance:
    with st.expander("Provenance: where the matrix comes from and how it was converted"):
        # Shipped text of the built-in's PROVENANCE.md; anything else is shown literally.
        st.markdown(sig.provenance if sig.builtin else widgets.md(sig.provenance))
if sig.warnings:
    with st.expander(f"Notes from reading the signature ({len(sig.warnings)})"):
        for w in sig.warnings:
            st.caption(widgets.md(w.message))

found = None
if expression is not None:
    coverage = description.coverage
    found = genes_found(expression.table_for(sig), list(sig.matrix.index))
    total = coverage.loc["all"]
    text = (
        f"Your data covers {total['found']:,} of {total['marker_genes']:,} signature genes "
        f"({total['fraction']:.0%}, with values)."
    )
    boxes = {"good": st.success, "check": st.warning, "poor": st.error}
    boxes[total["level"]](text)
    same_gene = identity_matches(expression.table_for(sig), list(sig.matrix.index))
    if not same_gene.empty:
        with st.expander(f"Genes found under another symbol ({len(same_gene)})"):
            st.caption(
                "Same gene, different name (one is a previous symbol or an alias of the other, "
                f"same HGNC id; nomenclature of {HGNC_SNAPSHOT} from {HGNC_SOURCE})."
            )
            widgets.table(same_gene[["note", "hgnc_id"]], hide_index=True)
else:
    st.caption("Upload expression data to see how many of these genes it covers.")

st.subheader("Diagnostics")
tabs = st.tabs(["Heatmap", "Marker genes", "Gene specificity", "Coverage of your data"])
with tabs[0]:
    widgets.chart(
        signature_heatmap_figure(
            with_display_names(sig.matrix, sig.shown_names),
            found=found,
            title=f"Signature {sig.name}",
        ),
        f"signature_{sig.name}",
        key="signature_heatmap",
    )
with tabs[1]:
    st.caption(
        "Each gene marks the cell type that expresses it most; per cell type the 10 most specific "
        "markers, ranked by fold change over the runner-up cell type. share: the cell type's part "
        "of the gene's total over cell types; tau: 0 = expressed alike everywhere, 1 = in one "
        "cell type only."
    )
    widgets.table(
        description.markers,
        hide_index=True,
        column_config={
            "cell_type": st.column_config.TextColumn("cell type"),
            "expression": st.column_config.NumberColumn("expression", format="%.4g"),
            "second_cell_type": st.column_config.TextColumn("runner-up"),
            "log2_fold_change": st.column_config.NumberColumn("log2 fold change", format="%.2f"),
            "share": st.column_config.NumberColumn("share", format="percent"),
            "tau": st.column_config.NumberColumn("tau", format="%.2f"),
        },
    )
with tabs[2]:
    st.caption(
        "Every signature gene: the cell type expressing it most and the runner-up, in the "
        "signature's units; a gene with a small fold change or tau tells cell types apart poorly."
    )
    widgets.table(
        description.specificity,
        column_config={
            "cell_type": st.column_config.TextColumn("highest in"),
            "expression": st.column_config.NumberColumn("expression", format="%.4g"),
            "second_cell_type": st.column_config.TextColumn("runner-up"),
            "second_expression": st.column_config.NumberColumn("runner-up expr.", format="%.4g"),
            "log2_fold_change": st.column_config.NumberColumn("log2 fold change", format="%.2f"),
            "share": st.column_config.NumberColumn("share", format="percent"),
            "tau": st.column_config.NumberColumn("tau", format="%.2f"),
        },
    )
with tabs[3]:
    if expression is None:
        st.caption("Upload expression data to see how many of each cell type's markers it has.")
    else:
        widgets.lights_table(
            health.coverage_card(expression.table_for(sig), sig),
            column="light",
            column_config=widgets.COVERAGE_COLUMNS,
        )

st.subheader("Can the data tell the cell types apart?")
analysis, error = loaders.current_analysis() if expression is not None else (None, "")
if analysis is not None:
    views.identifiability_section(
        trust.identifiability(analysis.result),
        analysis.warnings,
        scope=f"{views.fit_genes_scope(analysis.result)} (the same check as on the QC page).",
        label="Condition number on your data",
    )
else:
    if error:
        st.caption(widgets.md(error))
    views.identifiability_section(
        signature_identifiability(sig.matrix),
        scope=f"On all {sig.matrix.shape[0]} genes of the signature; with expression data "
        "loaded, on the genes your data has.",
        label="Condition number",
    )

st.subheader("Groups of cell types")
views.groups_editor(sig)

st.divider()
if expression is None:
    widgets.needs("Next, upload the expression data to deconvolve.", "upload")
else:
    widgets.next_step("results")

"""Signature: pick a built-in or upload one; its heatmap and how much of it the data covers."""

import streamlit as st

from deconv_core.figures import signature_heatmap_figure
from deconv_core.signatures import builtin_names, list_signatures
from ui import health, loaders, state, widgets

widgets.page_setup("Signature")
st.title("Signature")
st.markdown(
    "A signature is a table of reference expression: genes × cell types. The estimates can only "
    "describe the cell types it contains, and only as well as its genes are present in your data."
)

current = state.signature()
sources = ["Built-in", "My own file"]
uploaded_current = current is not None and not current.builtin
source = st.segmented_control(
    "Source",
    sources,
    default=sources[1] if uploaded_current else sources[0],
    key="signature_source",
)
if source is None:
    source = sources[1] if uploaded_current else sources[0]

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
        st.dataframe(list_signatures())
else:
    st.caption(
        "Genes × cell types, linear or log, in any format the expression upload reads (e.g. a "
        "CIBERSORT-style LM22 file you are licensed to use)."
    )
    file = st.file_uploader(
        "Signature file", type=loaders.EXPRESSION_TYPES, key=state.uploader_key("upload_signature")
    )
    error = loaders.handle_upload("signature", file)
    if error:
        st.error(widgets.md(error), icon=":material/error:")
        if state.signature() is not None:
            st.caption(f"Still using {widgets.md(state.signature().name)}.")

sig = state.signature()
if sig is None:
    widgets.needs("No signature chosen yet: pick a built-in above or upload your own file.", "home")
else:
    st.subheader(sig.title or sig.name)
    if sig.description:
        st.markdown(widgets.md(sig.description))
    facts = st.columns(3)
    facts[0].metric("Cell types", sig.matrix.shape[1])
    facts[1].metric("Genes", sig.matrix.shape[0])
    facts[2].metric("mRNA-content factors", "yes" if sig.mrna_scaling else "no")
    st.markdown("**Cell types**: " + widgets.md(", ".join(sig.cell_types)))
    st.markdown("**Licence**: " + widgets.md(sig.licence or "unknown (your file)"))
    st.markdown("**Citation**: " + widgets.md(sig.citation or "unknown (your file)"))
    if sig.groups:
        with st.expander("Groups of cell types (used to compare with measured categories)"):
            st.dataframe(
                {g: ", ".join(m) for g, m in sig.groups.items()},
                column_config={"value": "cell types"},
            )
    if sig.warnings:
        with st.expander(f"Notes from reading the signature ({len(sig.warnings)})"):
            for w in sig.warnings:
                st.caption(widgets.md(w.message))

    expression = state.expression()
    found = None
    if expression is not None:
        found = health.signature_genes_found(expression.table.index, sig)
        n = sig.matrix.shape[0]
        share = len(found) / n if n else 0.0
        text = f"Your data covers {len(found)} of {n} signature genes ({share:.0%})."
        (st.success if share >= 0.8 else st.warning if share >= 0.5 else st.error)(text)
        widgets.lights_table(
            health.coverage_card(expression.table.index, sig),
            column="light",
            column_config=widgets.COVERAGE_COLUMNS,
        )
    else:
        st.caption("Upload expression data to see how many of these genes it covers.")
    widgets.chart(
        signature_heatmap_figure(sig.matrix, found=found, title=f"Signature {sig.name}"),
        f"signature_{sig.name}",
        key="signature_heatmap",
    )
    st.divider()
    if expression is None:
        widgets.needs("Next, upload the expression data to deconvolve.", "upload")
    else:
        widgets.next_step("results")

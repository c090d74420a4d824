"""Upload: bulk expression, optional sample metadata and measured fractions, input health card."""

import streamlit as st

from deconv_core.options import SCALE_NAMES, SPECIES, SPECIES_NAMES
from deconv_core.scale import SCALES
from deconv_core.signatures import load_signature
from deconv_core.validation import warnings_frame
from ui import health, loaders, state, widgets
from ui.screen import counted
from ui.tables import group_columns, match_report

widgets.page_setup("Upload")
st.title("Upload")
st.markdown(
    "Bulk expression with genes as rows and samples as columns (the other way round is detected). "
    "CSV, TSV, TXT, XLSX or GCT, any of them gzipped, up to 200 MB. Linear TPM is best; log "
    "values and raw counts are detected and converted, with a note."
)

for notice in state.notices():
    st.info(widgets.md(notice), icon=":material/info:")

with st.expander("Restore a session from a results zip", icon=":material/history:"):
    st.caption(
        "The zip from Results, Downloads (Everything) holds the input files, the options, "
        "the cell-type groups and the category mapping; uploading it here restores that run. "
        "Every file is checked against the SHA-256 its manifest records."
    )
    bundle = st.file_uploader("Results zip", type=["zip"], key=state.uploader_key("upload_bundle"))
    bundle_error = loaders.handle_upload("bundle", bundle)
    if bundle_error:
        st.error(widgets.md(bundle_error), icon=":material/error:")

left, right = st.columns([3, 1])
with right:
    scale = st.selectbox(
        "Scale of the values",
        SCALES,
        index=SCALES.index(loaders.expression_scale()),
        format_func=SCALE_NAMES.get,
        key="upload_scale",
        help="Leave on 'detect' unless the health card says the scale was guessed wrong; "
        "a change reads the loaded expression file again.",
    )
    species = st.selectbox(
        "Species",
        SPECIES,
        index=SPECIES.index(loaders.expression_species()),
        format_func=SPECIES_NAMES.get,
        key="upload_species",
        help="Mouse genes (Cd8a, ENSMUSG ids) are renamed to their human one-to-one orthologs "
        "for the built-in human signatures, and kept as they are for a mouse signature of "
        "your own; a change reads the loaded expression file again.",
    )
with left:
    file = st.file_uploader(
        "Bulk expression file",
        type=loaders.EXPRESSION_TYPES,
        key=state.uploader_key("upload_expression"),
        help=loaders.upload_help("expression"),
    )
error = loaders.handle_upload("expression", file, scale=scale, species=species)
if file is None:  # back from another page: the options apply to the file loaded before
    error = loaders.reread_expression(scale=scale, species=species)
if error:
    st.error(widgets.md(error), icon=":material/error:")
    if state.expression() is not None:
        st.caption(
            f"Still using the data loaded before: {widgets.md(state.expression().name)}, read "
            f"with the scale {SCALE_NAMES[loaders.expression_scale()]} and the species "
            f"{SPECIES_NAMES[loaders.expression_species()]}; the choice above was not applied."
        )

expression = state.expression()
if expression is None:
    widgets.needs(
        "No expression data yet: upload a file above, or load the demo cohort on the home page.",
        "home",
    )
else:
    genes, samples = expression.table.shape
    st.subheader("Input health")
    st.caption(
        f"{widgets.md(expression.name)}: {counted(samples, 'sample')} × {counted(genes, 'gene')} "
        "after reading. "
        "Traffic lights: good = fine; check = worth a look; problem = fix before trusting "
        "the results."
    )
    sig = state.signature()
    reference = sig if sig is not None else load_signature("TIL10")
    widgets.health_card(health.input_health(expression, reference))
    st.markdown(f"**Coverage of {widgets.md(reference.name)} marker genes per cell type**")
    if sig is None:
        st.caption("TIL10 is shown until you choose a signature on the Signature page.")
    widgets.lights_table(
        health.coverage_card(expression.table_for(reference), reference),
        column="light",
        column_config=widgets.COVERAGE_COLUMNS,
    )
    with st.expander("Preview of the data as read"):
        shown = expression.table.iloc[:20, :12]
        widgets.table(shown)
        st.caption(
            f"First {shown.shape[0]} genes × {shown.shape[1]} samples of {genes:,} × {samples:,}; "
            "linear scale after any conversion."
        )
    changes = expression.gene_changes
    if len(changes):
        with st.expander(f"Gene-id changes ({len(changes):,})"):
            widgets.table(changes.head(1000), hide_index=True)
            if len(changes) > 1000:
                st.caption(f"First 1,000 of {len(changes):,}; all are in the download's manifest.")
    if expression.warnings:
        with st.expander(f"Notes from reading ({len(expression.warnings)})"):
            notes = warnings_frame(expression.warnings).drop(columns=["cell_type"])
            widgets.table(notes, hide_index=True)

st.divider()
st.subheader("Sample metadata (optional)")
st.caption(
    "A CSV with the sample id in the first column and columns such as group, diagnosis or "
    "cellularity; used to group the charts."
)
widgets.side_table_upload("Sample metadata", "metadata")
meta = state.metadata()
if meta is not None:
    columns = ", ".join(str(c) for c in meta.table.columns)
    st.markdown(
        f"**{widgets.md(meta.name)}**: {counted(len(meta.table), 'sample')}; columns "
        f"{widgets.md(columns)}."
    )
    if expression is not None:
        complete, text = match_report(expression.table.columns, meta, what="metadata")
        (st.success if complete else st.warning)(widgets.md(text))
        usable = group_columns(meta.table)
        st.caption(
            "Columns usable for grouping (2–12 distinct values): "
            + (widgets.md(", ".join(usable)) if usable else "none")
        )

st.subheader("Measured fractions (optional)")
st.caption(
    "E.g. flow cytometry: sample id in the first column, one column per measured cell population, "
    "as fractions (0–1) or percentages (0–100). The Results page compares them with the estimates."
)
widgets.side_table_upload("Measured fractions", "measured")
measured = state.measured()
if measured is not None:
    categories = ", ".join(str(c) for c in measured.table.columns)
    st.markdown(
        f"**{widgets.md(measured.name)}**: {counted(len(measured.table), 'sample')}; categories "
        f"{widgets.md(categories)}."
    )
    for note in measured.notes:
        st.caption(widgets.md(note))
    if expression is not None:
        complete, text = match_report(expression.table.columns, measured, what="measured fractions")
        (st.success if complete else st.warning)(widgets.md(text))

if expression is not None:
    st.divider()
    widgets.next_step("signature")

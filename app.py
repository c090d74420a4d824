"""Home page: what the tool does, the demo button, where to go next.

Run with ``streamlit run app.py``; the other pages live in ``pages/``.
"""

import streamlit as st

from ui import loaders, state, widgets

widgets.page_setup("Home")

st.title("deconv-explorer")
st.markdown(
    "**What is this tissue sample made of?** This tool estimates the cell-type composition of "
    "bulk RNA-seq or microarray samples by unmixing their expression into the profiles of a "
    "reference *signature* (bulk ≈ signature × proportions, solved by non-negative least "
    "squares), and shows how far each estimate can be trusted: how well the signature explains "
    "every sample, how many of its genes your data has, and every caveat found on the way. "
    "It does **not** see cell types the signature lacks (tumour and stromal cells count only as "
    "'other', in absolute mode), it does not replace histology or flow cytometry, and it cannot "
    "tell apart cell types whose profiles are nearly the same. Everything runs on this "
    "computer: your data are never uploaded anywhere."
)

left, right = st.columns([1, 2], vertical_alignment="center")
if left.button("Load demo data", type="primary", icon=":material/science:", key="load_demo"):
    error = loaders.load_demo()
    if error:
        st.error(widgets.md(error))
    loaders.refresh(not error)
right.caption(
    "The demo: 24 simulated samples (tumour immune-hot, tumour immune-cold, normal blood) mixed "
    "from the TIL10 signature's cell types, with sample metadata and flow-cytometry-style "
    "measured fractions; analysed with TIL10 in absolute mode. How it was made: "
    "assets/demo/PROVENANCE.md."
)

if state.demo_loaded():
    st.success("Demo loaded: every page now has data. Start with the results, or check the inputs.")
elif state.expression() is None:
    widgets.needs(
        "Nothing is loaded yet: press **Load demo data** to explore with the demo cohort, or "
        "upload your own expression file.",
        "upload",
    )

st.subheader("Steps")
st.page_link(
    widgets.PAGES["upload"], label="1 · Upload your expression file", icon=":material/upload_file:"
)
st.page_link(widgets.PAGES["signature"], label="2 · Choose a signature", icon=":material/grid_on:")
st.page_link(
    widgets.PAGES["results"],
    label="3 · Results: proportions per sample",
    icon=":material/bar_chart:",
)
st.page_link(
    widgets.PAGES["qc"], label="4 · QC: fit, residuals and warnings", icon=":material/fact_check:"
)
st.page_link(
    widgets.PAGES["methods"],
    label="5 · Methods side by side, and what 'other' is made of",
    icon=":material/compare_arrows:",
)

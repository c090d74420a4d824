"""Methods: several methods side by side, their agreement, and what 'other' is made of."""

import streamlit as st

from ui import loaders, methods, state, widgets

widgets.page_setup("Methods")
st.title("Methods")
st.caption(
    "Other methods beside the robust fit, on the same genes: how far they agree, and what "
    "'other' is made of."
)

widgets.require_data_and_signature()
state.request_methods()
analysis, error = loaders.current_analysis()
if error:
    st.error(widgets.md(error), icon=":material/error:")
    widgets.needs("Check the input health card and the signature coverage.", "upload")
    st.stop()
comparison = analysis.methods

st.subheader("What each method reports")
methods.methods_section(comparison)

st.subheader("Do the methods agree?")
methods.agreement_section(comparison, analysis.signature.shown_names)

st.subheader("What 'other' is made of")
methods.other_section(comparison, analysis.result.mode)

st.caption(
    "Opening this page adds the methods to the run: their tables (methods.csv, "
    "methods_agreement.csv, methods_other.csv) join the downloads on the Results page, and "
    "samples the methods rank far apart get a 'check' verdict there."
)
widgets.next_step("results")

"""QC: fit card with p-values, confounding, gene explainer, residuals, identifiability, warnings."""

import streamlit as st

from deconv_core.deconvolve import marker_genes
from deconv_core.figures import gene_explanation_figure, observed_vs_fitted_figure
from deconv_core.labels import with_display_names
from deconv_core.ordering import in_sample_order
from deconv_core.qc import downweighted_genes
from deconv_core.text import visible
from deconv_core.validation import warnings_frame
from ui import charts, loaders, trust, views, widgets

widgets.page_setup("QC")
st.title("QC")

expression, sig = widgets.require_data_and_signature()

analysis, error = loaders.current_analysis(with_gene_checks=True)
if error:
    st.error(widgets.md(error), icon=":material/error:")
    widgets.needs("Check the input health card and the signature coverage.", "upload")
    st.stop()
result = analysis.result

mode_text = "absolute" if result.mode == "absolute" else "relative"
found = int(result.coverage["found"].sum())
left_out = found - len(result.genes_used)
st.caption(
    f"Fit of {widgets.md(result.signature_name)} ({mode_text} mode) on "
    f"{len(result.genes_used)} signature genes: {found} found in the data"
    + (f", {left_out} left out by the exclusion list. " if left_out else ". ")
    + widgets.md(result.meaning)
)

z = loaders.residual_z(result)
warnings = analysis.warnings
st.subheader("Fit report card")
card = views.fit_card(analysis)
widgets.lights_table(
    card[["verdict", "pearson_r", "rmse", "r2", "p_value", "reasons"]],
    column="verdict",
    column_config={
        "verdict": st.column_config.TextColumn("fit"),
        "pearson_r": st.column_config.NumberColumn("r", format="%.2f"),
        "rmse": st.column_config.NumberColumn("RMSE", format="percent"),
        "r2": st.column_config.NumberColumn("R²", format="%.2f"),
        "p_value": st.column_config.NumberColumn("p-value", format="%.3f"),
        "reasons": st.column_config.TextColumn("why", width="large"),
    },
)
st.caption(
    f"r: Pearson correlation of observed and fitted across the {len(result.genes_used)} "
    "signature genes used (n); RMSE: root-mean-square residual as a percentage of the mean "
    "observed value; R²: share of the variance explained. **p-value**: how likely a "
    f"random mix of this data's own values fits as well ({trust.PERMUTATIONS} random mixtures, "
    f"so never below {1 / (1 + trust.PERMUTATIONS):.3f}); small = the signature's cell types "
    "really explain this sample. It does not say the proportions are right. Worst samples first."
)

st.subheader("Estimates driven by genes, not cells")
views.confounding_section(trust.confounding(result, sig), analysis.worst_first)

st.subheader("Gene explainer")
st.caption(
    "Pick a signature gene to see, in every sample, how much of its measured expression each "
    "cell type accounts for and how much the signature's cell types leave unexplained. Genes "
    "missing from your data or left out by the exclusion list cannot be split."
)
genes = sorted((str(g) for g in result.genes_used), key=str.upper)
default_gene = views.gene_to_explain(trust.confounding(result, sig), trust.flagged_genes(result))
gene = st.selectbox(
    "Signature gene",
    genes,
    format_func=visible,
    index=genes.index(default_gene) if default_gene in genes else 0,
    key="qc_gene",
    help="Preselected: the first gene named by the checks above, if any.",
)
explanation = trust.explanation(result, gene, sig.shown_names)
widgets.chart(
    gene_explanation_figure(
        with_display_names(explanation.summary, sig.shown_names),
        gene=explanation.gene,
        cell_types=[sig.shown_names.get(str(c), str(c)) for c in result.signature_matrix.columns],
    ),
    f"gene_explainer_{gene}",
    key="chart_explainer",
)
views.explanation_sentences(explanation)

st.subheader("Residual heatmap")
c1, c2 = st.columns(2)
gene_order = c1.selectbox("Order genes by", ["cell type", "cluster"], key="qc_gene_order")
sample_order = c2.selectbox(
    "Order samples by", ["input", "worst fit first", "cluster"], key="qc_sample_order"
)
widgets.chart(
    charts.residual_figure(analysis, gene_order=gene_order, sample_order=sample_order),
    "residual_heatmap",
    key="chart_residuals",
)
st.caption(
    "Each gene is annotated (left strip) with the cell type that expresses it most. A red block "
    "across a cell type's genes in one sample: more of that cell type, or an activation state, "
    "than the estimate; a red row across many samples: a gene the signature describes badly "
    "for your data (platform, tissue or tumour expression)."
)

st.subheader("Genes and samples the fit flags")
flagged_samples = trust.flagged_samples(result)
flagged_samples = in_sample_order(flagged_samples, analysis.worst_first)
views.residual_flags(trust.flagged_genes(result), flagged_samples)

st.subheader("Genes the robust fit down-weighted")
views.downweighted_section(downweighted_genes(result), result.loss, len(result.proportions.index))

st.subheader("Can the data tell the cell types apart?")
views.identifiability_section(
    trust.identifiability(result),
    warnings,
    scope=f"{views.fit_genes_scope(result)}.",
    label="Condition number on your data",
)

st.subheader("Warnings")
st.caption(
    "About the input, the signature, the fit and what the QC checks found (cell types the data "
    "cannot tell apart, poorly fitted or not significant samples, genes the signature describes "
    "badly, estimates driven by activation or other states)."
)
if not warnings:
    st.success("No warnings about the input, the signature or the fit.")
elif len(warnings) <= 25:
    boxes = {"info": st.info, "warning": st.warning, "error": st.error}
    icons = {
        "info": ":material/info:",
        "warning": ":material/warning:",
        "error": ":material/error:",
    }
    for w in warnings:
        where = f"**{widgets.md(w.sample)}**: " if w.sample else ""
        boxes[w.severity](where + widgets.md(w.text("app")), icon=icons[w.severity])
else:
    st.caption(f"{len(warnings)} warnings; widen the message column or download them below.")
    widgets.lights_table(
        # the messages name the cell types; their ids are in warnings.csv
        warnings_frame(warnings).drop(columns=["command_line", "cell_type"]),
        column="severity",
        hide_index=True,
        column_config={
            "message": st.column_config.TextColumn("message", width="large"),
            "dashboard": st.column_config.TextColumn("what to do", width="medium"),
        },
    )

st.subheader("Observed vs fitted, one sample")
sample = st.selectbox(
    "Sample (worst fit first)",
    analysis.worst_first,
    key="qc_sample",
    format_func=lambda s: f"{visible(s)} · {card.loc[s, 'verdict']}",
)
st.caption(widgets.md(card.loc[sample, "reasons"]))
widgets.chart(
    observed_vs_fitted_figure(
        result.observed[sample],
        result.fitted[sample],
        marker_genes(result.signature_matrix).map(lambda c: sig.shown_names.get(c, c)),
        sample=sample,
        z=z[sample],
    ),
    "observed_vs_fitted",
    key="chart_obs_fit",
)

st.subheader("Downloads")
widgets.downloads_section(analysis, key="qc_dl")

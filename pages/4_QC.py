"""QC: fit card with p-values, confounding, gene explainer, residuals, identifiability, warnings."""

import streamlit as st

from deconv_core.deconvolve import marker_genes
from deconv_core.figures import gene_explanation_figure, observed_vs_fitted_figure
from deconv_core.ordering import samples_by_fit
from deconv_core.qc import downweighted_genes
from deconv_core.validation import warnings_frame
from ui import charts, health, loaders, state, trust, views, widgets
from ui.tables import group_columns, match_samples

widgets.page_setup("QC")
st.title("QC")

expression, sig = widgets.require_data_and_signature()

result, error = loaders.current_result()
if error:
    st.error(widgets.md(error), icon=":material/error:")
    widgets.needs("Check the input health card and the signature coverage.", "upload")
    st.stop()

mode_text = "absolute" if result.mode == "absolute" else "relative"
st.caption(
    f"Fit of {widgets.md(result.signature_name)} ({mode_text} mode) on "
    f"{len(result.genes_used)} signature genes found in the data. {widgets.md(result.meaning)}"
)

z = loaders.residual_z(result)
warnings = loaders.run_warnings(result)
p_values = trust.p_values(result)
card = health.fit_report(result, z, warnings, p_values=p_values)
st.subheader("Fit report card")
counts = card["light"].value_counts()
m1, m2, m3 = st.columns(3)
m1.metric("Good fit", int(counts.get(health.LIGHTS["green"], 0)))
m2.metric("Check", int(counts.get(health.LIGHTS["yellow"], 0)))
m3.metric("Poor fit", int(counts.get(health.LIGHTS["red"], 0)))
t = health.FIT_THRESHOLDS
st.caption(
    "How well the estimated mixture reproduces each sample's signature-gene expression. "
    f"Good: r ≥ {t['good_r']} and R² ≥ {t['good_r2']}; poor: r < {t['poor_r']} or "
    f"R² < {t['poor_r2']}. r: Pearson correlation of observed and fitted; RMSE: root-mean-square "
    "residual divided by the mean observed value; R²: share of the variance explained. "
    f"**p-value**: how likely a random mix of this data's own values fits as well "
    f"({trust.PERMUTATIONS} random mixtures, so never below {1 / (1 + trust.PERMUTATIONS):.3f}); "
    "small = the signature's cell types really explain this sample; above 0.05 = no better "
    "than random, its proportions may be meaningless. It does not say the proportions are right."
)
flagged = card[card["light"] != health.LIGHTS["green"]]
for sample, row in flagged.head(10).iterrows():
    box = st.error if row["light"] == health.LIGHTS["red"] else st.warning
    box(f"**{widgets.md(sample)}**: {widgets.md(row['reason'])}", icon=":material/troubleshoot:")
if len(flagged) > 10:
    st.caption(f"{len(flagged) - 10} more samples to check are in the table below.")
widgets.lights_table(
    card,
    column="light",
    column_config={
        "light": st.column_config.TextColumn("fit"),
        "pearson_r": st.column_config.NumberColumn("r", format="%.3f"),
        "rmse": st.column_config.NumberColumn("RMSE", format="%.3f"),
        "r2": st.column_config.NumberColumn("R²", format="%.3f"),
        "p_value": st.column_config.NumberColumn("p-value", format="%.3f"),
        "reason": st.column_config.TextColumn("in plain words", width="large"),
    },
)

st.subheader("Estimates driven by genes, not cells")
views.confounding_section(trust.confounding(result, sig))

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
    index=genes.index(default_gene) if default_gene in genes else 0,
    key="qc_gene",
    help="Preselected: the first gene named by the checks above, if any.",
)
explanation = trust.explanation(result, gene)
widgets.chart(
    gene_explanation_figure(
        explanation.summary,
        gene=explanation.gene,
        cell_types=[str(c) for c in result.signature_matrix.columns],
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
    charts.residual_figure(result, gene_order=gene_order, sample_order=sample_order),
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
views.residual_flags(trust.flagged_genes(result), trust.flagged_samples(result))

st.subheader("Genes the robust fit down-weighted")
views.downweighted_section(downweighted_genes(result), result.loss, len(result.proportions.index))

st.subheader("Can the data tell the cell types apart?")
views.identifiability_section(
    trust.identifiability(result),
    warnings,
    scope=f"On the {len(result.genes_used)} signature genes found in your data, weighted as the "
    "fit weighs them.",
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
        boxes[w.severity](where + widgets.md(w.message), icon=icons[w.severity])
else:
    st.caption(f"{len(warnings)} warnings; widen the message column or download them below.")
    widgets.lights_table(
        warnings_frame(warnings),
        column="severity",
        hide_index=True,
        column_config={"message": st.column_config.TextColumn("message", width="large")},
    )

st.subheader("Observed vs fitted, one sample")
ordered = samples_by_fit(result.fit)
sample = st.selectbox(
    "Sample (worst fit first)",
    ordered,
    key="qc_sample",
    format_func=lambda s: f"{s} · {card.loc[s, 'light']}",
)
st.caption(widgets.md(card.loc[sample, "reason"]))
widgets.chart(
    observed_vs_fitted_figure(
        result.observed[sample],
        result.fitted[sample],
        marker_genes(result.signature_matrix),
        sample=sample,
        z=z[sample],
    ),
    "observed_vs_fitted",
    key="chart_obs_fit",
)

st.subheader("Downloads")
meta, measured = state.metadata(), state.measured()
groups = None
group_title = "group"
if meta is not None:
    matched = match_samples(list(result.proportions.index), meta.table)
    usable = group_columns(matched)
    if usable:
        group_title = usable[0]
        groups = matched[group_title]
measured_matched = (
    match_samples(list(result.proportions.index), measured.table) if measured is not None else None
)
mapping = state.mapping()
widgets.downloads_section(
    result,
    lambda: charts.export_figures(
        result,
        groups=groups,
        group_title=group_title,
        measured=measured_matched,
        mapping=mapping,
        intervals=trust.intervals(result, sig),
        n_resamples=trust.BOOTSTRAP_RESAMPLES,
        explanation=explanation,
    ),
    key="qc_dl",
)

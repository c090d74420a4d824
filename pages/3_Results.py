"""Results: mode, level, bars or intervals, heatmap, box plots, table, measured fractions."""

import streamlit as st

from deconv_core.agreement import (
    agreement_table,
    compare_fractions,
    describe_gaps,
    match_categories,
)
from deconv_core.figures import (
    group_boxplots_figure,
    measured_scatter_figure,
    proportion_intervals_figure,
    proportions_bar_figure,
    proportions_heatmap_figure,
)
from deconv_core.groups import group_proportions
from deconv_core.labels import with_display_names
from deconv_core.ordering import order_samples
from deconv_core.text import visible
from deconv_core.thresholds import SMALL_COHORT
from deconv_core.validation import InputError
from ui import cards, loaders, screen, state, trust, views, widgets
from ui.tables import group_columns, match_samples

widgets.page_setup("Results")
st.title("Results")

expression, sig = widgets.require_data_and_signature()

modes = {"relative": "Relative", "absolute": "Absolute (with other)"}
losses = {"huber": "Robust (Huber)", "squares": "Least squares"}
left, middle, right = st.columns([2, 2, 3])
# The controls show the values in use, also after a visit to another page (ui.state).
state.prepare_widget("results_mode", list(modes), state.mode())
state.prepare_widget("results_loss", list(losses), state.loss())
with left:
    mode = st.segmented_control(
        "Mode",
        list(modes),
        required=True,
        format_func=modes.get,
        key="results_mode",
        help="Relative: shares among the signature's cell types (sum to 1). Absolute: shares of "
        "all cells, with 'other' for cells the signature lacks; needs whole-transcriptome TPM "
        "data and a signature on the same scale with mRNA-content factors (TIL10; not LM22 or "
        "microarray signatures).",
    )
    if mode is not None and mode != state.mode():  # the user picked it
        loaders.refresh(state.set_mode(mode))
    if state.mode_reason():
        st.caption(widgets.md(state.mode_reason()))
with middle:
    loss = st.segmented_control(
        "Fit",
        list(losses),
        required=True,
        format_func=losses.get,
        key="results_loss",
        help="Robust (default): genes the signature describes badly in a sample (activated "
        "cells, contamination, mapping errors) are down-weighted instead of pulling every "
        "proportion. Least squares: plain NNLS, every gene counts fully.",
    )
    if loss is not None:
        loaders.refresh(state.set_loss(loss))
with right:
    lists = ["none", *sig.excluded_genes]
    labels = {"none": "keep all signature genes", "default": "default list", "tumor": "tumour list"}
    if "default" in sig.excluded_genes:  # e.g. quanTIseq's tumour mode: both of TIL10's lists
        for name in [n for n in sig.excluded_genes if n != "default"]:
            lists.append(f"default,{name}")
            labels[lists[-1]] = f"default and {labels.get(name, name)}"
    current = state.exclude() if state.exclude() in lists else "none"
    exclude = st.selectbox(
        "Leave out the signature's noisy genes",
        lists,
        index=lists.index(current),
        format_func=lambda x: labels.get(x, x),
        key="results_exclude",
        help="; ".join(
            f"{labels.get(name, name)}: leaves out {len(genes)} genes ({', '.join(genes[:4])}, ...)"
            for name, genes in sig.excluded_genes.items()
        )
        or f"{sig.name} has no lists of genes to leave out.",
    )
    if exclude != current:  # a signature without the stored list keeps it for later
        loaders.refresh(state.set_exclude(exclude))

analysis, error = loaders.current_analysis()
if error:
    st.error(widgets.md(error), icon=":material/error:")
    widgets.needs("Check the input health card and the signature coverage.", "upload")
    st.stop()
result = analysis.result

st.info(result.meaning, icon=":material/info:")
views.verdict_summary(analysis)
cards.restored_note(analysis)

cell_props = result.proportions
# On screen cell types go by their display names ("CD4 T cells"); the downloads keep the ids.
names = sig.shown_names
intervals = analysis.intervals
if intervals is not None:
    intervals = with_display_names(intervals, names, column="cell_type")
verdicts = analysis.verdicts["verdict"]
cell_groups = state.groups()
levels = {"cell types": "Cell types", "groups": "Cell-type groups"}
level = "cell types"
props = cell_props
c0, c1, c2 = st.columns([1, 1.4, 1.4], vertical_alignment="bottom")
if cell_groups:
    state.prepare_widget("results_level", list(levels), "cell types")
    level = (
        c0.segmented_control(
            "Level",
            list(levels),
            required=True,
            format_func=levels.get,
            key="results_level",
            on_change=state.remember_choice,
            args=("results_level",),
            help="Groups sum their member cell types (e.g. CD4 + CD8 T cells + Tregs = T cells); "
            "see and edit them on the Signature page.",
        )
        or "cell types"
    )
    if level == "groups":
        try:
            props = group_proportions(cell_props, cell_groups)
        except InputError as exc:
            st.error(widgets.md(exc), icon=":material/error:")
            level, props = "cell types", cell_props
meta = state.metadata()
matched_meta = match_samples(list(props.index), meta.table) if meta is not None else None
group_options = ["(none)"] + (group_columns(matched_meta) if matched_meta is not None else [])
sort_options = ["(input order)", *[str(c) for c in props.columns]]
sort_key = "results_sort" if level == "cell types" else "results_sort_groups"
state.prepare_widget(sort_key, sort_options, sort_options[0])
sort_choice = c1.selectbox(
    "Sort samples by",
    sort_options,
    format_func=lambda c: visible(c if c in cell_groups else names.get(c, c)),
    key=sort_key,
    on_change=state.remember_choice,
    args=(sort_key,),
)
state.prepare_widget("results_group", group_options, group_options[min(1, len(group_options) - 1)])
group_choice = c2.selectbox(
    "Group samples by",
    group_options,
    format_func=visible,
    key="results_group",
    on_change=state.remember_choice,
    args=("results_group",),
    help="Columns of the sample metadata with 2–12 distinct values."
    if meta is not None
    else "Upload sample metadata on the Upload page to group samples.",
)
if level == "groups":  # a group may be named like a cell type ("Tregs"): it keeps its name
    names = {c: n for c, n in names.items() if c not in cell_groups}
sort_by = None if sort_choice == "(input order)" else names.get(sort_choice, sort_choice)
props = with_display_names(props, names)
groups = None
if group_choice != "(none)" and matched_meta is not None:
    groups = matched_meta[group_choice]
# One order of the samples for the charts and the tables below them.
order = order_samples(props, sort_by=sort_by, groups=groups)

st.subheader("Composition per sample")
state.prepare_widget("results_intervals", (False, True), False)
show_intervals = st.toggle(
    f"Show {trust.LEVEL:.0%} intervals",
    key="results_intervals",
    on_change=state.remember_choice,
    args=("results_intervals",),
    disabled=level != "cell types",
    help="Switches the stacked bars to one strip per cell type: each estimate as a dot with its "
    f"{trust.LEVEL:.0%} confidence interval ({trust.BOOTSTRAP_RESAMPLES} bootstrap resamples of "
    "the signature genes, computed when first turned on).",
)
show_intervals = show_intervals and level == "cell types"
intervals = trust.intervals(result, sig) if show_intervals else None
if intervals is not None:
    widgets.chart(
        proportion_intervals_figure(
            intervals,
            meaning=result.meaning,
            order=order,
            level=trust.LEVEL,
            n_resamples=trust.BOOTSTRAP_RESAMPLES,
            verdicts=verdicts,
        ),
        "composition_intervals",
        key="chart_intervals",
    )
else:
    widgets.chart(
        proportions_bar_figure(
            props,
            meaning=result.meaning,
            groups=groups,
            sort_by=sort_by,
            group_title=group_choice,
            verdicts=verdicts,
        ),
        "composition_bars",
        key="chart_bars",
    )
if level == "cell types":
    st.caption(
        f"How precise is each estimate? Turn on **Show {trust.LEVEL:.0%} intervals** (computed "
        "when first asked for), then see the lower and upper bounds in the table below too. The "
        "intervals come from refitting with the signature genes resampled: a wide one means the "
        "estimate depends on which genes happen to describe that cell type."
    )
else:
    st.caption(
        "Intervals are computed per cell type: a group's interval is not the sum of its "
        "members' intervals, so they are shown at the cell-type level only."
    )

st.subheader("Proportions heatmap")
widgets.chart(
    proportions_heatmap_figure(
        props,
        meaning=result.meaning,
        order=order,
        verdicts=verdicts,
    ),
    "proportions_heatmap",
    key="chart_heatmap",
)

if groups is not None:
    st.subheader(f"Fractions by {widgets.md(group_choice)}")
    widgets.chart(
        group_boxplots_figure(props, groups, meaning=result.meaning, group_title=group_choice),
        "fractions_by_group",
        key="chart_boxes",
    )
elif meta is not None:
    st.caption("Choose a column under 'Group samples by' to see box plots per group.")
else:
    st.caption("Upload sample metadata on the Upload page to compare groups with box plots.")

st.subheader("Table")
st.caption(widgets.md(result.meaning))
percent = {str(c): st.column_config.NumberColumn(str(c), format="percent") for c in props.columns}
table = views.with_verdicts(props, analysis).loc[order]
if level == "cell types":
    wide, long = st.tabs(["One column per cell type", f"With {trust.LEVEL:.0%} intervals"])
    with wide:
        widgets.lights_table(table, column="verdict", column_config=views.verdict_columns(percent))
    with long:
        views.intervals_table(intervals, order=order)
else:
    widgets.lights_table(table, column="verdict", column_config=views.verdict_columns(percent))
    st.caption(
        "Each group is the sum of its member cell types; cell types in no group keep their own "
        "column. The downloads hold both levels."
    )

measured_table = state.measured()
mapping = None
matched_measured = None
if measured_table is not None:
    st.subheader("Estimated vs measured fractions")
    matched_measured = match_samples(list(props.index), measured_table.table)
    if result.mode == "relative":
        st.caption(
            "Measured fractions (e.g. flow cytometry) are usually shares of all cells, while "
            "relative proportions are shares of the signature's cell types only; switch to "
            "absolute mode to compare like with like."
        )
    categories = [str(c) for c in measured_table.table.columns]
    proposal = state.mapping() or match_categories(
        categories, sig.cell_types, cell_groups, names=sig.shown_names
    )
    with st.expander("Which estimated cell types make up each measured category", expanded=False):
        st.caption(
            "Proposed from the names and the cell-type groups (see and edit them on the Signature "
            "page: a group named like a measured category is matched to it); the estimates of the "
            "chosen cell types are summed. Leave a category empty to skip it."
        )
        mapping = {}
        for i, category in enumerate(categories):
            mapping[category] = st.multiselect(
                widgets.md(category),
                [str(c) for c in cell_props.columns],
                format_func=lambda c: visible(names.get(c, c)),
                default=[c for c in proposal.get(category, []) if c in cell_props.columns],
                key=f"map_{measured_table.sha256[:10]}_{state.groups_digest()}_{i}",
            )
    state.set_mapping(mapping)
    pairs = compare_fractions(cell_props, matched_measured, mapping)
    gaps = describe_gaps(cell_props, matched_measured, mapping, names=sig.shown_names)
    unmapped = gaps[gaps["code"] == "unmapped"]
    gaps = gaps[gaps["code"] != "unmapped"]
    if len(matched_measured) and len(gaps):
        st.warning(
            "\n".join(
                f"- **{widgets.md(g.category)}** "
                + ("is not compared" if g.compared == 0 else f"is compared on {g.compared} samples")
                + f": {widgets.md(g.reason)}."
                for g in gaps.itertuples()
            ),
            icon=":material/warning:",
        )
    if len(matched_measured) and len(unmapped) and len(unmapped) < len(categories):
        st.caption(
            "Not compared, mapped to no cell type (choose them above): "
            + ", ".join(widgets.md(c) for c in unmapped["category"])
            + "."
        )
    if len(matched_measured) == 0:
        st.warning("No sample of the measured fractions matches a sample of the expression data.")
    elif len(pairs) == 0 and len(gaps) == 0:
        st.warning("No measured category is mapped to a cell type; choose them above.")
    elif len(pairs) == 0:
        pass  # the warning above says why no category is compared
    else:
        agreement = agreement_table(pairs)
        widgets.chart(
            measured_scatter_figure(pairs, agreement, meaning=result.meaning),
            "estimated_vs_measured",
            key="chart_measured",
        )
        widgets.table(
            screen.in_points(agreement, ["rmse", "bias"]),
            column_config={
                "n": st.column_config.NumberColumn("samples"),
                "pearson_r": st.column_config.NumberColumn("r", format="%.2f"),
                "rmse": st.column_config.NumberColumn("RMSE", format="%.1f pp"),
                "bias": st.column_config.NumberColumn("bias (est. − meas.)", format="%+.1f pp"),
            },
        )
        st.caption(
            "r: Pearson correlation across samples (does the estimate rank samples right?); "
            "RMSE: typical difference, in percentage points; bias: mean over- or "
            "under-estimate, in percentage points."
        )
        if int(agreement["n"].max()) < SMALL_COHORT:
            st.warning(
                f"r rests on {int(agreement['n'].max())} samples (fewer than {SMALL_COHORT}): "
                "with so few points a correlation is mostly noise; read RMSE and bias instead.",
                icon=":material/warning:",
            )

st.subheader("One sample for the tumour board")
cards.card_section(analysis, key="results_card")

st.subheader("Downloads")
widgets.downloads_section(analysis, key="results_dl")
st.divider()
widgets.next_step("qc")

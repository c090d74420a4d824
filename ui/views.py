"""Page sections: confounding callouts, gene explainer text, flags, identifiability, groups.

Each function draws one section from the core's tables; the QC and Signature
pages call them so that the pages stay a list of sections.  User text
(sample, gene and cell-type names) goes through :func:`ui.widgets.md` or
``st.dataframe``, never through HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from deconv_core.analysis import Analysis
from deconv_core.confounding import ConfoundingReport, GeneExplanation
from deconv_core.deconvolve import DeconvResult
from deconv_core.groups import check_groups, groups_table
from deconv_core.identifiability import Identifiability, identifiability_warnings
from deconv_core.ordering import in_sample_order
from deconv_core.signatures import Signature
from deconv_core.thresholds import (
    ALPHA,
    DOWNWEIGHTED,
    DRIVEN_SHARE,
    FRAGILE_SHARE,
    GENE_Z,
    GOOD_R,
    GOOD_R2,
    MAX_CONDITION,
    MAX_COSINE,
    POOR_R,
    POOR_R2,
)
from deconv_core.validation import DeconvWarning, InputError
from deconv_core.verdict import verdict_counts
from ui import loaders, state
from ui.screen import counted
from ui.trust import BOOTSTRAP_RESAMPLES, IDENTIFIABILITY_CODES, LEVEL, SEED
from ui.widgets import PAGES, md
from ui.widgets import table as show_table

__all__ = [
    "MAX_CALLOUTS",
    "MAX_SAMPLE_CALLOUTS",
    "GENE_CHECKS_PENDING",
    "VERDICT_CAPTION",
    "fit_card",
    "verdict_columns",
    "verdict_summary",
    "with_verdicts",
    "downweighted_section",
    "confounding_section",
    "explanation_sentences",
    "gene_to_explain",
    "groups_editor",
    "identifiability_section",
    "intervals_table",
    "residual_flags",
]

#: The explainer's text highlights samples whose explained share is off by at least this much
#: (a display choice: a quarter of the gene's expression unexplained or over-predicted).
NOTABLE_MISS = 0.25
#: At most this many confounding callouts; the table lists every finding.
MAX_CALLOUTS = 8
#: At most this many samples get a callout of their verdict (worst first); the table lists all.
MAX_SAMPLE_CALLOUTS = 10
#: What the verdicts mean, from the thresholds the core uses.
VERDICT_CAPTION = (
    f"Verdict per sample: **good** when the estimated mixture reproduces the sample's "
    f"signature genes well (r ≥ {GOOD_R:g} and R² ≥ {GOOD_R2:g}); **poor** when it does not "
    f"(r < {POOR_R:g} or R² < {POOR_R2:g}), when random mixtures of the data's own values fit as "
    f"well (permutation p > {ALPHA:g}) or when the sample could not be deconvolved; **check** in "
    "between, or when some estimates are driven by genes rather than cells, the sample's misses "
    "stand out, or the whole run is weakened (few signature genes found, absolute mode on "
    "unsuitable data)."
)


def verdict_summary(analysis: Analysis) -> None:
    """The verdict counts, and the samples to look at first (worst first), with a QC link.

    When the gene checks have not run for this run yet, says so beside the
    counts (they can turn a "good" into "check") and offers to run them.
    """
    counts = verdict_counts(analysis.verdicts)
    flagged = analysis.to_check
    text = (
        f"**Fit verdict**: {counts['good']} good · {counts['check']} to check · "
        f"{counts['poor']} poor, of {counted(sum(counts.values()), 'sample')}."
    )
    if not flagged:
        st.success(text, icon=":material/check_circle:")
    else:
        shown = ", ".join(
            f"{md(s)} ({analysis.verdicts.loc[s, 'verdict']})"
            for s in flagged[:MAX_SAMPLE_CALLOUTS]
        )
        extra = len(flagged) - MAX_SAMPLE_CALLOUTS
        more = f" and {extra} more" if extra > 0 else ""
        box = st.error if counts["poor"] else st.warning
        box(
            f"{text} Worst first: {shown}{more}. They are marked on the charts and in the "
            "table; read their proportions with care.",
            icon=":material/troubleshoot:",
        )
    if analysis.confounding is None:
        _gene_checks_pending()
    if flagged:
        st.page_link(PAGES["qc"], label="QC: why, sample by sample", icon=":material/fact_check:")


#: What the verdicts lack until the gene checks have run (shown on the Results page).
GENE_CHECKS_PENDING = (
    "Gene checks not run yet: these verdicts rest on the fit statistics and the permutation "
    "p-values. The leave-one-gene-out checks, which mark estimates driven by a single gene "
    "rather than by cells as 'check', run when you open the QC page, prepare the downloads "
    "or press the button."
)


def _gene_checks_pending() -> None:
    """Say that the verdicts lack the gene checks, with a button that runs them."""
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.caption(GENE_CHECKS_PENDING)
    if right.button("Run gene checks", key="run_gene_checks", icon=":material/biotech:"):
        state.ask("gene_checks", loaders.run_key())
        loaders.refresh()


def intervals_table(intervals: pd.DataFrame | None, *, order: Sequence[str] | None = None) -> None:
    """The tidy table of the bootstrap intervals, or how to get them when not computed yet.

    Parameters
    ----------
    intervals
        Tidy intervals (``sample``, ``cell_type``, ``estimate``, ``lower``, ``upper``), or None.
    order
        Sample names in the order the charts show them (the rows follow it), or None for the
        input order.
    """
    if intervals is None:
        st.caption(
            f"Turn on **Show {LEVEL:.0%} intervals** above to compute them "
            f"({BOOTSTRAP_RESAMPLES} bootstrap resamples; a few seconds for 1,000 samples). "
            "The downloads always hold them."
        )
        return
    if order is not None:
        intervals = in_sample_order(intervals, order)
    show_table(
        intervals,
        hide_index=True,
        column_config={
            "sample": st.column_config.TextColumn("sample"),
            "cell_type": st.column_config.TextColumn("cell type"),
            "estimate": st.column_config.NumberColumn("estimate", format="percent"),
            "lower": st.column_config.NumberColumn(
                f"lower ({(1 - LEVEL) / 2:.1%})", format="percent"
            ),
            "upper": st.column_config.NumberColumn(
                f"upper ({(1 + LEVEL) / 2:.1%})", format="percent"
            ),
        },
    )
    st.caption(
        f"lower and upper: the {LEVEL:.0%} bootstrap interval of each estimate "
        f"({BOOTSTRAP_RESAMPLES} resamples of the signature genes, seed {SEED})."
    )


def with_verdicts(proportions: pd.DataFrame, analysis: Analysis) -> pd.DataFrame:
    """The proportions table with the verdict first and its reasons last (input order)."""
    table = proportions.copy()
    verdicts = analysis.verdicts.reindex([str(s) for s in table.index])
    table.insert(0, "verdict", verdicts["verdict"].to_numpy())
    table["reasons"] = verdicts["reasons"].to_numpy()
    return table


def verdict_columns(columns: dict) -> dict:
    """Column settings of a table from :func:`with_verdicts` (``columns``: the numbers')."""
    return {
        "verdict": st.column_config.TextColumn("fit", help="good / check / poor; see QC"),
        **columns,
        "reasons": st.column_config.TextColumn("why", width="large"),
    }


def fit_card(analysis: Analysis) -> pd.DataFrame:
    """The QC page's fit report card: counts and callouts, worst first; returns the table.

    The table is :attr:`deconv_core.analysis.Analysis.fit_table`, worst first.
    """
    counts = verdict_counts(analysis.verdicts)
    m1, m2, m3 = st.columns(3)
    m1.metric("Good fit", counts["good"])
    m2.metric("Check", counts["check"])
    m3.metric("Poor fit", counts["poor"])
    st.caption(VERDICT_CAPTION)
    order = analysis.worst_first
    card = analysis.fit_table.loc[order]
    flagged = card.loc[analysis.to_check]
    for sample, row in flagged.head(MAX_SAMPLE_CALLOUTS).iterrows():
        box = st.error if row["verdict"] == "poor" else st.warning
        box(
            f"**{md(sample)}** ({row['verdict']}): {md(row['reasons'])}",
            icon=":material/troubleshoot:",
        )
    if len(flagged) > MAX_SAMPLE_CALLOUTS:
        st.caption(f"{len(flagged) - MAX_SAMPLE_CALLOUTS} more samples to check are in the table.")
    return card


# Codes of findings that get a callout (fragile estimates are listed in the table only).
_CALLOUT_CODES = ("driven_by_genes", "panel_excess")


def _first_gene(genes: object) -> str:
    text = "" if genes is None or (isinstance(genes, float) and np.isnan(genes)) else str(genes)
    return text.split(",")[0].strip()


def gene_to_explain(report: ConfoundingReport, flagged_genes: pd.DataFrame) -> str:
    """The gene the explainer starts with: the first named by a confounding finding, else
    the first gene the residual check flags, else "" (the page takes the first gene)."""
    findings = report.findings
    for code in _CALLOUT_CODES:
        rows = findings[findings["code"] == code]
        if len(rows):
            return _first_gene(rows.iloc[0]["genes"])
    if len(flagged_genes):
        return str(flagged_genes.iloc[0]["gene"])
    return ""


def confounding_section(report: ConfoundingReport, worst_first: Sequence[str]) -> None:
    """Callouts naming sample, cell type, genes and likely cause; then every finding.

    Findings are listed in the order of ``worst_first`` (the verdict's order).
    """
    findings = in_sample_order(report.findings, worst_first)
    st.caption(
        "An estimate can rise because cells express a marker gene more (activation, interferon "
        "response, tumour cells expressing immune genes), not because there are more cells. "
        "Each signature gene is predicted from the others; genes far above their prediction, "
        "and marker panels left out of the fit in turn, are checked for how much they lift an "
        "estimate."
    )
    if not len(findings):
        st.success(
            "No estimate is driven by genes the signature's cell types do not explain.",
            icon=":material/check_circle:",
        )
        return
    _confounding_callouts(findings[findings["code"].isin(_CALLOUT_CODES)])
    _findings_table(findings)


def _confounding_callouts(callouts: pd.DataFrame) -> None:
    """One warning per driven or panel finding, at most ``MAX_CALLOUTS``, or a success note."""
    for row in callouts.head(MAX_CALLOUTS).itertuples(index=False):
        st.warning(
            f"{_callout_head(row)}  \nLikely cause: {md(row.cause)}",
            icon=":material/local_fire_department:",
        )
    if len(callouts) > MAX_CALLOUTS:
        st.caption(f"{len(callouts) - MAX_CALLOUTS} more findings are in the table below.")
    if not len(callouts):
        st.success(
            "No estimate is driven by activation or other states; some estimates rest on few "
            "genes (table below).",
            icon=":material/check_circle:",
        )


def _callout_head(row: Any) -> str:
    """A callout's first line, from a findings row (``itertuples``): sample, cell type, genes."""
    if row.code == "driven_by_genes":
        return (
            f"**{md(row.sample)} · {md(row.cell_type)}**: {row.estimate:.1%} estimated, "
            f"{row.estimate_without:.1%} without {md(row.genes)} "
            f"({row.fold:.1f}x what the other genes predict)."
        )
    return (
        f"**{md(row.sample)} · {md(row.cell_type)}**: {md(row.genes)} together are "
        f"{row.fold:.1f}x what the other genes predict ({md(row.panels)})."
    )


def _findings_table(findings: pd.DataFrame) -> None:
    """Every confounding finding in a table, with a caption defining the codes."""
    show_table(
        findings,
        hide_index=True,
        column_config={
            "sample": st.column_config.TextColumn("sample"),
            "cell_type": st.column_config.TextColumn("cell type"),
            "code": st.column_config.TextColumn("finding"),
            "genes": st.column_config.TextColumn("genes"),
            "panels": st.column_config.TextColumn("marker panels"),
            "fold": st.column_config.NumberColumn("measured / predicted", format="%.1fx"),
            "estimate": st.column_config.NumberColumn("estimate", format="percent"),
            "estimate_without": st.column_config.NumberColumn(
                "without these genes", format="percent"
            ),
            "cause": st.column_config.TextColumn("likely cause", width="medium"),
            "message": st.column_config.TextColumn("in plain words", width="large"),
        },
    )
    st.caption(
        f"driven_by_genes: leaving the genes out lowers the estimate by {DRIVEN_SHARE:.0%} or "
        "more; panel_excess: a marker panel's genes together are far above what the other genes "
        f"predict; fragile_estimate: leaving out a single gene lowers the estimate by "
        f"{FRAGILE_SHARE:.0%} or more. measured / predicted: the genes' expression over what the "
        "rest of the fit predicts."
    )


def explanation_sentences(explanation: GeneExplanation, *, highlight: int = 3) -> None:
    """The explainer's sentence for every sample, the most notable ones first in the text."""
    summary = explanation.summary
    off = (summary["explained_share"] - 1.0).abs().dropna().sort_values(ascending=False)
    notable = [s for s in off.index[:highlight] if off[s] >= NOTABLE_MISS]
    if notable:
        st.markdown(
            "\n".join(f"- {md(summary.loc[s, 'sentence'])}" for s in notable),
        )
    show_table(
        summary[["sentence", "observed", "fitted", "explained_share", "weight"]],
        column_config={
            "sentence": st.column_config.TextColumn("in plain words", width="large"),
            "observed": st.column_config.NumberColumn("measured", format="%.3g"),
            "fitted": st.column_config.NumberColumn("predicted", format="%.3g"),
            "explained_share": st.column_config.NumberColumn("explained share", format="percent"),
            "weight": st.column_config.NumberColumn("weight in the fit", format="%.2f"),
        },
    )
    st.caption(
        "measured and predicted: the gene's expression in the fit's scale (normalised to one "
        "million per sample, TPM-like); explained share: predicted / measured; weight in the "
        "fit: 1 for a gene that counted fully, less when the robust fit discounted it. A large "
        "unexplained part points at cells or states the signature lacks; a prediction well "
        "above the measurement points at an overestimate."
    )


def downweighted_section(table: pd.DataFrame, loss: str, n_samples: int) -> None:
    """Genes the robust fit gave less weight, with how often and how much."""
    if loss == "squares":
        st.caption(
            "The fit is least squares (chosen on the Results page): every gene counts fully, "
            "nothing is down-weighted."
        )
        return
    st.caption(
        "The robust fit gives a gene less weight in a sample when its miss there is large "
        "compared with the sample's typical miss (Huber's rule), so it pulls less on that "
        "sample's proportions. Highly expressed genes miss by more in absolute terms and are "
        "often down-weighted a little; a weight near 0 in a few samples marks a local effect "
        "(e.g. activated cells), near 0 in most samples a gene the signature describes badly "
        "for your data. Switch the Results page to least squares to see what these genes would "
        "have done."
    )
    if table.empty:
        st.success(
            f"No gene got less than {DOWNWEIGHTED:.0%} of a normal gene's weight in any sample.",
            icon=":material/check_circle:",
        )
        return
    heading = f"{len(table)} gene(s) with less than {DOWNWEIGHTED:.0%} of the weight"
    st.markdown(f"**{heading} in some of the {n_samples} samples**")
    show_table(
        table,
        hide_index=True,
        column_config={
            "gene": st.column_config.TextColumn("gene"),
            "cell_type": st.column_config.TextColumn("marks"),
            "samples": st.column_config.NumberColumn("in (samples)"),
            "share": st.column_config.NumberColumn("share of samples", format="percent"),
            "median_weight": st.column_config.NumberColumn("median weight", format="%.2f"),
            "lowest_weight": st.column_config.NumberColumn("lowest weight", format="%.2f"),
            "examples": st.column_config.TextColumn("lowest in", width="large"),
        },
    )


def residual_flags(genes: pd.DataFrame, samples: pd.DataFrame) -> None:
    """Genes the signature misdescribes here, and poorly fitted samples, with reasons."""
    st.caption(
        "Each gene's miss is log2(observed / fitted) divided by the sample's typical miss "
        "(standardised residual). A gene is flagged when its median over the samples is beyond "
        f"±{GENE_Z:g}: the signature misdescribes it in these data. A sample is flagged when its "
        f"fit is poor (r below {POOR_R:g} or R² below {POOR_R2:g}, the verdict's limits), its "
        "misses are far larger than the cohort's, or random mixtures fit as well as it does "
        f"(p-value above {ALPHA:g}). Worst samples first."
    )
    if len(genes):
        st.markdown(f"**Flagged genes ({len(genes)})**")
        show_table(
            genes,
            hide_index=True,
            column_config={
                "gene": st.column_config.TextColumn("gene"),
                "cell_type": st.column_config.TextColumn("marks"),
                "direction": st.column_config.TextColumn("observed is"),
                "median_z": st.column_config.NumberColumn("median std. residual", format="%.1f"),
                "fold": st.column_config.NumberColumn("observed / fitted", format="%.2fx"),
                "samples_extreme": st.column_config.NumberColumn("extreme in (samples)"),
                "reason": st.column_config.TextColumn("in plain words", width="large"),
            },
        )
    else:
        st.success(
            "No signature gene is consistently mis-described in these data.",
            icon=":material/check_circle:",
        )
    if len(samples):
        st.markdown(f"**Flagged samples ({samples['sample'].nunique()})**")
        show_table(
            samples,
            hide_index=True,
            column_config={
                "sample": st.column_config.TextColumn("sample"),
                "code": st.column_config.TextColumn("finding"),
                "reason": st.column_config.TextColumn("in plain words", width="large"),
            },
        )
    else:
        st.success(
            "No sample is flagged: every fit is better than random and none stands out.",
            icon=":material/check_circle:",
        )


def fit_genes_scope(result: DeconvResult) -> str:
    """What the identifiability check on the data rests on, counted as the fit counts.

    The genes the fit uses are those found in the data less the exclusion list: "the 153
    signature genes found" beside "your data covers 170 of 170" read as a contradiction.
    """
    used = len(result.genes_used)
    found = int(result.coverage["found"].sum())
    left_out = found - used
    where = (
        f"the fit uses ({found} found in your data, {left_out} left out by the exclusion list)"
        if left_out > 0
        else "found in your data"
    )
    return f"On the {used} signature genes {where}, weighted as the fit weighs them"


def identifiability_section(
    found: Identifiability,
    warnings: Sequence[DeconvWarning] | None = None,
    *,
    scope: str,
    label: str = "Condition number",
    top: int = 5,
) -> None:
    """Condition number, the most similar cell types, and the identifiability warnings.

    Parameters
    ----------
    found
        :func:`deconv_core.qc.signature_identifiability` of the signature (or of
        the rows the fit used, with its weights).
    warnings
        Warnings of the run; those with :data:`ui.trust.IDENTIFIABILITY_CODES`
        are shown.  None: the warnings ``found`` itself gives
        (:func:`deconv_core.identifiability.identifiability_warnings`).
    scope
        What the numbers rest on ("on the 170 genes found, weighted as in the fit").
    label
        Label of the condition-number metric.
    top
        Most similar pairs listed.
    """
    left, right = st.columns([1, 3])
    value = found.condition_number
    left.metric(
        label,
        "infinite" if not np.isfinite(value) else f"{value:.1f}",
        help="How much relative error in the data can be amplified in the estimates: below "
        f"~10 excellent, tens typical of good immune signatures, above {MAX_CONDITION:g} some "
        "cell types are hard to tell apart.",
    )
    right.caption(
        f"{md(scope)} Pairs of cell types whose profiles are nearly parallel (cosine ≥ "
        f"{MAX_COSINE:g}) cannot be told apart reliably: read their sum rather than each one."
    )
    if warnings is None:
        sig = state.signature()
        warnings = identifiability_warnings(
            found,
            scope=f"all {found.n_genes} signature genes",
            names=sig.shown_names if sig is not None else None,
        )
    shown = [w.text("app") for w in warnings if w.code in IDENTIFIABILITY_CODES]
    for message in shown:
        st.warning(md(message), icon=":material/join_inner:")
    if not shown:
        st.success(
            "The data can tell these cell types apart: no pair is nearly parallel and the "
            "condition number is moderate.",
            icon=":material/check_circle:",
        )
    show_table(
        found.pairs.head(top),
        hide_index=True,
        column_config={
            "cell_type_a": st.column_config.TextColumn("cell type"),
            "cell_type_b": st.column_config.TextColumn("and cell type"),
            "correlation": st.column_config.NumberColumn("correlation", format="%.2f"),
            "cosine": st.column_config.NumberColumn("cosine", format="%.2f"),
            "collinear": st.column_config.CheckboxColumn("too alike"),
        },
    )


def groups_editor(signature: Signature) -> None:
    """Show the cell-type groups in use and let the user edit them (validated on every edit).

    A valid edit becomes the groups in use (:func:`ui.state.set_groups`) and
    the page reruns, so the editor starts again from what is used; an invalid
    one is shown as an error sentence and changes nothing.
    """
    cell_types = signature.cell_types
    in_use = state.groups()
    st.caption(
        "Groups sum cell types into coarser categories (e.g. CD4 + CD8 T cells + Tregs = "
        "T cells): the Results page shows either level, and measured fractions are matched to "
        "groups of the same name. Type a group's name next to each of its cell types; a cell "
        "type whose group is blank or its own name stays on its own."
    )
    edited = st.data_editor(
        groups_table(in_use, cell_types),
        key=state.groups_editor_key(),
        hide_index=True,
        disabled=["cell_type"],
        num_rows="fixed",
        column_config={
            "cell_type": st.column_config.TextColumn("cell type"),
            "group": st.column_config.TextColumn("group", help="Blank: no group."),
        },
    )
    try:
        checked = check_groups(edited, cell_types)
    except InputError as exc:
        st.error(md(exc), icon=":material/error:")
        st.caption("Nothing changed: the groups in use are still the ones before this edit.")
        return
    if state.set_groups(checked):
        loaders.refresh()
    if state.groups_edited():
        st.button(
            "Back to the signature's own groups",
            on_click=state.reset_groups,
            key="groups_reset",
            icon=":material/undo:",
        )
        st.caption("Your groups are used on the Results page and in the downloads' manifest.")

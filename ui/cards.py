"""Page sections for one sample (the tumour-board card) and for a restored session.

The card itself is built and rendered by :mod:`deconv_core.card`; this module
picks the sample, caches the card per run and sample, and draws its summary
and download buttons.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from deconv_core.analysis import Analysis
from deconv_core.card import SampleCard, build_card, card_file_name, card_html
from deconv_core.card_png import card_png
from deconv_core.verdict import verdict_counts
from ui import loaders, state
from ui.widgets import md
from ui.widgets import table as show_table

__all__ = ["CARD_WITHOUT_GENE_CHECKS", "card_section", "restored_note"]

#: Said under the card while the run's gene checks are pending.
CARD_WITHOUT_GENE_CHECKS = (
    "The gene checks have not run yet: this card's verdict rests on the fit statistics and "
    "p-values alone, and its genes section is empty. Run them (the verdict's button above) "
    "before taking the card to a meeting."
)

_BOX = {"good": st.success, "check": st.warning, "poor": st.error}


@st.cache_data(max_entries=16, show_spinner=False)
def _card(key: str, sample: str, _analysis: Analysis) -> tuple[SampleCard, bytes, bytes]:
    # ``key`` identifies the run as the card is made from it (ui.loaders.analysis_key);
    # the underscored analysis is not hashed.
    card = build_card(_analysis, sample)
    return card, card_html(card).encode("utf-8"), card_png(card)


def _composition(card: SampleCard) -> pd.DataFrame:
    table = card.composition.copy()
    table.insert(2, "percentile", table.pop("percentile"))
    return table[["estimate", "lower", "upper", "percentile"]]


def card_section(analysis: Analysis, *, key: str) -> None:
    """Pick one sample; show its verdict and composition; download its card (HTML, PNG).

    The sample list starts at the worst sample to check (input order otherwise).
    """
    samples = [str(s) for s in analysis.result.proportions.index]
    verdicts = analysis.verdicts["verdict"]
    first = analysis.to_check[0] if analysis.to_check else samples[0]
    sample = st.selectbox(
        "Sample",
        samples,
        index=samples.index(first),
        format_func=lambda s: f"{s} ({verdicts.get(s, '?')})",
        key=f"{key}_sample",
        help="One page for a tumour board or a report: composition with intervals, verdict and "
        "the warnings about this sample, its place in the cohort, the genes behind doubtful "
        "estimates and the signature used.",
    )
    with st.spinner(f"Preparing the card of {sample}…"):
        card, page, image = _card(loaders.analysis_key(analysis), sample, analysis)
    _BOX.get(card.verdict, st.info)(f"**{md(sample)}: {card.verdict}**. {md(card.reasons)}")
    level = f"{card.level:.0%}"
    show_table(
        _composition(card),
        column_config={
            "estimate": st.column_config.NumberColumn("estimate", format="percent"),
            "lower": st.column_config.NumberColumn(f"lower ({level})", format="percent"),
            "upper": st.column_config.NumberColumn(f"upper ({level})", format="percent"),
            "percentile": st.column_config.NumberColumn(
                "cohort percentile", format="%.0f", help="share of the other samples lower"
            ),
        },
    )
    if not card.drivers_checked:
        st.caption(CARD_WITHOUT_GENE_CHECKS)
    st.caption(
        f"{len(card.warnings)} warning(s) concern this sample or the whole run; "
        f"{len(card.drivers)} finding(s) of genes driving its estimates. The card holds them all."
    )
    left, right = st.columns(2)
    left.download_button(
        "Card (HTML, prints on A4)",
        data=page,
        file_name=card_file_name(sample),
        mime="text/html",
        key=f"{key}_html",
        on_click="ignore",
        icon=":material/description:",
        help="One self-contained page: open it in any browser and print it (A4); nothing is "
        "fetched from the internet.",
    )
    right.download_button(
        "Card (PNG)",
        data=image,
        file_name=card_file_name(sample, "png"),
        mime="image/png",
        key=f"{key}_png",
        on_click="ignore",
        icon=":material/image:",
        help="The same card as an image, A4 wide at 150 dpi, for slides.",
    )


def restored_note(analysis: Analysis) -> None:
    """After a session was restored: do the verdicts match those the bundle recorded?"""
    restored = state.restored()
    if restored is None:
        return
    name, recorded = restored
    counts = verdict_counts(analysis.verdicts)
    words = ", ".join(f"{n} {v}" for v, n in counts.items())
    if counts == recorded:
        st.success(
            f"Restored from {md(name)}: the same verdicts as the bundle recorded ({words}).",
            icon=":material/history:",
        )
    else:
        was = ", ".join(f"{n} {v}" for v, n in recorded.items())
        st.error(
            f"Restored from {md(name)}, but the verdicts differ from the bundle's ({words} "
            f"now, {was} then): this version computes differently.",
            icon=":material/error:",
        )

"""How far the current run can be trusted: cached intervals, p-values and confounding checks.

The computations live in :mod:`deconv_core.qc` and :mod:`deconv_core.confounding`;
this module runs them with the dashboard's fixed settings behind
``st.cache_data``.  Like the deconvolution itself, the caches are keyed by
the content of the inputs (:func:`ui.state.result_key`: the expression's
SHA-256 and scale, the signature, mode, exclusion list and fit; the p-values
by :func:`ui.state.fit_key`, the same without the mode) instead of hashing
the result on every rerun; the underscored arguments are not hashed.  Each
runs when a view first asks for it (:func:`ui.loaders.current_analysis`):
the intervals draw a progress bar through their resamples.

Settings (the command line's ``--bootstrap 200 --permutations 500 --seed 0``)
    :data:`BOOTSTRAP_RESAMPLES` resamples of the signature genes give 95%
    percentile intervals; :data:`PERMUTATIONS` random mixtures give each
    sample's p-value (smallest possible value 1 / 501, about 0.002).  The
    seed is fixed, so the same inputs always show the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import streamlit as st

from deconv_core.confounding import (
    ConfoundingReport,
    GeneExplanation,
    explain_gene,
    flag_confounders,
)
from deconv_core.deconvolve import DeconvResult
from deconv_core.identifiability import Identifiability, signature_identifiability
from deconv_core.methods import MethodsComparison, run_methods
from deconv_core.options import RunOptions
from deconv_core.qc import bootstrap_intervals, flag_genes, flag_samples, permutation_test
from deconv_core.signatures import Signature
from ui import state

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "IDENTIFIABILITY_CODES",
    "LEVEL",
    "PERMUTATIONS",
    "SEED",
    "confounding",
    "explanation",
    "flagged_genes",
    "flagged_samples",
    "identifiability",
    "intervals",
    "methods",
    "options",
    "p_values",
]

#: Bootstrap resamples of the signature genes (as ``--bootstrap 200``).
BOOTSTRAP_RESAMPLES = 200
#: Confidence level of the intervals.
LEVEL = 0.95
#: Random mixtures of the permutation test.
PERMUTATIONS = 500
#: Seed of both; the same inputs give the same numbers.
SEED = 0
#: Warning codes about cell types the data cannot tell apart.
IDENTIFIABILITY_CODES = ("collinear_cell_types", "ill_conditioned")


@st.cache_data(max_entries=8, show_spinner=False)
def _intervals(
    key: str, n_resamples: int, level: float, seed: int, _result: DeconvResult, _sig: Signature
) -> pd.DataFrame:
    # The bar is made inside the cached function: Streamlit replays the
    # elements a cached function drew, and a bar made outside it could not be.
    text = f"Computing {level:.0%} intervals: {n_resamples} bootstrap resamples"
    bar = st.progress(0.0, text=text)
    shown = [0]

    def advance(done: int, total: int) -> None:
        percent = 100 * done // total
        if percent >= shown[0] + 5:  # about 20 updates, not one message per refit
            shown[0] = percent
            bar.progress(percent / 100, text=f"{text} ({percent}%)")

    table = bootstrap_intervals(
        _result, _sig, n_resamples=n_resamples, level=level, seed=seed, progress=advance
    )
    bar.empty()
    return table


@st.cache_data(max_entries=8, show_spinner=False)
def _p_values(key: str, n_permutations: int, seed: int, _result: DeconvResult) -> pd.Series:
    return permutation_test(_result, n_permutations=n_permutations, seed=seed).p_values


@st.cache_data(max_entries=8, show_spinner=False)
def _confounding(key: str, _result: DeconvResult, _sig: Signature) -> ConfoundingReport:
    return flag_confounders(_result, _sig)


@st.cache_data(max_entries=4, show_spinner=False)
def _methods(
    key: str, _table: pd.DataFrame, _result: DeconvResult, _sig: Signature
) -> MethodsComparison:
    return run_methods(_table, _result, _sig, ("all",))


def methods(table: pd.DataFrame, result: DeconvResult, signature: Signature) -> MethodsComparison:
    """Every method beside the robust fit and their agreement (cached per run).

    ``table`` is the run's expression (genes × samples, linear, all genes).
    """
    with st.spinner(f"Running the other methods on {table.shape[1]:,} samples…"):
        return _methods(state.result_key(), table, result, signature)


def intervals(result: DeconvResult, signature: Signature) -> pd.DataFrame:
    """95% bootstrap intervals of every proportion of the current run.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per sample and cell type: ``sample``, ``cell_type``,
        ``estimate``, ``lower``, ``upper`` (fractions;
        :func:`deconv_core.qc.bootstrap_intervals`).
    """
    return _intervals(state.result_key(), BOOTSTRAP_RESAMPLES, LEVEL, SEED, result, signature)


def p_values(result: DeconvResult) -> pd.Series:
    """Permutation p-value of each sample's fit (index ``sample``, name ``p_value``).

    Keyed by :func:`ui.state.fit_key`: the test scores fitted against observed
    expression, which the mode does not change, so a switch of mode reuses it.
    """
    return _p_values(state.fit_key(), PERMUTATIONS, SEED, result)


def confounding(result: DeconvResult, signature: Signature) -> ConfoundingReport:
    """Estimates driven by genes the signature's cells do not explain (cached)."""
    with st.spinner("Checking which genes drive the estimates…"):
        return _confounding(state.result_key(), result, signature)


def flagged_genes(result: DeconvResult) -> pd.DataFrame:
    """Genes the signature misdescribes in these data (:func:`deconv_core.qc.flag_genes`)."""
    return flag_genes(result)


def flagged_samples(result: DeconvResult) -> pd.DataFrame:
    """Poorly fitted samples, each with a reason (:func:`deconv_core.qc.flag_samples`)."""
    return flag_samples(result, p_values=p_values(result))


def identifiability(result: DeconvResult) -> Identifiability:
    """Condition number and cell-type similarity on the genes and weights the fit used."""
    return signature_identifiability(result.signature_matrix, weights=result.gene_weights)


def explanation(
    result: DeconvResult, gene: str, names: Mapping[str, str] | None = None
) -> GeneExplanation:
    """:func:`deconv_core.confounding.explain_gene` for one gene (cheap; not cached)."""
    return explain_gene(result, gene, names=names)


def options(scale: str) -> RunOptions:
    """The run's options: the page's choices and the settings above.

    Parameters
    ----------
    scale
        The scale option the expression was read with.
    """
    return RunOptions(
        mode=state.mode(),
        exclude=state.exclude(),
        scale=scale,
        loss=state.loss(),
        bootstrap=BOOTSTRAP_RESAMPLES,
        level=LEVEL,
        permutations=PERMUTATIONS,
        seed=SEED,
    )

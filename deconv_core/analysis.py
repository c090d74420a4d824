"""One run from options to verdict: the object the command line and the dashboard both render.

:func:`run_analysis` checks the options once (:func:`deconv_core.options.check_options`),
fits, runs the trust checks the options ask for and assesses the result; the
dashboard, which computes the expensive checks lazily and caches them, builds
the same object with :func:`fit_signature` and :func:`assess` from the same
functions.  Neither surface re-derives a judgement, a table or a manifest:
:mod:`deconv_core.report` writes an :class:`Analysis`, and both show its
:attr:`Analysis.verdicts` and :attr:`Analysis.warnings`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from deconv_core.confounding import ConfoundingReport, flag_confounders
from deconv_core.deconvolve import DeconvResult, deconvolve, meaning_for
from deconv_core.expression import ExpressionData
from deconv_core.io.limits import release_freed_memory
from deconv_core.methods import (
    MethodEstimates,
    MethodsComparison,
    compare_estimates,
    estimate_methods,
)
from deconv_core.options import EXCLUDE_NONE, RunOptions, check_options
from deconv_core.qc import (
    bootstrap_intervals,
    permutation_test,
    qc_warnings,
    standardised_residuals,
)
from deconv_core.signatures import Signature
from deconv_core.species import ORTHOLOGS_SOURCE, match_mouse_ids
from deconv_core.validation import DeconvWarning
from deconv_core.verdict import sample_verdicts, worst_first

__all__ = [
    "Analysis",
    "all_warnings",
    "assess",
    "confound_and_assess",
    "fit_signature",
    "fit_table",
    "run_analysis",
]


@dataclass(frozen=True)
class Analysis:
    """A run: its options, inputs, result and trust assessment.

    Attributes
    ----------
    options
        The checked options (the manifest's ``parameters``).
    expression, signature
        The loaded inputs; their identities (file name, SHA-256; for a
        built-in signature the hash of its shipped files) go to the manifest.
    result
        The deconvolution.
    warnings
        Every warning of the run without repeats: input, signature, result,
        quality checks, confounding.
    verdicts
        Index ``sample`` (input order): ``verdict`` (good / check / poor) and
        ``reasons`` (:func:`deconv_core.verdict.sample_verdicts`).
    p_values, intervals, confounding
        The permutation p-values, bootstrap intervals and confounding report
        when they were computed, else None.
    groups
        Cell-type groups in use (group → members); the signature's own unless
        the dashboard's user edited them.
    side_inputs
        Further inputs for the manifest (e.g. ``{"sample_metadata": {"file":
        ..., "sha256": ...}}``).
    methods
        Other methods run beside the robust fit and how far they agree
        (:mod:`deconv_core.methods`), or None when none were asked for.
    """

    options: RunOptions
    expression: ExpressionData
    signature: Signature
    result: DeconvResult
    warnings: tuple[DeconvWarning, ...]
    verdicts: pd.DataFrame
    p_values: pd.Series | None = None
    intervals: pd.DataFrame | None = None
    confounding: ConfoundingReport | None = None
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    side_inputs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    methods: MethodsComparison | None = None

    @property
    def fit_table(self) -> pd.DataFrame:
        """Samples × (``pearson_r``, ``spearman_r``, ``rmse``, ``r2``, ``p_value``,
        ``verdict``, ``reasons``), input order: the ``fit.csv`` of every export."""
        fit = self.result.fit.copy()
        p = self.p_values
        fit["p_value"] = np.nan if p is None else p.reindex(fit.index).to_numpy(dtype=float)
        return fit.join(self.verdicts)

    @property
    def worst_first(self) -> list[str]:
        """Sample names, poor first, then check, then good (lowest R² first within each)."""
        return worst_first(self.verdicts, self.result.fit)

    @property
    def to_check(self) -> list[str]:
        """The samples whose verdict is not good, worst first."""
        verdict = self.verdicts["verdict"]
        return [s for s in self.worst_first if verdict[s] != "good"]


def fit_signature(
    expression: ExpressionData, signature: Signature, options: RunOptions
) -> DeconvResult:
    """Check the options against the signature and deconvolve.

    Raises
    ------
    InputError
        An option value that is not allowed (listing the valid ones), absolute
        mode with a signature it is meaningless for, or inputs the fit refuses.
    """
    return fit_table(expression.table_for(signature), signature, options)


def fit_table(table: pd.DataFrame, signature: Signature, options: RunOptions) -> DeconvResult:
    """:func:`fit_signature` on a bare table: genes × samples, linear, harmonised symbols.

    The Dask engine (:mod:`deconv_core.cohort_run`) fits its chunks of samples
    with it, so both engines fit with the same call.
    """
    check_options(options, signature.excluded_genes)
    return deconvolve(
        table,
        signature,
        mode=options.mode,
        exclude=None if options.exclude == EXCLUDE_NONE else options.exclude,
        mrna_scaling=options.mrna_scaling,
        weighting=options.weighting,
        loss=options.loss,
        assume_linear=True,  # load_expression or linearise brought it to linear scale
    )


def _species_warnings(
    expression: ExpressionData, signature: Signature
) -> tuple[list[DeconvWarning], set[str]]:
    """What the species of both sides mean: (notes to add, warning codes to drop).

    A mouse signature on mouse data is fitted to the mouse ids unmapped, so the
    note that the data were renamed to human orthologs does not apply.
    """
    if expression.species == "mouse" and signature.species == "mouse":
        note = DeconvWarning(
            "info",
            "mouse_signature",
            "Mouse signature on mouse data: genes were matched by their mouse ids, "
            f"without mapping to human orthologs{_mouse_ids_note(expression, signature)}.",
        )
        return [note], {"mouse_orthologs"}
    if expression.species == "human" and signature.species == "mouse":
        mixed = DeconvWarning(
            "warning",
            "mouse_signature_human_data",
            "Mouse signature on human data: genes were matched by name regardless of case "
            "(Cd8a = CD8A), but mouse profiles describe mouse cells; read the estimates as "
            "approximate.",
            cli="Give a human signature for human data (e.g. --signature TIL10).",
            app="Choose a human signature for human data (e.g. TIL10) on the Signature page.",
        )
        return [mixed], set()
    return [], set()


def _mouse_ids_note(expression: ExpressionData, signature: Signature) -> str:
    """How the data's mouse ids were renamed to the signature's kind, as a clause."""
    if expression.native_table is None:
        return ""
    match = match_mouse_ids(expression.native_table, signature.matrix.index)
    if not match.converted and not match.unconverted:
        return ""
    kind = "MGI symbols" if match.target == "symbol" else "Ensembl ids"
    left = (
        f"; {len(match.unconverted):,} the table lacks kept their ids "
        f"(e.g. {', '.join(match.unconverted[:3])})"
        if match.unconverted
        else ""
    )
    return (
        f"; {match.converted:,} data ids were renamed to the signature's {kind} "
        f"as the shipped table pairs them ({ORTHOLOGS_SOURCE}){left}"
    )


def _data_warnings(expression: ExpressionData, options: RunOptions) -> list[DeconvWarning]:
    """What the options mean for these data (absolute mode on counts)."""
    if options.mode == "absolute" and expression.scale == "counts":
        return [
            DeconvWarning(
                "warning",
                "absolute_counts",
                "The data are read counts, scaled to counts per million without correcting "
                "for gene length; absolute fractions assume TPM, so long genes weigh more and "
                "'other' is biased.",
                cli="Give TPM values for absolute mode, or use --mode relative.",
                app="Upload TPM values for absolute mode, or choose Relative under Mode.",
            )
        ]
    return []


def all_warnings(*groups: Sequence[DeconvWarning]) -> tuple[DeconvWarning, ...]:
    """The warnings of every group in order, each once."""
    seen: set[DeconvWarning] = set()
    out = []
    for group in groups:
        for w in group:
            if w not in seen:
                seen.add(w)
                out.append(w)
    return tuple(out)


def assess(
    expression: ExpressionData,
    signature: Signature,
    options: RunOptions,
    result: DeconvResult,
    *,
    p_values: pd.Series | None = None,
    intervals: pd.DataFrame | None = None,
    confounding: ConfoundingReport | None = None,
    groups: Mapping[str, Sequence[str]] | None = None,
    side_inputs: Mapping[str, Mapping[str, str]] | None = None,
    methods: MethodsComparison | None = None,
) -> Analysis:
    """Gather a run's warnings and give every sample its verdict.

    Parameters
    ----------
    expression, signature, options, result
        The run (``result`` from :func:`fit_signature` with these options).
    p_values, intervals, confounding
        Trust checks already computed (None: not computed).
    groups
        Cell-type groups in use (default: the signature's own).
    side_inputs
        Further inputs for the manifest.
    methods
        Other methods beside the robust fit (:func:`deconv_core.methods.run_methods`);
        their disagreement flags join the warnings and the verdicts.

    Returns
    -------
    Analysis
    """
    species_notes, dropped = _species_warnings(expression, signature)
    warnings = all_warnings(
        [w for w in expression.warnings if w.code not in dropped],
        species_notes,
        signature.warnings,
        result.warnings,
        _data_warnings(expression, options),
        qc_warnings(result, signature=signature, p_values=p_values),
        confounding.warnings if confounding is not None else (),
        methods.warnings if methods is not None else (),
    )
    verdicts = sample_verdicts(
        result.fit, warnings, p_values=p_values, z=standardised_residuals(result)
    )
    meaning = meaning_for(result.mode, {w.code for w in warnings}, result.proportions)
    if meaning != result.meaning:  # e.g. absolute fractions from counts: biased
        result = replace(result, meaning=meaning)
    chosen = signature.groups if groups is None else groups
    return Analysis(
        options=options,
        expression=expression,
        signature=signature,
        result=result,
        warnings=warnings,
        verdicts=verdicts,
        p_values=p_values,
        intervals=intervals,
        confounding=confounding,
        groups={str(g): tuple(str(m) for m in members) for g, members in chosen.items()},
        side_inputs=dict(side_inputs or {}),
        methods=methods,
    )


def run_analysis(
    expression: ExpressionData,
    signature: Signature,
    options: RunOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> Analysis:
    """Fit, run every check the options ask for, and assess: a whole run.

    Bootstrap intervals run when ``options.bootstrap`` is above 0, the
    permutation test when ``options.permutations`` is; the residual,
    identifiability and confounding checks always run; the methods of
    ``options.methods`` run beside the robust fit when there are any.

    Parameters
    ----------
    expression, signature, options
        The run.
    progress
        Called with a short sentence before each step (e.g. to print it).

    Returns
    -------
    Analysis
    """
    step = progress or (lambda message: None)
    step("deconvolving")
    result = fit_signature(expression, signature, options)
    # The robust fit's work arrays are freed; give their memory back before the checks
    # allocate theirs (1,296 genes x 1,000 samples: 50 MB lower peak).
    release_freed_memory()
    intervals = p_values = None
    if options.bootstrap:
        step(f"bootstrap: {options.bootstrap} resamples")
        intervals = bootstrap_intervals(
            result, signature, n_resamples=options.bootstrap, level=options.level, seed=options.seed
        )
    if options.permutations:
        step(f"permutation test: {options.permutations} random mixtures")
        p_values = permutation_test(
            result, n_permutations=options.permutations, seed=options.seed
        ).p_values
    return confound_and_assess(
        expression, signature, options, result, p_values=p_values, intervals=intervals, step=step
    )


def confound_and_assess(
    expression: ExpressionData,
    signature: Signature,
    options: RunOptions,
    result: DeconvResult,
    *,
    p_values: pd.Series | None,
    intervals: pd.DataFrame | None,
    step: Callable[[str], None],
    estimates: MethodEstimates | None = None,
) -> Analysis:
    """The last steps of a run, in either engine: the confounding check, the methods of
    ``options.methods`` compared (their ``estimates`` when the engine made them already,
    else made here from ``expression``), then :func:`assess`."""
    step("residual, identifiability and confounding checks")
    confounding = flag_confounders(result, signature)
    methods = None
    if options.methods:
        step(f"methods side by side: {', '.join(options.methods)}")
        if estimates is None:
            table = expression.table_for(signature)
            estimates = estimate_methods(table, result, signature, options.methods)
        methods = compare_estimates(estimates, names=signature.shown_names)
    return assess(
        expression,
        signature,
        options,
        result,
        p_values=p_values,
        intervals=intervals,
        confounding=confounding,
        methods=methods,
    )

"""The options of a run, their allowed values, and the one place they are checked.

Every option with a closed set of values is listed in :data:`CHOICES`; the
command line builds its flags from it and the dashboard its controls, and
:func:`check_choice` / :func:`check_options` are the only validators.  An
unknown value is an error that lists the valid ones, never a silent no-op.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from deconv_core.validation import InputError

__all__ = [
    "BUILD_DEFAULTS",
    "CHOICES",
    "EXCLUDE_NONE",
    "LOSSES",
    "METHODS",
    "MODES",
    "SCALES",
    "SCALE_NAMES",
    "WEIGHTINGS",
    "RunOptions",
    "GENE_ORDERS",
    "IMAGE_FORMATS",
    "MAX_BOOTSTRAP",
    "MAX_MIXTURES",
    "MAX_PERMUTATIONS",
    "SAMPLE_ORDERS",
    "SINGLE_CELL_SCALES",
    "SINGLE_CELL_SCALE_ALIASES",
    "SPECIES",
    "SPECIES_NAMES",
    "check_choice",
    "check_count",
    "check_exclude",
    "exclusion_lists",
    "check_fraction",
    "check_options",
]

#: Deconvolution modes (see :data:`deconv_core.deconvolve.MEANINGS`).
MODES = ("relative", "absolute")
#: Loss functions of the fit: Huber's robust loss (default) or plain squares.
LOSSES = ("huber", "squares")
#: Gene weightings of the fit: ``"auto"`` chooses per signature (see
#: :func:`deconv_core.deconvolve.choose_weighting`).
WEIGHTINGS = ("auto", "sqrt", "relative", "none")
#: Declared scales of an expression input (``"auto"``: detect).
SCALES = ("auto", "linear", "log2", "log2p1", "log10", "log10p1", "ln", "lnp1", "counts")
#: How each scale of :data:`SCALES` and :data:`SINGLE_CELL_SCALES` is named to a user: in
#: messages and in the dashboard's choices (the command line's word is the key).
SCALE_NAMES = {
    "auto": "detect (recommended)",
    "linear": "linear (TPM, FPKM, intensities)",
    "log2": "log2(x)",
    "log2p1": "log2(x + 1)",
    "log10": "log10(x)",
    "log10p1": "log10(x + 1)",
    "ln": "ln(x), natural log",
    "lnp1": "ln(x + 1)",
    "counts": "raw read counts",
}
#: Declared species of an expression input (``"auto"``: detect; mouse is mapped to human
#: orthologs for human signatures, see :mod:`deconv_core.species`).
SPECIES = ("auto", "human", "mouse")
#: How each of :data:`SPECIES` is named to a user.
SPECIES_NAMES = {"auto": "detect (recommended)", "human": "human", "mouse": "mouse"}
#: Declared scales of single-cell counts (``"auto"``: detect); the logs are named as in
#: :data:`SCALES` (``lnp1``: ln(x + 1), scanpy's ``log1p``).
SINGLE_CELL_SCALES = ("auto", "counts", "lnp1", "log2p1", "linear")
#: Former names of single-cell scales, still accepted: ``build-signature --scale`` listed
#: ``log1p`` until 2026-12.
SINGLE_CELL_SCALE_ALIASES = {"log1p": "lnp1"}
#: Methods of ``run --method`` (:mod:`deconv_core.methods`): the robust fit always runs;
#: the others run beside it for comparison (``"all"``: every one).
METHODS = ("robust", "nu-svr", "epic", "mcp-counter", "all")
#: Image formats of the charts' camera button.
IMAGE_FORMATS = ("png", "svg")
#: Orders of the residual heatmap's genes and samples (a list of samples is also allowed).
GENE_ORDERS = ("cell type", "cluster")
SAMPLE_ORDERS = ("input", "cluster", "worst fit first")
#: The exclusion value that keeps every signature gene.
EXCLUDE_NONE = "none"

#: Option → allowed values, for every option with a closed set.
CHOICES: dict[str, tuple[str, ...]] = {
    "mode": MODES,
    "method": METHODS,
    "loss": LOSSES,
    "weighting": WEIGHTINGS,
    "scale": SCALES,
    "species": SPECIES,
    "single-cell scale": SINGLE_CELL_SCALES,
    "image format": IMAGE_FORMATS,
    "gene order": GENE_ORDERS,
    "sample order": SAMPLE_ORDERS,
}


def check_choice(option: str, value: object) -> str:
    """Return ``value`` when it is allowed for ``option``; else raise :class:`InputError`.

    Parameters
    ----------
    option
        A key of :data:`CHOICES`.
    value
        The value given.

    Raises
    ------
    InputError
        Naming the value and listing the valid ones.
    """
    allowed = CHOICES[option]
    if value not in allowed:
        raise InputError(f"Unknown {option} {value!r}; use one of {', '.join(allowed)}.")
    return str(value)


def check_exclude(value: object, lists: dict[str, tuple[str, ...]] | None) -> str:
    """Check an exclusion-list name, or several joined by commas, against a signature's lists.

    ``"none"`` keeps every gene; ``"default"`` is the signature's default list
    when it has one and nothing otherwise (the default of every run); any other
    name must be one of the signature's lists.  Names joined by commas
    (``"default,tumor"``) leave out the genes of every list named (``"none"``
    stands alone).

    Parameters
    ----------
    value
        The name given (e.g. ``"tumor"`` or ``"default,tumor"``).
    lists
        The signature's excluded-gene lists by name
        (:attr:`deconv_core.signatures.Signature.excluded_genes`), or None
        when the signature is not known yet (only ``"none"`` and
        ``"default"`` pass).

    Returns
    -------
    str
        The names, spaces removed and each once, joined by commas.

    Raises
    ------
    InputError
        Naming the value and listing the valid ones for this signature.
    """
    valid = [EXCLUDE_NONE, "default", *sorted(k for k in (lists or {}) if k != "default")]
    names = exclusion_lists(value) if isinstance(value, str) else (value,)
    alone = len(names) > 1 and EXCLUDE_NONE in names
    if not names or alone or any(n not in valid for n in names):
        combined = ",".join(valid[1:3]) if len(valid) > 2 else None
        raise InputError(
            f"Unknown exclusion list {value!r}; this signature has: {', '.join(valid)}"
            + (f" (join lists with commas, e.g. {combined})." if combined else "."),
            cli=f"Use --exclude {' or '.join(valid + ([combined] if combined else []))}.",
            app="Choose a list under 'Leave out the signature's noisy genes' on the Results page.",
        )
    return ",".join(names)


def exclusion_lists(value: str) -> tuple[str, ...]:
    """The list names of an ``exclude`` value (``"default,tumor"`` -> both), each once, in order."""
    names = [part.strip() for part in value.split(",")]
    return tuple(dict.fromkeys(n for n in names if n))


#: Most bootstrap resamples: percentile intervals are stable from 1,000-2,000
#: resamples (Efron & Tibshirani 1993, ch. 13); more only cost time and memory.
MAX_BOOTSTRAP = 10_000
#: Most random mixtures of the permutation test: p-values down to 1e-6, past any
#: multiple-testing threshold of a cohort; about a minute with TIL10 here (61 s, measured).
MAX_PERMUTATIONS = 1_000_000
#: Most validation mixtures of a signature built from single-cell data: the held-out r and
#: RMSE settle within a few hundred, and each is a pseudo-bulk of every gene (1,000 × 20,000
#: genes: 160 MB).
MAX_MIXTURES = 1_000

#: The defaults of :func:`deconv_core.singlecell.build_signature`'s parameters, read by
#: ``build-signature`` and the dashboard's build form (defined once here).
BUILD_DEFAULTS: dict[str, int | float] = {
    "min_cells": 10,
    "min_log2_fold_change": 1.0,
    "min_detection": 0.25,
    "min_markers": 3,
    "max_markers": 10,
    "test_fraction": 0.3,
    "n_mixtures": 50,
    "cells_per_mixture": 500,
    "seed": 0,
}


def check_count(value: object, what: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """Return ``value`` as an int when it is a whole number in ``minimum``..``maximum``; else raise.

    ``what`` names the option in the message ("bootstrap resamples").
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{what} must be a whole number >= {minimum}; got {value!r}.")
    if maximum is not None and value > maximum:
        raise InputError(
            f"{what} must be at most {maximum:,}; got {value:,}. Give {maximum:,} or fewer."
        )
    return int(value)


def check_fraction(value: object, what: str, *, closed: bool = False) -> float:
    """Return ``value`` when it lies between 0 and 1 (inclusive when ``closed``); else raise."""
    number = float(value)  # type: ignore[arg-type]
    inside = 0.0 <= number <= 1.0 if closed else 0.0 < number < 1.0
    if not inside:
        bounds = "from 0 to 1" if closed else "strictly between 0 and 1"
        raise InputError(f"{what} must be {bounds}; got {value!r}.")
    return number


@dataclass(frozen=True)
class RunOptions:
    """Everything a user chooses about a run (the manifest's ``parameters``).

    Attributes
    ----------
    mode
        ``"relative"`` or ``"absolute"`` (:data:`MODES`).
    exclude
        Excluded-gene list of the signature, ``"default"`` or ``"none"``.
    scale
        Declared scale of the expression input, ``"auto"`` to detect.
    loss
        ``"huber"`` (robust) or ``"squares"`` (:data:`LOSSES`).
    weighting
        ``"auto"``, ``"sqrt"``, ``"relative"`` or ``"none"`` (:data:`WEIGHTINGS`).
    mrna_scaling
        Turn mRNA shares into cell shares with the signature's factors.
    bootstrap
        Bootstrap resamples for confidence intervals (0: none).
    level
        Confidence level of the intervals, between 0 and 1.
    permutations
        Random mixtures for each sample's permutation p-value (0: none).
    seed
        Seed of the bootstrap and the permutations.
    methods
        Methods run beside the robust fit for comparison (:data:`METHODS`;
        empty: none).
    """

    mode: str = "relative"
    exclude: str = "default"
    scale: str = "auto"
    loss: str = "huber"
    weighting: str = "auto"
    mrna_scaling: bool = True
    bootstrap: int = 0
    level: float = 0.95
    permutations: int = 0
    seed: int = 0
    methods: tuple[str, ...] = ()

    def as_parameters(self) -> dict[str, Any]:
        """The options as the manifest's ``parameters`` (JSON-ready, fixed order)."""
        out = asdict(self)
        if not self.bootstrap:
            out["level"] = None
        # Runs without other methods keep the manifest they always had.
        out["methods"] = list(self.methods)
        if not self.methods:
            del out["methods"]
        return out


def check_options(
    options: RunOptions, exclusion_lists: dict[str, tuple[str, ...]] | None = None
) -> RunOptions:
    """Check every option of a run once; return them unchanged.

    Parameters
    ----------
    options
        The options.
    exclusion_lists
        The signature's excluded-gene lists, to check ``exclude`` against.

    Raises
    ------
    InputError
        The first option with a value that is not allowed, listing the valid ones.
    """
    for option in ("mode", "loss", "weighting", "scale"):
        check_choice(option, getattr(options, option))
    check_exclude(options.exclude, exclusion_lists)
    if isinstance(options.methods, str):
        raise InputError(f"methods must be a list of method names; got {options.methods!r}.")
    for method in options.methods:
        check_choice("method", method)
    if not isinstance(options.mrna_scaling, bool):
        raise InputError(f"mrna_scaling must be True or False; got {options.mrna_scaling!r}.")
    check_count(options.bootstrap, "The bootstrap option", maximum=MAX_BOOTSTRAP)
    check_count(options.permutations, "The permutations option", maximum=MAX_PERMUTATIONS)
    check_count(options.seed, "The seed option")
    check_fraction(options.level, "The confidence level (e.g. 0.95)")
    return options

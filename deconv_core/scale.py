"""Detect and undo the scale of an expression table.

Deconvolution is linear: a mixture's expression is the weighted sum of its
cells' expression only on a linear scale.  This module recognises
log-transformed input and raw read counts and brings both to a linear,
library-size normalised scale, reporting every change it makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from deconv_core.options import SCALE_NAMES, SCALES, check_choice
from deconv_core.thresholds import (
    CENTRED_GENE_MEAN,
    CENTRED_NEGATIVE_SHARE,
    LINEAR_TOTAL,
    LINEAR_TOTAL_TOLERANCE,
    LOG_FLOOR_MIN_VALUES,
    LOG_FLOOR_SHARE,
)
from deconv_core.validation import DeconvWarning, InputError

__all__ = [
    "LOG_SCALES",
    "SCALES",
    "SCALE_SAMPLE_VALUES",
    "LogDecision",
    "LogSummary",
    "ScaleResult",
    "check_linear",
    "decide_logs",
    "detect_scale",
    "join_log_summaries",
    "linearise",
    "log_floor_of",
    "log_scale_warning",
    "samples_with_data",
    "scale_from_summary",
    "summarise_logs",
]


# No expression measurement (TPM, counts of a deep library, array intensity)
# comes near this; larger numbers are a mis-export and would overflow sums.
_MAX_VALUE = 1e12

# quanTIseq treats input whose maximum is below 50 as log2 (Finotello 2019);
# linear TPM or array intensities of a whole transcriptome always exceed it.
_LOG_MAX = 50.0


@dataclass(frozen=True)
class ScaleResult:
    """A table brought to linear scale, and what was done to it.

    Attributes
    ----------
    table
        Genes × samples, linear scale, float64.  Samples that were all zero or
        all missing have been removed (each named in a warning).
    detected
        The scale the input was found (or declared) to be on, one of
        :data:`SCALES` other than ``"auto"``.
    transformation
        Plain-language description of the transformation applied, e.g.
        ``"2**x"``, ``"counts per million"`` or ``"none"``.
    warnings
        What was found and done, as data.
    """

    table: pd.DataFrame
    detected: str
    transformation: str
    warnings: tuple[DeconvWarning, ...]


def detect_scale(table: pd.DataFrame | np.ndarray) -> str:
    """Guess the scale of an expression table.

    Parameters
    ----------
    table
        Genes × samples, numeric; NaN allowed.

    Returns
    -------
    str
        ``"log2"`` for log-like values (maximum below 50 with non-integer
        values, or any negative value in that range), ``"log2p1"`` when such
        values also contain many exact zeros (``log2(x + 1)`` of RNA-seq),
        ``"counts"`` for whole numbers above that range, else ``"linear"``.
        Maximum and minimum use every value; the whole-number and zero-share
        checks use an evenly spaced sample of at most 200,000 values.
    """
    values = np.asarray(
        table.to_numpy(dtype=float, na_value=np.nan) if isinstance(table, pd.DataFrame) else table,
        dtype=float,
    )
    return _scale_of(values, *_extremes(values))


def _scale_of(values: np.ndarray, vmax: float, vmin: float) -> str:
    """:func:`detect_scale` with the values' extremes already found."""
    if np.isnan(vmax):  # no value at all
        return "linear"
    flat = values.ravel(order="K")  # a view for C- or Fortran-ordered data
    step = max(1, flat.size // SCALE_SAMPLE_VALUES)
    sample = flat[::step]
    sample = sample[np.isfinite(sample)]
    return scale_from_summary(
        vmax=vmax,
        vmin=vmin,
        n_sampled=int(sample.size),
        n_fractional=int(np.count_nonzero(sample != np.round(sample))),
        n_zero=int(np.count_nonzero(sample == 0)),
    )


def _extremes(values: np.ndarray) -> tuple[float, float]:
    """Largest and smallest value, NaN ignored (NaN when there is none).

    What np.nanmax and np.nanmin compute, without their all-NaN warning and
    without a pass over a mask the size of the matrix to find out first.
    """
    if values.size == 0:
        return float("nan"), float("nan")
    return float(np.fmax.reduce(values, axis=None)), float(np.fmin.reduce(values, axis=None))


#: Values of the evenly spaced sample :func:`detect_scale` checks for whole numbers and zeros.
SCALE_SAMPLE_VALUES = 200_000


def scale_from_summary(
    *, vmax: float, vmin: float, n_sampled: int, n_fractional: int, n_zero: int
) -> str:
    """The scale rule of :func:`detect_scale` on a summary of the values.

    Parameters
    ----------
    vmax, vmin
        Largest and smallest value (NaN ignored; NaN when every value is missing).
    n_sampled
        Finite values of the evenly spaced sample.
    n_fractional, n_zero
        Of those, how many are not whole numbers and how many are exactly zero.

    Returns
    -------
    str
        The scale, as :func:`detect_scale` returns it.  A summary can be
        gathered chunk by chunk (:mod:`deconv_core.cohort`), so a cohort read in
        pieces is judged exactly as the whole table would be.
    """
    if np.isnan(vmax) or n_sampled == 0:
        return "linear"
    # "Whole numbers" tolerates a few halves: the median of duplicated genes'
    # counts, taken before this check, can be x.5.
    integers = n_fractional / n_sampled < 1e-3
    if vmax < _LOG_MAX and (not integers or vmin < 0):
        zero_share = n_zero / n_sampled
        return "log2p1" if zero_share > 0.05 and vmin >= 0 else "log2"
    if integers and vmax >= _LOG_MAX:
        return "counts"
    return "linear"


def linearise(
    table: pd.DataFrame,
    *,
    scale: str = "auto",
    what: str = "expression",
    guessed: bool = False,
    floor: float | str | None = "find",
) -> ScaleResult:
    """Bring an expression table to linear scale and check its values.

    Parameters
    ----------
    table
        Genes × samples as read from the user's file (any scale).
    scale
        One of :data:`SCALES`.  ``"auto"`` detects it with
        :func:`detect_scale` (and, for RNA-seq logs with zeros, the base from the
        per-sample totals); ``"counts"`` normalises each sample to counts per
        million (CPM) over all its genes.  A declared log scale is honoured even
        with negative values: a floor of zeros logged with a pseudocount is
        un-logged as ``base**x - p``, other negative values become values
        between 0 and 1 (``*p1`` scales: 0), and the warning says so.
    what
        Name of the input used in messages.
    guessed
        True when ``scale`` was detected elsewhere on the whole table (the
        cohort engine's chunks): it is un-logged and reported as a detected
        scale is, not honoured as the user's word.
    floor
        The pseudocount floor of a log scale: ``"find"`` (default) finds it on
        this table (:func:`log_floor_of`) and, without one, refuses centred
        values (:func:`centred_refusal`); a number or None is the floor decided
        on the whole cohort (:func:`decide_logs` on the chunks' summaries,
        which judged the cohort's centring too), so every chunk is un-logged
        with the same offset.  Only with a log ``scale`` other than ``"auto"``.

    Returns
    -------
    ScaleResult
        The linear table (genes × samples) and the warnings.

    Raises
    ------
    InputError
        Unknown scale, infinite values, negative values on a linear scale,
        centred or z-scored values on a detected log scale, or no sample left
        with data.
    """
    check_choice("scale", scale)
    if floor != "find" and scale not in LOG_SCALES:
        raise ValueError(f"a floor is given with a log scale only, not with scale={scale!r}")
    # One float64 array of the data (a view where pandas can give one); it is
    # never written to, so the caller's table stays untouched, and each
    # transformation below makes one new array.
    values = table.to_numpy(dtype=float)
    _check_values(values, table, what=what)
    warnings: list[DeconvWarning] = []
    detected = detect_scale(values) if scale == "auto" else scale

    if detected in LOG_SCALES:
        declared = scale != "auto" and not guessed
        # A floor given was decided on the whole cohort (decide_logs), centring checked there.
        if floor == "find":
            floor = _log_floor(values)
            if floor is None:
                refusal = centred_refusal(
                    *_centring(values), declared=detected if declared else None, what=what
                )
                if refusal is not None:
                    raise refusal
        if scale == "auto":
            detected, base_warning = _choose_base(values, detected, floor, what=what)
            warnings.extend(base_warning)
        values, transformation, warning = _unlog(
            values, detected, floor=floor, declared=declared, what=what
        )
        warnings.append(warning)
    else:
        _check_non_negative(values, table, what=what)
        transformation = "none"
        if detected == "counts":
            values, warning = _counts_per_million(values, what=what)
            transformation = "counts per million"
            warnings.append(warning)

    keep, sample_warnings = samples_with_data(values, table.columns)
    warnings.extend(sample_warnings)
    if not keep:
        raise InputError(
            f"No sample of the {what} has any non-zero value; check that the right file and "
            "columns were chosen."
        )
    if len(keep) < values.shape[1]:
        positions = [list(table.columns).index(s) for s in keep]
        values = values[:, positions]
    out = pd.DataFrame(values, index=table.index, columns=pd.Index(keep), copy=False)
    return ScaleResult(out, detected, transformation, tuple(warnings))


#: Log scales: base, and the offset added before the log (1 for ``*p1``; 0 otherwise, or the
#: pseudocount found at the data's floor, see :func:`_log_floor`).
_BASES = {
    "log2": 2.0,
    "log2p1": 2.0,
    "log10": 10.0,
    "log10p1": 10.0,
    "ln": float(np.e),
    "lnp1": float(np.e),
}
_PLUS_ONE = ("log2p1", "log10p1", "lnp1")
#: The log scales of :data:`SCALES`, undone by :func:`linearise`.
LOG_SCALES = tuple(_BASES)
# Samples whose totals are checked to tell the base: totals are per sample, a few dozen suffice.
_BASE_SAMPLES = 50


def log_floor_of(vmin: float, n_at_min: int, n_finite: int) -> float | None:
    """The floor rule: the negative minimum on which zeros logged with a pseudocount sit, or None.

    Parameters
    ----------
    vmin
        The table's smallest value (NaN when it has none).
    n_at_min
        How many values equal ``vmin``.
    n_finite
        How many values are finite.

    Returns
    -------
    float or None
        ``vmin`` when it is negative and shared by at least
        :data:`LOG_FLOOR_SHARE` of the finite values and by at least
        :data:`LOG_FLOOR_MIN_VALUES` values (every zero of log2(x + 0.001) is
        log2(0.001)); else None.  The counts add up over chunks of samples, so
        the Dask engine's driver finds the cohort's floor by this same rule.
    """
    if not vmin < 0:
        return None
    return vmin if n_at_min >= max(LOG_FLOOR_SHARE * n_finite, LOG_FLOOR_MIN_VALUES) else None


def _log_floor(values: np.ndarray) -> float | None:
    """:func:`log_floor_of` on a table of values (any shape)."""
    vmin = float(np.fmin.reduce(values, axis=None)) if values.size else float("nan")
    if not vmin < 0:
        return None
    finite = int(np.count_nonzero(np.isfinite(values)))
    return log_floor_of(vmin, int(np.count_nonzero(values == vmin)), finite)


def _choose_base(
    values: np.ndarray, detected: str, floor: float | None, *, what: str
) -> tuple[str, list[DeconvWarning]]:
    """:func:`_base_from_totals` on the table's own values (genes × samples, logs)."""
    if detected != "log2p1" and floor is None:
        return detected, []
    n_samples = values.shape[1]
    if values.size == 0:
        vmin, sample_max = float("nan"), np.full(n_samples, np.nan)
    else:
        vmin = float(np.fmin.reduce(values, axis=None))
        sample_max = np.fmax.reduce(values, axis=0)
    chosen = _base_samples(sample_max, vmin)
    sample = values[:, chosen]
    n_finite = np.count_nonzero(np.isfinite(sample), axis=0)
    return _base_from_totals(detected, floor, n_finite, _power_sums(sample), what=what)


def _base_samples(sample_max: np.ndarray, vmin: float) -> np.ndarray:
    """Positions of the samples whose totals tell the base: every ``step``-th informative one.

    A sample is informative when it has a finite value above the table's
    minimum ``vmin`` (samples without data, empty or all at the minimum, tell
    no base and are left out later); ``step`` keeps about :data:`_BASE_SAMPLES`.
    """
    with np.errstate(invalid="ignore"):
        informative = np.flatnonzero(sample_max > vmin)
    step = max(1, informative.size // _BASE_SAMPLES)
    return informative[::step]


#: Bases whose sums :func:`_power_sums` takes, in this order (every family's, see :data:`_BASES`).
_SUM_BASES = (2.0, float(np.e), 10.0)


def _power_sums(values: np.ndarray) -> np.ndarray:
    """Per sample, ``sum over genes of base**x`` for each base of :data:`_SUM_BASES`.

    Parameters
    ----------
    values
        Genes × samples, logs (NaN ignored).

    Returns
    -------
    np.ndarray
        Samples × 3 (bases 2, e, 10), float64.  Each sample is summed alone, over a
        contiguous copy of its values, so its sums are the same to the last bit
        whatever samples share the call (the whole table, or one chunk of it).
    """
    rows = np.ascontiguousarray(values.T, dtype=float)  # samples × genes
    sums = np.empty((rows.shape[0], len(_SUM_BASES)))
    powered = np.empty_like(rows)
    for k, base in enumerate(_SUM_BASES):
        with np.errstate(over="ignore"):
            np.power(base, rows, out=powered)
        sums[:, k] = np.nansum(powered, axis=1)
    return sums


def _offset(scale: str, floor: float | None) -> float:
    """What un-logging subtracts: 1 for ``*p1``, ``base**floor`` for a floor, else 0."""
    if scale in _PLUS_ONE:
        return 1.0
    return float(_BASES[scale] ** floor) if floor is not None else 0.0


def _base_from_totals(
    detected: str,
    floor: float | None,
    n_finite: np.ndarray,
    power_sums: np.ndarray,
    *,
    what: str,
) -> tuple[str, list[DeconvWarning]]:
    """The log base of RNA-seq-like logs (zeros or a floor), told by per-sample totals.

    Parameters
    ----------
    detected
        The scale detected (:func:`detect_scale`): ``"log2p1"`` or ``"log2"``.
    floor
        The table's pseudocount floor (:func:`log_floor_of`), or None.
    n_finite
        Per checked sample (:func:`_base_samples`), its finite values.
    power_sums
        Checked samples × 3: :func:`_power_sums` of those samples.

    Returns
    -------
    tuple
        The scale and its warnings.  Only logs with zeros (``log2p1``) or a
        pseudocount floor are RNA-seq-like enough to expect TPM/CPM totals
        (:data:`LINEAR_TOTAL`); other logs (e.g. microarray log2) stay log2
        without a word.  Every value is at least the floor (0 for ``*p1``), so a
        sample's un-logged total is ``sum(base**x) - n_finite * offset``.  A base
        is chosen only when it alone gives every checked sample a total within
        :data:`LINEAR_TOTAL_TOLERANCE` of it; otherwise log2 is kept and the
        ``log_base_unknown`` warning names the flag.
    """
    if detected != "log2p1" and floor is None:
        return detected, []
    family = ("log2p1", "log10p1", "lnp1") if detected == "log2p1" else ("log2", "log10", "ln")
    fits = []
    for name in family:
        column = _SUM_BASES.index(_BASES[name])
        with np.errstate(invalid="ignore"):
            totals = power_sums[:, column] - n_finite * _offset(name, floor)
            near = np.abs(totals / LINEAR_TOTAL - 1.0) <= LINEAR_TOTAL_TOLERANCE
        if np.all(near):
            fits.append(name)
    if len(fits) == 1:
        return fits[0], []
    options = ", ".join(f"--scale {name}" for name in family[1:])
    message = (
        f"The {what} looks log-transformed, but its log base could not be told: no single base "
        f"turns every sample into TPM or CPM (totals near {LINEAR_TOTAL:.0e}); it was read as "
        f"base 2 ({family[0]})."
    )
    advice = (
        f"If it is another base, rerun with {options}."
        if what == "expression"
        else "Save the signature on a linear scale (e.g. TPM)."
    )
    app = (
        "If it is another base, choose it under 'Scale of the values' on the Upload page."
        if what == "expression"
        else advice
    )
    return family[0], [DeconvWarning("warning", "log_base_unknown", message, cli=advice, app=app)]


@dataclass(frozen=True)
class LogSummary:
    """What the log rules (floor, base, ``log_scale`` warning) need of a table's values.

    A summary of a chunk of samples adds up with the others'
    (:func:`join_log_summaries`) to the whole table's, so the Dask engine's
    driver decides the cohort's floor and base (:func:`decide_logs`) by the
    rules :func:`linearise` applies to a table in memory.

    Attributes
    ----------
    vmin
        Smallest value (NaN when there is none).
    n_at_min, n_finite, n_negative
        How many values equal ``vmin``, are finite, are negative.
    sample_finite
        Per sample (in table order), its finite values; int, shape (samples,).
    sample_max
        Per sample, its largest value (NaN when it has none); shape (samples,).
    power_sums
        Samples × 3: per sample, the sum over genes of ``base**x`` for the bases
        2, e and 10; None when not taken (values of 50 and above are not logs).
    gene_sums, gene_finite
        Per gene (in table order), the sum and the number of its finite values;
        shape (genes,): the gene means of the centring check.
    """

    vmin: float
    n_at_min: int
    n_finite: int
    n_negative: int
    sample_finite: np.ndarray
    sample_max: np.ndarray
    power_sums: np.ndarray | None
    gene_sums: np.ndarray
    gene_finite: np.ndarray


def summarise_logs(values: np.ndarray, *, sums: bool = True) -> LogSummary:
    """The :class:`LogSummary` of a table.

    Parameters
    ----------
    values
        Genes × samples, as read (any scale); NaN allowed.
    sums
        Take the per-sample ``base**x`` sums (three powers of every value), needed
        only to tell the base of a detected log scale; they are never taken when
        the largest value is :data:`_LOG_MAX` or more (no detected log scale).
    """
    n_samples = values.shape[1]
    if values.size:
        vmax, vmin = _extremes(values)
        sample_max = np.fmax.reduce(values, axis=0)
    else:
        vmax = vmin = float("nan")
        sample_max = np.full(n_samples, np.nan)
    finite = np.isfinite(values)
    return LogSummary(
        vmin=vmin,
        n_at_min=int(np.count_nonzero(values == vmin)) if vmin == vmin else 0,
        n_finite=int(np.count_nonzero(finite)),
        n_negative=int(np.count_nonzero(values < 0)) if vmin < 0 else 0,
        sample_finite=np.count_nonzero(finite, axis=0),
        sample_max=sample_max,
        power_sums=_power_sums(values) if sums and not vmax >= _LOG_MAX else None,
        gene_sums=np.where(finite, values, 0.0).sum(axis=1),
        gene_finite=np.count_nonzero(finite, axis=1),
    )


def join_log_summaries(parts: list[LogSummary]) -> LogSummary:
    """The summary of a table from its chunks' (chunks of samples, in table order)."""
    mins = [p.vmin for p in parts if p.vmin == p.vmin]
    vmin = min(mins) if mins else float("nan")
    sums = [p.power_sums for p in parts]
    if len({p.gene_sums.shape for p in parts}) > 1:
        raise ValueError("chunks of one table must hold the same genes")
    return LogSummary(
        vmin=vmin,
        n_at_min=sum(p.n_at_min for p in parts if p.vmin == vmin),
        n_finite=sum(p.n_finite for p in parts),
        n_negative=sum(p.n_negative for p in parts),
        sample_finite=np.concatenate([p.sample_finite for p in parts]),
        sample_max=np.concatenate([p.sample_max for p in parts]),
        power_sums=None if any(x is None for x in sums) else np.concatenate(sums),
        gene_sums=np.sum([p.gene_sums for p in parts], axis=0),
        gene_finite=np.sum([p.gene_finite for p in parts], axis=0),
    )


@dataclass(frozen=True)
class LogDecision:
    """A log scale decided on a whole table: scale, pseudocount floor and the warnings.

    Attributes
    ----------
    scale
        The log scale, base chosen (one of :data:`LOG_SCALES`).
    floor
        The pseudocount floor (:func:`log_floor_of`), or None; pass it to
        :func:`linearise` so that every chunk subtracts the same offset.
    transformation
        The un-logging formula, as :attr:`ScaleResult.transformation`.
    warnings
        ``log_base_unknown`` when the base could not be told, then ``log_scale``:
        as :func:`linearise` gives them for the whole table.
    refusal
        The error :func:`linearise` would refuse the whole table with (centred,
        z-scored or log-ratio values, :func:`centred_refusal`), or None.
    """

    scale: str
    floor: float | None
    transformation: str
    warnings: tuple[DeconvWarning, ...]
    refusal: InputError | None = None


def decide_logs(
    summary: LogSummary, scale: str, *, auto: bool, declared: bool, what: str = "expression"
) -> LogDecision:
    """Decide floor and base of a table on a log scale from its summary, as :func:`linearise`.

    Parameters
    ----------
    summary
        The whole table's :class:`LogSummary` (:func:`join_log_summaries` of its chunks').
    scale
        One of :data:`LOG_SCALES`: detected (:func:`scale_from_summary`) or declared.
    auto
        True when the scale was detected: the base of RNA-seq-like logs is then
        told by the per-sample totals (which ``summary`` must hold).
    declared, what
        As for :func:`log_scale_warning`.

    Returns
    -------
    LogDecision
        Floor, scale and warnings :func:`linearise` finds on the whole table.
    """
    floor = log_floor_of(summary.vmin, summary.n_at_min, summary.n_finite)
    refusal = None
    if floor is None:
        negative = summary.n_negative / summary.n_finite if summary.n_finite else 0.0
        rows = summary.gene_finite > 0
        means = summary.gene_sums[rows] / summary.gene_finite[rows]
        mean_size = float(np.median(np.abs(means))) if means.size else float("nan")
        refusal = centred_refusal(
            negative, mean_size, declared=scale if declared else None, what=what
        )
        if refusal is not None:
            return LogDecision(scale, floor, "", (), refusal)
    warnings: list[DeconvWarning] = []
    if auto and (scale == "log2p1" or floor is not None):
        if summary.power_sums is None:
            raise ValueError("the summary holds no power sums to tell the log base by")
        chosen = _base_samples(summary.sample_max, summary.vmin)
        scale, warnings = _base_from_totals(
            scale, floor, summary.sample_finite[chosen], summary.power_sums[chosen], what=what
        )
    maxima = summary.sample_max[~np.isnan(summary.sample_max)]
    warning = _log_warning(
        scale,
        floor,
        vmax=float(maxima.max()) if maxima.size else float("nan"),
        vmin=summary.vmin,
        n_negative=summary.n_negative,
        n_at_floor=summary.n_at_min if floor is not None else 0,
        n_finite=summary.n_finite,
        declared=declared,
        what=what,
    )
    formula = _formula(scale, _offset(scale, floor))
    return LogDecision(scale, floor, formula, (*warnings, warning), refusal)


def _from_log(values: np.ndarray, scale: str, floor: float | None) -> tuple[np.ndarray, float]:
    """``base**x - offset`` clipped at 0 (a new array), and the offset subtracted."""
    offset = _offset(scale, floor)
    with np.errstate(over="ignore"):
        linear = np.power(_BASES[scale], values)
    if offset:
        linear -= offset
        np.maximum(linear, 0.0, out=linear)
    return linear, offset


def _centring(values: np.ndarray) -> tuple[float, float]:
    """(share of negative values, median absolute gene mean) of the finite values."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, float("nan")
    negative = float(np.mean(finite < 0))
    present = np.isfinite(values)
    rows = present.any(axis=1)  # a gene without any value has no mean (no "empty slice")
    gene_means = np.where(present, values, 0.0)[rows].sum(axis=1) / present[rows].sum(axis=1)
    return negative, float(np.nanmedian(np.abs(gene_means)))


def centred_refusal(
    negative: float, mean_size: float, *, declared: str | None, what: str
) -> InputError | None:
    """The error refusing centred, z-scored or log-ratio data, or None if they pass.

    They cannot be un-logged into expression.  Asked only of data with no
    pseudocount floor (:func:`log_floor_of`); ``negative`` is the share of
    negative values and ``mean_size`` the median absolute gene mean
    (:func:`_centring`, or the cohort's from its chunks' :class:`LogSummary`).
    A detected log scale (``declared`` None) is refused on a large share of
    negative values (:data:`CENTRED_NEGATIVE_SHARE`) or gene means near 0
    (:data:`CENTRED_GENE_MEAN`); the sentence names the condition(s) that held.
    A declared log scale is honoured unless every gene is centred near 0, which
    no log expression is.  What to do is said in each surface's words.
    """
    if negative == 0:
        return None
    gene_mean = f"the typical gene mean is {mean_size:.2f}, near 0"
    if declared is not None:
        if mean_size < CENTRED_GENE_MEAN:
            return InputError(
                f"The {what} was declared as {SCALE_NAMES[declared]}, but its values are "
                f"centred per gene ({gene_mean}), as z-scores or log-ratios are, not log "
                "expression.",
                cli="Give the data before centring.",
                app="Upload the data before centring.",
            )
        return None
    found = []
    if negative >= CENTRED_NEGATIVE_SHARE:
        found.append(f"{negative:.0%} of values are negative")
    if mean_size < CENTRED_GENE_MEAN:
        found.append(gene_mean)
    if not found:
        return None
    return InputError(
        f"The {what} looks centred, z-scored or log-ratio ({' and '.join(found)}; no floor "
        "of zeros as log data with a pseudocount have); deconvolution needs expression on "
        "a linear or log scale (TPM, counts, intensities or their log), not ratios or "
        "values centred per gene.",
        cli="Give the data before centring, or the log scale with --scale if it is one.",
        app="Upload the data before centring, or choose the log scale under 'Scale of the "
        "values' if it is one.",
    )


def _unlog(
    values: np.ndarray, detected: str, *, floor: float | None, declared: bool, what: str
) -> tuple[np.ndarray, str, DeconvWarning]:
    """Undo a log scale: (linear values, the formula used, the ``log_scale`` warning)."""
    original_max = float(np.nanmax(values)) if not np.isnan(values).all() else float("nan")
    # Very large exponents would overflow: a "log" table with values above
    # 1000 is not log data at all.
    if original_max > 1000:
        raise InputError(
            f"The {what} was declared as {SCALE_NAMES[detected]} but holds values above 1000; "
            "choose the linear scale instead."
        )
    vmin = float(np.fmin.reduce(values, axis=None))
    linear, _ = _from_log(values, detected, None if detected in _PLUS_ONE else floor)
    warning = _log_warning(
        detected,
        floor,
        vmax=original_max,
        vmin=vmin,
        n_negative=int(np.count_nonzero(values < 0)) if vmin < 0 else 0,
        n_at_floor=int(np.count_nonzero(values == floor)) if floor is not None else 0,
        n_finite=int(np.count_nonzero(np.isfinite(values))),
        declared=declared,
        what=what,
    )
    return linear, _formula(detected, _offset(detected, floor)), warning


def _log_warning(
    detected: str,
    floor: float | None,
    *,
    vmax: float,
    vmin: float,
    n_negative: int,
    n_at_floor: int,
    n_finite: int,
    declared: bool,
    what: str,
) -> DeconvWarning:
    """The ``log_scale`` warning of :func:`_unlog`, from counts that add up over chunks.

    Parameters
    ----------
    detected, floor
        The log scale and the pseudocount floor found (:func:`log_floor_of`) or None.
    vmax, vmin
        The table's largest and smallest value.
    n_negative, n_at_floor, n_finite
        How many values are negative, equal the floor, and are finite.
    declared, what
        As for :func:`log_scale_warning`.
    """
    # log(x + 1) has no pseudocount floor: a floor found says the scale was log(x + p).
    plus_one_floor = floor if detected in _PLUS_ONE else None
    if detected in _PLUS_ONE:
        floor = None
    offset = _offset(detected, floor)
    note = ""
    if floor is not None:
        share = n_at_floor / max(1, n_finite)
        note = (
            f"{share:.0%} of values sit at the minimum {floor:.4g}, zeros logged with a "
            f"pseudocount of {offset:.3g}"
        )
    elif n_negative:
        becomes = "0" if detected in _PLUS_ONE else "values between 0 and 1"
        note = f"{n_negative} negative value(s), down to {vmin:.3g}, became {becomes}"
        if plus_one_floor is not None:
            plain = {"log2p1": "log2", "log10p1": "log10", "lnp1": "ln"}[detected]
            note += (
                f" (many values sit at that minimum, like zeros logged with a pseudocount of "
                f"{_BASES[detected] ** plus_one_floor:.3g}: if so, the scale is {plain})"
            )
    return log_scale_warning(
        detected,
        vmax,
        declared=declared,
        what=what,
        formula=_formula(detected, offset),
        note=note,
    )


_FORMULAS = {
    "log2": "2**x",
    "log2p1": "2**x - 1",
    "log10": "10**x",
    "log10p1": "10**x - 1",
    "ln": "exp(x)",
    "lnp1": "exp(x) - 1",
}


def _formula(scale: str, offset: float) -> str:
    """The un-logging formula, with a pseudocount when one was found."""
    if offset and scale not in _PLUS_ONE:
        return f"{_FORMULAS[scale]} - {offset:.3g}"
    return _FORMULAS[scale]


def log_scale_warning(
    detected: str,
    original_max: float,
    *,
    declared: bool,
    what: str = "expression",
    formula: str | None = None,
    note: str = "",
) -> DeconvWarning:
    """The ``log_scale`` warning of data on a log scale brought back to linear.

    Parameters
    ----------
    detected
        The log scale, one of :data:`SCALES` from ``"log2"`` to ``"lnp1"``.
    original_max
        The data's largest value before the transformation.
    declared
        True when the user declared the scale, False when it was detected.
    what
        Name of the input used in the message.
    formula
        The formula applied (default: the scale's own, without pseudocount).
    note
        What else was found, e.g. the pseudocount at the data's floor.
    """
    how = "declared" if declared else "detected"
    extra = f"; {note}" if note else ""
    message = (
        f"The {what} looks log-transformed ({how} {SCALE_NAMES[detected]}, maximum "
        f"{original_max:.3g}{extra}); it was "
        f"converted back to linear scale with {formula or _FORMULAS[detected]} because "
        "deconvolution needs linear values."
    )
    if what == "signature":  # --scale and the Upload page's scale set the expression's only
        advice = (
            "A signature's scale is detected, not chosen: if its values were already linear, "
            "save it in its original units (e.g. TPM) so they are not mistaken for logs."
        )
        return DeconvWarning("warning", "log_scale", message, cli=advice, app=advice)
    return DeconvWarning(
        "warning",
        "log_scale",
        message,
        cli="If the data were already linear, rerun with --scale linear.",
        app="If they were already linear, choose 'linear' under 'Scale of the values' "
        "on the Upload page.",
    )


def check_linear(
    values: np.ndarray, table: pd.DataFrame, *, what: str = "expression", scale: bool = True
) -> list[DeconvWarning]:
    """Check values that should be linear already: refuse what no expression holds, and
    warn when they look log-transformed.

    The checks :func:`linearise` makes, for a table that has not been through
    it (a table handed to :func:`deconv_core.deconvolve.deconvolve`).  Two
    reductions and the sample of :func:`detect_scale`; no copy of the values.

    Parameters
    ----------
    values
        Genes × samples, float64: the values of ``table`` (NaN allowed).
    table
        The table, for the names of the first bad cell.
    what
        Name of the input used in messages.
    scale
        Look at the scale too (False when the caller knows the values are
        linear, e.g. from :func:`linearise`: small linear values can look like logs).

    Returns
    -------
    list of DeconvWarning
        ``log_scale_not_converted`` when the values look log-transformed
        (:func:`detect_scale`), else nothing.

    Raises
    ------
    InputError
        Infinite or negative values.
    """
    vmax, vmin = _extremes(values)
    # Not the reader's size limit: a linear table may hold what un-logging a chunk that
    # looked like logs on its own gave (the Dask engine refits it on the cohort's scale).
    _check_values(values, table, what=what, extremes=(vmax, vmin), limit=np.inf)
    _check_non_negative(values, table, what=what, vmin=vmin)
    detected = _scale_of(values, vmax, vmin) if scale else "linear"
    if detected not in LOG_SCALES:
        return []
    return [
        DeconvWarning(
            "warning",
            "log_scale_not_converted",
            f"The {what} looks log-transformed (largest value {vmax:.3g}, not whole numbers; "
            f"read as {SCALE_NAMES[detected]}) but was fitted as it is, and a fit of logs gives "
            "wrong proportions. Bring it to linear scale first with deconv_core.scale.linearise, "
            "or read the file with deconv_core.load_expression, which does so.",
        )
    ]


def _check_non_negative(
    values: np.ndarray, table: pd.DataFrame, *, what: str, vmin: float | None = None
) -> None:
    """Raise :class:`InputError` for negative values on a linear scale, naming the first one.

    ``vmin``: the smallest value when the caller has it already."""
    # The smallest value (NaN ignored; one reduction, no mask the size of the matrix)
    # says whether there is anything to find.
    if vmin is None and values.size:
        vmin = float(np.fmin.reduce(values, axis=None))
    if vmin is not None and vmin < 0:
        rows, cols = np.nonzero(values < 0)
        raise InputError(
            f"The {what} holds {rows.size} negative value(s) (first: "
            f"{table.index[rows[0]]!s} in {table.columns[cols[0]]!s}); deconvolution needs "
            "non-negative linear expression (TPM, FPKM or array intensities), not z-scores, "
            "log-ratios or batch-corrected values."
        )


def _counts_per_million(values: np.ndarray, *, what: str) -> tuple[np.ndarray, DeconvWarning]:
    """Library-size normalise each sample (column) to CPM, with the ``raw_counts`` warning."""
    totals = np.sum(values, axis=0, where=~np.isnan(values))
    # An all-zero sample stays zero (and is reported below), not NaN.
    safe = np.where(totals > 0, totals, 1.0)
    warning = DeconvWarning(
        "warning",
        "raw_counts",
        f"The {what} holds whole numbers only, like raw read counts; each "
        "sample was library-size normalised to counts per million (CPM). Gene "
        "length is not corrected, so TPM input gives more accurate proportions.",
    )
    return values * (1e6 / safe), warning


def samples_with_data(
    values: np.ndarray, samples: pd.Index
) -> tuple[list[object], list[DeconvWarning]]:
    """The samples with any non-zero value, and a warning for each empty, zero or gappy one."""
    keep = []
    warnings: list[DeconvWarning] = []
    for j, sample in enumerate(samples):
        column = values[:, j]
        if np.isnan(column).all():
            warnings.append(
                DeconvWarning(
                    "warning",
                    "empty_sample",
                    f"Sample {sample!s} has no values at all; it was left out of the analysis.",
                    str(sample),
                )
            )
        elif np.nansum(column) == 0:
            warnings.append(
                DeconvWarning(
                    "warning",
                    "zero_sample",
                    f"Sample {sample!s} is zero for every gene; it was left out of the analysis.",
                    str(sample),
                )
            )
        else:
            keep.append(sample)
            missing = int(np.isnan(column).sum())
            if missing:
                warnings.append(
                    DeconvWarning(
                        "info",
                        "missing_values",
                        f"Sample {sample!s} has {missing} missing value(s); those genes are "
                        "left out of this sample's fit only.",
                        str(sample),
                    )
                )
    return keep, warnings


def _check_values(
    values: np.ndarray,
    table: pd.DataFrame,
    *,
    what: str,
    extremes: tuple[float, float] | None = None,
    limit: float = _MAX_VALUE,
) -> None:
    """Raise :class:`InputError` for infinite or absurdly large values, naming the first one.

    Two reductions (:func:`_extremes`, or ``extremes`` when the caller has them)
    find whether anything is wrong without a temporary the size of the matrix;
    the cells are located only when there is an error.  ``limit``: the largest
    size allowed (``inf``: any finite value).
    """
    vmax, vmin = extremes or _extremes(values)
    if np.isnan(vmax):  # no value at all
        return
    if np.isinf(vmax) or np.isinf(vmin):
        rows, cols = np.nonzero(np.isinf(values))
        raise InputError(
            f"The {what} holds {rows.size} infinite value(s) (first: {table.index[rows[0]]!s} "
            f"in {table.columns[cols[0]]!s}); replace them with real numbers or leave the "
            "cells empty."
        )
    if vmax > limit or vmin < -limit:
        with np.errstate(invalid="ignore"):
            rows, cols = np.nonzero(np.abs(values) > limit)
        first = values[rows[0], cols[0]]
        raise InputError(
            f"The {what} holds values above {_MAX_VALUE:.0e} (first: {first:.3g} "
            f"for {table.index[rows[0]]!s} in {table.columns[cols[0]]!s}), far beyond any "
            "expression measurement; check that the right column was exported."
        )

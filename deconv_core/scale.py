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

from deconv_core.options import SCALES, check_choice
from deconv_core.thresholds import CENTRED_GENE_MEAN, CENTRED_NEGATIVE_SHARE
from deconv_core.validation import DeconvWarning, InputError

__all__ = [
    "SCALES",
    "SCALE_SAMPLE_VALUES",
    "ScaleResult",
    "detect_scale",
    "linearise",
    "log_scale_warning",
    "samples_with_data",
    "scale_from_summary",
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
    vmax, vmin = _extremes(values)
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


def linearise(table: pd.DataFrame, *, scale: str = "auto", what: str = "expression") -> ScaleResult:
    """Bring an expression table to linear scale and check its values.

    Parameters
    ----------
    table
        Genes × samples as read from the user's file (any scale).
    scale
        One of :data:`SCALES`.  ``"auto"`` detects it with
        :func:`detect_scale`; ``"counts"`` normalises each sample to counts per
        million (CPM) over all its genes.
    what
        Name of the input used in messages.

    Returns
    -------
    ScaleResult
        The linear table (genes × samples) and the warnings.

    Raises
    ------
    InputError
        Unknown scale, infinite values, negative values on a linear scale, or
        no sample left with data.
    """
    check_choice("scale", scale)
    # One float64 array of the data (a view where pandas can give one); it is
    # never written to, so the caller's table stays untouched, and each
    # transformation below makes one new array.
    values = table.to_numpy(dtype=float)
    _check_values(values, table, what=what)
    warnings: list[DeconvWarning] = []
    detected = detect_scale(values) if scale == "auto" else scale

    if detected in ("log2", "log2p1", "log10", "ln"):
        _check_not_centred(values, what=what)
        values, transformation, warning = _unlog(
            values, detected, declared=scale != "auto", what=what
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


def _check_not_centred(values: np.ndarray, *, what: str) -> None:
    """Refuse centred, z-scored or log-ratio data: they cannot be un-logged into expression.

    Seen as a large share of negative values (:data:`CENTRED_NEGATIVE_SHARE`), or
    negative values with gene means near 0 (:data:`CENTRED_GENE_MEAN`).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    negative = float(np.mean(finite < 0))
    if negative == 0:
        return
    present = np.isfinite(values)
    rows = present.any(axis=1)  # a gene without any value has no mean (no "empty slice")
    gene_means = np.where(present, values, 0.0)[rows].sum(axis=1) / present[rows].sum(axis=1)
    mean_size = float(np.nanmedian(np.abs(gene_means))) if gene_means.size else 0.0
    if negative >= CENTRED_NEGATIVE_SHARE or mean_size < CENTRED_GENE_MEAN:
        raise InputError(
            f"The {what} looks centred, z-scored or log-ratio ({negative:.0%} of values are "
            f"negative; the typical gene mean is {mean_size:.2g}, near 0); deconvolution needs "
            "expression on a linear or log scale (TPM, counts, intensities or their log), "
            "not ratios or values centred per gene: upload the data before centring."
        )


def _unlog(
    values: np.ndarray, detected: str, *, declared: bool, what: str
) -> tuple[np.ndarray, str, DeconvWarning]:
    """Undo a log scale: (linear values, the formula used, the ``log_scale`` warning)."""
    original_max = float(np.nanmax(values)) if not np.isnan(values).all() else float("nan")
    # Very large exponents would overflow: a "log" table with values above
    # 1000 is not log data at all.
    if original_max > 1000:
        raise InputError(
            f"The {what} was declared as {detected} but holds values above 1000; "
            "choose the linear scale instead."
        )
    base = {"log2": 2.0, "log2p1": 2.0, "log10": 10.0, "ln": np.e}[detected]
    values = np.power(base, values)
    if detected == "log2p1":
        values -= 1.0
        np.maximum(values, 0.0, out=values)
    formula = _FORMULAS[detected]
    return values, formula, log_scale_warning(detected, original_max, declared=declared, what=what)


_FORMULAS = {"log2": "2**x", "log2p1": "2**x - 1", "log10": "10**x", "ln": "exp(x)"}


def log_scale_warning(
    detected: str, original_max: float, *, declared: bool, what: str = "expression"
) -> DeconvWarning:
    """The ``log_scale`` warning of data on a log scale brought back to linear.

    Parameters
    ----------
    detected
        The log scale (``"log2"``, ``"log2p1"``, ``"log10"`` or ``"ln"``).
    original_max
        The data's largest value before the transformation.
    declared
        True when the user declared the scale, False when it was detected.
    what
        Name of the input used in the message.
    """
    how = "declared" if declared else "detected"
    message = (
        f"The {what} looks log-transformed ({how} {detected}, maximum "
        f"{original_max:.3g}); it was "
        f"converted back to linear scale with {_FORMULAS[detected]} because deconvolution "
        "needs linear values."
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


def _check_non_negative(values: np.ndarray, table: pd.DataFrame, *, what: str) -> None:
    """Raise :class:`InputError` for negative values on a linear scale, naming the first one."""
    # The smallest value (NaN ignored; one reduction, no mask the size of the matrix)
    # says whether there is anything to find.
    if values.size and np.fmin.reduce(values, axis=None) < 0:
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


def _check_values(values: np.ndarray, table: pd.DataFrame, *, what: str) -> None:
    """Raise :class:`InputError` for infinite or absurdly large values, naming the first one.

    Two reductions find whether anything is wrong without a temporary the
    size of the matrix; the cells are located only when there is an error.
    """
    vmax, vmin = _extremes(values)
    if np.isnan(vmax):  # no value at all
        return
    if np.isinf(vmax) or np.isinf(vmin):
        rows, cols = np.nonzero(np.isinf(values))
        raise InputError(
            f"The {what} holds {rows.size} infinite value(s) (first: {table.index[rows[0]]!s} "
            f"in {table.columns[cols[0]]!s}); replace them with real numbers or leave the "
            "cells empty."
        )
    if vmax > _MAX_VALUE or vmin < -_MAX_VALUE:
        with np.errstate(invalid="ignore"):
            rows, cols = np.nonzero(np.abs(values) > _MAX_VALUE)
        first = values[rows[0], cols[0]]
        raise InputError(
            f"The {what} holds values above {_MAX_VALUE:.0e} (first: {first:.3g} "
            f"for {table.index[rows[0]]!s} in {table.columns[cols[0]]!s}), far beyond any "
            "expression measurement; check that the right column was exported."
        )

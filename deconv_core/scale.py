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

from deconv_core.validation import DeconvWarning, InputError, check_finite, check_non_negative

__all__ = ["SCALES", "ScaleResult", "detect_scale", "linearise"]

#: Scales a user may declare; ``"auto"`` asks :func:`detect_scale` to decide.
SCALES = ("auto", "linear", "log2", "log2p1", "log10", "ln", "counts")

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


def detect_scale(table: pd.DataFrame) -> str:
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
    """
    values = table.to_numpy(dtype=float, na_value=np.nan)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "linear"
    vmax = float(finite.max())
    integers = bool(np.all(finite == np.round(finite)))
    if vmax < _LOG_MAX and (not integers or finite.min() < 0):
        zero_share = float(np.mean(finite == 0))
        return "log2p1" if zero_share > 0.05 and finite.min() >= 0 else "log2"
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
    if scale not in SCALES:
        raise InputError(f"Unknown scale {scale!r}; use one of {', '.join(SCALES)}.")
    check_finite(table, what=what)
    warnings: list[DeconvWarning] = []
    detected = detect_scale(table) if scale == "auto" else scale
    values = table.to_numpy(dtype=float, na_value=np.nan)

    if detected in ("log2", "log2p1", "log10", "ln"):
        # Very large exponents would overflow: a "log" table with values above
        # 1000 is not log data at all.
        if np.nanmax(values, initial=0.0) > 1000:
            raise InputError(
                f"The {what} was declared as {detected} but holds values above 1000; "
                "choose the linear scale instead."
            )
        base = {"log2": 2.0, "log2p1": 2.0, "log10": 10.0, "ln": np.e}[detected]
        values = np.power(base, values)
        if detected == "log2p1":
            values = values - 1.0
            values[values < 0] = 0.0
        formula = {"log2": "2**x", "log2p1": "2**x - 1", "log10": "10**x", "ln": "exp(x)"}[detected]
        how = "detected" if scale == "auto" else "declared"
        warnings.append(
            DeconvWarning(
                "warning",
                "log_scale",
                f"The {what} looks log-transformed ({how} {detected}, maximum "
                f"{np.nanmax(table.to_numpy(dtype=float, na_value=np.nan)):.3g}); it was "
                f"converted back to linear scale with {formula} because deconvolution "
                "needs linear values. If the data were already linear, rerun with the "
                "linear scale.",
            )
        )
        transformation = formula
    else:
        linear = pd.DataFrame(values, index=table.index, columns=table.columns)
        check_non_negative(linear, what=what)
        transformation = "none"
        if detected == "counts":
            totals = np.nansum(values, axis=0)
            # An all-zero sample stays zero (and is reported below), not NaN.
            safe = np.where(totals > 0, totals, 1.0)
            values = values / safe * 1e6
            transformation = "counts per million"
            warnings.append(
                DeconvWarning(
                    "warning",
                    "raw_counts",
                    f"The {what} holds whole numbers only, like raw read counts; each "
                    "sample was library-size normalised to counts per million (CPM). Gene "
                    "length is not corrected, so TPM input gives more accurate proportions.",
                )
            )

    out = pd.DataFrame(values, index=table.index, columns=table.columns)
    keep = []
    for sample in out.columns:
        column = out[sample].to_numpy()
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
    if not keep:
        raise InputError(
            f"No sample of the {what} has any non-zero value; check that the right file and "
            "columns were chosen."
        )
    out = out.loc[:, keep]
    return ScaleResult(out, detected, transformation, tuple(warnings))

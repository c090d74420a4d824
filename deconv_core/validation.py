"""Validation helpers and the warning record shared by every module.

Every problem the core finds in a user's input is either raised as
:class:`InputError` (a ``ValueError`` whose message says what was found, what
was expected and what to do) or returned as a :class:`DeconvWarning` record.
The core never prints and never calls :func:`warnings.warn`: the page or the
command line decides how to show a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "SEVERITIES",
    "DeconvWarning",
    "InputError",
    "check_finite",
    "check_non_negative",
    "check_unique_labels",
    "warnings_frame",
]

#: Allowed severities, from least to most serious.
SEVERITIES = ("info", "warning", "error")


class InputError(ValueError):
    """A user input that cannot be used as given.

    The message is one sentence a biologist can act on: what was found,
    what was expected and what to do.  When what to do depends on where the
    user is, ``cli`` names the command line's flags and ``app`` the
    dashboard's controls (see :meth:`text`).
    """

    def __init__(self, message: str, *, cli: str = "", app: str = "") -> None:
        super().__init__(message)
        self.cli = cli
        self.app = app

    def text(self, surface: str) -> str:
        """The message with the advice of ``surface`` (``"cli"`` or ``"app"``)."""
        advice = self.cli if surface == "cli" else self.app
        message = str(self)
        return f"{message} {advice}" if advice else message


@dataclass(frozen=True)
class DeconvWarning:
    """One warning about an input or a result.

    Attributes
    ----------
    severity
        ``"info"``, ``"warning"`` or ``"error"``.
    code
        Short stable machine-readable code, e.g. ``"log_scale"``.
    message
        One plain-language sentence saying what happened and what it means.
    sample
        The sample the warning is about, or ``""`` when it concerns the
        whole input.
    cli, app
        What to do, in the words of each surface: the command line names its
        flags (``"Rerun with --exclude tumor."``), the dashboard its controls
        (``"Choose 'tumour list' under 'Leave out the signature's noisy
        genes'."``); ``""`` when there is nothing to do.
    cell_type
        The signature's id of the cell type(s) the warning is about, several
        joined by ``", "`` (``""`` when none): the message names them by their
        display names (:attr:`deconv_core.signatures.Signature.shown_names`),
        the files' columns by these ids.
    """

    severity: str
    code: str
    message: str
    sample: str = ""
    cli: str = ""
    app: str = ""
    cell_type: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    def text(self, surface: str) -> str:
        """The message with the advice of ``surface`` (``"cli"`` or ``"app"``)."""
        advice = self.cli if surface == "cli" else self.app
        return f"{self.message} {advice}" if advice else self.message


def warnings_frame(warnings: tuple[DeconvWarning, ...] | list[DeconvWarning]) -> pd.DataFrame:
    """Return warnings as a table.

    Parameters
    ----------
    warnings
        Warning records in the order they were raised.

    Returns
    -------
    pandas.DataFrame
        One row per warning with columns ``severity``, ``code``, ``sample``,
        ``cell_type`` (ids), ``message``, ``command_line`` and ``dashboard``
        (what to do on each; no rows, but the columns, when there are none).
    """
    columns = ["severity", "code", "sample", "cell_type", "message", "command_line", "dashboard"]
    rows = [[w.severity, w.code, w.sample, w.cell_type, w.message, w.cli, w.app] for w in warnings]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def check_finite(table: pd.DataFrame, *, what: str) -> None:
    """Raise :class:`InputError` if ``table`` holds infinite values.

    Parameters
    ----------
    table
        Numeric table (any orientation).
    what
        Name of the input used in the message, e.g. ``"expression"``.
    """
    values = table.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isinf(values)
    if bad.any():
        rows, cols = np.nonzero(bad)
        where = f"{table.index[rows[0]]!s} in {table.columns[cols[0]]!s}"
        raise InputError(
            f"The {what} holds {int(bad.sum())} infinite value(s) (first: {where}); "
            "replace them with real numbers or leave the cells empty."
        )


def check_non_negative(table: pd.DataFrame, *, what: str) -> None:
    """Raise :class:`InputError` if ``table`` holds negative values.

    Parameters
    ----------
    table
        Numeric table, expected on a linear (non-log) scale.
    what
        Name of the input used in the message.
    """
    values = table.to_numpy(dtype=float, na_value=np.nan)
    bad = values < 0
    if bad.any():
        rows, cols = np.nonzero(bad)
        where = f"{table.index[rows[0]]!s} in {table.columns[cols[0]]!s}"
        raise InputError(
            f"The {what} holds {int(bad.sum())} negative value(s) (first: {where}); "
            "deconvolution needs non-negative linear expression (TPM, FPKM or array "
            "intensities), not z-scores, log-ratios or batch-corrected values."
        )


def check_unique_labels(labels: pd.Index, *, what: str) -> None:
    """Raise :class:`InputError` if ``labels`` has duplicates or blanks.

    Parameters
    ----------
    labels
        Sample or cell-type names.
    what
        What the labels name, e.g. ``"sample names"``.
    """
    names = [str(x).strip() for x in labels]
    blank = [i for i, n in enumerate(names) if n == "" or n.lower() == "nan"]
    if blank:
        raise InputError(
            f"The {what} include {len(blank)} empty name(s) (position {blank[0] + 1}); "
            "give every column a name in the header row."
        )
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    dups = [n for n, c in seen.items() if c > 1]
    if dups:
        raise InputError(
            f"The {what} are not unique: {', '.join(repr(d) for d in dups[:5])} "
            f"{'appears' if len(dups) == 1 else 'appear'} more than once; rename them so each "
            "is unique."
        )

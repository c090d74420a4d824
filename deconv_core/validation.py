"""Validation helpers and the warning record shared by every module.

Every problem the core finds in a user's input is either raised as
:class:`InputError` (a ``ValueError`` whose message says what was found, what
was expected and what to do) or returned as a :class:`DeconvWarning` record.
The core never prints and never calls :func:`warnings.warn`: the page or the
command line decides how to show a warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "SEVERITIES",
    "DeconvWarning",
    "InputError",
    "check_finite",
    "check_input_file",
    "check_non_negative",
    "check_unique_labels",
    "read_input_file",
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


#: What to do about an empty label, by where the labels are: a header row or a first column.
_NAME_THE_EMPTY = {
    "columns": "give every column a name in the header row",
    "rows": "give every row an id in the first column",
}


def check_unique_labels(labels: pd.Index, *, what: str, axis: str = "columns") -> None:
    """Raise :class:`InputError` if ``labels`` has duplicates or blanks.

    Parameters
    ----------
    labels
        Sample or cell-type names.
    what
        What the labels name, e.g. ``"sample names"``.
    axis
        ``"columns"`` (names in a header row) or ``"rows"`` (ids in a first
        column), for what to do about an empty one.
    """
    names = [str(x).strip() for x in labels]
    blank = [i for i, n in enumerate(names) if n == "" or n.lower() == "nan"]
    if blank:
        raise InputError(
            f"The {what} include {len(blank)} empty name(s) (position {blank[0] + 1}); "
            f"{_NAME_THE_EMPTY[axis]}."
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


def check_input_file(path: str | os.PathLike[str], *, what: str) -> None:
    """Refuse a missing file, or a folder given in its place, before any work.

    Parameters
    ----------
    path
        The path the user gave.
    what
        What the file holds, as the message names it (``"expression"``: "the
        expression file").

    Raises
    ------
    InputError
        The path is a folder, a pipe or device (``<(...)``, a FIFO; ``-`` for
        standard input), or does not exist.
    """
    if os.path.isdir(path):
        raise _file_error(path, what, IsADirectoryError())
    # The file is read more than once (its SHA-256 beside the parse; the Dask engine's
    # conversion), which a stream cannot give.
    if str(path) == "-" and not os.path.exists(path):
        raise InputError(
            f"'-' (standard input) cannot be read as the {what} file; save the data to a file "
            "first and give its path."
        )
    if os.path.exists(path) and not os.path.isfile(path):
        raise InputError(
            f"{str(path)!r} is a pipe or device, not a regular file; save the {what} data to a "
            "file first and give its path."
        )
    if not os.path.isfile(path):
        raise _file_error(path, what, FileNotFoundError())


def read_input_file(path: str | os.PathLike[str], *, what: str, limit: int | None = None) -> bytes:
    """The bytes of a user's file; a path that cannot be read is one :class:`InputError`.

    Parameters
    ----------
    path
        The path the user gave.
    what
        What the file holds, as the message names it (see :func:`check_input_file`).
    limit
        Read only the first ``limit`` bytes (a head to sniff); default the whole file.

    Raises
    ------
    InputError
        The path does not exist, is a folder or cannot be read.
    """
    try:
        with Path(path).open("rb") as handle:
            return handle.read(-1 if limit is None else limit)
    except OSError as err:
        raise _file_error(path, what, err) from err


def _file_error(path: str | os.PathLike[str], what: str, err: OSError) -> InputError:
    """The one wording of each reason a user's file cannot be read."""
    shown = repr(str(path))
    if isinstance(err, FileNotFoundError):
        return InputError(f"Cannot find the {what} file {shown}; check the path.")
    if isinstance(err, IsADirectoryError):
        return InputError(
            f"{shown} is a folder, not the {what} file; give the path of the file itself."
        )
    if isinstance(err, PermissionError):
        return InputError(
            f"The {what} file {shown} cannot be read (permission denied); "
            "check its permissions or copy it somewhere readable."
        )
    return InputError(
        f"The {what} file {shown} cannot be read ({err.strerror or err}); check the file."
    )

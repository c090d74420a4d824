"""Display names of cell types: ``CD4 T cells`` on screen, ``T.cells.CD4`` in the files.

A signature's metadata may name its cell types for people (``display_names``
in ``metadata.json`` or a sidecar); any other id is made readable by turning
the separators of R-style names into spaces (``NK.cells`` → ``NK cells``,
``naive_B_cell`` → ``naive B cell``).  Charts and on-screen tables show these
names; every exported table keeps the original ids, so files still join with
the signature and with earlier runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pandas as pd

__all__ = ["display_names", "readable_name", "with_display_names"]

_SEPARATORS = re.compile(r"[._]+")


def readable_name(cell_type: object) -> str:
    """An R-style id made readable: dots and underscores become single spaces.

    ``T.cells.CD4`` → ``T cells CD4``; a name with spaces, or one that is only
    separators, is returned as it is.
    """
    text = str(cell_type)
    if " " in text.strip():
        return text
    spaced = " ".join(_SEPARATORS.sub(" ", text).split())
    return spaced or text


def display_names(
    cell_types: Sequence[object], given: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The name shown for each cell type: the signature's own, else :func:`readable_name`.

    Parameters
    ----------
    cell_types
        Cell-type ids (signature columns, ``other``).
    given
        Id → display name from the signature's metadata.

    Returns
    -------
    dict
        Id → display name, one per id.  Ids whose names would coincide with
        another id's name or with another id keep their id, so no two columns
        ever merge on screen.
    """
    ids = [str(c) for c in cell_types]
    proposed = {i: str((given or {}).get(i) or readable_name(i)) for i in ids}
    counts: dict[str, int] = {}
    for name in proposed.values():
        counts[name] = counts.get(name, 0) + 1
    clashes = {n for n, k in counts.items() if k > 1}
    taken = set(ids)
    return {i: i if n in clashes or (n != i and n in taken) else n for i, n in proposed.items()}


def with_display_names(
    frame: pd.DataFrame, names: Mapping[str, str], *, column: str = ""
) -> pd.DataFrame:
    """A copy of a table for the screen, cell types shown by their display names.

    Parameters
    ----------
    frame
        Samples × cell types (``column`` empty), or a long table whose
        ``column`` holds cell-type ids.
    names
        Id → display name (:func:`display_names`); ids not in it stay.
    column
        Name of the long table's cell-type column.
    """
    if column:
        out = frame.copy()
        out[column] = out[column].map(lambda v: names.get(str(v), v))
        return out
    return frame.rename(columns=lambda c: names.get(str(c), c))

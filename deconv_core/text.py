"""Names shown as written: invisible and direction-changing characters made visible.

Sample, gene and cell-type names come from users' files.  A right-to-left
override (U+202E) makes ``rtl\u202egnp.exe`` display as ``rtlexe.png``; zero-width
and other control characters hide text.  :func:`visible` replaces every such
character with its code point (``⟨U+202E⟩``) for display on screen and in HTML
exports; data files keep the names byte for byte.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

import pandas as pd

from deconv_core.validation import DeconvWarning

__all__ = ["display_frame", "hidden_characters", "names_warning", "visible"]

# Unicode categories that are invisible or change how text around them is shown:
# control characters (Cc), format characters (Cf: bidi overrides and isolates,
# zero-width spaces and joiners, the byte order mark), line and paragraph separators.
_HIDDEN = {"Cc", "Cf", "Zl", "Zp"}


def _is_hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN


def hidden_characters(text: object) -> list[str]:
    """The invisible or direction-changing characters of ``text``, in order."""
    return [c for c in str(text) if _is_hidden(c)]


def visible(text: object) -> str:
    """``text`` with each invisible or direction-changing character shown as ``⟨U+XXXX⟩``."""
    value = str(text)
    if not any(_is_hidden(c) for c in value):
        return value
    return "".join(f"⟨U+{ord(c):04X}⟩" if _is_hidden(c) else c for c in value)


def names_warning(names: Iterable[object], *, what: str) -> list[DeconvWarning]:
    """A warning when names hold invisible or direction-changing characters.

    Parameters
    ----------
    names
        Sample, gene or cell-type names.
    what
        What they name, e.g. ``"sample names"``.

    Returns
    -------
    list of DeconvWarning
        One ``hidden_characters`` warning naming the first such name as shown,
        or nothing.
    """
    odd = [str(n) for n in names if hidden_characters(n)]
    if not odd:
        return []
    return [
        DeconvWarning(
            "warning",
            "hidden_characters",
            f"{len(odd)} {what} hold invisible or direction-changing characters (first: "
            f"{visible(odd[0])}); they are shown with their code points, and the files keep "
            "them unchanged. Check the names are what you expect.",
        )
    ]


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` for display: index, column names and text cells through :func:`visible`.

    Returns ``frame`` itself when no label or text cell needs changing (large
    numeric tables are not copied).
    """
    labels = [*map(str, frame.index), *map(str, frame.columns)]
    text_columns = [c for c in frame.columns if frame[c].dtype == object]
    odd_cells = any(
        frame[c].map(lambda v: isinstance(v, str) and bool(hidden_characters(v))).any()
        for c in text_columns
    )
    if not odd_cells and not any(hidden_characters(label) for label in labels):
        return frame
    out = frame.copy()
    out.index = pd.Index([visible(i) for i in out.index], name=out.index.name)
    out.columns = [visible(c) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: visible(v) if isinstance(v, str) else v)
    return out

"""What an on-screen table shows: display names, one number format per quantity, no "None".

Streamlit's grid prints a missing value as the word "None" and its
``"percent"`` format with two decimals.  :func:`screen_table` turns a table and
its ``column_config`` into a pandas Styler whose display texts follow the
dashboard's formats (:data:`PERCENT`: proportions as percent with one
decimal; r with two) and show a dash for a missing value, while the cells
keep their numbers (so columns still sort numerically).  Cell-type ids are
shown by their display names (:func:`deconv_core.labels.display_names`).
No streamlit calls here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from pandas.io.formats.style import Styler

from deconv_core.text import display_frame

__all__ = [
    "CELL_TYPE_COLUMNS",
    "MAX_STYLED_CELLS",
    "MISSING",
    "PERCENT",
    "counted",
    "in_points",
    "number_text",
    "screen_table",
]

#: What a missing value shows.
MISSING = "–"
#: The one format of a proportion on screen: percent with one decimal (Python format spec).
PERCENT = "{:.1%}"
#: Tables with more cells than this are shown without a Styler: Streamlit turns a Styler
#: into display texts at about 40 µs a cell (a 1,000-sample × 22-type interval table,
#: 110,000 cells, took 8 s), so a large table gets its percent columns multiplied by 100
#: and printed with one decimal instead.
MAX_STYLED_CELLS = 30_000
#: Columns whose values are cell-type ids (several joined by ", " in some findings).
CELL_TYPE_COLUMNS = ("cell_type", "cell_type_a", "cell_type_b")


def counted(n: int, noun: str, plural: str = "") -> str:
    """A count and its noun in the number the count needs: "1 sample", "31,099 genes".

    Parameters
    ----------
    n
        The count (with thousands separators when shown).
    noun
        The singular ("sample", "cell type").
    plural
        The plural when it is not the noun plus "s".
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def in_points(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` (differences of fractions) in percentage points (×100).

    A difference of two fractions printed as "3.2%" reads as a percent of the value;
    the caller prints these columns with a ``"%.1f pp"`` format.
    """
    return frame.assign(**{c: frame[c] * 100 for c in columns})


def number_text(fmt: str | None, *, integer: bool = False) -> Callable[[Any], str]:
    """A function printing one number as a column's format says.

    Parameters
    ----------
    fmt
        A ``st.column_config.NumberColumn`` format: ``"percent"`` (one decimal
        here), a printf format (``"%.2f"``, ``"%.1fx"``), or None (integers as
        they are, other numbers with 3 significant digits).
    integer
        The column holds integers.
    """
    if fmt == "percent":
        return PERCENT.format
    if fmt and "%" in fmt:
        return lambda v: fmt % v
    return (lambda v: f"{int(v):d}") if integer else "{:.3g}".format


def _names_shown(frame: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    def show(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return ", ".join(names.get(part, part) for part in value.split(", "))

    out = frame.copy()
    for column in CELL_TYPE_COLUMNS:
        if column in out.columns:
            out[column] = out[column].map(show)
    if out.index.name in CELL_TYPE_COLUMNS:
        out.index = pd.Index([show(str(i)) for i in out.index], name=out.index.name)
    return out


def screen_table(
    frame: pd.DataFrame,
    column_config: Mapping[str, Any] | None = None,
    names: Mapping[str, str] | None = None,
) -> tuple[Styler | pd.DataFrame, dict[str, Any]]:
    """A table as the dashboard shows it, and the column settings to show it with.

    Parameters
    ----------
    frame
        Any table (rows × columns); not changed.
    column_config
        ``st.dataframe``'s column settings; a number column's ``format`` moves
        into the Styler (Streamlit would otherwise print its own).
    names
        Cell-type id → display name, for :data:`CELL_TYPE_COLUMNS` and an index
        of that name (column headers are the caller's: a group may share a
        cell type's name).

    Returns
    -------
    tuple
        The Styler (text cells: names as written, missing as :data:`MISSING`;
        numbers: their display text) and the column settings without number
        formats; beyond :data:`MAX_STYLED_CELLS` cells a plain table instead
        (:func:`_unstyled`).
    """
    shown = display_frame(_names_shown(frame, names or {}))
    config = dict(column_config or {})
    if shown.size > MAX_STYLED_CELLS:
        return _unstyled(shown, config)
    formats: dict[Any, Callable[[Any], str]] = {}
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_bool_dtype(values):
            continue
        if not pd.api.types.is_numeric_dtype(values):
            if values.isna().any():
                shown = shown.assign(**{str(column): values.astype(object).fillna(MISSING)})
            continue
        setting = config.get(str(column))
        fmt = None
        if isinstance(setting, dict) and setting.get("type_config", {}).get("type") == "number":
            fmt = setting["type_config"].get("format")
            config[str(column)] = {
                **setting,
                "type_config": {**setting["type_config"], "format": None},
            }
        formats[column] = number_text(fmt, integer=pd.api.types.is_integer_dtype(values))
    return shown.style.format(formats, na_rep=MISSING), config


def _unstyled(shown: pd.DataFrame, config: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A large table without a Styler: percent columns shown ×100 with one decimal.

    Text cells get :data:`MISSING` for a missing value; a missing number stays
    empty in the grid.
    """
    out = shown.copy()
    for column in out.columns:
        values = out[column]
        if not pd.api.types.is_numeric_dtype(values):
            if values.isna().any():
                out[column] = values.astype(object).fillna(MISSING)
            continue
        setting = config.get(str(column))
        if not isinstance(setting, dict):
            continue
        kind = setting.get("type_config", {})
        if kind.get("type") == "number" and kind.get("format") == "percent":
            out[column] = values * 100
            config[str(column)] = {**setting, "type_config": {**kind, "format": "%.1f%%"}}
    return out, config

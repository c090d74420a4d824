"""Cell-type groups: how a signature's cell types roll up into coarser categories.

A signature may say how its cell types roll up into coarser categories
(CD4 T + CD8 T + Tregs = T cells) so results can be compared with
flow-cytometry panels: :func:`check_groups` validates a grouping (a mapping or
an edited table), :func:`groups_table` lays it out one row per cell type, and
:func:`group_proportions` sums proportions into the groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from deconv_core.validation import InputError

__all__ = ["check_groups", "group_proportions", "groups_table"]


def check_groups(
    groups: Mapping[str, Sequence[str]] | pd.DataFrame,
    cell_types: Sequence[str],
    *,
    what: str = "cell-type groups",
) -> dict[str, tuple[str, ...]]:
    """Validate a (possibly user-edited) grouping of cell types.

    Parameters
    ----------
    groups
        Either a mapping group name → member cell types, or a table with
        columns ``cell_type`` and ``group`` (one row per cell type, as
        :func:`groups_table` returns and a page lets the user edit; a blank
        group means "no group").
    cell_types
        The signature's cell types (the proportions' columns).
    what
        Name used in messages.

    Returns
    -------
    dict
        Group name → member cell types (tuples, in the order given), with
        groups that only hold themselves (``{"B cells": ("B cells",)}``)
        kept.  Cell types in no group are not listed.

    Raises
    ------
    InputError
        Blank group name, empty group, unknown cell type, a cell type in two
        groups, or a group named like a cell type it does not contain.
    """
    known = [str(c) for c in cell_types]
    mapping = _groups_mapping(groups, what=what)
    seen: dict[str, str] = {}
    out: dict[str, tuple[str, ...]] = {}
    for group, members in mapping.items():
        _check_group(group, members, known, seen, what=what)
        out[group] = tuple(members)
    return out


def _groups_mapping(
    groups: Mapping[str, Sequence[str]] | pd.DataFrame, *, what: str
) -> dict[str, list[str]]:
    """Group name (stripped) → member names, from a mapping or a cell_type/group table."""
    if isinstance(groups, pd.DataFrame):
        missing = {"cell_type", "group"} - set(groups.columns)
        if missing:
            raise InputError(
                f"The {what} table needs columns 'cell_type' and 'group'; "
                f"{', '.join(sorted(missing))} is missing."
            )
        mapping: dict[str, list[str]] = {}
        for cell_type, group in zip(groups["cell_type"], groups["group"], strict=True):
            label = "" if pd.isna(group) else str(group).strip()
            if label:
                mapping.setdefault(label, []).append(str(cell_type))
        return mapping
    if isinstance(groups, Mapping):
        mapping = {}
        for group, members in groups.items():
            if isinstance(members, str):
                members = [members]
            if isinstance(members, Mapping) or not hasattr(members, "__iter__"):  # null, 5
                raise InputError(
                    f"The group {str(group).strip()!r} in the {what} is not a list of cell "
                    "types; list its cell types."
                )
            mapping[str(group).strip()] = [str(m) for m in members]
        return mapping
    raise InputError(
        f"The {what} must be a mapping of group names to cell types or a table with "
        f"'cell_type' and 'group' columns, got {type(groups).__name__}."
    )


def _check_group(
    group: str, members: list[str], known: list[str], seen: dict[str, str], *, what: str
) -> None:
    """Raise :class:`InputError` for a bad group; record its members in ``seen`` (in place)."""
    if not group:
        raise InputError(f"The {what} include a group without a name; name every group.")
    if not members:
        raise InputError(
            f"The group {group!r} in the {what} has no cell types; add some or remove it."
        )
    unknown = [m for m in members if m not in known]
    if unknown:
        raise InputError(
            f"The group {group!r} in the {what} names unknown cell type(s) "
            f"{', '.join(repr(u) for u in unknown[:3])}; the signature's cell types are "
            f"{', '.join(known)}."
        )
    for member in members:
        if member in seen and seen[member] != group:
            raise InputError(
                f"The cell type {member!r} is in two groups ({seen[member]!r} and "
                f"{group!r}) in the {what}; put each cell type in one group only."
            )
        if member in seen:
            raise InputError(
                f"The cell type {member!r} is listed twice in the group {group!r} of the "
                f"{what}; list it once."
            )
        seen[member] = group
    if group in known and group not in members:
        raise InputError(
            f"The group {group!r} in the {what} has the name of a cell type it does not "
            "contain; rename the group."
        )


def groups_table(groups: Mapping[str, Sequence[str]], cell_types: Sequence[str]) -> pd.DataFrame:
    """One row per cell type with the group it rolls up into (for display and editing).

    Parameters
    ----------
    groups
        Group name → member cell types (e.g. :attr:`Signature.groups`).
    cell_types
        The signature's cell types, in column order.

    Returns
    -------
    pandas.DataFrame
        Columns ``cell_type`` and ``group``; a cell type in no group has its
        own name as group.  Edited, it goes back through :func:`check_groups`.
    """
    checked = check_groups(groups, cell_types)
    owner = {m: g for g, members in checked.items() for m in members}
    types = [str(c) for c in cell_types]
    return pd.DataFrame({"cell_type": types, "group": [owner.get(t, t) for t in types]})


def group_proportions(
    proportions: pd.DataFrame, groups: Mapping[str, Sequence[str]] | pd.DataFrame
) -> pd.DataFrame:
    """Sum cell-type proportions into coarser groups.

    Parameters
    ----------
    proportions
        Samples × cell types, unitless fractions (e.g.
        ``DeconvResult.proportions``, whose ``other`` column in absolute mode
        is in no group and kept).
    groups
        Group name → member cell types, or a ``cell_type``/``group`` table
        (validated with :func:`check_groups` against the columns).

    Returns
    -------
    pandas.DataFrame
        Samples × groups, same index.  Each group is the sum of its members;
        a sample with a missing member value gets NaN for that group.  Cell
        types in no group are kept as their own column under their own name.
        Columns come in the order of each group's first member among the
        input's columns, so a grouping keeps the input's layout.

    Raises
    ------
    InputError
        Invalid groups (see :func:`check_groups`), or a group with the name of
        a cell type left outside every group.
    """
    checked = check_groups(groups, list(proportions.columns), what="cell-type groups")
    owner = {m: g for g, members in checked.items() for m in members}
    values = proportions.to_numpy(dtype=float, na_value=np.nan)
    positions = {str(c): j for j, c in enumerate(proportions.columns)}
    columns: dict[str, np.ndarray] = {}
    for j, column in enumerate(proportions.columns):
        name = str(column)
        group = owner.get(name)
        if group is None:
            if name in checked:
                raise InputError(
                    f"The group {name!r} has the name of the cell type {name!r} that is in no "
                    "group; rename the group or add the cell type to it."
                )
            columns[name] = values[:, j]
        elif group not in columns:
            members = [positions[m] for m in checked[group]]
            columns[group] = values[:, members].sum(axis=1)
    return pd.DataFrame(columns, index=proportions.index)

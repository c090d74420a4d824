"""mRNA content per cell, borrowed by lineage for signatures that do not give it.

A fit's coefficients are shares of the sample's mRNA.  Cell types differ in
mRNA per cell (a monocyte holds about twice a lymphocyte's), so mRNA shares
overstate the types rich in mRNA; quanTIseq measured the factor of each immune
lineage and ships it with TIL10 (Finotello et al., Genome Med 2019).  The
content of a cell is a property of the cell type, not of the platform that
measured its profile, so a signature without factors (immunoStates, LM22, most
uploads) can take TIL10's by lineage, recognised from the cell-type names.
Without it, LM22 on RNA-seq reads monocytes at 0.45 where flow measured 0.16
(issue 15); ``benchmarks/accuracy.py`` shows the effect with immunoStates.

Cell types whose name matches no lineage (mast cells, progenitors) get the
median of the others' factors, and are named in the warning.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

__all__ = ["LINEAGES", "borrowed_mrna_factors"]

#: Lineage patterns (case-insensitive, on names with ``_ . -`` read as spaces),
#: first match wins, → the TIL10 cell type whose factor a match takes.
LINEAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"neutrophil|eosinophil|basophil|granulocyte", ("Neutrophils",)),
    (r"monocyte", ("Monocytes",)),
    (r"macrophage.*\bm1\b|\bm1\b.*macrophage", ("Macrophages.M1",)),
    (r"macrophage.*\bm2\b|\bm2\b.*macrophage", ("Macrophages.M2",)),
    (r"macrophage", ("Macrophages.M1", "Macrophages.M2")),
    (r"dendritic|\b[mp]?dcs?\b", ("Dendritic.cells",)),
    (r"natural killer|\bnk\b", ("NK.cells",)),
    (r"treg|regulatory", ("Tregs",)),
    (r"cd8|cytotoxic|gamma delta|\bgd\b", ("T.cells.CD8",)),
    (r"cd4|helper|\bt cells?\b|\bt\b", ("T.cells.CD4",)),
    (r"\bb cells?\b|\bb\b|plasma", ("B.cells",)),
)


@lru_cache(maxsize=1)
def _til10_factors() -> dict[str, float]:
    # Imported here: deconvolve imports this module, signatures is heavier.
    from deconv_core.signatures import load_signature

    return dict(load_signature("TIL10").mrna_scaling)


def _lineage_factor(cell_type: str, factors: dict[str, float]) -> float | None:
    name = re.sub(r"[_.\-]+", " ", cell_type.lower())
    for pattern, til10_types in LINEAGES:
        if re.search(pattern, name):
            return float(np.mean([factors[t] for t in til10_types]))
    return None


def borrowed_mrna_factors(cell_types: list[str]) -> tuple[dict[str, float], list[str]]:
    """TIL10's mRNA-content factors matched to ``cell_types`` by lineage name.

    Parameters
    ----------
    cell_types
        Cell-type names of a signature without its own factors.

    Returns
    -------
    factors, unmatched
        A factor for every cell type (relative units, those of TIL10) and the
        types no lineage matched (they take the median of the matched ones).
        ``({}, cell_types)`` when fewer than two types, or fewer than half of
        them, match: then the names are not immune lineages and nothing is
        borrowed.
    """
    til10 = _til10_factors()
    matched = {t: _lineage_factor(t, til10) for t in cell_types}
    known = {t: f for t, f in matched.items() if f is not None}
    unmatched = [t for t, f in matched.items() if f is None]
    if len(known) < max(2, len(cell_types) / 2):
        return {}, list(cell_types)
    fill = float(np.median(list(known.values())))
    return {t: known.get(t, fill) for t in cell_types}, unmatched

"""One colour per cell type and per group, fixed by name, readable for 22+ types.

Colours follow identity, never position: a name is reduced to a key that
ignores case, punctuation, word order, plurals and the word "cell"
(``T.cells.CD4``, ``CD4 T cells`` and ``cd4_t_cell`` share one key), and the key
picks a slot of :data:`PALETTE`.  The cell types of the shipped signatures,
LM22 and their usual group names have fixed slots (:data:`_SLOTS`), so
Neutrophils keep their colour at cell-type and group level, on every page
and in every export; any other name gets a slot from a hash of its key,
moved to the next free slot when that one is taken in the same chart.

The palette starts with the seven colours of Okabe & Ito (2008, "Color
Universal Design"), chosen to stay apart for colour-blind readers; the other
19 were picked greedily to maximise the smallest OKLab distance to the
colours already chosen (and to white, the ``other`` grey and the background),
seen with normal vision and with simulated deuteranopia and protanopia
(Machado, Oliveira & Fernandes 2009, severity 1).  Measured with
:func:`oklab`: the first 10 colours (a TIL10 chart) are at least 15 apart
with normal vision; all 22 of an LM22 chart at least 10 (plotly's Dark24: 7.5),
and at least 5.5 with either simulated deficiency (Dark24: 0.4, i.e. two
colours that look the same).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["OTHER_COLOR", "PALETTE", "assign_colors", "color_key", "oklab"]

#: Colour of the ``other`` part (cells the signature does not describe).
OTHER_COLOR = "#b7b7b7"

#: The categorical palette, most distinct first (see the module docstring).
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
    "#801A4D", "#6600FF", "#8C73FF", "#595900", "#4D3399", "#80D980", "#805980",
    "#BF1A4D", "#D900BF", "#FF4073", "#1A1ACC", "#1A4D73", "#00FF8C", "#73D9FF",
    "#4D66E6", "#FF73D9", "#A6B373", "#CC66D9", "#00734D",
)  # fmt: skip

# Fixed slots: the shipped signatures (TIL10, immunoStates), LM22 and their group names.
# TIL10's ten types take the ten most distinct colours; a group shares the slot of the
# lineage it names (it replaces its members at group level, so they never meet).
_NAMED_SLOTS: dict[int, tuple[str, ...]] = {
    0: ("T.cells.CD4", "T cells CD4 naive", "CD4_positive_alpha_beta_T_cell", "T cells"),
    1: ("T.cells.CD8", "CD8_positive_alpha_beta_T_cell"),
    2: ("Tregs", "T cells regulatory (Tregs)", "Regulatory T cells"),
    3: ("B.cells", "B cells naive", "naive_B_cell"),
    4: ("NK.cells", "NK cells resting", "CD56dim_natural_killer_cell"),
    5: ("Monocytes", "CD14_positive_monocyte", "Monocytic lineage"),
    6: ("Macrophages.M1",),
    7: ("Macrophages.M2",),
    8: ("Neutrophils", "Granulocytes"),
    9: ("Dendritic.cells", "Dendritic cells resting", "myeloid_dendritic_cell"),
    10: ("B cells memory", "memory_B_cell"),
    11: ("Plasma cells",),
    12: ("T cells CD4 memory resting",),
    13: ("T cells CD4 memory activated",),
    14: ("T cells follicular helper",),
    15: ("T cells gamma delta", "gamma_delta_T_cell"),
    16: ("NK cells activated", "CD56bright_natural_killer_cell"),
    17: ("Macrophages M0",),
    18: ("Dendritic cells activated", "plasmacytoid_dendritic_cell"),
    19: ("Mast cells resting", "MAST_cell", "Mast cells"),
    20: ("Mast cells activated",),
    21: ("Eosinophils",),
    22: ("CD16_positive_monocyte",),
    23: ("Basophils", "basophil"),
    24: ("hematopoietic_progenitor", "Hematopoietic progenitors"),
}
# Words that do not tell cell types apart (``positive`` in ``CD4_positive_alpha_beta``).
_NOISE = {"cell", "positive", "alpha", "beta", "lineage"}


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def color_key(name: object) -> str:
    """The identity of a cell-type or group name for colouring.

    Case, punctuation, word order, plurals and filler words ("cell",
    "positive") are ignored: ``T.cells.CD4``, ``CD4 T cells`` and
    ``CD4_positive_alpha_beta_T_cell`` give the same key.  A name of filler
    words only keeps them (``Cells`` stays ``cell``).
    """
    text = re.sub(r"natural[^a-z0-9]*killer", "nk", str(name).lower())
    words = [_singular(w) for w in re.findall(r"[a-z0-9]+", text)]
    kept = [w for w in words if w not in _NOISE] or words
    return " ".join(sorted(kept))


_SLOTS: dict[str, int] = {
    color_key(name): slot for slot, names in _NAMED_SLOTS.items() for name in names
}


def _hashed_slot(key: str) -> int:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % len(PALETTE)


def assign_colors(names: Iterable[object]) -> dict[str, str]:
    """A colour per name, fixed by the name itself (``other`` is grey).

    Parameters
    ----------
    names
        Cell-type or group names shown together (one chart's legend).

    Returns
    -------
    dict
        Name (as ``str``) → CSS colour.  A known name always gets its own slot
        of :data:`PALETTE`; other names get a slot from their key, the next
        free one when it is taken (names processed in key order, so the
        result does not depend on their order).  Beyond ``len(PALETTE)``
        names, colours repeat.
    """
    labels = list(dict.fromkeys(str(n) for n in names))
    colors = {"other": OTHER_COLOR} if "other" in labels else {}
    named = sorted((color_key(n), n) for n in labels if n != "other")
    taken: set[int] = set()
    pending: list[tuple[str, str]] = []
    for key, name in named:
        slot = _SLOTS.get(key)
        if slot is None or slot in taken:
            pending.append((key, name))
            continue
        taken.add(slot)
        colors[name] = PALETTE[slot]
    for key, name in pending:
        slot = _hashed_slot(key)
        free = [s for s in range(len(PALETTE)) if s not in taken]
        if free:
            slot = min(free, key=lambda s: (s - slot) % len(PALETTE))
        taken.add(slot)
        colors[name] = PALETTE[slot]
    return {name: colors[name] for name in labels}


def oklab(colors: Sequence[str], *, vision: str = "normal") -> np.ndarray:
    """Colours in OKLab (Ottosson 2020) × 100, as seen with normal or simulated colour vision.

    Parameters
    ----------
    colors
        CSS hex colours (``#rrggbb``).
    vision
        ``"normal"``, ``"deuteranopia"`` or ``"protanopia"`` (Machado et al. 2009,
        severity 1, applied in linear RGB).

    Returns
    -------
    numpy.ndarray
        colours × (L, a, b); Euclidean distances are perceptual differences
        (about 2 is just noticeable).
    """
    rgb = np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in colors])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(linear @ _SIMULATION[vision].T, 0, 1)
    lms = np.cbrt(linear @ _TO_LMS.T)
    return 100 * lms @ _TO_LAB.T


_SIMULATION = {
    "normal": np.eye(3),
    "deuteranopia": np.array(
        [
            [0.367322, 0.860646, -0.227968],
            [0.280085, 0.672501, 0.047413],
            [-0.01182, 0.04294, 0.968881],
        ]
    ),
    "protanopia": np.array(
        [
            [0.152286, 1.052583, -0.204868],
            [0.114503, 0.786281, 0.099216],
            [-0.003882, -0.048116, 1.051998],
        ]
    ),
}
_TO_LMS = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_TO_LAB = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)

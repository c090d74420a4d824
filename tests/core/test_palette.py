"""Colours by identity: fixed per name, distinct for 22 types, readable when colour-blind."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from plotly.colors import qualitative

from deconv_core.palette import OTHER_COLOR, PALETTE, assign_colors, color_key, oklab
from deconv_core.signatures import load_signature

# CIBERSORT's LM22 cell-type names (Newman et al. 2015, Table S1): the 22-type legend.
LM22 = [
    "B cells naive", "B cells memory", "Plasma cells", "T cells CD8", "T cells CD4 naive",
    "T cells CD4 memory resting", "T cells CD4 memory activated", "T cells follicular helper",
    "T cells regulatory (Tregs)", "T cells gamma delta", "NK cells resting", "NK cells activated",
    "Monocytes", "Macrophages M0", "Macrophages M1", "Macrophages M2", "Dendritic cells resting",
    "Dendritic cells activated", "Mast cells resting", "Mast cells activated", "Eosinophils",
    "Neutrophils",
]  # fmt: skip


def _closest(colors: list[str], vision: str) -> float:
    lab = oklab(colors, vision=vision)
    return min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(lab, 2))


def test_oklab_matches_the_published_reference_values():
    # Ottosson's OKLab: white is L=1, a=b=0; pure red is (0.628, 0.225, 0.126).
    lab = oklab(["#FFFFFF", "#FF0000"]) / 100
    assert lab[0] == pytest.approx([1.0, 0.0, 0.0], abs=1e-3)
    assert lab[1] == pytest.approx([0.628, 0.225, 0.126], abs=1e-3)


@pytest.mark.parametrize(
    ("vision", "floor"), [("normal", 10.0), ("deuteranopia", 5.5), ("protanopia", 5.5)]
)
def test_a_22_type_legend_has_no_two_colours_alike(vision, floor):
    colors = list(assign_colors(LM22).values())
    assert len(set(colors)) == 22
    assert _closest(colors, vision) >= floor
    # the palette it replaced had two near-identical magentas and, for deuteranopes,
    # two browns that look the same
    assert _closest(list(qualitative.Dark24[:22]), vision) < floor


def test_shipped_signatures_get_distinct_colours_and_ten_types_the_most_distinct():
    for name in ("TIL10", "immunoStates"):
        types = load_signature(name).cell_types
        assert len(set(assign_colors(types).values())) == len(types), name
    til10 = list(assign_colors(load_signature("TIL10").cell_types).values())
    assert _closest(til10, "normal") >= 15.0
    assert _closest(til10, "deuteranopia") >= 7.0


def test_colour_follows_the_name_not_its_position_or_company():
    types = list(load_signature("TIL10").cell_types)
    forward = assign_colors(types)
    backward = assign_colors(types[::-1])
    assert forward == backward
    alone = assign_colors(["Neutrophils"])
    groups = assign_colors(["T cells", "Monocytic lineage", "B cells", "Neutrophils", "other"])
    assert forward["Neutrophils"] == alone["Neutrophils"] == groups["Neutrophils"]
    assert groups["other"] == OTHER_COLOR
    assert OTHER_COLOR not in forward.values()


def test_spellings_of_one_cell_type_share_a_key_and_a_colour():
    assert color_key("T.cells.CD4") == color_key("CD4 T cells") == color_key("cd4_t_cell")
    assert color_key("Neutrophils") == color_key("neutrophil")
    assert color_key("T.cells.CD4") != color_key("T.cells.CD8")
    assert assign_colors(["B.cells"])["B.cells"] == assign_colors(["B cells"])["B cells"]


def test_unknown_names_get_free_slots_whatever_their_order():
    names = ["Tumour cells", "Fibroblasts", "Endothelial cells", "Neutrophils", "Hepatocytes"]
    colors = assign_colors(names)
    assert len(set(colors.values())) == len(names)
    assert assign_colors(names[::-1]) == colors
    assert set(colors.values()) <= set(PALETTE)
    many = assign_colors([f"type {i}" for i in range(len(PALETTE))])
    assert len(set(many.values())) == len(PALETTE)

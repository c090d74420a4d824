"""Display names: the signature's own, else readable ids; never two columns under one name."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from deconv_core.labels import display_names, readable_name, with_display_names
from deconv_core.signatures import builtin_names, load_signature
from deconv_core.validation import InputError


def test_r_style_ids_become_readable():
    assert readable_name("T.cells.CD4") == "T cells CD4"
    assert readable_name("naive_B_cell") == "naive B cell"
    assert readable_name("NK..cells_") == "NK cells"
    assert readable_name("CD4 T cells") == "CD4 T cells"  # already readable
    assert readable_name("...") == "..."  # nothing left: the id as it is


def test_every_shipped_cell_type_has_a_display_name_and_they_are_unique():
    for name in builtin_names():
        sig = load_signature(name)
        assert set(sig.display_names) == set(sig.cell_types), name
        shown = [sig.shown_names[c] for c in sig.cell_types]
        assert len(set(shown)) == len(shown)
    til10 = load_signature("TIL10").shown_names
    assert til10["T.cells.CD4"] == "CD4 T cells" and til10["other"] == "other"


def test_names_that_would_merge_columns_keep_their_ids():
    names = display_names(["T.cells", "T_cells", "B.cells", "Mono"], {"Mono": "B cells"})
    assert names == {"T.cells": "T.cells", "T_cells": "T_cells", "B.cells": "B.cells",
                     "Mono": "Mono"}  # fmt: skip
    # a display name equal to another id would put two cell types under one name
    assert display_names(["a.b", "a b"]) == {"a.b": "a.b", "a b": "a b"}


def test_tables_are_renamed_for_the_screen_only():
    wide = pd.DataFrame({"T.cells.CD4": [0.5], "x": [0.5]})
    names = load_signature("TIL10").shown_names
    assert list(with_display_names(wide, names).columns) == ["CD4 T cells", "x"]
    assert list(wide.columns) == ["T.cells.CD4", "x"]  # input unchanged
    long = pd.DataFrame({"cell_type": ["Tregs", "odd"], "estimate": [0.1, 0.2]})
    assert list(with_display_names(long, names, column="cell_type")["cell_type"]) == [
        "Regulatory T cells",
        "odd",
    ]


def test_a_sidecar_names_cell_types_and_unknown_ones_are_refused(tmp_path):
    sig = load_signature("TIL10").matrix.iloc[:, :3]
    path = tmp_path / "mine.tsv"
    sig.to_csv(path, sep="\t", index_label="gene")
    sidecar = tmp_path / "mine.metadata.json"
    sidecar.write_text(json.dumps({"display_names": {"B.cells": "B lymphocytes"}}))
    loaded = load_signature(path)
    assert loaded.shown_names["B.cells"] == "B lymphocytes"
    assert loaded.shown_names["Macrophages.M1"] == "Macrophages M1"
    sidecar.write_text(json.dumps({"display_names": {"Nope": "x"}}))
    with pytest.raises(
        InputError, match="display names for unknown cell types, or that are not text \\(Nope\\)"
    ):
        load_signature(path)

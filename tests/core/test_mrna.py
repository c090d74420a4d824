"""mRNA-content factors borrowed by lineage for signatures without their own."""

import numpy as np
import pandas as pd

from deconv_core.deconvolve import deconvolve
from deconv_core.mrna import borrowed_mrna_factors
from deconv_core.signatures import Signature


def test_lineages_are_recognised_from_names(til10):
    til = til10.mrna_scaling
    names = ["CD14_positive_monocyte", "T cells CD8", "NK cells resting", "B cells naive", "Mast"]
    factors, unmatched = borrowed_mrna_factors(names)
    assert factors["CD14_positive_monocyte"] == til["Monocytes"]
    assert factors["T cells CD8"] == til["T.cells.CD8"]
    assert factors["NK cells resting"] == til["NK.cells"]
    assert factors["B cells naive"] == til["B.cells"]
    assert unmatched == ["Mast"]
    assert factors["Mast"] == np.median(
        [til[t] for t in ("Monocytes", "T.cells.CD8", "NK.cells", "B.cells")]
    )
    # Cell lines and tissues are not immune lineages: nothing is borrowed.
    assert borrowed_mrna_factors(["Jurkat", "IM-9", "Raji", "THP-1"]) == (
        {},
        ["Jurkat", "IM-9", "Raji", "THP-1"],
    )
    assert borrowed_mrna_factors(["Liver", "Brain", "Monocytes"])[0] == {}


def test_relative_mode_turns_mrna_shares_into_cell_shares(til10):
    """Planted: cells × mRNA per cell make the mRNA shares a bulk is made of."""
    columns = {"Monocytes": "Monocytes", "B.cells": "B cells", "T.cells.CD8": "T cells CD8"}
    matrix = til10.matrix[list(columns)].rename(columns=columns)
    sig = Signature(name="no factors", matrix=matrix)
    cells = pd.DataFrame(
        np.random.default_rng(3).dirichlet(np.ones(3), size=5),
        index=[f"S{i}" for i in range(5)],
        columns=list(columns.values()),
    )
    content = pd.Series({v: til10.mrna_scaling[k] for k, v in columns.items()})
    mrna = cells * content
    bulk = matrix.to_numpy() @ mrna.div(mrna.sum(axis=1), axis=0).T.to_numpy() * 1e6
    expr = pd.DataFrame(bulk, index=matrix.index, columns=cells.index)
    res = deconvolve(expr, sig, loss="squares")
    np.testing.assert_allclose(res.proportions.to_numpy(), cells.to_numpy(), atol=1e-6)
    info = [w for w in res.warnings if w.code == "mrna_factors_borrowed"]
    assert len(info) == 1 and "TIL10" in info[0].message
    shares = deconvolve(expr, sig, loss="squares", mrna_scaling=False)
    expected = mrna.div(mrna.sum(axis=1), axis=0)
    np.testing.assert_allclose(shares.proportions.to_numpy(), expected.to_numpy(), atol=1e-6)
    assert "mrna_factors_borrowed" not in {w.code for w in shares.warnings}

"""Input shapes that are refused, not guessed (issue 13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deconv_core.expression import load_expression
from deconv_core.io import read_table
from deconv_core.scale import linearise
from deconv_core.validation import InputError

GENES = ["CD8A", "CD4", "PTPRC", "MS4A1", "CD14", "LYZ", "GAPDH", "ACTB"] * 5


def _log_expression(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(8.0, 2.0, size=(len(GENES), 6)) + rng.normal(0, 2, size=(len(GENES), 1))
    return pd.DataFrame(values, index=[f"{g}_{i}" for i, g in enumerate(GENES)]).add_prefix("s")


def test_centred_data_are_refused_with_what_was_seen():
    log = _log_expression()
    centred = log.sub(log.mean(axis=1), axis=0)
    with pytest.raises(InputError, match=r"looks centred, z-scored or log-ratio \(\d+% of values"):
        linearise(centred)


def test_z_scored_data_are_refused_even_when_declared_log2():
    log = _log_expression(1)
    z = log.sub(log.mean(axis=1), axis=0).div(log.std(axis=1), axis=0)
    centred = r"declared as log2\(x\), but its values are centred per gene"
    with pytest.raises(InputError, match=centred):
        linearise(z, scale="log2")


def test_log_ratios_with_gene_means_near_zero_are_refused():
    rng = np.random.default_rng(2)
    # Two-colour array log ratios: mostly small, some negative, gene means near 0.
    ratios = pd.DataFrame(np.abs(rng.normal(0, 0.3, size=(40, 4))) - 0.05).add_prefix("s")
    with pytest.raises(InputError, match=r"typical gene mean is 0\.\d+, near 0"):
        linearise(ratios)


def test_log2_expression_with_a_few_negatives_is_still_unlogged():
    log = _log_expression(3)
    log.iloc[0, 0] = -0.5  # one value below 1 unit before the log
    result = linearise(log)
    assert result.transformation == "2**x"
    assert result.table.iloc[0, 0] == pytest.approx(2**-0.5)


def test_headerless_file_with_a_numeric_first_row_is_refused(tmp_path):
    path = tmp_path / "noheader.tsv"
    path.write_text("CD8A\t8.2643\t10.371\nCD4\t5.1\t6.2\nPTPRC\t9.0\t9.5\n")
    with pytest.raises(InputError, match=r"first row .* holds numbers \(8\.2643, 10\.371\)"):
        load_expression(path)


def test_whole_number_sample_names_are_still_a_header(tmp_path):
    path = tmp_path / "numbered.tsv"
    path.write_text("gene\t1\t2\nCD4\t5.1\t6.2\nPTPRC\t9.0\t9.5\n")
    table = read_table(path, what="expression").table
    assert table.columns.tolist() == ["1", "2"]
    assert table.index.tolist() == ["CD4", "PTPRC"]

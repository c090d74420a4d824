"""Property-based tests: any input either parses to a valid matrix or raises InputError.

Random delimiters, encodings, headers, blank and comment lines, text cells,
NaN/inf, duplicates, tiny and huge values and random bytes go through the
whole input path (read → orient → harmonise genes → linearise).  Nothing but
the documented :class:`InputError` may escape, and a successful parse is a
finite-or-NaN float64 matrix with unique string labels.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from deconv_core.expression import load_expression
from deconv_core.genes import harmonise_genes
from deconv_core.scale import linearise
from deconv_core.validation import InputError

GENES = ["CD3E", "CD8A", "MS4A1", "tp53", "ENSG00000141510", "1-Mar", "2-Sep", "NA", "", "CD4"]
CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr),
    st.floats(min_value=0, max_value=1e12).map(lambda x: f"{x:.6g}"),
    st.floats(min_value=1e-300, max_value=1e-3).map(lambda x: f"{x:.3e}"),
    st.integers(min_value=-5, max_value=10**9).map(str),
    st.sampled_from(["", "NA", "nan", "-", "#N/A", "inf", "-inf", "abc", "1,5", " 7 ", '"3"']),
)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid(table: pd.DataFrame) -> None:
    assert table.shape[0] >= 1 and table.shape[1] >= 1
    values = table.to_numpy(dtype=float)
    assert values.dtype == np.float64
    assert not np.isinf(values).any()
    assert table.index.is_unique and table.columns.is_unique
    assert all(isinstance(x, str) for x in table.index)
    assert all(isinstance(x, str) for x in table.columns)


@st.composite
def text_tables(draw):
    delimiter = draw(st.sampled_from([",", "\t", ";", " ", "|"]))
    n_rows = draw(st.integers(0, 6))
    n_cols = draw(st.integers(0, 4))
    header = [draw(st.sampled_from(["gene", "", "id"]))] + [
        draw(st.sampled_from(["S1", "S2", "S3", "S1", "", "Sample 4", "=cmd()"]))
        for _ in range(n_cols)
    ]
    lines = []
    if draw(st.booleans()):
        lines.append("# comment line")
    if draw(st.booleans()):
        lines.append("Title of the export")
    lines.append(delimiter.join(header))
    for _ in range(n_rows):
        if draw(st.booleans()) and draw(st.booleans()):
            lines.append("")
        cells = [draw(st.sampled_from(GENES))] + [draw(CELLS) for _ in range(n_cols)]
        lines.append(delimiter.join(cells))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = gzip.compress(data, mtime=0)
    name = draw(st.sampled_from(["x.csv", "x.tsv", "x.txt", "x", "x.gz"]))
    return data, name


@SETTINGS
@given(text_tables())
@example((b"gene,S1\nCD3E,-1.0\nCD8A,", "x.csv"))  # a gene without values: no numpy warning
def test_text_files_parse_or_raise_input_error(case):
    data, name = case
    try:
        loaded = load_expression(data, name=name)
    except InputError as err:
        message = str(err)
        assert message and "\n" not in message.strip()
        return
    _valid(loaded.table)


@SETTINGS
@given(st.binary(min_size=0, max_size=400))
def test_random_bytes_never_escape_as_other_errors(data):
    try:
        loaded = load_expression(data, name="upload.csv")
    except InputError:
        return
    _valid(loaded.table)


@SETTINGS
@given(
    st.lists(
        st.sampled_from(GENES + ["CD3E", "SEPT2", "ENSG00000141510.16"]), min_size=1, max_size=12
    ),
    st.data(),
)
def test_gene_harmonisation_keeps_every_sample_and_unique_ids(genes, data):
    values = data.draw(
        st.lists(st.floats(0, 1e6), min_size=len(genes) * 2, max_size=len(genes) * 2)
    )
    table = pd.DataFrame(np.array(values).reshape(len(genes), 2), index=genes, columns=["A", "B"])
    try:
        mapped = harmonise_genes(table)
    except InputError:
        return
    assert list(mapped.table.columns) == ["A", "B"]
    assert mapped.table.index.is_unique
    # Nothing is lost silently: every input row is either kept, merged (reported) or
    # reported as an empty id.
    codes = {w.code for w in mapped.warnings}
    if mapped.table.shape[0] < len(genes):
        assert codes & {"duplicate_genes", "empty_gene_ids"}


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(min_value=0, max_value=60),
            st.integers(0, 10**6).map(float),
        ),
        min_size=6,
        max_size=6,
    )
)
def test_linearise_returns_linear_values_or_input_error(values):
    table = pd.DataFrame(
        np.array(values).reshape(3, 2), index=["a", "b", "c"], columns=["S1", "S2"]
    )
    try:
        out = linearise(table)
    except InputError:
        return
    result = out.table.to_numpy()
    assert not np.isinf(result).any()
    assert (np.nan_to_num(result) >= 0).all()
    dropped = set(table.columns) - set(out.table.columns)
    assert dropped <= {w.sample for w in out.warnings}

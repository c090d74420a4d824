"""Counts on screen read as words do: "1 sample", and thousands separated ("1,100 genes")."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from deconv_core import load_expression, load_signature
from tests.app.conftest import bulk_tsv, new_app, sidebar_text, texts, uploader, visit
from ui import health
from ui.screen import counted


def test_counted_takes_the_number_the_count_needs():
    assert counted(1, "sample") == "1 sample"
    assert counted(0, "sample") == "0 samples"
    assert counted(31099, "gene") == "31,099 genes"
    assert counted(2, "cell type") == "2 cell types"
    assert counted(3, "mouse", "mice") == "3 mice"


def test_health_card_counts_one_sample_and_a_large_signature():
    expression = load_expression(bulk_tsv(1), name="one.tsv")
    til10 = load_signature("TIL10").matrix
    filler = pd.DataFrame(
        np.random.default_rng(0).uniform(1, 100, (1100 - len(til10), til10.shape[1])),
        index=[f"FILLER{i}" for i in range(1100 - len(til10))],
        columns=til10.columns,
    )
    buffer = io.StringIO()
    pd.concat([til10, filler]).to_csv(buffer, sep="\t", index_label="gene")
    big = load_signature(buffer.getvalue().encode(), name="big.tsv")
    findings = {item.check: item.finding for item in health.input_health(expression, big)}
    assert findings["Size"] == "1 sample × 470 genes"
    assert " of 1,100 big.tsv genes " in findings["Signature coverage"]


def test_one_sample_upload_is_counted_in_the_singular():
    at = visit(new_app(), "upload")
    uploader(at, "Bulk expression file").upload("one.tsv", bulk_tsv(1), "text/plain").run()
    assert not at.exception, at.exception
    assert "1 sample × 470 genes" in sidebar_text(at)
    assert any(t.startswith("one.tsv: 1 sample × 470 genes after") for t in texts(at, "caption"))
    visit(at, "results")
    assert any(t.endswith(", of 1 sample.") for t in texts(at, "success"))

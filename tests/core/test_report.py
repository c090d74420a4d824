"""The one writer: formula-safe CSV and XLSX, the zip, intervals, p-values and groups."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from deconv_core.analysis import assess, fit_signature
from deconv_core.expression import load_expression
from deconv_core.options import RunOptions
from deconv_core.qc import bootstrap_intervals
from deconv_core.report import bundle_zip, output_files, safe_text, to_csv_bytes, to_xlsx_bytes
from deconv_core.signatures import load_signature
from deconv_core.validation import DeconvWarning
from tests.conftest import planted_mixtures

EVIL = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "plain"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    expr, _ = planted_mixtures(5, noise=0.2, seed=9, n_filler=6000)
    path = tmp_path_factory.mktemp("bulk") / "bulk.tsv"
    expr.to_csv(path, sep="\t", index_label="gene")
    expression, signature = load_expression(path), load_signature("TIL10")
    options = RunOptions(mode="absolute", bootstrap=20)
    return expression, signature, options, fit_signature(expression, signature, options)


def test_safe_text_prefixes_formula_starts_only():
    assert [safe_text(v) for v in EVIL] == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "plain"]
    assert safe_text(-1.5) == -1.5  # numbers are numbers


def test_csv_never_starts_a_cell_with_a_formula_character():
    frame = pd.DataFrame({"=cell": [0.5, -0.25], "note": ["=HYPERLINK(1)", "ok"]}, index=EVIL[:2])
    text = to_csv_bytes(frame, index_label="sample").decode()
    rows = [line.split(",") for line in text.strip().splitlines()]
    cells = [c.strip('"') for row in rows for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert "-0.25" in cells  # negative numbers stay numbers
    assert "'=HYPERLINK(1)" in cells and "'=cell" in cells


def test_xlsx_writes_every_text_cell_as_a_string(tmp_path):
    frame = pd.DataFrame({"=cell": [0.5, np.nan], "note": ["=HYPERLINK(1)", "@x"]}, index=EVIL[:2])
    path = tmp_path / "t.xlsx"
    path.write_bytes(to_xlsx_bytes({"t": frame}, {"t": "sample"}))
    sheet = load_workbook(path)["t"]
    values = {(c.row, c.column): c for row in sheet.iter_rows() for c in row if c.value is not None}
    assert all(c.data_type != "f" for c in values.values())
    assert values[(1, 2)].value == "=cell" and values[(2, 1)].value == "=1+1"
    assert values[(2, 2)].value == 0.5
    with zipfile.ZipFile(path) as archive:
        assert "<f>" not in archive.read("xl/worksheets/sheet1.xml").decode()


def test_zip_holds_every_output_the_charts_and_a_reproducible_manifest(run):
    expression, signature, options, result = run
    extra = DeconvWarning("warning", "x", "=bad", "S1", cli="--flag", app="a control")
    analysis = assess(
        expression,
        signature,
        options,
        result,
        intervals=bootstrap_intervals(result, signature, n_resamples=20),
        p_values=pd.Series(0.002, index=result.fit.index, name="p_value"),
        side_inputs={"sample_metadata": {"file": "m.csv", "sha256": "abc"}},
    )
    analysis = type(analysis)(**{**analysis.__dict__, "warnings": (*analysis.warnings, extra)})
    charts = {"plotly.min.js": b"js", "composition_bars.html": b"<html></html>"}
    data = bundle_zip(analysis, charts=charts, extra={"comparison": {"measured_mapping": {}}})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        read = {n: archive.read(n) for n in names if n.endswith(".csv")}
        workbook = archive.read("results.xlsx")
    assert set(output_files(analysis)) | {"charts/plotly.min.js", "manifest.json"} <= names
    assert {"intervals.csv", "group_proportions.csv", "fit.csv"} <= names
    assert manifest["inputs"]["expression"]["sha256"] == expression.sha256
    assert manifest["inputs"]["signature"]["sha256"] == signature.sha256 != ""
    assert manifest["inputs"]["sample_metadata"]["sha256"] == "abc"
    assert (
        manifest["parameters"]["mode"] == "absolute" and manifest["parameters"]["bootstrap"] == 20
    )
    assert "comparison" in manifest and "numpy" in manifest["versions"]
    assert set(manifest["files"]) == names
    warnings = pd.read_csv(io.BytesIO(read["warnings.csv"]), keep_default_na=False)
    bad = warnings[warnings["code"] == "x"].iloc[0]
    assert (bad["message"], bad["command_line"], bad["dashboard"]) == (
        "'=bad",
        "'--flag",
        "a control",
    )
    table = pd.read_csv(io.BytesIO(read["intervals.csv"]))
    assert list(table.columns) == ["sample", "cell_type", "estimate", "lower", "upper"]
    fit = pd.read_csv(io.BytesIO(read["fit.csv"]))
    assert (fit["p_value"] == 0.002).all() and set(fit["verdict"]) <= {"good", "check", "poor"}
    groups = pd.read_csv(io.BytesIO(read["group_proportions.csv"]), index_col="sample")
    assert "T cells" in groups.columns and "other" in groups.columns
    np.testing.assert_allclose(groups.sum(axis=1), 1.0, atol=1e-5)  # 6 significant digits
    sheets = load_workbook(io.BytesIO(workbook)).sheetnames
    assert sheets[:3] == ["proportions", "group_proportions", "intervals"]
    assert sheets[-1] == "parameters"
    assert manifest["result"]["warnings"] == len(warnings)


def test_zip_from_files_already_written_holds_the_same_bytes(run):
    # The dashboard writes output_files once and hands them to bundle_zip (issue 12).
    analysis = assess(*run)
    charts = {"plotly.min.js": b"js"}

    def members(data: bytes) -> dict[str, bytes]:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {n: archive.read(n) for n in archive.namelist()}

    fresh = members(bundle_zip(analysis, charts=charts))
    reused = members(bundle_zip(analysis, charts=charts, files=output_files(analysis)))
    assert set(fresh) == set(reused) and "results.xlsx" in fresh
    for name in fresh:
        assert reused[name] == fresh[name], name

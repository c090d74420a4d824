"""The pure helpers behind the pages: downloads, side tables, report cards, demo data."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from deconv_core import (
    bootstrap_intervals,
    build_signature,
    deconvolve,
    load_expression,
    load_signature,
    read_single_cell,
)
from deconv_core.qc import standardised_residuals
from deconv_core.report import OUTPUT_FILES
from deconv_core.validation import DeconvWarning, InputError
from tests.app.conftest import ROOT, bulk_tsv
from ui import builds, downloads, health
from ui.charts import export_figures
from ui.tables import group_columns, match_samples, read_measured, read_metadata

EVIL = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "plain"]


@pytest.fixture(scope="module")
def run():
    data = bulk_tsv(5, seed=9)
    expression = load_expression(data, name="bulk.tsv")
    signature = load_signature("TIL10")
    return deconvolve(expression.table, signature, mode="absolute"), expression, signature


def test_safe_text_prefixes_formula_starts_only():
    assert [downloads.safe_text(v) for v in EVIL] == [
        "'=1+1",
        "'+SUM(A1)",
        "'-2+3",
        "'@cmd",
        "'\tx",
        "plain",
    ]
    assert downloads.safe_text(-1.5) == -1.5  # numbers are numbers


def test_csv_never_starts_a_cell_with_a_formula_character():
    frame = pd.DataFrame({"=cell": [0.5, -0.25], "note": ["=HYPERLINK(1)", "ok"]}, index=EVIL[:2])
    frame.index.name = "sample"
    text = downloads.to_csv_bytes(frame).decode()
    rows = [line.split(",") for line in text.strip().splitlines()]
    cells = [c.strip('"') for row in rows for c in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert "-0.25" in cells  # negative numbers stay numbers
    assert "'=HYPERLINK(1)" in cells and "'=cell" in cells


def test_xlsx_writes_every_text_cell_as_a_string(tmp_path):
    frame = pd.DataFrame({"=cell": [0.5, np.nan], "note": ["=HYPERLINK(1)", "@x"]}, index=EVIL[:2])
    data = downloads.to_xlsx_bytes({"t": frame}, index_labels={"t": "sample"})
    path = tmp_path / "t.xlsx"
    path.write_bytes(data)
    sheet = load_workbook(path)["t"]
    values = {(c.row, c.column): c for row in sheet.iter_rows() for c in row if c.value is not None}
    assert all(c.data_type != "f" for c in values.values())
    assert values[(1, 2)].value == "=cell" and values[(2, 1)].value == "=1+1"
    assert values[(2, 2)].value == 0.5
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml


def test_zip_holds_every_output_the_charts_and_a_reproducible_manifest(run):
    result, expression, signature = run
    figures = export_figures(result)
    data = downloads.bundle_zip(
        result,
        expression,
        signature,
        parameters={"mode": "absolute"},
        extra_inputs={"sample_metadata": {"file": "m.csv", "sha256": "abc"}},
        figures={k: (v, {"displaylogo": False}) for k, v in figures.items()},
        warnings=[DeconvWarning("warning", "x", "=bad", "S1")],
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        assert set(OUTPUT_FILES) <= names
        assert {"results.xlsx", "charts/plotly.min.js", "charts/composition_bars.html"} <= names
        manifest = json.loads(archive.read("manifest.json"))
        html = archive.read("charts/residual_heatmap.html").decode()
        warnings_csv = archive.read("warnings.csv").decode()
    assert manifest["inputs"]["expression"]["sha256"] == expression.sha256
    assert manifest["inputs"]["sample_metadata"]["sha256"] == "abc"
    assert manifest["parameters"] == {"mode": "absolute"}
    assert "numpy" in manifest["versions"]
    assert set(manifest["files"]) == names - {"manifest.json"}
    assert 'src="plotly.min.js"' in html
    assert "'=bad" in warnings_csv


def test_chart_html_is_self_contained(run):
    result, _, _ = run
    fig = export_figures(result)["composition_bars"]
    html = downloads.figure_html(fig, {"displaylogo": False}).decode()
    assert "<script" in html and "plotly.js v" in html and 'src="http' not in html


def test_read_metadata_sniffs_and_types_columns():
    data = "sample;group;cellularity\nS1;A;40\nS2;B;\nS3;A;55\n".encode("utf-8-sig")
    table = read_metadata(data, "m.csv")
    assert list(table.table.index) == ["S1", "S2", "S3"]
    assert pd.api.types.is_float_dtype(table.table["cellularity"])
    assert group_columns(table.table) == ["group"]
    with pytest.raises(InputError, match="not unique"):
        read_metadata(b"sample,group\nS1,A\nS1,B\n", "m.csv")
    with pytest.raises(InputError, match="at least one more column"):
        read_metadata(b"sample\nS1\n", "m.csv")


def test_read_measured_reads_percentages_and_rejects_counts():
    table = read_measured(b"sample,T cells,B cells\nS1,20,5\nS2,30,10\n", "flow.csv")
    assert table.table.loc["S1", "T cells"] == pytest.approx(0.2)
    assert "percentages" in table.notes[0]
    with pytest.raises(InputError, match="above 100"):
        read_measured(b"sample,T\nS1,2000\nS2,30\n", "flow.csv")
    with pytest.raises(InputError, match="negative"):
        read_measured(b"sample,T\nS1,-0.2\nS2,0.3\n", "flow.csv")


def test_match_samples_falls_back_to_case_insensitive_ids():
    table = pd.DataFrame({"g": ["a", "b"]}, index=["s1", "S2 "])
    matched = match_samples(["S1", "S2", "S3"], table)
    assert list(matched.index) == ["S1", "S2"]
    assert list(matched["g"]) == ["a", "b"]


def test_input_health_reports_transposed_counts_and_missing_genes():
    demo = load_expression(ROOT / "assets" / "demo" / "expression.tsv.gz").table
    counts = (demo.iloc[:800] * 10).round().astype(int).T  # samples as rows, whole numbers
    loaded = load_expression(counts.to_csv().encode(), name="counts.csv")
    items = {i.check: i for i in health.input_health(loaded, load_signature("TIL10"))}
    assert items["Orientation"].light == "yellow"
    assert items["Counts vs TPM"].light == "yellow" and "counts" in items["Counts vs TPM"].finding
    assert items["Size"].light == "yellow"  # 800 genes: not a whole transcriptome
    assert items["Signature coverage"].light == "green"
    card = health.coverage_card(loaded.table.index[:60], load_signature("TIL10"))
    assert set(card["light"]) <= set(health.LIGHTS.values())
    assert (card["light"] == health.LIGHTS["red"]).any()


def test_fit_report_names_the_genes_the_fit_misses(run):
    result, _, _ = run
    z = standardised_residuals(result)
    card = health.fit_report(result, z)
    assert list(card.index) == list(result.fit.index)
    assert set(card["light"]) <= set(health.LIGHTS.values())
    caution = DeconvWarning("warning", "outlier_fit", "Sample S1 differs.", "S1")
    flagged = health.fit_report(result, z, [caution])
    assert flagged.loc["S1", "light"] != health.LIGHTS["green"]
    assert "Sample S1 differs." in flagged.loc["S1", "reason"]


def test_demo_files_are_small_documented_and_deterministic():
    demo = ROOT / "assets" / "demo"
    assert (demo / "expression.tsv.gz").stat().st_size < 300_000
    provenance = (demo / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "TIL10" in provenance and "BSD-3-Clause" in provenance and "simulated" in provenance
    expression = load_expression(demo / "expression.tsv.gz")
    assert expression.table.shape == (5470, 24)
    assert not [w for w in expression.warnings if w.severity != "info"]
    meta = read_metadata((demo / "metadata.csv").read_bytes(), "metadata.csv")
    assert set(meta.table["group"]) == {"tumour, immune-hot", "tumour, immune-cold", "normal blood"}


def test_zip_and_workbook_hold_intervals_p_values_and_groups(run):
    result, expression, signature = run
    intervals = bootstrap_intervals(result, signature, n_resamples=20)
    p_values = pd.Series(0.002, index=result.fit.index, name="p_value")
    data = downloads.bundle_zip(
        result,
        expression,
        signature,
        parameters={"mode": "absolute", "bootstrap": 20},
        intervals=intervals,
        p_values=p_values,
        groups=signature.groups,
        warnings=[*signature.warnings, DeconvWarning("warning", "x", "extra", "S1")],
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        read = {n: archive.read(n) for n in ("intervals.csv", "fit.csv", "group_proportions.csv")}
        workbook = archive.read("results.xlsx")
        manifest = json.loads(archive.read("manifest.json"))
    assert {"intervals.csv", "group_proportions.csv"} <= names
    table = pd.read_csv(io.BytesIO(read["intervals.csv"]))
    assert list(table.columns) == ["sample", "cell_type", "estimate", "lower", "upper"]
    assert len(table) == result.proportions.size
    assert (pd.read_csv(io.BytesIO(read["fit.csv"]))["p_value"] == 0.002).all()
    groups = pd.read_csv(io.BytesIO(read["group_proportions.csv"]), index_col="sample")
    assert "T cells" in groups.columns and "other" in groups.columns
    np.testing.assert_allclose(groups.sum(axis=1), 1.0, atol=1e-5)  # 6 significant digits
    sheets = load_workbook(io.BytesIO(workbook)).sheetnames
    assert sheets[:3] == ["proportions", "intervals", "fit"] and "group_proportions" in sheets
    assert manifest["result"]["warnings"] >= 1


def test_fit_report_carries_the_p_values(run):
    result, _, _ = run
    p_values = pd.Series(np.linspace(0.001, 0.5, len(result.fit)), index=result.fit.index)
    card = health.fit_report(result, p_values=p_values)
    np.testing.assert_allclose(card["p_value"], p_values)
    assert health.fit_report(result)["p_value"].isna().all()


def test_single_cell_files_are_those_of_the_command_line(tmp_path):
    folder = ROOT / "tests" / "fixtures" / "singlecell"
    assert builds.label_columns((folder / "labels.csv").read_bytes()) == ["cell_type"]
    assert builds.label_columns(b"cell\tcell_type\tbatch\nc1\tT\tb1\n") == ["cell_type", "batch"]
    data = read_single_cell(folder / "counts.csv.gz", labels=folder / "labels.csv")
    built = build_signature(data, n_mixtures=5, name="pbmc")
    files = builds.signature_files(built, "pbmc", provenance={"counts": "counts.csv.gz"})
    assert set(files) == {
        "pbmc.tsv",
        "pbmc.metadata.json",
        "pbmc.validation.csv",
        "pbmc.markers.csv",
        "pbmc.cells.csv",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    again = load_signature(str(tmp_path / "pbmc.tsv"))
    assert again.mrna_scaling == pytest.approx(built.signature.mrna_scaling)
    np.testing.assert_allclose(again.matrix, built.signature.matrix, rtol=1e-5)
    assert list(again.matrix.index) == list(built.signature.matrix.index)

"""The pure helpers behind the pages: charts, side tables, health card, demo data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core import (
    build_signature,
    deconvolve,
    load_expression,
    load_signature,
    read_single_cell,
)
from deconv_core.analysis import assess
from deconv_core.options import RunOptions
from deconv_core.validation import InputError
from tests.app.conftest import ROOT, bulk_tsv
from ui import builds, health
from ui.charts import chart_files, export_figures, figure_html
from ui.tables import group_columns, match_samples, read_measured, read_metadata

EVIL = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "plain"]


@pytest.fixture(scope="module")
def run():
    data = bulk_tsv(5, seed=9)
    expression = load_expression(data, name="bulk.tsv")
    signature = load_signature("TIL10")
    return deconvolve(expression.table, signature, mode="absolute"), expression, signature


@pytest.fixture(scope="module")
def analysis(run):
    result, expression, signature = run
    return assess(expression, signature, RunOptions(mode="absolute"), result)


def test_chart_html_is_self_contained(analysis):
    figures = export_figures(analysis)
    html = figure_html(figures["composition_bars"], {"displaylogo": False}).decode()
    assert "<script" in html and "plotly.js v" in html and 'src="http' not in html
    files = chart_files(figures, image_format="png")
    assert (
        "plotly.min.js" in files
        and 'src="plotly.min.js"' in files["residual_heatmap.html"].decode()
    )


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


def test_measured_percentages_with_samples_written_as_fractions_are_refused():
    # The QA file: S1 in percent, S2-S12 as fractions; each sample's types add up to ~70%.
    rng = np.random.default_rng(0)
    shares = rng.dirichlet(np.ones(6), size=12) * 0.7
    shares[0] *= 100
    frame = pd.DataFrame(shares, index=[f"S{i}" for i in range(1, 13)], columns=list("ABCDEF"))
    data = frame.to_csv(index_label="sample").encode()
    with pytest.raises(InputError, match="mixes units") as caught:
        read_measured(data, "truth_mixed.csv")
    message = str(caught.value)
    assert "S1 is in percentages" in message and "S2, S3, S4, S5, S6 and 6 more have" in message
    assert message.endswith("all as fractions (0–1) or all as percentages (0–100).")
    assert "\n" not in message


def test_measured_percentages_with_small_or_empty_samples_are_read_as_percentages():
    # A rare-cell panel (every value under 1%) next to a sample with 2%, and an all-zero
    # sample: one unit fits, nothing is refused.
    rare = b"sample,pDC,mDC,basophils\nS1,0.3,0.6,0.2\nS2,0.9,1.8,0.4\nS3,0,0,0\nS4,0.2,0.4,0.1\n"
    table = read_measured(rare, "rare.csv").table
    assert table.loc["S2", "mDC"] == pytest.approx(0.018)
    assert table.loc["S1", "pDC"] == pytest.approx(0.003)
    # A sample whose panel measured only a rare population (review): compared with the
    # other samples' totals over that population, not over every category.
    partial = b"sample,T cells,B cells,pDC\nS1,60,20,0.5\nS2,55,25,0.4\nS3,,,0.6\n"
    table = read_measured(partial, "flow.csv").table
    assert table.loc["S3", "pDC"] == pytest.approx(0.006)
    assert table.loc["S1", "T cells"] == pytest.approx(0.6)


SHARED = Path("/work/shared/data")


@pytest.mark.parametrize(
    ("folder", "column", "categories"),
    [
        ("GSE19830_ShenOrr2010_rat_tissue_mixtures", "is_pure_sample", ["Liver", "Brain", "Lung"]),
        (
            "GSE11058_Abbas2009_cellline_mixtures",
            "mixture",
            ["Jurkat", "IM-9", "Raji", "THP-1"],
        ),
    ],
)
def test_measured_fractions_ignore_text_and_true_false_columns_with_a_note(
    folder, column, categories
):
    path = SHARED / folder / "ground_truth_fractions.tsv"
    if not path.exists():
        pytest.skip("benchmark data not on this machine")
    measured = read_measured(path.read_bytes(), path.name)
    assert list(measured.table.columns) == categories
    assert measured.notes[0] == (
        f"Column {column} was ignored: it holds text or true/false values (a description of "
        "the samples), not fractions."
    )


def test_measured_fractions_name_every_ignored_column():
    data = b"sample,kind,T cells,pure\nS1,blood,0.3,TRUE\nS2,tumour,0.2,FALSE\n"
    measured = read_measured(data, "flow.csv")
    assert list(measured.table.columns) == ["T cells"]
    assert measured.notes[0].startswith("Columns kind, pure were ignored: they hold text")


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
    card = health.coverage_card(loaded.table.iloc[:60], load_signature("TIL10"))
    assert set(card["light"]) <= set(health.LIGHTS.values())
    assert (card["light"] == health.LIGHTS["red"]).any()


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


def test_screen_tables_show_one_format_per_quantity_names_and_no_none():
    import streamlit as st

    from deconv_core.signatures import load_signature
    from ui.screen import MISSING, screen_table

    findings = pd.DataFrame(
        {
            "cell_type": ["Tregs, NK.cells", "T.cells.CD4"],
            "genes": ["CTLA4", None],
            "estimate": [float("nan"), 0.12345],
            "fold": [5.56, 1.0],
            "r": [0.91234, float("nan")],
            "n": [4, 12],
        }
    )
    config = {
        "estimate": st.column_config.NumberColumn("estimate", format="percent"),
        "fold": st.column_config.NumberColumn("measured / predicted", format="%.1fx"),
        "r": st.column_config.NumberColumn("r", format="%.2f"),
    }
    styler, shown_config = screen_table(findings, config, load_signature("TIL10").shown_names)
    html = styler.to_html()
    assert "12.3%" in html and "5.6x" in html and "0.91" in html and "0.912" not in html
    assert "None" not in html and "nan" not in html and html.count(MISSING) == 3
    assert "Regulatory T cells, NK cells" in html and "CD4 T cells" in html
    assert shown_config["estimate"]["type_config"]["format"] is None  # the Styler's text wins
    assert shown_config["estimate"]["label"] == "estimate"
    assert styler.data["estimate"].iloc[1] == 0.12345  # the cell keeps its number
    assert list(findings["cell_type"]) == ["Tregs, NK.cells", "T.cells.CD4"]  # input unchanged


def test_large_screen_tables_skip_the_styler_but_keep_the_formats():
    import streamlit as st

    from ui.screen import MAX_STYLED_CELLS, MISSING, screen_table

    rows = MAX_STYLED_CELLS // 2 + 1
    frame = pd.DataFrame({"estimate": np.full(rows, 0.1234), "note": [None] * rows})
    config = {"estimate": st.column_config.NumberColumn("estimate", format="percent")}
    shown, shown_config = screen_table(frame, config)
    assert isinstance(shown, pd.DataFrame)  # no Styler: seconds saved on 1,000 samples
    assert shown["estimate"].iloc[0] == pytest.approx(12.34)
    assert shown_config["estimate"]["type_config"]["format"] == "%.1f%%"  # "12.3%"
    assert (shown["note"] == MISSING).all()
    assert frame["estimate"].iloc[0] == 0.1234  # input unchanged


def test_the_health_card_names_every_kind_of_gene_id_change():
    """Versioned mouse Ensembl ids lost their suffix with only a note among the warnings:
    the card's "Renamed genes" item said nothing of them."""
    from deconv_core.genes import CHANGE_KINDS

    assert set(health.RENAME_LABELS) == set(CHANGE_KINDS) - {"duplicate"}
    ids = [f"ENSMUSG000000000{n}.{v}" for n, v in (("01", 3), ("28", 2), ("31", 9), ("37", 1))]
    expr = pd.DataFrame(np.arange(1.0, 13.0).reshape(4, 3), index=ids, columns=["a", "b", "c"])
    loaded = load_expression(expr.to_csv(sep="\t").encode(), name="mouse.tsv")
    items = {i.check: i for i in health.input_health(loaded, load_signature("TIL10"))}
    assert items["Renamed genes"].finding == "4 Ensembl version dropped"
    assert "without their version suffix" in items["Renamed genes"].explanation

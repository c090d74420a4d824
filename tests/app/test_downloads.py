"""The result downloads are files stored with the page, not made on click.

A file made on click (``st.download_button`` with a callable) is stored
unreferenced, and any session's next two script runs delete it: under
concurrent use the browser's fetch could meet a 404 (issue 16,
``benchmarks/concurrency.py``).  Drawn with their bytes, the files stay
referenced while their buttons are shown, and the same run gives the same
files (one cached build) on every rerun and on both pages.
"""

from __future__ import annotations

import io
import zipfile

import pandas as pd

from tests.app.conftest import new_app, prepare_downloads, texts, visit

DOWNLOADS = (
    "Proportions (CSV)",
    "Intervals (CSV)",
    "Fit (CSV)",
    "Warnings (CSV)",
    "Tables (XLSX)",
    "Everything (zip",
)


def _downloads(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Label → media URL of the result downloads; none of them deferred to the click."""
    buttons = [b.proto for b in at.download_button if b.proto.label.startswith(DOWNLOADS)]
    assert [b.label for b in buttons if b.deferred_file_id] == []
    return {b.label: b.url for b in buttons}


def test_result_downloads_are_stored_with_the_page_and_survive_reruns(demo_app):
    visit(demo_app, "results")
    assert not demo_app.exception
    assert _downloads(demo_app) == {}  # written only when asked for (issue 12)
    prepare_downloads(demo_app)
    assert not demo_app.exception
    urls = _downloads(demo_app)
    assert sorted(label.split(" (")[0] for label in urls) == sorted(
        d.split(" (")[0] for d in DOWNLOADS
    )
    assert all("/media/" in url for url in urls.values()), urls
    assert urls["Tables (XLSX)"].endswith(".xlsx")
    assert next(u for label, u in urls.items() if label.startswith("Everything")).endswith(".zip")

    demo_app.run()  # a rerun (any widget) keeps the very same files
    assert _downloads(demo_app) == urls
    visit(demo_app, "qc")  # and QC offers the same run's files
    assert not demo_app.exception
    assert _downloads(demo_app) == urls


def test_mapped_measured_fractions_put_the_agreement_into_the_xlsx_and_the_zip(tmp_path):
    from openpyxl import load_workbook

    from deconv_core.analysis import run_analysis
    from deconv_core.expression import load_expression
    from deconv_core.options import RunOptions
    from deconv_core.signatures import load_signature
    from tests.conftest import planted_mixtures
    from ui.widgets import _ZIP, _download_files

    expr, truth = planted_mixtures(6, noise=0.1, seed=3, n_filler=200)
    expr.to_csv(tmp_path / "bulk.tsv", sep="\t", index_label="gene")
    expression = load_expression(tmp_path / "bulk.tsv")
    analysis = run_analysis(expression, load_signature("TIL10"), RunOptions(mode="relative"))
    measured = truth[["Neutrophils"]].rename(columns={"Neutrophils": "neutrophil %"})
    context = {"measured": measured, "mapping": {"neutrophil %": ["Neutrophils"]}}
    files = _download_files(analysis, "png", context, {})
    book = load_workbook(io.BytesIO(files["results.xlsx"]))
    rows = list(book["agreement"].values)
    assert rows[1][:2] == ("neutrophil %", 6)
    assert book["agreement"].cell(2, 3).number_format == "0.00"
    with zipfile.ZipFile(io.BytesIO(files[_ZIP])) as archive:
        table = pd.read_csv(io.BytesIO(archive.read("agreement.csv")), index_col="category")
    assert table.loc["neutrophil %", "pearson_r"] > 0.9
    # exports keep the signature's ids (the screen shows display names)
    header = files["proportions.csv"].decode().splitlines()[0].split(",")
    assert "T.cells.CD4" in header and "CD4 T cells" not in header


def _fit_verdicts(fit_csv: bytes) -> dict[str, int]:
    return pd.read_csv(io.BytesIO(fit_csv), index_col=0)["verdict"].value_counts().to_dict()


def _zip_member(bundle: bytes, name: str) -> bytes | None:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return archive.read(name) if name in archive.namelist() else None


def _screen_verdicts(at) -> pd.Series:  # type: ignore[no-untyped-def]
    return at.dataframe[0].value["verdict"]


def _card_box(at, sample: str) -> str:  # type: ignore[no-untyped-def]
    at.selectbox(key="results_card_sample").set_value(sample).run()
    found = [t for kind in ("success", "warning", "error") for t in texts(at, kind)]
    return next(t for t in found if t.startswith(f"**{sample}:"))


def test_downloads_and_cards_follow_the_methods_verdicts_in_every_session(served):
    # Another session of the same server prepares the files of the plain run first: the
    # file cache is shared by all sessions, so it must not hand them to a run with methods.
    plain = new_app()
    plain.button(key="load_demo").click().run()
    visit(plain, "results")
    prepare_downloads(plain)
    plain_screen = _screen_verdicts(plain)
    assert _fit_verdicts(served["fit.csv"]) == plain_screen.value_counts().to_dict()

    at = new_app()
    at.button(key="load_demo").click().run()
    visit(at, "results")
    prepare_downloads(at)
    at.switch_page("pages/5_Methods.py").run()
    visit(at, "results")  # the methods' disagreement now joins the verdicts
    assert not at.exception, at.exception
    screen = _screen_verdicts(at)
    changed = [s for s in screen.index if plain_screen[s] == "good" and screen[s] != "good"]
    assert changed, "the methods change no demo verdict"
    assert _fit_verdicts(served["fit.csv"]) == screen.value_counts().to_dict()
    bundle = served["deconvolution_results.zip"]
    assert _zip_member(bundle, "methods.csv") and _zip_member(bundle, "methods_agreement.csv")
    assert _fit_verdicts(_zip_member(bundle, "fit.csv")) == screen.value_counts().to_dict()

    # The card of a sample the methods turned from good: each session gets its own.
    sample = changed[0]
    assert f"{sample}: good**" in _card_box(plain, sample)
    assert f"{sample}: {screen[sample]}**" in _card_box(at, sample)
    assert f"<b>Verdict: {screen[sample]}:" in served[f"card_{sample}.html"].decode()

    plain.run()  # and the session without methods keeps its own files
    assert _fit_verdicts(served["fit.csv"]) == plain_screen.value_counts().to_dict()
    assert _zip_member(served["deconvolution_results.zip"], "methods.csv") is None

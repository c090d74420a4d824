"""The expensive checks run only when a view asks for them, cached by content (issue 12).

Results draws from the fit and the permutation p-values alone; the bootstrap
intervals wait for the intervals toggle, the leave-gene-out checks for the
QC page (or the Results button, or the downloads), the files for "Prepare
the downloads".  What they give once asked for is what the command line
writes for the same options.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import streamlit as st

from deconv_core.cli import main
from tests.app.conftest import bulk_tsv, new_app, prepare_downloads, texts, uploader, visit
from ui import trust, views, widgets

DATA = bulk_tsv(6, seed=41)


@pytest.fixture
def calls(monkeypatch):
    """Count the calls of the expensive computations, which still run for real."""
    counts: Counter[str] = Counter()

    def counted(name, real):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            counts[name] += 1
            if name == "bootstrap":
                assert callable(kwargs["progress"])  # the page's progress bar moves
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        trust, "bootstrap_intervals", counted("bootstrap", trust.bootstrap_intervals)
    )
    monkeypatch.setattr(trust, "flag_confounders", counted("confounding", trust.flag_confounders))
    monkeypatch.setattr(widgets.report, "bundle_zip", counted("zip", widgets.report.bundle_zip))
    st.cache_data.clear()  # counts start from nothing computed
    yield counts
    st.cache_data.clear()


def _results(name: str = "bulk.tsv"):  # type: ignore[no-untyped-def]
    at = visit(new_app(), "upload")
    uploader(at, "Bulk expression file").upload(name, DATA, "text/plain")
    at.run()
    at = visit(at, "results")
    assert not at.exception, at.exception
    return at


def _file_downloads(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [b.label for b in at.download_button if b.key.startswith("results_dl")]


def test_results_wait_for_nothing_expensive_until_asked(calls):
    at = _results()
    assert calls == {}
    assert views.GENE_CHECKS_PENDING in texts(at, "caption")  # the verdict says what it lacks
    assert _file_downloads(at) == [] and at.button(key="results_dl_prepare")
    at.segmented_control(key="results_loss").set_value("squares").run()
    at.segmented_control(key="results_level").set_value("groups").run()
    assert not at.exception and calls == {}

    at.segmented_control(key="results_level").set_value("cell types").run()
    at.toggle(key="results_intervals").set_value(True).run()
    assert not at.exception and calls == {"bootstrap": 1}
    at.button(key="run_gene_checks").click().run()
    assert not at.exception and calls == {"bootstrap": 1, "confounding": 1}
    assert views.GENE_CHECKS_PENDING not in texts(at, "caption")

    prepare_downloads(at)  # every check is already cached: only the files are new
    assert not at.exception and calls == {"bootstrap": 1, "confounding": 1, "zip": 1}
    assert "Intervals (CSV)" in _file_downloads(at)
    visit(at, "qc")  # same run: nothing computed again
    assert not at.exception and calls == {"bootstrap": 1, "confounding": 1, "zip": 1}


def test_preparing_the_downloads_puts_the_gene_checks_in_the_verdicts_above(calls):
    at = prepare_downloads(_results())
    assert not at.exception and calls["confounding"] == 1
    assert views.GENE_CHECKS_PENDING not in texts(at, "caption")
    assert "Fit (CSV)" in _file_downloads(at)


def test_a_switch_of_mode_keeps_the_permutation_p_values(calls, monkeypatch):
    runs = []
    real = trust.permutation_test
    monkeypatch.setattr(trust, "permutation_test", lambda *a, **k: runs.append(1) or real(*a, **k))
    at = _results()
    (first,) = at.session_state["analysis"].values()
    mode = at.segmented_control(key="results_mode")
    mode.set_value(next(m for m in ("relative", "absolute") if m != mode.value)).run()
    assert not at.exception
    (switched,) = at.session_state["analysis"].values()
    assert switched.options.mode != first.options.mode and len(runs) == 1
    pd.testing.assert_series_equal(switched.p_values, first.p_values)
    at.segmented_control(key="results_loss").set_value("squares").run()
    assert len(runs) == 2  # another fit: another test
    assert calls == {}


def test_qc_runs_the_gene_checks_and_results_then_use_them(calls):
    at = _results()
    visit(at, "qc")
    assert not at.exception and calls == {"confounding": 1}
    visit(at, "results")
    assert views.GENE_CHECKS_PENDING not in texts(at, "caption")
    assert calls == {"confounding": 1}


def test_checks_are_cached_by_content_across_sessions_and_file_names(calls):
    first = _results("mine.tsv")
    first.toggle(key="results_intervals").set_value(True).run()
    second = _results("the same numbers.tsv")  # another session, another name, same bytes
    second.toggle(key="results_intervals").set_value(True).run()
    assert not second.exception and calls == {"bootstrap": 1}
    assert second.dataframe[1].value.equals(first.dataframe[1].value)


def test_intervals_and_p_values_asked_for_equal_the_command_line(tmp_path):
    at = _results()
    at.toggle(key="results_intervals").set_value(True).run()
    assert not at.exception
    shown = at.dataframe[1].value
    (analysis,) = at.session_state["analysis"].values()
    options = analysis.options
    bulk = tmp_path / "bulk.tsv"
    bulk.write_bytes(DATA)
    flags = ["--mode", options.mode, "--exclude", options.exclude, "--loss", options.loss]
    flags += ["--bootstrap", "200", "--permutations", "500", "--seed", "0"]
    out = tmp_path / "cli"
    assert main(["run", str(bulk), "--signature", "TIL10", *flags, "--out", str(out)]) == 0
    cli = pd.read_csv(out / "intervals.csv")
    assert list(shown["sample"]) == list(cli["sample"].astype(str))
    for column in ("estimate", "lower", "upper"):  # the CSV keeps 6 significant digits
        np.testing.assert_allclose(shown[column], cli[column], rtol=0, atol=5e-7, err_msg=column)
    fit = pd.read_csv(out / "fit.csv", index_col=0)
    p_values = analysis.p_values.loc[fit.index.astype(str)]
    np.testing.assert_allclose(p_values, fit["p_value"], rtol=0, atol=5e-7)
    assert list(analysis.verdicts["verdict"]) == list(fit["verdict"])


def test_the_dashboard_runs_blas_on_one_thread():
    from threadpoolctl import threadpool_info

    import ui  # noqa: F401 - importing the dashboard's glue sets the limit

    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)

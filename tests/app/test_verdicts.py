"""The dashboard renders the core's one analysis: verdicts, flags, messages and downloads."""

from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import pandas as pd

from deconv_core.cli import main
from deconv_core.report import bundle_zip
from deconv_core.signatures import LM22_CELL_TYPES, load_signature
from tests.app.conftest import ROOT, charts, prepare_downloads, texts, uploader, visit

DEMO = ROOT / "assets" / "demo" / "expression.tsv.gz"
# A command-line flag in running text ("--exclude", "--loss squares").
FLAG = re.compile(r"(^|\s|\()--[a-z]")


def _bars(at):
    return next(c for c in charts(at) if "composition per sample" in json.dumps(c.proto.spec))


def test_card_and_flagged_samples_agree(demo_app):
    at = visit(demo_app, "qc")
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    card = frames[0]
    poor = set(card.index[card["verdict"] == "poor"])
    flags = next((f for f in frames if {"sample", "code", "reason"} <= set(f.columns)), None)
    poor_codes = ["not_deconvolved", "poor_fit", "fit_not_significant"]
    flagged = set() if flags is None else set(flags.loc[flags["code"].isin(poor_codes), "sample"])
    # S04's and S13's activated genes are set aside by the robust fit (their proportions do
    # not rest on them): no fit is poor, and the card and the flags say the same.
    assert poor == flagged == set()
    # Worst first: the card starts with the two samples to check.
    assert list(card.index[:2]) == ["S13", "S04"]
    assert list(card["verdict"][:2]) == ["check", "check"]
    callouts = texts(at, "error") + texts(at, "warning")
    assert any(t.startswith("**S13** (check): the robust fit set aside") for t in callouts)
    assert any(t.startswith("**S13**: Sample S13: the robust fit set aside") for t in callouts)


def test_results_charts_and_table_carry_the_verdict(demo_app):
    at = visit(demo_app, "results")
    assert not at.exception
    table = at.dataframe[0].value
    spec = json.loads(_bars(at).proto.spec)
    marks = {t["name"]: set(t["x"]) for t in spec["data"] if t.get("name", "").endswith(" fit")}
    assert marks == {"check fit": {"S04", "S13"}}
    assert table.loc["S13", "verdict"] == "check" and "set aside" in table.loc["S13", "reasons"]
    heatmap = next(
        json.loads(c.proto.spec) for c in charts(at) if "Proportions heatmap" in c.proto.spec
    )
    assert any(t.get("name") == "check fit" for t in heatmap["data"])
    summary = " ".join(texts(at, "warning"))
    assert "2 to check · 0 poor" in summary and "S13 (check), S04 (check)" in summary
    at.toggle(key="results_intervals").set_value(True).run()
    assert not at.exception
    strips = next(
        json.loads(c.proto.spec) for c in charts(at) if "confidence intervals" in c.proto.spec
    )
    marked = {t["name"]: set(t["x"]) for t in strips["data"] if t.get("name", "").endswith(" fit")}
    assert marked == {"check fit": {"S04", "S13"}}


def test_dashboard_messages_name_its_controls_not_flags(demo_app):
    for page in ("results", "qc", "signature", "upload"):
        at = visit(demo_app, page)
        assert not at.exception
        shown = [t for kind in ("error", "warning", "info", "caption") for t in texts(at, kind)]
        assert not [t for t in shown if FLAG.search(t)], page


def test_cli_and_dashboard_write_the_same_run(demo_app, tmp_path):
    at = prepare_downloads(visit(demo_app, "results"))
    assert not at.exception
    # the run the downloads were written from: every check computed, as the CLI does
    (analysis,) = [a for a in at.session_state["analysis"].values() if a.intervals is not None]
    assert analysis.p_values is not None and analysis.confounding is not None
    options = analysis.options
    assert (options.mode, options.bootstrap, options.permutations) == ("absolute", 200, 500)
    archive = zipfile.ZipFile(io.BytesIO(bundle_zip(analysis)))
    out = tmp_path / "cli"
    flags = ["--mode", "absolute", "--bootstrap", "200", "--permutations", "500", "--seed", "0"]
    assert main(["run", str(DEMO), "--signature", "TIL10", *flags, "--out", str(out)]) == 0
    for name in archive.namelist():
        if name.endswith(".csv"):
            assert archive.read(name) == (out / name).read_bytes(), name
    app_manifest = json.loads(archive.read("manifest.json"))
    cli_manifest = json.loads((out / "manifest.json").read_text())
    assert app_manifest["parameters"] == cli_manifest["parameters"]
    assert app_manifest["inputs"]["signature"] == cli_manifest["inputs"]["signature"]
    assert app_manifest["inputs"]["signature"]["sha256"] == load_signature("TIL10").sha256
    assert (
        app_manifest["inputs"]["expression"]["sha256"]
        == (cli_manifest["inputs"]["expression"]["sha256"])
    )
    assert app_manifest["result"] == cli_manifest["result"]


def _lm22_bytes() -> bytes:
    rng = np.random.default_rng(0)
    genes = list(load_signature("TIL10").matrix.index)
    genes += [f"G{i}" for i in range(547 - len(genes))]
    table = pd.DataFrame(
        rng.gamma(0.5, 200.0, size=(547, len(LM22_CELL_TYPES))),
        index=genes,
        columns=LM22_CELL_TYPES,
    )
    return table.to_csv(sep="\t", index_label="Gene symbol").encode()


def _upload_lm22(at):
    at = visit(at, "signature")
    at.segmented_control(key="signature_source").set_value("My own file").run()
    uploader(at, "Signature file").upload("LM22.txt", _lm22_bytes(), "text/plain")
    at.run()
    return visit(at, "results")


def test_lm22_switches_a_following_mode_to_relative_and_says_why(demo_app):
    at = visit(demo_app, "results")
    assert "other" in at.dataframe[0].value.columns  # the demo starts absolute
    assert any("Absolute: TIL10 is on whole-transcriptome TPM" in t for t in texts(at, "caption"))
    at = _upload_lm22(at)  # the demo's mode follows the data and signature
    assert not at.exception
    assert "other" not in at.dataframe[0].value.columns
    assert any("not meaningful with LM22.txt" in t for t in texts(at, "caption"))


def test_absolute_mode_chosen_with_lm22_is_refused_in_the_dashboard(demo_app):
    at = visit(demo_app, "results")
    at.segmented_control(key="results_mode").set_value("relative").run()
    at.segmented_control(key="results_mode").set_value("absolute").run()  # the user's choice
    at = _upload_lm22(at)
    assert not at.exception
    errors = texts(at, "error")
    assert any("not meaningful with LM22.txt" in t and "Relative under Mode" in t for t in errors)
    assert not any("--mode" in t for t in errors)
    at.segmented_control(key="results_mode").set_value("relative").run()
    assert not at.exception
    assert "other" not in at.dataframe[0].value.columns

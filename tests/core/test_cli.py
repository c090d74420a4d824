"""The command line: outputs, exit codes and error lines."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deconv_core.cli import main
from deconv_core.genes import current_symbol
from tests.conftest import planted_mixtures

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bulk_file(tmp_path):
    expr, _ = planted_mixtures(4, noise=0.05, seed=11)
    path = tmp_path / "bulk.tsv"
    expr.to_csv(path, sep="\t", index_label="gene")
    return path


def test_run_writes_every_output(bulk_file, tmp_path):
    out = tmp_path / "out"
    code = main(
        ["run", str(bulk_file), "--signature", "TIL10", "--mode", "absolute", "--out", str(out)]
    )
    assert code == 0
    props = pd.read_csv(out / "proportions.csv", index_col="sample")
    assert list(props.index) == ["S1", "S2", "S3", "S4"]
    assert props.columns[-1] == "other"
    np.testing.assert_allclose(props.sum(axis=1), 1.0, atol=1e-5)
    fit = pd.read_csv(out / "fit.csv", index_col="sample")
    assert {"pearson_r", "spearman_r", "rmse", "r2"} <= set(fit.columns)
    assert (fit["pearson_r"] > 0.9).all()
    cov = pd.read_csv(out / "coverage.csv", index_col="cell_type")
    assert len(cov) == 10
    warnings = pd.read_csv(out / "warnings.csv")
    assert list(warnings.columns[:5]) == ["severity", "code", "sample", "cell_type", "message"]
    residuals = pd.read_csv(out / "residuals.csv", index_col=0)
    assert residuals.shape[1] == 4
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["mode"] == "absolute"
    assert len(manifest["inputs"]["expression"]["sha256"]) == 64
    assert manifest["versions"]["numpy"] == np.__version__
    assert "scale_detected" in manifest["transformations"]


def test_loss_option_chooses_the_estimator_and_is_recorded(tmp_path):
    expr, _ = planted_mixtures(4, noise=0.1, seed=12)
    expr.loc["TCL1A", "S1"] *= 40  # a gene the cell types cannot explain
    path = tmp_path / "bulk.tsv"
    expr.to_csv(path, sep="\t", index_label="gene")
    props = {}
    for loss in ("huber", "squares"):
        out = tmp_path / loss
        args = ["run", str(path), "--signature", "TIL10", "--out", str(out)]
        assert main([*args, "--loss", loss] if loss == "squares" else args) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        params = manifest["parameters"]
        assert (params["loss"], params["weighting"]) == (loss, "auto")
        assert manifest["result"]["weighting"] == "none"  # what "auto" chose for TIL10
        props[loss] = pd.read_csv(out / "proportions.csv", index_col="sample")
        weights = pd.read_csv(out / "robustness.csv", index_col="gene")
        assert list(weights.columns) == ["S1", "S2", "S3", "S4"] and len(weights) > 100
        assert weights.to_numpy().max() <= 1.0 and weights.to_numpy().min() > 0.0
        if loss == "squares":
            assert (weights.to_numpy() == 1.0).all()
        else:
            assert weights.loc["TCL1A", "S1"] < 0.1
    # The one wild B-cell gene inflates least squares' B cells in S1 only.
    assert props["squares"].loc["S1", "B.cells"] > props["huber"].loc["S1", "B.cells"] + 0.05
    rest = ["S2", "S3", "S4"]
    np.testing.assert_allclose(props["squares"].loc[rest], props["huber"].loc[rest], atol=0.02)


def test_warnings_file_has_header_only_when_clean(tmp_path):
    expr, _ = planted_mixtures(3, seed=2)
    # TIL10 writes a few genes by their pre-2018 symbols (GUCY1A3); data named that way
    # are renamed and matched back, with notes: leave those genes out of a clean run.
    expr = expr.loc[[g for g in expr.index if current_symbol(g) == g]]
    path = tmp_path / "clean.tsv"
    expr.to_csv(path, sep="\t", index_label="gene")
    out = tmp_path / "o"
    assert (
        main(["run", str(path), "--signature", "TIL10", "--exclude", "none", "--out", str(out)])
        == 0
    )
    text = (out / "warnings.csv").read_text().strip().splitlines()
    assert text == ["severity,code,sample,cell_type,message,command_line,dashboard"]


def test_log_input_is_reported_in_manifest(tmp_path):
    expr, _ = planted_mixtures(3, seed=4)
    path = tmp_path / "log.csv"
    np.log2(expr + 1).to_csv(path)
    out = tmp_path / "o"
    assert main(["run", str(path), "--signature", "TIL10", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["transformations"]["scale_detected"].startswith("log2")
    codes = set(pd.read_csv(out / "warnings.csv")["code"])
    assert "log_scale" in codes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.tsv", "--signature", "TIL10", "--out", "o"], "Cannot find"),
        (["run", "TMP", "--signature", "TIL10", "--out", "o"], "not the expression file"),
        (["explain", "TMP", "--signature", "TIL10", "--gene", "CD8A", "--out", "o"], "a folder"),
        (["signatures", "--describe", "TIL10", "--expression", "TMP"], "is a folder, not"),
        (["run", "BULK", "--signature", "NOPE", "--out", "o"], "No built-in signature"),
        (["run", "BULK", "--signature", "TIL10"], "required"),
        (["run", "BULK", "--signature", "TIL10", "--mode", "x", "--out", "o"], "invalid choice"),
        (["run", "BULK", "--signature", "TIL10", "--loss", "l1", "--out", "o"], "invalid choice"),
        (["run", "BULK", "--signature", "TIL10", "--level", "2", "--out", "o"], "core run --help"),
        (["build-signature", "--counts", "TMP", "--out", "o"], "not the counts file"),
        # a pipe or stream: not "Cannot find", which it is not
        (["run", "FIFO", "--signature", "TIL10", "--out", "o"], "is a pipe or device, not a"),
        (["explain", "FIFO", "--signature", "TIL10", "--gene", "CD8A", "--out", "o"], "file first"),
        (["build-signature", "--counts", "FIFO", "--out", "o"], "save the counts data to a file"),
        (["run", "-", "--signature", "TIL10", "--out", "o"], "'-' (standard input) cannot be"),
    ],
)
def test_bad_input_exits_2_with_one_error_line(args, message, bulk_file, tmp_path, capsys):
    if "FIFO" in args:  # a named pipe, as <(...) or mkfifo gives
        os.mkfifo(tmp_path / "fifo")
        args = [str(tmp_path / "fifo") if a == "FIFO" else a for a in args]
    args = [str(bulk_file) if a == "BULK" else str(tmp_path) if a == "TMP" else a for a in args]
    args = [str(tmp_path / a) if a == "o" else a for a in args]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse usage errors exit from inside parse_args
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error:")
    assert message in err[0]


def test_text_cell_error_in_a_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("gene,S1,S2\nCD3E,1.5,oops\nCD8A,2,3\nMS4A1,4,5\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deconv_core",
            "run",
            str(bad),
            "--signature",
            "TIL10",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:")
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_signatures_lists_builtins(capsys):
    assert main(["signatures"]) == 0
    out = capsys.readouterr().out
    assert "TIL10" in out and "BSD-3-Clause" in out and "immunoStates" in out
    assert "Finotello" in out


def test_a_reader_that_stops_early_ends_the_listing_quietly():
    # `python -m deconv_core signatures | head -1`: the reader closes the pipe; here it is
    # closed before the child writes anything (its imports take seconds), so the first
    # write fails for certain.
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "deconv_core", "signatures"],
            stdout=write, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120,
        )  # fmt: skip
    finally:
        os.close(write)
    assert proc.returncode == 141
    assert proc.stderr == ""  # no "Broken pipe" line, no traceback


def test_every_option_of_every_command_says_what_it_does():
    import argparse

    from deconv_core.cli import build_parser

    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    silent = [
        f"{name} {action.option_strings or action.dest}"
        for name, parser in commands.choices.items()
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._HelpAction)
    ]
    assert silent == []


def test_samples_left_out_are_named_on_the_console(tmp_path, capsys):
    expr, _ = planted_mixtures(3, noise=0.05, seed=11)
    expr["EMPTY"] = np.nan  # no verdict row will say why these two are missing
    expr["ZERO"] = 0.0
    path = tmp_path / "bulk.tsv"
    expr.to_csv(path, sep="\t", index_label="gene")
    assert main(["run", str(path), "--signature", "TIL10", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 samples:")
    assert "warning: Sample EMPTY has no values at all; it was left out" in out
    assert "warning: Sample ZERO is zero for every gene; it was left out" in out
    explain = ["explain", str(path), "--signature", "TIL10", "--gene", "CD8A"]
    assert main([*explain, "--out", str(tmp_path / "cd8a.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and lines[3].startswith("warning: Sample EMPTY has no values")


def test_numpys_huge_pages_are_turned_off_unless_told(monkeypatch):
    from numpy._core.multiarray import _set_madvise_hugepage as toggle

    from deconv_core.hugepages import ordinary_pages

    before = toggle(True)  # the switch returns its previous state
    try:
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
        ordinary_pages()  # the user's setting is left alone
        assert toggle(True) is True
        monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE")
        ordinary_pages()
        assert toggle(True) is False
    finally:
        toggle(before)


@pytest.mark.parametrize(
    ("folder", "said"),
    [
        (True, "Cannot write to 'out': Permission denied; choose another folder."),
        (False, "Cannot write 'out': Permission denied; choose another path."),
    ],
)
def test_an_unwritable_output_is_refused_in_one_wording(folder: bool, said: str) -> None:
    from deconv_core import cli
    from deconv_core.validation import InputError

    with pytest.raises(InputError) as caught, cli._refusing_unwritable("out", folder=folder):
        raise PermissionError(13, "Permission denied")
    assert str(caught.value) == said


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_explain_writes_its_csv_with_the_umasks_mode_as_run_does(umask, bulk_file, tmp_path):
    # A staging file from tempfile.mkstemp is 0600 and kept that mode through the rename.
    previous = os.umask(umask)
    try:
        explain = ["explain", str(bulk_file), "--signature", "TIL10", "--gene", "CD8A"]
        assert main([*explain, "--out", str(tmp_path / "cd8a.csv")]) == 0
        run = ["run", str(bulk_file), "--signature", "TIL10", "--out", str(tmp_path / "r")]
        assert main(run) == 0
    finally:
        os.umask(previous)
    mode = (tmp_path / "cd8a.csv").stat().st_mode & 0o777
    assert mode == 0o666 & ~umask == (tmp_path / "r" / "fit.csv").stat().st_mode & 0o777


def test_file_advice_on_the_command_line_says_give_not_upload(bulk_file, tmp_path, capsys):
    import gzip
    import zipfile

    from deconv_core.io.tables import read_table
    from deconv_core.validation import InputError

    zipped = tmp_path / "bulk.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.write(bulk_file, "bulk.tsv")
    cut = tmp_path / "bulk.tsv.gz"
    cut.write_bytes(gzip.compress(bulk_file.read_bytes())[:-30])
    for path, advice in ((zipped, "Unzip it and give the CSV"), (cut, "give the uncompressed")):
        assert main(["run", str(path), "--signature", "TIL10", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert advice in err and "upload" not in err.lower()
        with pytest.raises(InputError) as caught:  # the dashboard keeps its own words
            read_table(path, what="expression")
        assert "upload" in caught.value.text("app")

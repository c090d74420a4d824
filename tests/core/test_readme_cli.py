"""The README's command line is the code's: options it names, files and columns it lists,
sentences it quotes from a run on the bundled demo."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from deconv_core.cli import build_parser, main
from deconv_core.options import BUILD_DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEMO = ROOT / "assets" / "demo" / "expression.tsv.gz"


def _section(start: str, end: str) -> str:
    """README text from the heading ``start`` to the text ``end`` (exclusive)."""
    head = README.index(start)
    return README[head : README.index(end, head)]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _commands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_the_readme_names_is_an_option_of_a_command():
    # The command line's sections, and Large cohorts up to its benchmark (whose options are
    # the benchmark script's own).
    text = _section("## Command line", "## Reading the trust numbers") + _section(
        "## Large cohorts", "`python benchmarks/dask_scale.py`"
    )
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))
    known = {
        option
        for parser in _commands().values()
        for action in parser._actions
        for option in action.option_strings
    }
    assert len(named) > 30  # the sections were found
    assert sorted(named - known) == []


def test_build_signature_help_gives_each_default():
    build = _commands()["build-signature"]
    options = {a.dest: a for a in build._actions}
    for name, value in BUILD_DEFAULTS.items():
        if name == "cells_per_mixture":  # not an option of the command
            continue
        action = options["mixtures" if name == "n_mixtures" else name]
        assert action.default == value, name
        assert f"default {value:g}" in action.help, name


# -- one run on the demo, with every optional file ----------------------------------------------

_TABLE_ROW = re.compile(r"^\| `([a-z_]+\.(?:csv|xlsx|json))` \| (.+) \|$", re.MULTILINE)
# Words in backticks in the table that are values or options, not columns.
_NOT_COLUMNS = {"fraction", "score", "other_sheets"}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo in absolute mode with --bootstrap, --method all and a card; sample S02 lacks
    CD8 T cells' markers (so sample_coverage.csv is written)."""
    folder = tmp_path_factory.mktemp("readme")
    expression = pd.read_csv(DEMO, sep="\t", index_col=0)
    expression.loc[["CD8A", "CD8B", "FCGBP", "CD248"], "S02"] = float("nan")
    bulk = folder / "demo.tsv"
    expression.to_csv(bulk, sep="\t")
    out = folder / "out"
    argv = ["run", str(bulk), "--signature", "TIL10", "--mode", "absolute", "--out", str(out)]
    code = main([*argv, "--bootstrap", "3", "--method", "all", "--card", "S04"])
    assert code == 0
    return out


def test_run_writes_every_file_of_the_readme_table_with_its_columns(demo_run):
    rows = dict(_TABLE_ROW.findall(README))
    assert {"proportions.csv", "fit.csv", "manifest.json"} <= set(rows)
    for name, content in rows.items():
        if content.startswith("dashboard"):  # agreement.csv: measured fractions, dashboard only
            assert not (demo_run / name).exists()
            continue
        assert (demo_run / name).is_file(), name
        words = set(re.findall(r"`([a-z][a-z0-9_]*)`", content)) - _NOT_COLUMNS
        if name.endswith(".csv"):
            table = pd.read_csv(demo_run / name)
            assert words <= set(table.columns), (name, words - set(table.columns))
        elif name.endswith(".xlsx"):
            sheets = openpyxl.load_workbook(demo_run / name, read_only=True).sheetnames
            assert words <= set(sheets), (name, words - set(sheets))
        else:
            manifest = json.loads((demo_run / name).read_text(encoding="utf-8"))
            assert words <= set(manifest), (name, words - set(manifest))
            assert set(manifest["checksums"]) == {
                p.name for p in demo_run.iterdir() if p.name != "manifest.json"
            }
    written = {p.name for p in demo_run.iterdir() if not p.name.startswith("card_")}
    assert written <= set(rows)  # nothing written that the table leaves out


def test_the_driven_by_genes_sentence_quoted_is_the_demos(tmp_path):
    quoted = (
        "the Regulatory T cells estimate (14.8%; 2.8% without these genes) is driven by CTLA4, "
        "ICOS (T/NK-cell activation and cytotoxicity panel), whose expression is 4.9x what the "
        "signature predicts from the other genes:",
        "activated cells, not more cells?",
    )
    assert " ... ".join(quoted) in _flat(README)
    argv = ["run", str(DEMO), "--signature", "TIL10", "--mode", "absolute", "--loss", "squares"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    warnings = pd.read_csv(tmp_path / "out" / "warnings.csv")
    messages = warnings.loc[warnings["code"] == "driven_by_genes", "message"]
    assert any(quoted[0] in m and m.endswith(quoted[1]) for m in messages)


def test_the_gene_explainer_sentence_quoted_is_the_demos(tmp_path, capsys):
    quoted = (
        "18% of CTLA4 in sample S04 is accounted for by Regulatory T cells (14%), CD4 T cells "
        "(3%); 82% is not explained by the signature's cell types"
    )
    assert f'"{quoted}"' in _flat(README)
    out = tmp_path / "ctla4.csv"
    argv = ["explain", str(DEMO), "--signature", "TIL10", "--gene", "CTLA4", "--out", str(out)]
    assert main(argv) == 0
    assert quoted in capsys.readouterr().out
    columns = pd.read_csv(out).columns
    assert {"sample", "gene", "observed", "fitted", "unexplained", "explained_share"} <= set(
        columns
    )
    assert {"weight", "sentence", "Tregs"} <= set(columns)

"""The tumour-board card: one sample's composition, verdict, warnings, cohort place and genes."""

from __future__ import annotations

import html
import io
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from deconv_core.analysis import assess, fit_signature
from deconv_core.card import (
    CARD_NAME_BYTES,
    build_card,
    card_file_name,
    card_file_names,
    card_html,
    check_sample,
    cohort_percentiles,
    sample_intervals,
)
from deconv_core.confounding import flag_confounders
from deconv_core.expression import load_expression
from deconv_core.options import RunOptions
from deconv_core.qc import bootstrap_intervals
from deconv_core.validation import DeconvWarning, InputError
from tests.conftest import planted_mixtures


@pytest.fixture(scope="module")
def run():
    """Six planted samples (noise), S2's T-cell activation genes raised 8-fold."""
    from deconv_core.signatures import load_signature

    til10 = load_signature("TIL10")
    expr, _ = planted_mixtures(6, noise=0.15, seed=5, n_filler=4000)
    activation = [g for g in ("CTLA4", "FASLG", "ICOS", "GZMB", "PRF1") if g in expr.index]
    expr.loc[activation, "S2"] *= 8
    data = expr.to_csv(sep="\t", index_label="gene").encode()
    expression = load_expression(data, name="bulk.tsv")
    options = RunOptions(mode="absolute", seed=1)
    result = fit_signature(expression, til10, options)
    return assess(expression, til10, options, result, confounding=flag_confounders(result, til10))


def test_one_sample_intervals_equal_its_rows_of_the_cohort_bootstrap(run):
    cohort = bootstrap_intervals(run.result, run.signature, n_resamples=30, seed=1)
    alone = sample_intervals(run, "S3", n_resamples=30)
    mine = cohort[cohort["sample"] == "S3"].reset_index(drop=True)
    assert list(alone["cell_type"]) == list(mine["cell_type"])
    np.testing.assert_allclose(alone[["lower", "upper"]], mine[["lower", "upper"]])
    assert (alone["lower"] <= alone["estimate"] + 1e-12).all()


def test_percentiles_place_the_sample_in_its_cohort():
    props = pd.DataFrame(
        {"A": [0.1, 0.2, 0.3, 0.2], "B": [0.5, 0.4, 0.3, 0.2]}, index=["s1", "s2", "s3", "s4"]
    )
    pct = cohort_percentiles(props, "s3")
    assert pct["A"] == 100.0 and pct["B"] == pytest.approx(100 * 1 / 3)
    # ties count half: s2 ties with s4 on A, is above s1
    assert cohort_percentiles(props, "s2")["A"] == pytest.approx(100 * 1.5 / 3)
    assert cohort_percentiles(props.loc[["s1"]], "s1").isna().all()


def test_card_holds_verdict_warnings_drivers_and_signature(run):
    card = build_card(run, "S2", intervals=sample_intervals(run, "S2", n_resamples=20))
    assert card.verdict == run.verdicts.loc["S2", "verdict"] != "good"
    assert list(card.composition.index) == [str(c) for c in run.result.proportions.columns]
    assert card.composition["estimate"].to_numpy() == pytest.approx(
        run.result.proportions.loc["S2"].to_numpy()
    )
    assert card.composition["percentile"].between(0, 100).all()
    # every warning about S2, and the run-wide ones; none about other samples
    about = {w for w in run.warnings if w.sample == "S2"}
    assert about and about <= set(card.warnings)
    assert all(w.sample in ("", "S2") for w in card.warnings)
    assert not card.drivers.empty
    assert set(card.drivers["genes"].str.split(", ").sum()) & {"CTLA4", "FASLG", "ICOS"}
    assert card.signature["name"] == "TIL10" and len(card.signature["sha256"]) == 64
    assert 0 < card.signature["coverage"] <= 1


def test_card_page_is_self_contained_and_prints_on_a4(run):
    card = build_card(run, "S2", intervals=sample_intervals(run, "S2", n_resamples=20))
    page = card_html(card)
    assert "@page { size: A4" in page and "<svg" in page
    # nothing to fetch: no scripts, links, external images, fonts or imports
    assert not re.search(r"<script|<link|src=|href=|@import|url\(|https?://", page)
    assert card.signature["sha256"] in page and "Sample S2" in page
    assert f"{100 * card.composition['estimate'].iloc[0]:.1f} %" in page
    for gene in card.drivers["genes"].iloc[0].split(", "):
        assert gene in page
    hostile = card_html(replace(card, sample="<script>alert(1)</script>"))
    assert "<script>" not in hostile and "&lt;script&gt;" in hostile


def test_card_names_cell_types_as_people_do_and_escapes_those_names(run):
    card = build_card(run, "S2", intervals=sample_intervals(run, "S2", n_resamples=20))
    page = card_html(card)
    assert "<td>CD4 T cells</td>" in page and ">T.cells.CD4<" not in page  # TIL10 display name
    named = replace(card, names={**card.names, "B.cells": "<i>B</i> & co"})
    page = card_html(named)
    assert "&lt;i&gt;B&lt;/i&gt; &amp; co" in page and "<i>B</i>" not in page


def test_names_are_escaped_and_unknown_samples_refused(run):
    with pytest.raises(InputError, match=r"No sample named 'S99'.*6 samples"):
        build_card(run, "S99")
    assert re.fullmatch(r"card__b__x_y-[0-9a-f]{10}\.html", card_file_name("<b>/x y"))
    assert card_file_name("S1", "png") == "card_S1.png"


def test_card_file_names_are_one_per_sample_and_short():
    samples = ["a/b", "a_b", "a:b", "a b", "S1", "s1", "x" * 5000, "y" * 5000 + "z", "日本" * 200]
    names = card_file_names(samples)
    assert list(names) == samples
    assert len({n.casefold() for n in names.values()}) == len(samples)  # apart even ignoring case
    assert names["a_b"] == "card_a_b.html"  # a name safe as it is stays as it is
    assert all(len(n.encode("utf-8")) <= CARD_NAME_BYTES + 30 for n in names.values())
    assert card_file_name("x" * 5000) != card_file_name("x" * 4999)
    # a name that looks like another's hashed name is hashed itself, so the two never meet
    hashed = card_file_name("a/b").removeprefix("card_").removesuffix(".html")
    assert card_file_name(hashed) != card_file_name("a/b")
    assert card_file_names(["S1", "S2", "S1"]) == {"S1": "card_S1.html", "S2": "card_S2.html"}
    assert card_file_names(["a/b"], "png")["a/b"] == card_file_name("a/b", "png")


def test_card_png_is_an_a4_wide_image_that_grows_with_its_warnings(run):
    from PIL import Image

    from deconv_core.card_png import CARD_WIDTH, card_png

    card = build_card(run, "S2", intervals=sample_intervals(run, "S2", n_resamples=20))
    image = Image.open(io.BytesIO(card_png(card)))
    assert image.format == "PNG" and image.width == CARD_WIDTH
    fewer = Image.open(io.BytesIO(card_png(replace(card, warnings=()))))
    assert fewer.height < image.height
    # the bars are drawn: some pixels carry the bar colour
    assert (74, 120, 181) in {c for _, c in image.convert("RGB").getcolors(1 << 20)}


def test_card_advice_is_that_of_the_surface_that_made_it(run):
    # S2's activation genes draw a confounding finding whose advice differs by surface.
    advised = [w for w in build_card(run, "S2").warnings if w.cli and w.app]
    assert advised
    app_page = card_html(build_card(run, "S2"))
    cli_page = card_html(build_card(run, "S2", surface="cli"))
    for w in advised:
        assert html.escape(w.app) in app_page and html.escape(w.cli) not in app_page
        assert html.escape(w.cli) in cli_page and html.escape(w.app) not in cli_page


def test_command_line_writes_cards_and_refuses_an_unknown_sample(tmp_path, capsys):
    from deconv_core.cli import main

    expr, _ = planted_mixtures(3, noise=0.1, seed=2, n_filler=300)
    bulk = tmp_path / "bulk.tsv"
    expr.to_csv(bulk, sep="\t", index_label="gene")
    out = tmp_path / "out"
    args = ["run", str(bulk), "--signature", "TIL10", "--out", str(out), "--card", "S2"]
    assert main(args) == 0
    page = (out / "card_S2.html").read_text(encoding="utf-8")
    assert "Sample S2" in page and "95% interval" in page
    assert (out / "card_S2.png").read_bytes().startswith(b"\x89PNG")
    assert main([*args[:-1], "S9"]) == 2
    assert (
        "No sample named 'S9' in this run; choose one of its 3 samples" in capsys.readouterr().err
    )


def test_cards_are_in_the_manifest_with_their_checksums_and_go_with_their_run(tmp_path):
    import hashlib
    import json

    from deconv_core.cli import main

    expr, _ = planted_mixtures(3, noise=0.1, seed=2, n_filler=300)
    bulk = tmp_path / "bulk.tsv"
    expr.to_csv(bulk, sep="\t", index_label="gene")
    out = tmp_path / "out"
    args = ["run", str(bulk), "--signature", "TIL10", "--out", str(out)]
    assert main([*args, "--card", "S2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"card_S2.html", "card_S2.png"} <= set(manifest["files"])
    on_disk = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert set(manifest["checksums"]) == on_disk  # every file, cards included
    for name, digest in manifest["checksums"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    assert main(args) == 0  # a later run without cards: the earlier run's cards go
    assert not (out / "card_S2.html").exists() and not (out / "card_S2.png").exists()


def test_cards_of_samples_whose_names_clash_as_file_names_are_all_written(tmp_path):
    import json

    from deconv_core.cli import main

    expr, _ = planted_mixtures(4, noise=0.1, seed=2, n_filler=300)
    long = "x" * 5000  # longer than any file system allows in a file name
    expr.columns = ["a/b", "a_b", "a:b", long]
    bulk = tmp_path / "bulk.tsv"
    expr.to_csv(bulk, sep="\t", index_label="gene")
    out = tmp_path / "out"
    args = ["run", str(bulk), "--signature", "TIL10", "--out", str(out)]
    assert main([*args, "--card", "a/b", "--card", "a_b", "--card", "a:b", "--card", long]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    cards = {card["sample"]: card["files"] for card in manifest["cards"]}
    assert list(cards) == ["a/b", "a_b", "a:b", long]
    assert cards["a_b"] == ["card_a_b.html", "card_a_b.png"]
    for sample, (page, image) in cards.items():
        title = re.search(r"<title>Sample card: ([^<]*)", (out / page).read_text("utf-8"))
        assert html.unescape(title.group(1)).startswith(sample[:100]), page
        assert (out / image).read_bytes().startswith(b"\x89PNG")
        assert {page, image} <= set(manifest["files"])
    assert len({n for files in cards.values() for n in files}) == 8


def test_a_card_for_a_sample_left_out_says_why(tmp_path, capsys):
    from deconv_core.cli import main

    expr, _ = planted_mixtures(3, noise=0.1, seed=2, n_filler=300)
    expr["S2"] = 0.0  # a sample of zeros is left out of the analysis
    bulk = tmp_path / "bulk.tsv"
    expr.to_csv(bulk, sep="\t", index_label="gene")
    args = ["run", str(bulk), "--signature", "TIL10", "--out", str(tmp_path / "o"), "--card", "S2"]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "error: No card for sample 'S2': Sample S2 is zero for every gene; it was left out of "
        "the analysis."
    )


def test_an_empty_sample_name_is_not_matched_to_a_run_wide_warning():
    # Run-wide warnings have sample "": `--card ""` quoted one as the reason.
    run_wide = DeconvWarning("info", "symbols_renamed", "3 outdated gene symbols were renamed.")
    with pytest.raises(InputError, match=r"^No sample named '' in this run; choose one of its 2"):
        check_sample(["S1", "S2"], "", left_out=[run_wide])

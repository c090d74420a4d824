"""Building a signature from single-cell counts: reading, method, validation, CLI."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from deconv_core.cli import main
from deconv_core.io.singlecell import detect_single_cell_scale, read_single_cell
from deconv_core.signatures import load_signature
from deconv_core.singlecell import build_signature
from deconv_core.singlecell_write import write_signature_build
from deconv_core.validation import InputError
from tests.fixtures.singlecell.make_fixture import MARKERS, planted

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "singlecell"
COUNTS = FIXTURE / "counts.csv.gz"
LABELS = FIXTURE / "labels.csv"
FAST = {"n_mixtures": 20, "cells_per_mixture": 200}


@pytest.fixture(scope="module")
def data():
    return read_single_cell(COUNTS, labels=LABELS)


@pytest.fixture(scope="module")
def build(data):
    return build_signature(data, **FAST)


def _codes(build) -> set[str]:
    return {w.code for w in build.warnings}


def _write_h5ad(
    path: Path,
    counts: pd.DataFrame,
    labels: pd.Series,
    *,
    x: np.ndarray | None = None,
    dense: bool = False,
    counts_layer: bool = False,
) -> None:
    """A minimal AnnData file (anndata >= 0.8 layout) written with h5py."""
    cells_by_genes = counts.T.to_numpy(dtype=np.float32) if x is None else x
    string = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        f.attrs["encoding-type"] = "anndata"
        f.attrs["encoding-version"] = "0.1.0"

        def write_matrix(group: h5py.Group, name: str, values: np.ndarray) -> None:
            if dense:
                group.create_dataset(name, data=values)
                return
            csr = sparse.csr_array(values)
            node = group.create_group(name)
            node.attrs["encoding-type"] = "csr_matrix"
            node.attrs["encoding-version"] = "0.1.0"
            node.attrs["shape"] = np.array(values.shape)
            node.create_dataset("data", data=csr.data)
            node.create_dataset("indices", data=csr.indices)
            node.create_dataset("indptr", data=csr.indptr)

        write_matrix(f, "X", cells_by_genes)
        if counts_layer:
            layers = f.create_group("layers")
            write_matrix(layers, "counts", counts.T.to_numpy(dtype=np.float32))
        obs = f.create_group("obs")
        obs.attrs["_index"] = "_index"
        obs.attrs["column-order"] = np.array(["cell_type"], dtype=object).astype(string)
        obs.create_dataset("_index", data=np.array(counts.columns, dtype=object), dtype=string)
        categories = sorted(set(labels))
        cat = obs.create_group("cell_type")
        cat.attrs["encoding-type"] = "categorical"
        cat.attrs["ordered"] = False
        cat.create_dataset("categories", data=np.array(categories, dtype=object), dtype=string)
        codes = [categories.index(labels[c]) for c in counts.columns]
        codes[0] = -1  # one cell without a label
        cat.create_dataset("codes", data=np.array(codes, dtype=np.int8))
        var = f.create_group("var")
        var.attrs["_index"] = "_index"
        var.create_dataset("_index", data=np.array(counts.index, dtype=object), dtype=string)


# --- reading -----------------------------------------------------------------


def test_reads_gzipped_csv_and_labels(data):
    assert data.counts.shape == (60, 64)
    assert data.scale == "counts"
    assert list(data.cell_type_counts()) == [16, 16, 16, 16]
    assert data.labels.index.equals(data.cells)
    assert "MS4A1" in data.genes


def test_cells_as_rows_are_transposed(tmp_path):
    counts, labels = planted()
    path = tmp_path / "cells_x_genes.tsv"
    counts.T.to_csv(path, sep="\t", index_label="cell")
    d = read_single_cell(path, labels=labels)
    assert d.counts.shape == (60, 64)
    assert "transposed" in {w.code for w in d.warnings}


def test_labels_as_series_and_unlabelled_cells_left_out():
    counts, labels = planted()
    d = read_single_cell(COUNTS, labels=labels.iloc[3:])
    assert d.counts.shape[1] == 61
    assert "unlabelled_cells" in {w.code for w in d.warnings}


def test_cells_without_a_row_and_with_an_empty_label_are_both_reported():
    counts, labels = planted()
    labels = labels.copy().astype(object)
    labels.iloc[5] = ""  # an empty label, beside three cells the labels do not name
    d = read_single_cell(COUNTS, labels=labels.iloc[3:])
    assert d.counts.shape[1] == 60
    said = [w.message for w in d.warnings if w.code == "unlabelled_cells"]
    assert len(said) == 2 and "3 of 64 cells have no row in the labels" in said[0]
    assert said[1] == f"1 cell has an empty label (e.g. {labels.index[5]}); left out."


def test_a_cut_gzip_of_labels_is_refused_in_one_line(tmp_path, capsys):
    import gzip

    path = tmp_path / "labels.tsv.gz"
    path.write_bytes(gzip.compress(LABELS.read_bytes())[:-30])
    args = ["build-signature", "--counts", str(COUNTS), "--labels", str(path)]
    assert main([*args, "--out", str(tmp_path / "x.tsv")]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: The labels file looks gzip-compressed but cannot be decompressed. Check that "
        "the download finished, or give the uncompressed file.\n"
    )


def _spoil(path: Path, member: str, value) -> None:
    with h5py.File(path, "r+") as f:
        data = f[member][()]
        data[len(data) // 2] = value
        del f[member]
        f.create_dataset(member, data=data)


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("X/indptr", -5),  # a pointer that runs backwards (was a ValueError in scipy)
        ("X/indices", 10**6),  # a gene beyond the matrix
        ("obs/cell_type/codes", 90),  # a category that does not exist (was an IndexError)
    ],
)
def test_a_damaged_h5ad_is_refused_in_one_line(tmp_path, member, value):
    counts, labels = planted()
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, counts, labels)
    _spoil(path, member, value)
    with pytest.raises(InputError, match=r"The h5ad file is damaged \("):
        read_single_cell(path)


def test_label_column_is_chosen_by_name(tmp_path):
    _, labels = planted()
    table = pd.DataFrame({"donor": "P1", "annotation": labels}).rename_axis("barcode")
    path = tmp_path / "labels.tsv"
    table.reset_index()[["donor", "barcode", "annotation"]].to_csv(path, sep="\t", index=False)
    d = read_single_cell(COUNTS, labels=path)
    assert set(d.labels) == set(MARKERS)
    d2 = read_single_cell(COUNTS, labels=path, label_column="donor")
    assert set(d2.labels) == {"P1"}


@pytest.mark.parametrize(
    ("labels_text", "kwargs", "match"),
    [
        ("cell,cell_type\nx1,B\nx2,T\n", {}, "None of the 64 cell names"),
        ("cell,a,b\nc000_B,1,2\n", {}, "Cannot tell which column"),
        ("cell,cell_type\nc000_B,B\n", {"label_column": "type"}, "no column 'type'"),
        ("cell,cell_type\nc000_B,B\nc000_B,T\n", {}, "more than once"),
        ("cell\nc000_B\n", {}, "single column"),
    ],
)
def test_bad_labels_are_explained(tmp_path, labels_text, kwargs, match):
    path = tmp_path / "labels.csv"
    path.write_text(labels_text)
    with pytest.raises(InputError, match=match):
        read_single_cell(COUNTS, labels=path, **kwargs)


def test_missing_labels_and_files_are_explained(tmp_path):
    with pytest.raises(InputError, match="Cell labels are missing"):
        read_single_cell(COUNTS)
    with pytest.raises(InputError, match="Cannot find the single-cell counts"):
        read_single_cell(tmp_path / "nope.csv", labels=LABELS)
    with pytest.raises(InputError, match="Unknown single-cell scale"):
        read_single_cell(COUNTS, labels=LABELS, scale="log7")


def test_scaled_data_are_refused(tmp_path):
    counts, labels = planted()
    scaled = (counts - counts.mean(axis=1).to_numpy()[:, None]) / 3.0
    path = tmp_path / "scaled.csv"
    scaled.to_csv(path)
    with pytest.raises(InputError, match="negative values, so they look scaled"):
        read_single_cell(path, labels=labels)


def test_log_normalised_data_are_detected_and_undone(tmp_path):
    counts, labels = planted()
    normalised = np.log1p(counts / counts.sum(axis=0) * 1e4)
    path = tmp_path / "log.csv"
    normalised.to_csv(path)
    d = read_single_cell(path, labels=labels)
    assert d.scale == "lnp1"  # named as run --scale names it
    assert "log_scale" in {w.code for w in d.warnings}
    totals = np.asarray(d.counts.sum(axis=0)).ravel()
    np.testing.assert_allclose(totals, 1e4, rtol=1e-4)
    b = build_signature(d, **FAST)
    assert b.signature.mrna_scaling == {}  # library sizes are lost in normalised data
    assert b.validation.loc["all", "pearson_r"] > 0.95


def test_the_natural_log_scale_is_lnp1_as_for_run_and_log1p_still_reads(tmp_path, capsys):
    counts, labels = planted()
    path = tmp_path / "log.csv"
    np.log1p(counts / counts.sum(axis=0) * 1e4).to_csv(path)
    for given in ("lnp1", "log1p"):  # log1p: the option's name until 2026-12
        assert read_single_cell(path, labels=labels, scale=given).scale == "lnp1"
    labels_file = tmp_path / "labels.csv"
    labels.rename_axis("cell").rename("cell_type").to_csv(labels_file)
    args = ["build-signature", "--counts", str(path), "--labels", str(labels_file)]
    args += ["--scale", "log1p", "--mixtures", "10", "--out", str(tmp_path / "sig.tsv")]
    assert main(args) == 0
    assert "(declared lnp1)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["build-signature", "--help"])
    said = capsys.readouterr().out
    assert "{auto,counts,lnp1,log2p1,linear}" in said


def test_detect_scale_log2_by_equal_totals():
    rng = np.random.default_rng(0)
    x = rng.poisson(3.0, size=(40, 10)).astype(float)
    norm = x / x.sum(axis=0) * 1e4
    logged = np.log2(norm + 1)
    totals = {
        "lnp1": np.expm1(logged).sum(axis=0),
        "log2p1": (np.exp2(logged) - 1).sum(axis=0),
    }
    assert detect_single_cell_scale(logged[logged > 0], totals) == "log2p1"
    assert detect_single_cell_scale(x[x > 0], {}) == "counts"
    assert detect_single_cell_scale(norm[norm > 0] * 100, {}) == "linear"


def test_h5ad_csr_with_categorical_obs(tmp_path, data):
    counts, labels = planted()
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, counts, labels)
    d = read_single_cell(path)  # labels from obs, column found by name
    assert d.counts.shape == (60, 63)  # the cell with code -1 has no label
    assert d.labels.name == "cell_type"
    assert "unlabelled_cells" in {w.code for w in d.warnings}
    kept = d.cells
    np.testing.assert_array_equal(
        d.counts.toarray(), data.counts.toarray()[:, data.cells.get_indexer(kept)]
    )
    # bytes, as uploaded, with the column named
    d2 = read_single_cell(path.read_bytes(), label_column="cell_type", name="cells.h5ad")
    assert d2.counts.shape == d.counts.shape


def test_h5ad_dense_log_x_falls_back_to_counts_layer(tmp_path):
    counts, labels = planted()
    path = tmp_path / "log.h5ad"
    logged = np.log1p(counts / counts.sum(axis=0) * 1e4).T.to_numpy()
    _write_h5ad(path, counts, labels, x=logged, dense=True, counts_layer=True)
    d = read_single_cell(path, label_column="cell_type")
    assert d.scale == "counts"
    assert "h5ad_counts_layer" in {w.code for w in d.warnings}


def test_h5ad_with_external_labels_and_bad_column(tmp_path):
    counts, labels = planted()
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, counts, labels)
    d = read_single_cell(path, labels=LABELS)
    assert d.counts.shape == (60, 64)
    with pytest.raises(InputError, match="no column 'celltype_fine'"):
        read_single_cell(path, label_column="celltype_fine")
    broken = tmp_path / "broken.h5ad"
    broken.write_bytes(path.read_bytes()[:200])
    with pytest.raises(InputError, match="cannot be opened"):
        read_single_cell(broken)


# --- building ------------------------------------------------------------------


def test_planted_markers_are_found(build):
    markers = build.markers
    for cell_type, genes in MARKERS.items():
        found = set(markers.loc[markers["cell_type"] == cell_type, "gene"])
        assert found == set(genes), cell_type
    assert set(build.signature.matrix.index) == {g for gs in MARKERS.values() for g in gs}
    assert list(build.signature.cell_types) == list(MARKERS)
    assert build.condition_number == pytest.approx(np.linalg.cond(build.signature.matrix))
    assert build.condition_number < 5
    assert build.conditioning["chosen"].sum() == 1


SC1 = Path("/work/shared/data/scRNA_PBMC_reference_deconvBench_sc1")


def _check_marker_table(build) -> pd.DataFrame:
    """Every column of the marker table recomputed from the profiles and detection."""
    markers, profiles = build.markers, build.profiles
    log_cpm = np.log2(profiles + 1.0)
    for row in markers.itertuples():
        others = [t for t in profiles.columns if t != row.cell_type]
        versus = row.versus.split("; ")
        assert row.cell_type not in versus and set(versus) <= set(others)
        fold = log_cpm.loc[row.gene, row.cell_type] - log_cpm.loc[row.gene, versus]
        assert row.log2_fold_change == pytest.approx(fold.min())
        assert row.runner_up == profiles.loc[row.gene, others].idxmax()
        assert row.log2_fold_change_runner_up == pytest.approx(
            log_cpm.loc[row.gene, row.cell_type] - log_cpm.loc[row.gene, row.runner_up]
        )
    return markers


def test_the_marker_table_describes_the_pairs_that_chose_each_gene(build):
    markers = _check_marker_table(build)
    assert (markers["log2_fold_change"] >= build.parameters["min_log2_fold_change"]).all()
    assert (markers["runner_up"] != markers["cell_type"]).all()


def test_the_marker_table_of_a_real_reference_keeps_its_promise():
    # sc1 (PBMC, 9 types): the table listed the overall top and runner-up of each gene, so 203
    # of 323 rows were under 2-fold and 79 named the marker's own type as its runner-up.
    if not SC1.exists():
        pytest.skip("benchmark data not on this machine")
    data = read_single_cell(SC1 / "counts_genes_x_cells.tsv", labels=SC1 / "cell_annotations.tsv")
    build = build_signature(data, **FAST)
    assert "weak_markers" not in _codes(build)
    markers = _check_marker_table(build)
    assert (markers["log2_fold_change"] >= 1).all()
    assert (markers["runner_up"] != markers["cell_type"]).all()
    # BAZ2B tells monocytes from platelets; it is highest in pDC, and the table says so.
    baz2b = markers[(markers["cell_type"] == "Monocytes") & (markers["gene"] == "BAZ2B")].iloc[0]
    assert baz2b["runner_up"] == "pDC" and baz2b["log2_fold_change_runner_up"] < 0
    assert "Platelet" in baz2b["versus"].split("; ")


def test_profiles_are_mean_cpm(build, data):
    profiles = build.profiles
    np.testing.assert_allclose(profiles.sum(axis=0), 1e6)
    dense = data.counts.toarray()
    cpm = dense / dense.sum(axis=0) * 1e6
    b_cells = (data.labels == "B cells").to_numpy()
    np.testing.assert_allclose(profiles["B cells"], cpm[:, b_cells].mean(axis=1))


def test_mrna_factors_follow_library_size(build):
    factors = build.signature.mrna_scaling
    assert factors["Monocytes"] > 1.5 * factors["T cells"]


def test_held_out_validation_recovers_proportions(build):
    v = build.validation
    assert list(v.index) == [*MARKERS, "all"]
    assert (v.loc[list(MARKERS), "pearson_r"] > 0.95).all()
    assert v.loc["all", "rmse"] < 0.05
    assert (v["n_test"] >= 1).all() and (v["n_train"] > v["n_test"]).all()
    assert build.mixture_truth.shape == (20, 4)
    np.testing.assert_allclose(build.mixture_truth.sum(axis=1), 1.0)
    np.testing.assert_allclose(build.mixture_estimate.sum(axis=1), 1.0, atol=1e-6)


def test_poorly_recovered_types_are_named_by_the_one_threshold(build, data, monkeypatch):
    import deconv_core.singlecell as singlecell

    # Every planted type is recovered well: no warning at the threshold.
    assert "poor_recovery" not in _codes(build)
    # Above the best type's r, every type is named, and the sentence states the threshold.
    worst = float(build.validation.loc[list(MARKERS), "pearson_r"].max())
    monkeypatch.setattr(singlecell, "RECOVERY_R", worst + 0.01)
    (warning,) = [
        w for w in singlecell._coverage_warnings(data, build.validation)
        if w.code == "poor_recovery"
    ]  # fmt: skip
    assert all(name in warning.message for name in MARKERS)
    assert f"(r < {worst + 0.01})" in warning.message


def test_build_is_seeded_and_does_not_mutate(data):
    before = data.counts.toarray().copy()
    a = build_signature(data, seed=3, **FAST)
    b = build_signature(data, seed=3, **FAST)
    c = build_signature(data, seed=4, **FAST)
    pd.testing.assert_frame_equal(a.validation, b.validation)
    assert not a.mixture_truth.equals(c.mixture_truth)
    pd.testing.assert_frame_equal(a.signature.matrix, c.signature.matrix)  # all cells
    np.testing.assert_array_equal(data.counts.toarray(), before)


def test_small_cell_types_are_left_out(data):
    labels = data.labels.copy()
    nk = labels.index[labels == "NK cells"][:10]
    labels = labels.drop(nk)
    d = read_single_cell(COUNTS, labels=labels)
    b = build_signature(d, **FAST)
    assert "NK cells" not in b.signature.cell_types
    assert not b.cells.loc["NK cells", "used"]
    (few,) = [w for w in b.warnings if w.code == "few_cells"]
    assert few.text("cli").endswith("Lower --min-cells to keep them.")  # names the flag
    assert few.text("app").endswith("Lower 'Minimum cells per type' to keep them.")
    with pytest.raises(InputError, match="at least two") as err:
        build_signature(d, min_cells=17, **FAST)
    assert "--min-cells" in err.value.text("cli")


def test_a_type_without_markers_is_refused():
    counts, labels = planted()
    copies = counts.loc[:, labels.index[labels == "B cells"]]
    copies.columns = [f"copy_{c}" for c in copies.columns]
    doubled = pd.concat([counts, copies], axis=1)
    new_labels = pd.concat([labels, pd.Series("B twins", index=copies.columns)])
    d = read_single_cell(doubled.to_csv().encode(), labels=new_labels, name="c.csv")
    with pytest.raises(
        InputError, match="No gene is higher in one than in the other of B cells and B twins"
    ):
        build_signature(d, **FAST)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_cells": 1}, r"fewest cells per cell type .* must be a whole number >= 2"),
        ({"test_fraction": 1.0}, "held-out share of cells must be strictly between 0 and 1"),
        ({"min_markers": 20, "max_markers": 10}, "fewest markers per pair of cell types"),
        ({"n_mixtures": 2}, "at least 3 mixtures"),
        # Past the cap the mixtures' table alone would not fit in memory (MemoryError).
        ({"n_mixtures": 10**12}, "at most 1,000 mixtures; got 1,000,000,000,000"),
        ({"min_detection": 2.0}, "detection share of a marker must be from 0 to 1"),
        ({"min_log2_fold_change": -1.0}, r"fold change \(log2\) must be 0 or more .*; got -1\."),
        ({"min_log2_fold_change": float("nan")}, r"must be 0 or more .*; got nan\."),
    ],
)
def test_bad_parameters(data, kwargs, match):
    with pytest.raises(InputError, match=match):
        build_signature(data, **kwargs)


def test_written_signature_loads_with_its_metadata(build, tmp_path):
    paths = write_signature_build(build, tmp_path / "sub" / "mine", provenance={"x": 1})
    assert paths["signature"].name == "mine.tsv"
    assert all(p.is_file() for p in paths.values())
    meta = json.loads(paths["metadata"].read_text())
    assert meta["provenance"] == {"x": 1}
    assert meta["parameters"]["seed"] == 0
    sig = load_signature(str(paths["signature"]))
    np.testing.assert_allclose(sig.matrix.to_numpy(), build.signature.matrix.to_numpy(), rtol=1e-5)
    assert sig.mrna_scaling == pytest.approx(build.signature.mrna_scaling)
    assert "signature_metadata" in {w.code for w in sig.warnings}
    validation = pd.read_csv(paths["validation"], index_col="cell_type")
    assert "all" in validation.index
    # uploaded bytes (a restored session) read the same metadata when it is given with them
    table = paths["signature"].read_bytes()
    plain = load_signature(table, name="mine.tsv")
    again = load_signature(table, name="mine.tsv", metadata=paths["metadata"].read_bytes())
    assert plain.platform == "" and again.platform == sig.platform != ""
    assert again.mrna_scaling == sig.mrna_scaling and again.sha256 == sig.sha256


# --- command line ----------------------------------------------------------------


def test_cli_build_signature(tmp_path, capsys):
    out = tmp_path / "built.tsv"
    code = main(
        [
            "build-signature",
            "--counts",
            str(COUNTS),
            "--labels",
            str(LABELS),
            "--label-column",
            "cell_type",
            "--out",
            str(out),
            "--mixtures",
            "20",
        ]
    )
    assert code == 0
    stdout = capsys.readouterr().out
    assert "condition number" in stdout and "held-out validation" in stdout
    assert "all" in stdout
    for suffix in (".tsv", ".metadata.json", ".validation.csv", ".markers.csv", ".cells.csv"):
        assert (tmp_path / f"built{suffix}").is_file()
    meta = json.loads((tmp_path / "built.metadata.json").read_text())
    assert len(meta["provenance"]["counts"]["sha256"]) == 64


def test_cli_build_signature_from_h5ad(tmp_path, capsys):
    counts, labels = planted()
    path = tmp_path / "cells.h5ad"
    _write_h5ad(path, counts, labels)
    out = tmp_path / "h5.tsv"
    code = main(["build-signature", "--counts", str(path), "--out", str(out), "--mixtures", "10"])
    assert code == 0
    assert out.is_file()
    assert "empty label" in capsys.readouterr().out


def test_cli_build_signature_refuses_a_folder_as_out(tmp_path, capsys):
    # It wrote OUT.tsv and four reports beside the folder, named after it.
    for out in (str(tmp_path), str(tmp_path / "new") + "/"):
        args = ["build-signature", "--counts", str(COUNTS), "--labels", str(LABELS)]
        assert main([*args, "--out", out]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and "is a folder; give the signature file" in err
        assert len(err.strip().splitlines()) == 1
    assert not list(tmp_path.parent.glob(f"{tmp_path.name}.*"))
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--labels", "missing.csv"], "Cannot find the labels file"),
        (["--labels", str(LABELS), "--min-cells", "40"], "at least two"),
        (["--labels", str(LABELS), "--label-column", "nope"], "no column 'nope'"),
        ([], "Cell labels are missing"),
    ],
)
def test_cli_build_signature_bad_input(tmp_path, capsys, extra, message):
    args = ["build-signature", "--counts", str(COUNTS), "--out", str(tmp_path / "x.tsv")]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.tsv").exists()


def test_cli_build_signature_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["build-signature", "--counts", str(COUNTS), "--scale", "log9", "--out", "x.tsv"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "invalid choice" in err


def test_counts_with_missing_values_are_refused(tmp_path):
    counts, labels = planted()
    text = counts.astype(object)
    text.iloc[2, 3] = ""
    buffer = io.StringIO()
    text.to_csv(buffer)
    path = tmp_path / "holes.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(buffer.getvalue())
    with pytest.raises(InputError, match="empty cell"):
        read_single_cell(path, labels=labels)


def test_build_defaults_are_defined_once_for_the_function_the_cli_and_the_dashboard():
    import inspect

    from deconv_core.cli import build_parser
    from deconv_core.options import BUILD_DEFAULTS
    from ui.builds import DEFAULTS

    signature = inspect.signature(build_signature).parameters
    assert {k: signature[k].default for k in BUILD_DEFAULTS} == BUILD_DEFAULTS
    assert {k: DEFAULTS[k] for k in BUILD_DEFAULTS} == BUILD_DEFAULTS
    build = build_parser()._subparsers._group_actions[0].choices["build-signature"]
    cli = {a.dest: a.default for a in build._actions}
    cli["n_mixtures"] = cli.pop("mixtures")
    shared = set(BUILD_DEFAULTS) - {"cells_per_mixture"}  # not an option of the command
    assert {k: cli[k] for k in shared} == {k: BUILD_DEFAULTS[k] for k in shared}

"""The Dask engine: the same files as the in-memory engine, from HDF5, h5ad and text."""

import json
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from deconv_core import cohort_run
from deconv_core import scale as scale_module
from deconv_core.cli import main
from deconv_core.cohort_run import cluster_client, run_cohort
from deconv_core.io.chunked import convert_table, open_chunked
from deconv_core.io.limits import MIN_WORKER_MEMORY
from deconv_core.options import RunOptions
from deconv_core.report import write_outputs
from deconv_core.scale import linearise
from deconv_core.signatures import load_signature
from deconv_core.validation import InputError
from tests.conftest import planted_mixtures

# Every file of a run but the manifest, which names the input file and the engine's format.
TABLES = ("proportions", "fit", "coverage", "warnings", "residuals", "robustness", "intervals")


@pytest.fixture(scope="module")
def client():
    # Two workers as threads of this process (no process start-up: the test stays fast),
    # over TCP so that --scheduler can reach them too; the arguments still travel pickled.
    with cluster_client(workers=2, processes=False) as c:
        yield c


@pytest.fixture(scope="module")
def counts():
    """Read counts (genes × samples): 9 planted samples, one all-zero, a duplicated gene."""
    expr, _ = planted_mixtures(9, noise=0.1, seed=3, n_filler=200)
    table = np.round(expr * 20).astype(np.int64)
    table["S5"] = 0  # left out with a warning, in both engines
    table.index = [*table.index[:-1], table.index[0]]  # a duplicated symbol: median per sample
    return table


def write_tsv(table, path):
    table.to_csv(path, sep="\t", index_label="gene")
    return path


def write_archs4(table, path):
    text = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        f.create_dataset("data/expression", data=table.to_numpy(np.uint32), chunks=(32, 3))
        f.create_dataset("meta/genes/symbol", data=list(table.index), dtype=text)
        f.create_dataset("meta/samples/geo_accession", data=list(table.columns), dtype=text)
    return path


def write_h5ad(table, path, *, encoding="csr_matrix"):
    """AnnData's on-disk layout (samples × genes CSR), written with h5py."""
    from scipy import sparse

    text = h5py.string_dtype()
    matrix = sparse.csr_array(table.T.to_numpy(np.float32))
    with h5py.File(path, "w") as f:
        if encoding == "dense":
            f.create_dataset("X", data=matrix.toarray())
        else:
            x = f.create_group("X")
            x.attrs["encoding-type"] = encoding
            x.attrs["shape"] = matrix.shape
            for name in ("data", "indices", "indptr"):
                x.create_dataset(name, data=getattr(matrix, name))
        for group, names in (("obs", table.columns), ("var", table.index)):
            g = f.create_group(group)
            g.attrs["_index"] = "_index"
            g.create_dataset("_index", data=list(names), dtype=text)
    return path


def memory_run(path, out, *extra):
    assert main(["run", str(path), "--signature", "TIL10", "--out", str(out), *extra]) == 0
    return out


def assert_same_files(a, b):
    for stem in TABLES:
        if (a / f"{stem}.csv").exists() or (b / f"{stem}.csv").exists():
            assert (a / f"{stem}.csv").read_bytes() == (b / f"{stem}.csv").read_bytes(), stem
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert ma["result"] == mb["result"]
    assert ma["transformations"] == mb["transformations"]
    assert ma["inputs"]["expression"]["genes"] == mb["inputs"]["expression"]["genes"]
    assert ma["inputs"]["expression"]["samples"] == mb["inputs"]["expression"]["samples"]


OPTIONS = RunOptions(bootstrap=20, permutations=50, seed=4)
FLAGS = ("--bootstrap", "20", "--permutations", "50", "--seed", "4")


@pytest.mark.parametrize("layout", ["archs4", "csr_matrix", "dense"])
def test_hdf5_layouts_give_the_in_memory_files(layout, counts, client, tmp_path):
    reference = memory_run(write_tsv(counts, tmp_path / "bulk.tsv"), tmp_path / "memory", *FLAGS)
    if layout == "archs4":
        path = write_archs4(counts, tmp_path / "bulk.h5")
    else:  # AnnData, X sparse (CSR) or dense
        path = write_h5ad(counts, tmp_path / "bulk.h5ad", encoding=layout)
    analysis = run_cohort(path, load_signature("TIL10"), OPTIONS, client=client, chunk_size=4)
    write_outputs(tmp_path / "dask", analysis)
    assert_same_files(reference, tmp_path / "dask")
    assert "zero_sample" in {w.code for w in analysis.warnings}
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["inputs"]["engine"] == {
        "name": "dask",
        "chunk_size": "4",
        "null_samples": "1000",
    }


def test_text_converted_once_gives_the_in_memory_files(counts, client, tmp_path):
    """Log-scale text: the cohort's maximum in the warning, and the store reused."""
    # Whole numbers no more: detected log2.  S5 (all zero) would become a constant sample, whose
    # correlation is 0 or NaN by rounding alone, depending on how many samples share its batch.
    logged = np.log2(counts.drop(columns="S5") + 1.0) + 0.001
    path = write_tsv(logged, tmp_path / "bulk.tsv")
    reference = memory_run(path, tmp_path / "memory")
    store = tmp_path / "bulk.h5"
    args = ["run", str(path), "--signature", "TIL10", "--engine", "dask", "--store", str(store)]
    args += ["--scheduler", client.scheduler.address, "--chunk-size", "2"]
    assert main([*args, "--out", str(tmp_path / "dask")]) == 0
    assert_same_files(reference, tmp_path / "dask")
    warnings = pd.read_csv(tmp_path / "dask" / "warnings.csv")
    assert warnings["code"].tolist().count("log_scale") == 1
    stamp = store.stat().st_mtime_ns
    assert convert_table(path, store) == str(store) and store.stat().st_mtime_ns == stamp


def test_null_from_a_seeded_subset_of_a_large_cohort(counts, client, tmp_path, monkeypatch):
    monkeypatch.setattr(cohort_run, "NULL_SAMPLES", 4)  # the 8 samples with data: a large cohort
    path = write_archs4(counts, tmp_path / "bulk.h5")
    options = RunOptions(permutations=30, seed=1)
    runs = [run_cohort(path, load_signature("TIL10"), options, client=client) for _ in range(2)]
    p = runs[0].p_values
    assert p.notna().all() and len(p) == 8
    pd.testing.assert_series_equal(p, runs[1].p_values)  # seeded: reproducible
    subsets = [cohort_run._null_subset(runs[0].result, seed).observed for seed in (1, 2)]
    assert [s.shape[1] for s in subsets] == [4, 4]
    assert list(subsets[0].columns) != list(subsets[1].columns)


def test_unreadable_cohorts_are_refused_in_one_line(counts, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cohort_run, "_CONNECT_TIMEOUT", "1s")
    csc = write_h5ad(counts, tmp_path / "csc.h5ad", encoding="csc_matrix")
    with pytest.raises(ValueError, match="save X dense or CSR"):
        open_chunked(csc)
    with pytest.raises(ValueError, match="give --store"):
        open_chunked(write_tsv(counts, tmp_path / "bulk.tsv"))
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("matrix", data=np.ones((2, 2)))
    args = ["run", str(other), "--signature", "TIL10", "--engine", "dask", "--out", "x"]
    assert main([*args, "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["run", str(other), "--signature", "TIL10", "--store", "s.h5", "--out", "x"]) == 2
    assert "only apply with --engine dask" in capsys.readouterr().err


@pytest.mark.parametrize("address", ["notaurl", "tcp://host", "http://10.0.0.5:8786", "tcp://h:x"])
def test_a_scheduler_address_without_host_and_port_is_refused_in_one_line(
    address, counts, tmp_path, capsys
):
    # distributed parses the address only while connecting, with a bare ValueError.
    path = write_archs4(counts, tmp_path / "bulk.h5")
    args = ["run", str(path), "--signature", "TIL10", "--engine", "dask", "--out", str(tmp_path)]
    assert main([*args, "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --scheduler {address!r} is not a Dask scheduler address")
    assert err.count("\n") == 1 and "tcp://host:port" in err


ORTHOLOGS = Path(__file__).resolve().parents[2] / "assets" / "genes" / "mouse_orthologs.tsv.gz"


@pytest.fixture(scope="module")
def mouse_counts(counts):
    """``counts`` with mouse ids: MGI symbols through the shipped ortholog table reversed.

    Genes without a one-to-one ortholog and the fillers are capitalised (MGI-style, left
    out by the mapping); one filler row is the first gene's ``ENSMUSG`` id, which the
    mapping joins to that gene's symbol (their median per sample), as is the duplicated
    symbol.
    """
    orthologs = pd.read_csv(ORTHOLOGS, sep="\t", dtype=str)
    to_mouse = dict(zip(orthologs["human_symbol"], orthologs["mouse_symbol"], strict=True))
    ensembl = dict(zip(orthologs["mouse_symbol"], orthologs["mouse_ensembl_id"], strict=True))
    genes = [to_mouse.get(g, g.capitalize()) for g in counts.index]
    genes[-2] = f"{ensembl[genes[0]]}.3"  # a filler row
    return counts.set_axis(genes, axis=0)


def mouse_signature(path):
    """TIL10 with its genes as mouse Ensembl ids (one-to-one orthologs), written to ``path``."""
    orthologs = pd.read_csv(ORTHOLOGS, sep="\t", dtype=str)
    ids = dict(zip(orthologs["human_symbol"], orthologs["mouse_ensembl_id"], strict=True))
    til10 = load_signature("TIL10").matrix.rename(index={"GUCY1A3": "GUCY1A1"})
    til10[til10.index.isin(list(ids))].rename(index=ids).rename_axis("gene").to_csv(path, sep="\t")
    return str(path)


def dask_run(path, client, out, *extra):
    args = ["run", str(path), "--engine", "dask", "--scheduler", client.scheduler.address]
    assert main([*args, "--chunk-size", "4", "--out", str(out), *extra]) == 0
    return out


def test_mouse_genes_are_renamed_to_human_orthologs_as_in_memory(
    counts, mouse_counts, client, tmp_path
):
    """Detected or declared: each chunk mapped as the whole table is; one warning, one log."""
    path = write_tsv(mouse_counts, tmp_path / "mouse.tsv")
    for declared in ("auto", "mouse"):
        flags = ("--signature", "TIL10", "--species", declared, *FLAGS)
        reference = memory_run(path, tmp_path / f"memory-{declared}", *flags[2:])
        store = ("--store", str(tmp_path / "mouse.h5"))
        dask = dask_run(path, client, tmp_path / f"dask-{declared}", *flags, *store)
        assert_same_files(reference, dask)
        codes = pd.read_csv(dask / "warnings.csv")["code"].tolist()
        assert codes.count("mouse_orthologs") == 1 and "zero_sample" in codes
        manifests = [json.loads((d / "manifest.json").read_text()) for d in (reference, dask)]
        assert [m["inputs"]["expression"]["species"] for m in manifests] == ["mouse", "mouse"]
        changes = manifests[1]["transformations"]["gene_id_changes"]
        orthologs = {c["original"]: c["new"] for c in changes if c["kind"] == "ortholog"}
        symbol, ensembl = mouse_counts.index[0], mouse_counts.index[-2].split(".")[0]
        assert orthologs[ensembl] == orthologs[symbol] == counts.index[0]  # one row, a median


def test_a_mouse_signature_fits_the_mouse_ids_as_in_memory(mouse_counts, client, tmp_path):
    """Mouse symbols beside a signature of ``ENSMUSG`` ids: renamed to its ids, not mapped."""
    path = write_archs4(mouse_counts, tmp_path / "mouse.h5")
    signature = mouse_signature(tmp_path / "mouse_signature.tsv")
    flags = ("--signature", signature, *FLAGS)
    reference = tmp_path / "memory"
    tsv = write_tsv(mouse_counts, tmp_path / "mouse.tsv")
    assert main(["run", str(tsv), *flags, "--out", str(reference)]) == 0
    analysis = run_cohort(path, load_signature(signature), OPTIONS, client=client, chunk_size=4)
    write_outputs(tmp_path / "dask", analysis)
    assert_same_files(reference, tmp_path / "dask")
    warnings = pd.read_csv(tmp_path / "dask" / "warnings.csv")
    assert "mouse_orthologs" not in warnings["code"].tolist()
    (note,) = warnings.loc[warnings["code"] == "mouse_signature", "message"]
    assert "data ids were renamed to the signature's Ensembl ids" in note
    assert (
        note
        == pd.read_csv(reference / "warnings.csv")
        .set_index("code")
        .loc["mouse_signature", "message"]
    )


def test_the_species_is_the_in_memory_engines_word(counts, mouse_counts, client, tmp_path):
    # Human genes declared mouse would map to nothing: refused, saying what was seen.
    human = write_archs4(counts[~counts.index.str.startswith("FILLER")], tmp_path / "human.h5")
    with pytest.raises(InputError, match="set to mouse, but 167 of the first 171 gene ids"):
        run_cohort(human, load_signature("TIL10"), RunOptions(), client=client, species="mouse")
    with pytest.raises(InputError, match="Unknown species 'rat'"):
        run_cohort(human, load_signature("TIL10"), RunOptions(), client=client, species="rat")
    # Mouse genes declared human: the user's word, as in memory (upper-cased, not mapped).
    mouse = write_archs4(mouse_counts, tmp_path / "mouse.h5")
    run = run_cohort(mouse, load_signature("TIL10"), RunOptions(), client=client, species="human")
    assert len(run.result.proportions) == 8 and run.expression.species == "human"
    assert "mouse_orthologs" not in {w.code for w in run.warnings}


def test_samples_as_rows_are_refused_not_blamed_on_gene_ids(counts, client, tmp_path, capsys):
    # The in-memory engine transposes this table (with a warning); here a chunk of samples
    # would be a chunk of genes, and no signature gene would be found.
    genes = counts.iloc[:-1]  # no repeated gene: it would be a repeated column name
    path = write_tsv(genes[~genes.index.str.startswith("FILLER")].T, tmp_path / "transposed.tsv")
    memory_run(path, tmp_path / "memory")
    assert "transposed" in pd.read_csv(tmp_path / "memory" / "warnings.csv")["code"].tolist()
    args = ["run", str(path), "--signature", "TIL10", "--engine", "dask", "--out", str(tmp_path)]
    args += ["--store", str(tmp_path / "t.h5"), "--scheduler", client.scheduler.address]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: transposed.tsv has samples as rows and genes as columns")
    assert err.count("\n") == 1 and "run without --engine dask" in err


@pytest.mark.parametrize("limit", ["1K", "60M"])
def test_too_little_worker_memory_is_refused_up_front(limit, counts, tmp_path, capsys):
    # Such workers are restarted or paused for ever ("Stream is closed", a hang).
    path = write_archs4(counts, tmp_path / "bulk.h5")
    args = ["run", str(path), "--signature", "TIL10", "--engine", "dask", "--out", str(tmp_path)]
    assert main([*args, "--worker-memory", limit]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --worker-memory {limit[:-1]}.0 ") and err.count("\n") == 1
    assert "at least 512.0 MB" in err
    with (
        pytest.raises(InputError, match="too little for a Dask worker"),
        cluster_client(worker_memory=MIN_WORKER_MEMORY - 1),
    ):
        pass


def test_stopped_workers_are_one_line_about_memory_and_chunks():
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker

    for lost in (
        FutureCancelledError("_summarise-1", "already forgotten"),
        KilledWorker("_fit_chunk-1", None, 3),
        CommClosedError("in <TCP (closed) ConnectionPool.scatter>: Stream is closed"),
    ):
        error = cohort_run.worker_loss_error(lost, chunk_size=250)
        assert isinstance(error, InputError), lost
        assert "chunks of 250 samples" in str(error) and type(lost).__name__ in str(error)
        assert "raise --worker-memory or lower --chunk-size" in str(error)
    assert cohort_run.worker_loss_error(ValueError("other"), chunk_size=250) is None


def test_unusable_store_paths_are_refused_in_one_line(counts, tmp_path, capsys):
    path = write_tsv(counts, tmp_path / "bulk.tsv")
    with pytest.raises(ValueError, match="is a folder; give a file path for --store"):
        convert_table(path, tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a store")  # not HDF5: refused, not overwritten, no h5py message
    with pytest.raises(ValueError, match="exists and was not converted from bulk.tsv"):
        convert_table(path, notes)
    assert notes.read_text() == "not a store"
    with pytest.raises(ValueError, match="Cannot write the store .*choose another --store"):
        convert_table(path, notes / "inside.h5")
    nested = tmp_path / "new" / "folder" / "bulk.h5"  # a missing folder is made
    assert convert_table(path, nested) == str(nested) and nested.is_file()
    # The in-memory engine given an HDF5 file points to the engine that reads it.
    assert main(["run", str(nested), "--signature", "TIL10", "--out", str(tmp_path / "o")]) == 2
    assert "is an HDF5 file" in capsys.readouterr().err


def test_rows_with_another_delimiter_past_the_head_are_refused(tmp_path):
    # The converter parses the rows after the head itself: a comma row among tabs must
    # not become gene "CD8A,3" with its values one sample to the left.
    rows = b"".join(b"G%d\t1\t2\n" % i for i in range(20_000))  # past the 64 KB head
    path = tmp_path / "bulk.tsv"
    path.write_bytes(b"gene\tS1\tS2\n" + rows + b"CD8A,3\t4\n")
    store = tmp_path / "bulk.h5"
    with pytest.raises(InputError, match=r"Row 'CD8A,3' .* separated by commas .* uses tabs"):
        convert_table(str(path), store)
    assert not store.exists()


def _cut_gzip(path):
    import gzip

    rng = np.random.default_rng(1)  # more rows than the head check reads
    table = pd.DataFrame(rng.random((4000, 6)), columns=[f"S{j}" for j in range(6)])
    data = gzip.compress(table.rename_axis("gene").to_csv(sep="\t").encode())
    path.write_bytes(data[: len(data) * 9 // 10])
    return path


def _holding(data: bytes):
    def write(path):
        path.write_bytes(data)
        return path

    return write


HOSTILE_TEXT = {
    "empty": (_holding(b""), "is empty"),
    "header only": (_holding(b"gene\tS1\tS2\n"), "no data rows"),
    "repeated sample names": (_holding(b"gene\tS1\tS1\nCD8A\t1\t2\n"), "not unique: 'S1'"),
    "gzip cut short": (_cut_gzip, "gzip-compressed but cannot be decompressed"),
    "workbook": (_holding(b"PK\x03\x04" + bytes(100)), "leave out --engine dask"),
    "GCT": (_holding(b"#1.2\n1\t1\nName\tDescription\tS1\nCD8A\tx\t1\n"), "GCT layout"),
}


@pytest.mark.parametrize("family", list(HOSTILE_TEXT))
def test_text_the_converter_cannot_read_is_refused_in_one_line(family, tmp_path):
    write, said = HOSTILE_TEXT[family]
    path = write(tmp_path / "bulk.tsv.gz")
    with pytest.raises(ValueError, match=said):
        convert_table(path, tmp_path / "store.h5")
    assert not list(tmp_path.glob("store.h5*"))  # no store, no partial one


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("bom.csv", "\ufeffgene;S1;x\ty\r\nCD8A;1,5;2,5\r\nCD4;3,0;4,0\r\n".encode()),
        ("wide.csv", b'gene,S1,"x\ty"\nCD8A,1.5,2.5\nCD4,3,4\n'),  # a tab inside a name
        ("utf16.tsv", 'gene\tS1\t"x\ty"\nCD8A\t1.5\t2.5\nCD4\t3\t4\n'.encode("utf-16")),
    ],
)
def test_the_converter_reads_a_table_as_the_table_reader_does(name, data, tmp_path):
    path = tmp_path / name
    path.write_bytes(data)
    store = convert_table(path, tmp_path / "store.h5")
    with h5py.File(store) as f:
        values = f["data/expression"][:]
        samples = [s.decode() for s in f["meta/samples/geo_accession"][:]]
    np.testing.assert_array_equal(values, [[1.5, 2.5], [3.0, 4.0]])
    assert samples == ["S1", "x\ty"]


def _damaged_h5ad(counts, path):
    path = write_h5ad(counts, path)
    with h5py.File(path, "r+") as f:
        indices = f["X/indices"][()]
        indices[len(indices) // 2] = 10**6  # a gene past the matrix: scipy would segfault
        del f["X/indices"]
        f.create_dataset("X/indices", data=indices)
    return path


def test_damaged_sparse_rows_are_refused_not_a_crash(counts, tmp_path):
    from deconv_core.io.chunked import _h5ad_rows

    path = _damaged_h5ad(counts, tmp_path / "x.h5ad")
    with h5py.File(path) as f, pytest.raises(ValueError, match="h5ad file's X is damaged"):
        _h5ad_rows(f["X"], 0, counts.shape[1])


def test_a_cut_hdf5_cohort_is_refused_in_one_line(counts, tmp_path):
    path = write_archs4(counts, tmp_path / "cohort.h5")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cohort.h5 is a damaged HDF5 file \(.*\); is it"):
        open_chunked(path)


def test_a_chunks_refusal_is_one_line_on_the_command_line(counts, tmp_path, capfd):
    path = _damaged_h5ad(counts, tmp_path / "x.h5ad")  # refused by the worker reading it
    args = ["run", str(path), "--signature", "TIL10", "--engine", "dask"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    err = capfd.readouterr().err  # the workers' log too (file descriptor 2)
    assert err.startswith("error: The h5ad file's X is damaged") and err.count("\n") == 1, err


def test_scale_summary_takes_the_whole_tables_evenly_spaced_values(tmp_path, monkeypatch):
    """Chunks of 7 samples take the values a 1,000-value sample of the whole table takes."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        rng.integers(0, 5, size=(40, 30)).astype(float),
        index=[f"G{i}" for i in range(40)],
        columns=[f"S{j}" for j in range(30)],
    )
    table[table > 2.5] += 0.5  # fractional values, at no regular spacing
    monkeypatch.setattr(cohort_run, "SCALE_SAMPLE_VALUES", 100)
    source = open_chunked(write_archs4(table, tmp_path / "t.h5"))  # names and layout
    source = replace(source, path=str(tmp_path / "t64.h5"))
    with h5py.File(source.path, "w") as f:  # the values as float64: ARCHS4 keeps whole counts
        f.create_dataset("data/expression", data=table.to_numpy())
    parts = [cohort_run._summarise(source, a, min(a + 7, 30)) for a in range(0, 30, 7)]
    expected = table.to_numpy().T.ravel()[:: 40 * 30 // 100]
    assert sum(p.n_sampled for p in parts) == expected.size
    assert sum(p.n_fractional for p in parts) == np.count_nonzero(expected % 1)
    assert sum(p.n_zero for p in parts) == np.count_nonzero(expected == 0)


def pairs_run(path, client, tmp_path):
    """The Dask engine's run of a text table in chunks of 2 samples, and its progress steps."""
    steps = []
    analysis = run_cohort(
        path,
        load_signature("TIL10"),
        RunOptions(),
        client=client,
        chunk_size=2,
        store=tmp_path / "bulk.h5",
        progress=steps.append,
    )
    return analysis, steps


def test_a_first_chunk_of_another_scale_is_refitted_with_the_cohorts(client, tmp_path):
    """S1 and S2 alone look log2 (all below 50, not whole): the cohort is linear TPM."""
    expr, _ = planted_mixtures(6, noise=0.1, seed=8, n_filler=100)
    expr[["S1", "S2"]] *= 40 / expr[["S1", "S2"]].max().max()
    path = write_tsv(expr, tmp_path / "bulk.tsv")
    reference = memory_run(path, tmp_path / "memory")
    analysis, steps = pairs_run(path, client, tmp_path)
    assert "scale of the first chunk: log2; deconvolving" in steps
    assert analysis.expression.scale == "linear"
    write_outputs(tmp_path / "dask", analysis)
    assert_same_files(reference, tmp_path / "dask")


def test_a_larger_cohort_in_odd_chunks_gives_the_in_memory_files(client, tmp_path):
    """Every sample's numbers are the same whatever samples share its chunk, to the last bit.

    Samples on scales 100x apart and with outlying genes: the fit's line
    searches and products see very different neighbours in each engine.
    """
    expr, _ = planted_mixtures(41, noise=0.3, seed=8, n_filler=150)
    rng = np.random.default_rng(8)
    expr = expr * rng.lognormal(0, 1.5, size=expr.shape[1])
    expr.iloc[rng.integers(0, 40, 30), rng.integers(0, 41, 30)] *= 25.0
    path = write_tsv(expr.round(3), tmp_path / "bulk.tsv")
    reference = memory_run(path, tmp_path / "memory", "--seed", "2")
    options = RunOptions(seed=2)
    store = str(tmp_path / "bulk.h5")
    analysis = run_cohort(
        path, load_signature("TIL10"), options, client=client, chunk_size=7, store=store
    )
    write_outputs(tmp_path / "dask", analysis)
    assert_same_files(reference, tmp_path / "dask")


def test_methods_and_cards_are_the_in_memory_engines(client, tmp_path, capsys):
    """--method all and --card from chunks of samples: the in-memory engine's files, to the byte.

    The other methods estimate each chunk's samples on the workers and are
    compared on the driver: the agreement needs every sample (r over 23), the
    run-wide notes (EPIC's weights, the missing MCP-counter markers) appear
    once, and a sample no method can estimate is named in file order.
    """
    expr, _ = planted_mixtures(23, noise=0.3, seed=5, n_filler=150)
    expr.iloc[5:, expr.columns.get_loc("S9")] = np.nan  # 5 genes left: too few for ν-SVR, EPIC
    expr["S14"] = 0.0  # no data: left out, so it gets no card
    path = write_tsv(expr, tmp_path / "bulk.tsv")
    flags = ["--method", "all", "--mode", "absolute", "--card", "S3", "--card", "S20"]
    reference = memory_run(path, tmp_path / "memory", *flags)
    args = ["run", str(path), "--signature", "TIL10", "--engine", "dask", *flags, "--card", "S14"]
    args += ["--store", str(tmp_path / "bulk.h5"), "--scheduler", client.scheduler.address]
    assert main([*args, "--chunk-size", "5", "--out", str(tmp_path / "dask")]) == 0
    assert "warning: No card for sample 'S14'" in capsys.readouterr().err
    dask = tmp_path / "dask"
    assert_same_files(reference, dask)
    written = sorted(f.name for f in dask.iterdir())
    assert written == sorted(f.name for f in reference.iterdir())
    assert {"methods_other.csv", "card_S3.html", "card_S20.png"} <= set(written)
    for name in written:
        if name.endswith((".csv", ".html", ".png")):
            assert (dask / name).read_bytes() == (reference / name).read_bytes(), name
    warnings = pd.read_csv(dask / "warnings.csv")
    assert (
        warnings["code"].tolist().count("epic_weights")
        + warnings["code"].tolist().count("epic_uniform_weights")
        == 1
    )
    assert set(warnings.loc[warnings["code"] == "method_not_estimated", "sample"]) == {"S9"}
    agreement = pd.read_csv(dask / "methods_agreement.csv")
    assert agreement["n"].max() == 21  # every sample with data but S9, across the 5 chunks
    assert main([*args[:-2], "--card", "S99", "--out", str(tmp_path / "typo")]) == 2
    assert "No sample named 'S99'" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


def test_methods_with_a_chunk_of_no_data_are_the_in_memory_engines(counts, client, tmp_path):
    """One sample per chunk: S5's chunk has no data, so it has no estimates to join."""
    path = write_tsv(counts, tmp_path / "counts.tsv")
    reference = memory_run(path, tmp_path / "memory", "--method", "epic", "--method", "nu-svr")
    options = RunOptions(methods=("epic", "nu-svr"))
    store = str(tmp_path / "counts.h5")
    signature = load_signature("TIL10")
    analysis = run_cohort(path, signature, options, client=client, chunk_size=1, store=store)
    write_outputs(tmp_path / "dask", analysis)
    for name in ("methods", "methods_agreement", "warnings"):
        dask = (tmp_path / "dask" / f"{name}.csv").read_bytes()
        assert dask == (reference / f"{name}.csv").read_bytes(), name
    assert "S5" not in pd.read_csv(tmp_path / "dask" / "methods.csv")["sample"].tolist()


def _tpm_with_zeros(n_samples, *, seed, dry=(0, 1)):
    """TPM (genes × samples) summing to 1e6, 60 filler genes zero in every sample but ``dry``."""
    expr, _ = planted_mixtures(n_samples, noise=0.1, seed=seed, n_filler=200)
    wet = [c for j, c in enumerate(expr.columns) if j not in dry]
    expr.loc[expr.index[-60:], wet] = 0.0
    return expr * (1e6 / expr.sum())


LOGGED = {
    "log10(x+1)": (lambda x: np.log10(x + 1.0), "log10p1", None),
    "log2(x+0.001)": (lambda x: np.log2(x + 0.001), "log2", np.log2(0.001)),
    # Totals of 5e5 under every base: no base is told, log2p1 kept with a warning.
    "log2(x/2+1)": (lambda x: np.log2(x / 2 + 1.0), "log2p1", None),
}


@pytest.mark.parametrize("name", list(LOGGED))
def test_log_bases_and_floors_are_the_in_memory_engines(name, client, tmp_path):
    """The first chunk (S1, S2) has no zero: no value at the cohort's floor, no zeros to
    tell log(x + 1) by; the cohort's scale, base and floor are decided on all chunks."""
    log, scale, floor = LOGGED[name]
    path = write_tsv(log(_tpm_with_zeros(6, seed=5)), tmp_path / "bulk.tsv")
    reference = memory_run(path, tmp_path / "memory")
    analysis, steps = pairs_run(path, client, tmp_path)
    assert analysis.expression.scale == scale
    assert any(s.startswith("scale of the cohort") for s in steps)  # refitted
    write_outputs(tmp_path / "dask", analysis)
    assert_same_files(reference, tmp_path / "dask")
    codes = pd.read_csv(tmp_path / "dask" / "warnings.csv")["code"].tolist()
    assert codes.count("log_scale") == 1
    assert codes.count("log_base_unknown") == (name == "log2(x/2+1)")
    if floor is not None:
        assert analysis.expression.transformation == "2**x - 0.001"


@pytest.mark.parametrize("name", list(LOGGED))
@pytest.mark.parametrize("broken", ["even", "odd"])
def test_the_drivers_log_decision_is_linearises_on_the_whole_table(name, broken):
    """121 samples (one all at the floor): every 2nd informative sample is checked for the
    base, in both engines; breaking the others' totals changes nothing, breaking those
    checked leaves the base unknown."""
    log, scale, floor = LOGGED[name]
    expr = _tpm_with_zeros(121, seed=6, dry=range(0, 121, 10))
    expr["S1"] = 0.0  # not informative: the checked samples are S2, S4, ...
    checked = 1 if broken == "even" else 0
    expr.iloc[:, [j for j in range(1, 121) if (j - 1) % 2 != checked]] *= 3.0
    table = log(expr)
    whole = linearise(table, scale="auto")
    values = table.to_numpy()
    parts = [
        cohort_run._summary_of(values[:, a : a + 7], a, 121, sums=True) for a in range(0, 121, 7)
    ]
    cohort = cohort_run._scale_of(parts, "auto")
    assert cohort.scale == whole.detected
    assert cohort.floor == scale_module._log_floor(values)
    assert cohort.logs.transformation == whole.transformation
    logs = tuple(w for w in whole.warnings if w.code in ("log_scale", "log_base_unknown"))
    assert cohort.logs.warnings == logs
    unknown = broken == "even" or name == "log2(x/2+1)"
    assert cohort.scale == (("log2" if floor else "log2p1") if unknown else scale)
    assert ("log_base_unknown" in {w.code for w in logs}) == unknown


def _log2_microarray(n_samples):
    """log2 intensities without zeros or a floor; S1 and S2 3,000x dimmer (70% negative)."""
    expr, _ = planted_mixtures(n_samples, noise=0.1, seed=9, n_filler=200)
    rng = np.random.default_rng(9)
    linear = expr * rng.lognormal(0, 0.05, expr.shape) + 0.01 * rng.lognormal(0, 0.3, expr.shape)
    linear[["S1", "S2"]] /= 3000
    return np.log2(linear)


def test_centring_is_judged_on_the_cohort_not_on_a_chunk(client, tmp_path):
    """The cohort is 14% negative (not centred); its first chunk alone, 71%: both engines
    read the cohort as log2 and give the same files."""
    table = _log2_microarray(10)
    assert (table.to_numpy()[:, :2] < 0).mean() > 0.7 > 0.2 > (table.to_numpy() < 0).mean()
    path = write_tsv(table, tmp_path / "bulk.tsv")
    reference = memory_run(path, tmp_path / "memory")
    analysis, _ = pairs_run(path, client, tmp_path)
    assert analysis.expression.scale == "log2"
    write_outputs(tmp_path / "dask", analysis)
    assert_same_files(reference, tmp_path / "dask")


def test_a_centred_cohort_is_refused_in_the_in_memory_engines_words(client, tmp_path, capsys):
    """Centred per gene over the cohort; no chunk of two samples is (gene means far from 0)."""
    log = _log2_microarray(8)
    centred = log.sub(log.mean(axis=1), axis=0)
    path = write_tsv(centred, tmp_path / "bulk.tsv")
    assert main(["run", str(path), "--signature", "TIL10", "--out", str(tmp_path / "m")]) == 2
    memory = capsys.readouterr().err.strip().removeprefix("error: ")
    assert "looks centred, z-scored or log-ratio" in memory
    with pytest.raises(InputError) as dask:
        pairs_run(path, client, tmp_path)
    assert dask.value.text("cli") == memory

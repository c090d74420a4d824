"""The Dask engine at scale: wall time, samples per second and peak memory (not a test).

Writes an ARCHS4-shaped HDF5 (``data/expression`` genes × samples uint32 counts,
``meta/genes/symbol``, ``meta/samples/geo_accession``) under /tmp, runs
``python -m deconv_core run --engine dask`` on it at two cohort sizes (the
first samples of the file), and the in-memory engine on a TSV small enough to
fit, all in one run; every run is a separate process whose memory (resident
set, polled every 0.2 s) is measured per process: the driver, and each Dask
worker.

Usage::

    python benchmarks/dask_scale.py                      # 50,000 and 10,000 samples
    python benchmarks/dask_scale.py --samples 20000 5000 --memory-samples 1000

The counts are TIL10's profiles mixed with random proportions, times a
library size, plus filler genes, Poisson-like noise from a log-normal factor;
one block of 1,000 samples is generated and written with its columns rolled,
so writing 50,000 samples does not take 50 times the generation.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deconv_core.signatures import load_signature  # noqa: E402

GENES = 20_000
BLOCK = 1_000


def counts_block(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Genes and a genes × BLOCK uint32 block of mixture counts."""
    sig = load_signature("TIL10").matrix
    genes = [str(g) for g in sig.index] + [f"FILLER{i}" for i in range(GENES - len(sig))]
    shares = rng.dirichlet(np.ones(sig.shape[1]), size=BLOCK) * 0.7
    signal = sig.to_numpy() @ shares.T
    filler = rng.dirichlet(np.ones(GENES - len(sig)), size=BLOCK).T * (1e6 - signal.sum(axis=0))
    tpm = np.vstack([signal, filler]) * rng.lognormal(0, 0.2, size=(GENES, BLOCK))
    return genes, np.round(tpm * 20).astype(np.uint32)  # ~20 M reads per sample


def write_archs4(path: Path, n_samples: int, seed: int = 0) -> None:
    genes, block = counts_block(np.random.default_rng(seed))
    text = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        data = f.create_dataset(
            "data/expression", shape=(GENES, n_samples), dtype="uint32", chunks=(GENES, 100)
        )
        for start in range(0, n_samples, BLOCK):
            stop = min(start + BLOCK, n_samples)
            data[:, start:stop] = np.roll(block, start // BLOCK, axis=1)[:, : stop - start]
        f.create_dataset("meta/genes/symbol", data=genes, dtype=text)
        names = [f"GSM{j:07d}" for j in range(n_samples)]
        f.create_dataset("meta/samples/geo_accession", data=names, dtype=text)


def write_tsv(path: Path, n_samples: int, seed: int = 0) -> None:
    import pandas as pd

    genes, block = counts_block(np.random.default_rng(seed))
    names = [f"GSM{j:07d}" for j in range(n_samples)]
    pd.DataFrame(block[:, :n_samples], index=genes, columns=names).to_csv(
        path, sep="\t", index_label="gene"
    )


def measure(args: list[str]) -> dict[str, float]:
    """Run the command line; wall time and peak RSS of the driver and of each child process."""
    start = time.perf_counter()
    proc = psutil.Popen(
        [sys.executable, "-m", "deconv_core", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    driver, workers = 0, {}
    while proc.poll() is None:
        try:
            driver = max(driver, proc.memory_info().rss)
            for child in proc.children(recursive=True):
                rss = child.memory_info().rss
                workers[child.pid] = max(workers.get(child.pid, 0), rss)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"run failed: {proc.stderr.read().decode()}")
    return {"wall": wall, "driver": driver, "worker": max(workers.values(), default=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[50_000, 10_000])
    parser.add_argument("--memory-samples", type=int, default=1_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    largest = max(args.samples)
    need = GENES * largest * 4 * 1.05
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if need > free * 0.8:
        largest = int(free * 0.8 / (GENES * 4 * 1.05))
        print(f"only {free / 1e9:.1f} GB free under /tmp: the cohort is cut to {largest} samples")
    folder = Path(tempfile.mkdtemp(prefix="dask_scale-"))
    try:
        h5 = folder / "archs4.h5"
        t0 = time.perf_counter()
        write_archs4(h5, largest)
        print(
            f"wrote {h5.name}: {GENES} genes x {largest} samples, "
            f"{h5.stat().st_size / 1e9:.1f} GB, in {time.perf_counter() - t0:.0f} s"
        )
        tsv = folder / "memory.tsv"
        write_tsv(tsv, args.memory_samples)
        common = ["--signature", "TIL10"]
        rows = [
            (
                "memory",
                args.memory_samples,
                measure(["run", str(tsv), *common, "--out", str(folder / "out-memory")]),
            )
        ]
        for n in sorted({min(n, largest) for n in args.samples}):
            path = h5
            if n < largest:  # a cohort of the first n samples: a file of its own
                path = folder / f"archs4-{n}.h5"
                write_archs4(path, n)
            run = [
                "run",
                str(path),
                *common,
                "--engine",
                "dask",
                "--chunk-size",
                str(args.chunk_size),
                "--workers",
                str(args.workers),
                "--out",
                str(folder / f"out-{n}"),
            ]
            rows.append(("dask", n, measure(run)))
            if path != h5:
                path.unlink()
        report(rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report(rows: list[tuple[str, int, dict[str, float]]]) -> None:
    gb = 1 << 30
    print(
        f"{'engine':<7} {'samples':>8} {'wall s':>8} {'samples/s':>10} {'driver GB':>10} "
        f"{'worker GB':>10}"
    )
    for engine, n, m in rows:
        print(
            f"{engine:<7} {n:>8} {m['wall']:>8.1f} {n / m['wall']:>10.1f} "
            f"{m['driver'] / gb:>10.2f} {m['worker'] / gb:>10.2f}"
        )
    memory_rate = rows[0][1] / rows[0][2]["wall"]
    for _engine, n, m in rows[1:]:
        print(
            f"dask {n} samples: {n / m['wall'] / memory_rate:.2f}x the in-memory engine's "
            f"samples per second; peak per worker {m['worker'] / gb:.2f} GB"
        )


if __name__ == "__main__":
    main()

"""Big input through the command line: time and peak memory, measured in one run.

Writes a simulated 1,000-sample × 20,000-gene TSV (about 155 MB; TIL10 genes
plus approved HGNC symbols as background) to a temporary folder, then measures in
separate processes:

- ``pandas.read_csv`` of the file alone (wall time, peak RSS),
- ``python -m deconv_core run`` on it (wall time, peak RSS),

and prints the ratios (goals: time < 3×, peak memory < 4× the matrix's
in-memory size of 1,000 × 20,000 float64 = 160 MB), with every default check,
for TIL10 and for two random signatures of the shapes of LM22 (547 × 22) and
ABIS (1,296 × 17) drawn on the file's genes (the run time grows with the
signature's size: every gene is left out in turn by the confounding check).  Each
signature runs ``--repeats`` times (default 3), each run right after its own read;
the median ratio is printed with the range.  With ``--big`` it also
runs 10,000 samples through the command line and reports its peak memory.

Usage: python benchmarks/scale.py [--samples 1000] [--genes 20000] [--repeats 3] [--big]
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deconv_core.signatures import load_signature  # noqa: E402

READ_ONLY = (
    "import sys, pandas as pd; t = pd.read_csv(sys.argv[1], sep='\\t', index_col=0); print(t.shape)"
)


def write_matrix(path: Path, samples: int, genes: int, seed: int = 0) -> None:
    """Write a TPM-like genes × samples TSV mixing TIL10 profiles and background genes."""
    rng = np.random.default_rng(seed)
    sig = load_signature("TIL10").matrix
    with gzip.open(ROOT / "assets" / "genes" / "hgnc_map.tsv.gz", "rt") as handle:
        symbols = pd.read_csv(handle, sep="\t", usecols=["symbol"])["symbol"].astype(str)
    background = [s for s in symbols if s not in set(sig.index)][: genes - sig.shape[0]]
    shares = rng.dirichlet(np.ones(sig.shape[1]), size=samples).T * 0.6
    signal = sig.to_numpy() @ shares
    rest = rng.lognormal(2, 1.5, size=(len(background), samples))
    rest *= (1e6 - signal.sum(axis=0)) / rest.sum(axis=0)
    values = np.vstack([signal, rest]) * rng.lognormal(0, 0.1, size=(genes, samples))
    frame = pd.DataFrame(
        values, index=list(sig.index) + background, columns=[f"S{i:05d}" for i in range(samples)]
    )
    frame.to_csv(path, sep="\t", index_label="gene", float_format="%.4f")


def write_signature(path: Path, bulk: Path, genes: int, types: int, seed: int = 0) -> None:
    """Write a random genes × cell types signature (log-normal values) on the bulk's genes."""
    rng = np.random.default_rng(seed)
    names = pd.read_csv(bulk, sep="\t", usecols=[0]).iloc[:, 0].astype(str).to_numpy()
    chosen = rng.choice(names, genes, replace=False)
    values = rng.lognormal(2, 1.5, size=(genes, types))
    frame = pd.DataFrame(values, index=chosen, columns=[f"type{i + 1}" for i in range(types)])
    frame.to_csv(path, sep="\t", index_label="gene")


def measure(command: list[str]) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB) via GNU time or resource."""
    start = time.perf_counter()
    if Path("/usr/bin/time").exists():
        proc = subprocess.run(
            ["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=True
        )
        wall = time.perf_counter() - start
        line = next(x for x in proc.stderr.splitlines() if "Maximum resident set size" in x)
        return wall, int(line.split(":")[1]) / 1024
    import resource

    subprocess.run(command, capture_output=True, check=True)
    wall = time.perf_counter() - start
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=20000)
    parser.add_argument("--big", action="store_true", help="also run 10,000 samples")
    parser.add_argument(
        "--repeats", type=int, default=3, help="read-then-run pairs per signature (median shown)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bulk.tsv"
        write_matrix(path, args.samples, args.genes)
        size_mb = path.stat().st_size / 1e6
        matrix_mb = args.samples * args.genes * 8 / 2**20
        read_s, read_mb = measure([sys.executable, "-c", READ_ONLY, str(path)])
        cli = [
            sys.executable,
            "-m",
            "deconv_core",
            "run",
            str(path),
            "--signature",
            "TIL10",
            "--out",
            str(Path(tmp) / "out"),
        ]
        print(
            f"input: {args.samples} samples x {args.genes} genes, {size_mb:.0f} MB TSV, "
            f"{matrix_mb:.0f} MB as float64"
        )
        print(f"pandas.read_csv alone: {read_s:.2f} s, peak {read_mb:.0f} MB")
        signatures = {"TIL10": "TIL10"}
        for genes, types in ((547, 22), (1296, 17)):
            sig_path = Path(tmp) / f"random_{genes}x{types}.tsv"
            write_signature(sig_path, path, genes, types)
            signatures[f"random {genes} x {types}"] = str(sig_path)
        for label, signature in signatures.items():
            cli[6] = signature
            # The read is timed again just before each run: on a shared machine
            # the load drifts between runs, and a ratio needs both under one load.
            # Several such pairs; the median ratio is reported, with their range.
            pairs = []
            for _ in range(args.repeats):
                read_s, _ = measure([sys.executable, "-c", READ_ONLY, str(path)])
                pairs.append((read_s, *measure(cli)))
            reads, runs, peaks = (np.array(v) for v in zip(*pairs, strict=True))
            ratios = runs / reads
            middle = int(np.argsort(ratios)[len(ratios) // 2])
            print(
                f"run, {label:<18} {runs[middle]:6.2f} s (read {reads[middle]:5.2f} s), "
                f"peak {peaks.max():4.0f} MB: time {ratios[middle]:.2f}x the read (goal < 3; "
                f"{args.repeats} pair{'s' * (args.repeats != 1)} "
                f"{ratios.min():.2f}-{ratios.max():.2f}x), "
                f"memory {peaks.max() / matrix_mb:.2f}x the matrix (goal < 4)"
            )
        if args.big:
            big = Path(tmp) / "big.tsv"
            write_matrix(big, 10_000, args.genes, seed=1)
            path.unlink()
            cli[4], cli[6] = str(big), "TIL10"
            big_s, big_mb = measure(cli)
            print(
                f"10,000 samples: {big_s:.1f} s, peak {big_mb:.0f} MB "
                f"({big_mb / (10_000 * args.genes * 8 / 2**20):.2f}x the matrix)"
            )


if __name__ == "__main__":
    main()

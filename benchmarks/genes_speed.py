"""Speed of gene-id harmonisation, as a ratio measured in one run.

Harmonising 20,000 rows of mixed ids (approved symbols, lower-cased
symbols, versioned Ensembl ids) × 20 samples is compared with the least
work any tool must do on the same table: pandas collapsing duplicate row
labels (``groupby(level=0).sum()``).  Timings are the best of ``--repeats``
interleaved runs (the machine is shared and noisy); the ratio is what to
compare between machines.

Usage: python benchmarks/genes_speed.py [--repeats R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deconv_core.genes import harmonise_genes, load_hgnc  # noqa: E402


def _table() -> pd.DataFrame:
    ref = load_hgnc()
    symbols = sorted(ref.approved)[:10_000]
    ensembl = [f"{e}.3" for e in sorted(ref.ensembl)[:10_000]]
    labels = symbols + [s.lower() for s in symbols[:5_000]] + ensembl[:5_000]
    return pd.DataFrame(np.random.default_rng(0).random((20_000, 20)), index=labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    table = _table()
    harmonise_genes(table)  # load the HGNC table once, outside the timing
    ours, baseline = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        harmonise_genes(table)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        table.groupby(level=0).sum()
        baseline.append(time.perf_counter() - start)
    best, floor = min(ours), min(baseline)
    print(f"harmonise_genes, 20,000 rows x 20 samples: {best:.3f} s (best of {args.repeats})")
    print(f"pandas groupby(level=0).sum() on the same table: {floor:.3f} s")
    print(f"ratio harmonise / groupby: {best / floor:.1f}x")


if __name__ == "__main__":
    main()

"""Speed of the CIBERSORT-style ν-SVR (``--method nu-svr``), old loop against new, in one run.

The old way is a plain loop (one scikit-learn ``NuSVR`` per sample and ν, the
reference kept in ``tests/core/test_methods.py``); the new one is
:func:`deconv_core.methods.nu_svr`, which fits the samples on
``methods.SVR_WORKERS`` threads (libsvm trains without the GIL).  Both run on
the same samples, cut into blocks timed in turn (old, new, old, new, ...), so
that a burst of load on this shared machine falls on both alike.

Two sets of simulated samples:

- ``547x22``: an LM22-shaped signature (547 genes × 22 cell types; the real
  LM22 may not be shipped), simulated as in ``benchmarks/solver_speed.py``
  (log-normal expression, 25 strong markers per cell type, Dirichlet mixtures,
  log-normal noise sd 0.2), every gene present.  libsvm needs tens of
  thousands of iterations per fit on these, so they are slow (~0.3 s per
  sample, the old way): 200 samples by default, not 1,000 (12 minutes).
- ``TIL10``: the shipped TIL10 signature (170 × 10), the tests' planted
  mixtures with log-normal noise sd 0.3, 5% of the values missing.

Prints per set: the samples, seconds old and new, old/new (the ratio to compare
between machines), ms per sample, the cores the new way got (its CPU time over
its wall time: about 1 when other work holds the second core, and then no
ratio above 1 can be seen), the largest difference of a fraction between old
and new and whether every sample chose the same ν.

Usage: python benchmarks/svr_speed.py [--samples N] [--lm22-samples N] [--blocks B]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deconv_core import methods  # noqa: E402
from deconv_core.signatures import load_signature  # noqa: E402
from tests.conftest import planted_mixtures  # noqa: E402
from tests.core.test_methods import plain_nu_svr  # noqa: E402


def lm22_shaped(samples: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An LM22-shaped signature (547 genes × 22 cell types) and bulk (547 × samples), linear."""
    rng = np.random.default_rng(seed)
    genes, types = 547, 22
    S = rng.lognormal(3, 1.5, size=(genes, types))
    for i in range(types):
        S[rng.choice(genes, 25, replace=False), i] *= 20
    P = rng.dirichlet(np.ones(types), size=samples).T
    Y = S @ P * rng.lognormal(0, 0.2, size=(genes, samples))
    index = [f"G{i}" for i in range(genes)]
    signature = pd.DataFrame(S, index=index, columns=[f"T{i}" for i in range(types)])
    return signature, pd.DataFrame(Y, index=index, columns=[f"S{j + 1}" for j in range(samples)])


def til10_planted(samples: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TIL10 (170 × 10) and planted bulk on its genes (noise sd 0.3, 5% of values missing)."""
    signature = load_signature("TIL10").matrix
    expr, _ = planted_mixtures(samples, noise=0.3, seed=seed, n_filler=50)
    observed = expr.loc[signature.index]
    missing = np.random.default_rng(seed).random(observed.shape) < 0.05
    return signature, observed.mask(missing)


def compare(signature: pd.DataFrame, observed: pd.DataFrame, blocks: int) -> dict[str, float]:
    """Time old and new on the same samples, block by block in turn; compare their answers."""
    methods.nu_svr(observed.iloc[:, :1], signature)  # scikit-learn imported before any timing
    old_s = new_s = new_cpu = 0.0
    old_parts, new_parts, nu_old, nu_new = [], [], [], []
    for cols in np.array_split(np.arange(observed.shape[1]), blocks):
        part = observed.iloc[:, cols]
        start = time.perf_counter()
        fractions, nus, _ = plain_nu_svr(part, signature)
        old_s += time.perf_counter() - start
        start, cpu = time.perf_counter(), time.process_time()
        out = methods.nu_svr(part, signature)
        new_s += time.perf_counter() - start
        new_cpu += time.process_time() - cpu
        old_parts.append(fractions)
        new_parts.append(out.values.to_numpy())
        nu_old.append(nus)
        nu_new.append(out.details["nu"].to_numpy())
    old, new = np.vstack(old_parts), np.vstack(new_parts)
    same_missing = bool(np.array_equal(np.isnan(old), np.isnan(new)))
    return {
        "old_s": old_s,
        "new_s": new_s,
        "new_cores": new_cpu / new_s,
        "max_diff": float(np.nanmax(np.abs(old - new))) if same_missing else np.inf,
        "same_nu": bool(np.array_equal(np.concatenate(nu_old), np.concatenate(nu_new))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000, help="TIL10 samples")
    parser.add_argument(
        "--lm22-samples", type=int, default=200, help="547x22 samples (~0.5 s each, both ways)"
    )
    parser.add_argument("--blocks", type=int, default=10, help="blocks timed in turn")
    args = parser.parse_args()
    print(f"nu-SVR speed: plain per-sample loop (old) vs nu_svr on {methods.SVR_WORKERS} threads")
    print(
        f"{'set':<8}{'samples':>8}{'old s':>9}{'new s':>9}{'old/new':>9}"
        f"{'old ms/s':>10}{'new ms/s':>10}{'new cores':>11}{'max |diff|':>12}{'same nu':>9}"
    )
    for name, samples, make in (
        ("547x22", args.lm22_samples, lm22_shaped),
        ("TIL10", args.samples, til10_planted),
    ):
        if samples <= 0:
            continue
        signature, observed = make(samples)
        r = compare(signature, observed, min(args.blocks, samples))
        print(
            f"{name:<8}{samples:>8}{r['old_s']:>9.1f}{r['new_s']:>9.1f}"
            f"{r['old_s'] / r['new_s']:>9.2f}{r['old_s'] / samples * 1e3:>10.1f}"
            f"{r['new_s'] / samples * 1e3:>10.1f}{r['new_cores']:>11.2f}"
            f"{r['max_diff']:>12.1e}{r['same_nu']!s:>9}"
        )


if __name__ == "__main__":
    main()

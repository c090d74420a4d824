"""Speed of the trust computations, measured in one run.

Goal (issue 4): bootstrap confidence intervals for 1,000 samples with 200
resamples in under 10 s on a 2-core machine.  The bootstrap batches its
solves: per resample, a few rounds of Huber reweighting started from the full
fit, each one batched weighted-NNLS call on all samples.

Prints, for planted TIL10 mixtures (153 genes used x 10 cell types, noise sd
0.25, see ``tests/conftest.py``):

- ``deconvolve`` itself,
- ``bootstrap_intervals`` (200 resamples) against the 10 s goal,
- the same refits with a per-sample ``scipy.optimize.nnls`` loop, timed on
  50 samples and extrapolated, to show what batching buys,
- ``permutation_test`` (1,000 random mixtures) and ``flag_confounders``
  (leave-one-gene-out and leave-panel-out refits), which ``run`` also does.

Timings are the best of ``--repeats`` runs (the machine is shared and noisy).

Usage: python benchmarks/bootstrap_speed.py [--samples N] [--resamples B] [--repeats R]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import nnls as scipy_nnls

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deconv_core import (  # noqa: E402
    bootstrap_intervals,
    deconvolve,
    flag_confounders,
    load_signature,
    permutation_test,
)
from deconv_core.refit import REFIT_ROUNDS, fit_arrays  # noqa: E402
from deconv_core.solvers import HUBER_TUNING  # noqa: E402
from tests.conftest import planted_mixtures  # noqa: E402

GOAL_SECONDS = 10.0


def best_of(func, repeats: int) -> float:
    """Smallest wall-clock time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def scipy_loop_seconds(result, resamples: int, samples: int) -> float:
    """Time the bootstrap's refits as a per-sample scipy loop on ``samples`` samples.

    Each refit is what the bootstrap computes: from the full fit's
    coefficients, ``REFIT_ROUNDS`` rounds of Huber reweighting, each one
    ``scipy.optimize.nnls`` call on the reweighted resampled genes.
    """
    Sw, Yw, _, _ = fit_arrays(result)
    coef = result.coefficients.to_numpy(dtype=float).T
    rng = np.random.default_rng(0)
    draws = rng.integers(0, Sw.shape[0], size=(resamples, Sw.shape[0]))
    start = time.perf_counter()
    for rows in draws:
        S = Sw[rows]
        for j in range(samples):
            y, x = Yw[rows, j], coef[:, j]
            for _ in range(REFIT_ROUNDS):
                r = y - S @ x
                scale = np.median(np.abs(r)) / 0.6745
                w = np.sqrt(np.minimum(1.0, HUBER_TUNING * scale / np.maximum(np.abs(r), 1e-300)))
                x = scipy_nnls(S * w[:, None], y * w)[0]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    signature = load_signature("TIL10")
    expression, _ = planted_mixtures(args.samples, noise=0.25, seed=0)
    result = deconvolve(expression, signature, mode="absolute")
    n_genes, n_types = result.signature_matrix.shape
    print(
        f"{args.samples} samples, {n_genes} genes used x {n_types} cell types (TIL10, "
        f"absolute mode); best of {args.repeats}"
    )
    t_fit = best_of(lambda: deconvolve(expression, signature, mode="absolute"), args.repeats)
    t_boot = best_of(
        lambda: bootstrap_intervals(result, signature, n_resamples=args.resamples, seed=0),
        args.repeats,
    )
    sub = 50
    t_loop = scipy_loop_seconds(result, args.resamples, sub) * args.samples / sub
    t_perm = best_of(lambda: permutation_test(result, n_permutations=1000, seed=0), args.repeats)
    t_conf = best_of(lambda: flag_confounders(result, signature), args.repeats)

    verdict = "meets" if t_boot < GOAL_SECONDS else "MISSES"
    rows = [
        ("deconvolve", t_fit, ""),
        (
            f"bootstrap_intervals, {args.resamples} resamples",
            t_boot,
            f"{verdict} the goal of < {GOAL_SECONDS:.0f} s",
        ),
        (
            "  same refits, per-sample scipy loop (extrapolated)",
            t_loop,
            f"{t_loop / t_boot:.0f}x slower than batched",
        ),
        ("permutation_test, 1000 random mixtures", t_perm, ""),
        ("flag_confounders (leave-one-gene/panel-out)", t_conf, ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, seconds, note in rows:
        print(f"  {name:<{width}}  {seconds:7.2f} s  {note}")


if __name__ == "__main__":
    main()

"""One sample's card and a session bundle's round trip on a big cohort, measured in one run.

Simulates a cohort (default 1,000 samples × 20,000 genes: TIL10 mixtures plus
filler genes, linear TPM), fits it once, then times

- the 95% intervals of the whole cohort (200 resamples) against the card of
  one sample (its intervals computed for it alone, the HTML page and the PNG);
- writing the results zip with the input file inside (``bundle_zip``) and
  reading it back with every SHA-256 checked (``read_bundle``) against
  ``pandas.read_csv`` of the same TSV bytes.

Prints each time and the ratios.  Usage:
python benchmarks/card_session.py [--samples 1000] [--genes 20000]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deconv_core.analysis import assess, fit_signature  # noqa: E402
from deconv_core.card import build_card, card_html  # noqa: E402
from deconv_core.card_png import card_png  # noqa: E402
from deconv_core.expression import load_expression  # noqa: E402
from deconv_core.io.limits import DEFAULT_LIMITS  # noqa: E402
from deconv_core.options import RunOptions  # noqa: E402
from deconv_core.qc import bootstrap_intervals  # noqa: E402
from deconv_core.report import bundle_zip  # noqa: E402
from deconv_core.session import InputFile, read_bundle  # noqa: E402
from deconv_core.signatures import load_signature  # noqa: E402


def cohort_tsv(samples: int, genes: int, seed: int = 0) -> bytes:
    """TIL10 mixtures (30-90 % covered) plus filler genes up to ``genes`` rows, as TSV bytes."""
    rng = np.random.default_rng(seed)
    sig = load_signature("TIL10").matrix
    shares = rng.dirichlet(np.ones(sig.shape[1]), size=samples) * rng.uniform(
        0.3, 0.9, (samples, 1)
    )
    signal = (sig.to_numpy() @ shares.T) * rng.lognormal(0, 0.2, (sig.shape[0], samples))
    filler_rows = genes - sig.shape[0]
    filler = rng.dirichlet(np.ones(filler_rows), size=samples).T
    filler *= np.clip(1e6 - signal.sum(axis=0), 1e5, None)
    index = [*sig.index, *(f"FILLER{i}" for i in range(filler_rows))]
    names = [f"S{i + 1:04d}" for i in range(samples)]
    frame = pd.DataFrame(np.vstack([signal, filler]), index=index, columns=names)
    return frame.to_csv(sep="\t", index_label="gene", float_format="%.3f").encode()


def timed(label: str, work):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = work()
    seconds = time.perf_counter() - start
    print(f"{label:<58} {seconds:8.2f} s")
    return value, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=20000)
    args = parser.parse_args()
    data = cohort_tsv(args.samples, args.genes)
    print(
        f"cohort: {args.samples:,} samples × {args.genes:,} genes, {len(data) / 2**20:.0f} MB TSV"
    )
    til10 = load_signature("TIL10")
    options = RunOptions(mode="absolute")
    expression = load_expression(data, name="cohort.tsv")
    result = fit_signature(expression, til10, options)
    analysis = assess(expression, til10, options, result)
    sample = analysis.worst_first[0]

    _, cohort = timed(
        "95% intervals of every sample (200 resamples)",
        lambda: bootstrap_intervals(result, til10, n_resamples=200, seed=0),
    )

    def one_card() -> tuple[str, bytes]:
        card = build_card(analysis, sample)
        return card_html(card), card_png(card)

    (page, image), card_time = timed(f"card of {sample}: intervals, HTML, PNG", one_card)
    print(
        f"  card / cohort intervals: {card_time / cohort:.3f}  "
        f"(HTML {len(page) / 1024:.0f} KB, PNG {len(image) / 1024:.0f} KB)"
    )

    _, read = timed(
        "pandas.read_csv of the TSV bytes",
        lambda: pd.read_csv(io.BytesIO(data), sep="\t", index_col=0),
    )
    bundle, write = timed(
        "bundle_zip with the input inside",
        lambda: bundle_zip(analysis, inputs={"expression": InputFile("cohort.tsv", data)}),
    )
    _, check = timed(
        "read_bundle (unzip, every SHA-256 checked)",
        lambda: read_bundle(bundle, name="bundle.zip", limits=DEFAULT_LIMITS),
    )
    print(
        f"  zip {len(bundle) / 2**20:.0f} MB; write / read_csv: {write / read:.2f}; "
        f"read_bundle / read_csv: {check / read:.2f}"
    )


if __name__ == "__main__":
    main()

"""Shared planted data: mixtures built from the shipped TIL10 signature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deconv_core.signatures import load_signature


def planted_mixtures(
    n_samples: int = 6,
    *,
    covered: float = 0.7,
    noise: float = 0.0,
    seed: int = 0,
    n_filler: int = 300,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bulk TPM (genes × samples) whose signature genes are exactly TIL10 × mRNA shares.

    Returns the expression and the planted mRNA shares (samples × cell types);
    each sample's shares sum to ``covered`` and filler genes carry the rest of
    the one million, as a whole transcriptome would.
    """
    rng = np.random.default_rng(seed)
    sig = load_signature("TIL10").matrix
    shares = rng.dirichlet(np.ones(sig.shape[1]), size=n_samples) * covered
    signal = sig.to_numpy() @ shares.T
    if noise:
        signal = signal * rng.lognormal(0, noise, size=signal.shape)
    filler_total = 1e6 - signal.sum(axis=0)
    filler = rng.dirichlet(np.ones(n_filler), size=n_samples).T * filler_total
    genes = list(sig.index) + [f"FILLER{i}" for i in range(n_filler)]
    samples = [f"S{i + 1}" for i in range(n_samples)]
    expr = pd.DataFrame(np.vstack([signal, filler]), index=genes, columns=samples)
    return expr, pd.DataFrame(shares, index=samples, columns=sig.columns)


@pytest.fixture
def til10():
    return load_signature("TIL10")


@pytest.fixture
def planted():
    return planted_mixtures()

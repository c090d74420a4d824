"""Shared planted data: mixtures built from the shipped TIL10 signature."""

from __future__ import annotations

import io
import sys
import zipfile

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


#: The interpreter's own ``__main__``, taken before any test runs.
_MAIN = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def _real_main_module():
    """Start every test with the interpreter's own ``__main__``.

    Streamlit's AppTest runs a page as ``__main__`` and leaves it there (also
    from module-scoped fixtures); a process started later by ``spawn`` (the
    Dask engine's workers) would then re-run that page in bare mode and write
    Streamlit's warnings to stderr.
    """
    sys.modules["__main__"] = _MAIN


@pytest.fixture
def til10():
    return load_signature("TIL10")


@pytest.fixture
def planted():
    return planted_mixtures()


def _central_entry(data: bytes, member: str) -> int:
    """Offset of ``member``'s entry in a zip's central directory (its name is at +46)."""
    start = data.find(b"PK\x01\x02")
    while data[start + 46 : start + 46 + len(member)] != member.encode():
        start = data.find(b"PK\x01\x02", start + 1)
    return start


def damage_zip(data: bytes, member: str, kind: str) -> bytes:
    """A zip with one member damaged the way byte flips found zipfile fails.

    ``kind``: ``"unknown zip version"`` (zipfile raises NotImplementedError),
    ``"encrypted member"`` (RuntimeError) or ``"damaged member"`` (its compressed
    bytes overwritten: zlib.error or a bad CRC).
    """
    out = bytearray(data)
    entry = _central_entry(data, member)
    if kind == "unknown zip version":
        out[entry + 6 : entry + 8] = (0xFF).to_bytes(2, "little")
    elif kind == "encrypted member":
        out[entry + 8] |= 0x01
    else:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo(member)
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
        middle = start + info.compress_size // 2
        out[middle : middle + 8] = b"\xff" * 8
    return bytes(out)

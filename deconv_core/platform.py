"""A signature from another platform than the bulk: gene-wise correction.

A profile measured on microarrays (immunoStates, LM22) or built from
single-cell data captures every gene with its own efficiency relative to bulk
RNA-seq: the mismatch of gene g is a factor b_g, ``bulk ≈ diag(b) S F``.
Fitted as if b were 1, the genes with the largest factors pull the cell types
they mark upwards (monocytes read two to three times too high with
immunoStates on PBMC RNA-seq).

The correction is in the spirit of CIBERSORTx's B-mode (Newman et al., Nat
Biotechnol 2019), which removes the batch effect between a signature's
reference profiles and the bulk before the final fit; this is our own,
simpler version of the idea (no CIBERSORTx code or ComBat):

1. fit every sample with the signature as given;
2. estimate each gene's factor from all samples together, as the median over
   samples of log(observed / fitted), centred so that the median gene has
   factor 1 (the fit's scale is unchanged);
3. multiply the signature's rows by the square root of the factors (half of
   the log factor: the estimate also holds each gene's share of the fit error,
   so it is shrunk half-way to 1) and fit again.

A factor is a property of the gene and the two platforms, shared by all
samples, so it needs several samples to be told apart from a sample's
composition: with fewer than ``MIN_SAMPLES_PLATFORM`` samples nothing is
corrected (warning ``platform_uncorrected``).  One half-step was chosen with
``benchmarks/accuracy.py`` and ``benchmarks/singlecell_accuracy.py``: it helped
both cross-platform cases (array- and single-cell-derived signatures on two
PBMC RNA-seq datasets); more iterations or full steps over-corrected.
"""

from __future__ import annotations

import numpy as np

from deconv_core.signatures import Signature
from deconv_core.thresholds import MIN_SAMPLES_PLATFORM
from deconv_core.validation import DeconvWarning

__all__ = ["SHRINK", "signature_platform", "from_other_platform", "platform_factors"]

#: Share of each gene's estimated log factor applied (one half-step, see the module docstring).
SHRINK = 0.5


def signature_platform(signature: Signature) -> str:
    """The signature's platform; a recognised restricted reference (LM22) is microarray-derived."""
    return signature.platform or ("microarray" if signature.restricted else "")


def from_other_platform(platform: str) -> bool:
    """Whether a signature of this platform differs from bulk RNA-seq (array or single-cell)."""
    name = platform.lower()
    return "microarray" in name or name.startswith("single-cell")


def platform_factors(S: np.ndarray, Y: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Gene-wise factors between the signature's platform and the bulk, shrunk half-way.

    Parameters
    ----------
    S : (g, k) signature rows used in the fit, linear.
    Y : (g, n) observed expression in the fit's scale, NaN where missing.
    coef : (k, n) coefficients of the first fit (NaN for unfitted samples).

    Returns
    -------
    (g,) positive factors to multiply the signature's rows by; 1 for a gene
    without a positive observed and fitted value in any sample.
    """
    fitted = S @ np.nan_to_num(coef)
    usable = (fitted > 0) & (Y > 0) & ~np.isnan(Y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(usable, np.log(Y / fitted), np.nan)
    seen = usable.any(axis=1)
    log_factor = np.zeros(S.shape[0])
    log_factor[seen] = np.nanmedian(ratio[seen], axis=1)
    if seen.any():
        log_factor[seen] -= np.median(log_factor[seen])
    return np.exp(SHRINK * log_factor)


def platform_warning(platform: str, n_samples: int, corrected: bool) -> DeconvWarning:
    """What was done about a signature from another platform."""
    if corrected:
        return DeconvWarning(
            "info",
            "platform_corrected",
            f"The signature comes from another platform ({platform}) than bulk RNA-seq, which "
            "captures each gene with its own efficiency; each gene's factor between the two was "
            f"estimated from the {n_samples} samples together and half of it applied to the "
            "signature before the final fit (in the spirit of CIBERSORTx's batch correction).",
        )
    return DeconvWarning(
        "warning",
        "platform_uncorrected",
        f"The signature comes from another platform ({platform}) than bulk RNA-seq; its "
        f"gene-wise differences need at least {MIN_SAMPLES_PLATFORM} samples to be estimated "
        f"and there are {n_samples}, so they were not corrected: cell types whose markers the "
        "platforms measure differently may be over- or underestimated.",
        cli=f"Deconvolve at least {MIN_SAMPLES_PLATFORM} samples together.",
        app=f"Upload at least {MIN_SAMPLES_PLATFORM} samples together.",
    )

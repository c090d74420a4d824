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

A pattern shared by all genes of one cell type is a platform effect for an
array-derived profile (each profile was scaled on its own arrays, so all of a
cell type's genes read higher or lower than in bulk), but not for a profile
built from single-cell data: its profiles are per million like the bulk and
its mRNA content was measured with it, so such a pattern is the first fit's
error in that cell type's share.  Left in the factors, it would be written
into the signature and keep that error in the final fit.  For such
signatures (``cell_type_scale=False``) step 2 removes it: the genes' log
factors are regressed on each gene's share of its fitted expression per cell
type (least squares, averaged over samples) and only the remainder is used.
Chosen with ``benchmarks/accuracy_tried.py``: on the single-cell-built
signature it raised Finotello from 0.913 / 0.049 / 0.564 to 0.929 / 0.043 /
0.621 and Hoek from 0.971 / 0.057 / 0.861 to 0.980 / 0.046 / 0.863 (pooled r
/ RMSE / per-type r), 28 of 40 measures better and 8 worse over the whole
reference and four donor halves; on immunoStates it was worse on both
datasets (Finotello 0.829 / 0.112 / 0.598), as expected of an array profile.

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


def platform_factors(
    S: np.ndarray, Y: np.ndarray, coef: np.ndarray, *, cell_type_scale: bool = True
) -> np.ndarray:
    """Gene-wise factors between the signature's platform and the bulk, shrunk half-way.

    Parameters
    ----------
    S : (g, k) signature rows used in the fit, linear.
    Y : (g, n) observed expression in the fit's scale, NaN where missing.
    coef : (k, n) coefficients of the first fit (NaN for unfitted samples).
    cell_type_scale
        Keep in the factors a pattern shared by all genes of a cell type
        (True: array-derived profiles); False removes it (profiles per
        million like the bulk, e.g. single-cell builds; module docstring).

    Returns
    -------
    (g,) positive factors to multiply the signature's rows by; 1 for a gene
    without a positive observed and fitted value in any sample.
    """
    coef = np.nan_to_num(coef)
    fitted = S @ coef
    usable = (fitted > 0) & (Y > 0) & ~np.isnan(Y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(usable, np.log(Y / fitted), np.nan)
    seen = usable.any(axis=1)
    log_factor = np.zeros(S.shape[0])
    log_factor[seen] = np.nanmedian(ratio[seen], axis=1)
    if seen.any() and not cell_type_scale:
        shares = _fitted_shares(S, coef, fitted, usable)[seen]
        pattern = np.linalg.lstsq(shares, log_factor[seen], rcond=None)[0]
        log_factor[seen] -= shares @ pattern
    if seen.any():
        log_factor[seen] -= np.median(log_factor[seen])
    return np.exp(SHRINK * log_factor)


def _fitted_shares(
    S: np.ndarray, coef: np.ndarray, fitted: np.ndarray, usable: np.ndarray
) -> np.ndarray:
    """(g, k) each cell type's share of a gene's fitted value, mean over its usable samples.

    ``S[g, t] * coef[t, j] / fitted[g, j]`` averaged over j without forming
    the (g, k, n) block: the mean of ``coef[t, j] / fitted[g, j]`` is one
    matrix product.
    """
    with np.errstate(divide="ignore"):
        inverse = np.where(usable, 1.0 / fitted, 0.0)
    counts = np.maximum(usable.sum(axis=1), 1)
    return S * (inverse @ coef.T) / counts[:, None]


def platform_warning(
    platform: str, n_samples: int, corrected: bool, *, cell_type_scale: bool = True
) -> DeconvWarning:
    """What was done about a signature from another platform (see :func:`platform_factors`)."""
    if corrected:
        kept = (
            ""
            if cell_type_scale
            else " A pattern shared by all genes of one cell type was left out of the factors: "
            "with profiles per million like the data, it is an error in that cell type's share, "
            "not a difference between platforms."
        )
        return DeconvWarning(
            "info",
            "platform_corrected",
            f"The signature comes from another platform ({platform}) than bulk RNA-seq, which "
            "captures each gene with its own efficiency; each gene's factor between the two was "
            f"estimated from the {n_samples} samples together and half of it applied to the "
            "signature before the final fit (in the spirit of CIBERSORTx's batch correction)."
            + kept,
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

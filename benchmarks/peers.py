"""Peer methods re-implemented for the benchmarks only (never imported by the product).

``nu_svr``: CIBERSORT's estimator as its paper describes it (Newman et al.,
Nat Methods 2015): per mixture, the signature and the mixture are standardised
(zero mean, unit variance over all values), a linear ν-support-vector
regression is fitted for ν ∈ {0.25, 0.5, 0.75} (scikit-learn's NuSVR, C = 1),
negative coefficients are set to zero and the rest normalised to sum to one;
the ν whose reconstruction of the standardised mixture has the lowest RMSE is
kept.  An independent implementation: no CIBERSORT code was read or used.

The paper does not say whether the RMSE that picks ν is that of the
clipped, normalised coefficients or of the SVR's own fit.  ``choose_on="raw"``
picks ν on the unclipped coefficients' reconstruction instead: that variant
reproduces issue 15's ν-SVR numbers to three decimals (GSE11058 0.928 / 0.055
/ 0.993, GSE19830 0.992 / 0.062 / 0.994, immunoStates → Hoek 0.767 / 0.134 /
0.825 against the issue's 0.768 / 0.134 / 0.824), so it is how the issue's
peer was run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NUS = (0.25, 0.5, 0.75)
CHOICES = ("clipped", "raw")


def nu_svr(
    expression: pd.DataFrame, signature: pd.DataFrame, *, choose_on: str = "clipped"
) -> pd.DataFrame:
    """CIBERSORT-style fractions (samples × cell types) on the genes both share.

    Parameters
    ----------
    expression
        Genes × samples, linear scale.
    signature
        Genes × cell types, linear scale.
    choose_on
        ``"clipped"``: ν is chosen on the reconstruction by the clipped,
        normalised coefficients; ``"raw"``: on the SVR's unclipped
        coefficients (how issue 15's peer was run, see the module docstring).
    """
    if choose_on not in CHOICES:
        raise ValueError(f"choose_on must be one of {CHOICES}, got {choose_on!r}")
    from sklearn.svm import NuSVR

    genes = signature.index.intersection(expression.index)
    S = signature.loc[genes].to_numpy(dtype=float)
    Sz = (S - S.mean()) / S.std()
    out = {}
    for sample in expression.columns:
        y = expression.loc[genes, sample].to_numpy(dtype=float)
        yz = (y - y.mean()) / y.std()
        best: tuple[float, np.ndarray] | None = None
        for nu in NUS:
            raw = NuSVR(kernel="linear", nu=nu, C=1.0).fit(Sz, yz).coef_.ravel()
            w = np.clip(raw, 0.0, None)
            if w.sum() <= 0:
                continue
            w = w / w.sum()
            judged = w if choose_on == "clipped" else raw
            rmse = float(np.sqrt(np.mean((Sz @ judged - yz) ** 2)))
            if best is None or rmse < best[0]:
                best = (rmse, w)
        out[sample] = best[1] if best else np.full(S.shape[1], np.nan)
    return pd.DataFrame(out, index=signature.columns).T

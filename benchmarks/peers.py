"""Peer methods re-implemented for the benchmarks only (never imported by the product).

``nu_svr``: CIBERSORT's estimator as its paper describes it (Newman et al.,
Nat Methods 2015): per mixture, the signature and the mixture are standardised
(zero mean, unit variance over all values), a linear ν-support-vector
regression is fitted for ν ∈ {0.25, 0.5, 0.75} (scikit-learn's NuSVR, C = 1),
negative coefficients are set to zero and the rest normalised to sum to one;
the ν whose reconstruction of the standardised mixture has the lowest RMSE is
kept.  An independent implementation: no CIBERSORT code was read or used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NUS = (0.25, 0.5, 0.75)


def nu_svr(expression: pd.DataFrame, signature: pd.DataFrame) -> pd.DataFrame:
    """CIBERSORT-style fractions (samples × cell types) on the genes both share.

    Parameters
    ----------
    expression
        Genes × samples, linear scale.
    signature
        Genes × cell types, linear scale.
    """
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
            w = NuSVR(kernel="linear", nu=nu, C=1.0).fit(Sz, yz).coef_.ravel()
            w = np.clip(w, 0.0, None)
            if w.sum() <= 0:
                continue
            w = w / w.sum()
            rmse = float(np.sqrt(np.mean((Sz @ w - yz) ** 2)))
            if best is None or rmse < best[0]:
                best = (rmse, w)
        out[sample] = best[1] if best else np.full(S.shape[1], np.nan)
    return pd.DataFrame(out, index=signature.columns).T

"""Methods side by side on real data with measured truth, and stromal scores on planted tumours.

For each dataset of ``benchmarks/accuracy.py`` (same inputs, same options,
cell types summed to the measured categories the same way) this runs the
command line's engine with ``--method all`` and prints, per method, the pooled
Pearson r, RMSE and mean per-category Pearson r against the truth.  Marker
scores are not fractions: only their per-category r (between samples) is
printed, for the categories an MCP-counter population stands for.

It then asks whether the disagreement flag means something: per category, the
robust fit's r against the truth beside the lowest Spearman r between the
robust fit and another method.

Last, planted tumour mixtures (TIL10 immune profiles; fibroblast and
endothelial profiles made from MCP-counter's CC0 markers, tumour cells
expressing the epithelial markers; the tests' builder) show how far the
stromal scores track the planted stroma and the epithelial score the tumour.

Usage: python benchmarks/methods.py [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.accuracy import DEFAULT_DATA, datasets, metrics, summed  # noqa: E402
from deconv_core import load_expression, load_signature  # noqa: E402
from deconv_core.analysis import run_analysis  # noqa: E402
from deconv_core.deconvolve import deconvolve  # noqa: E402
from deconv_core.methods import agreement_summary, run_methods  # noqa: E402
from deconv_core.options import RunOptions  # noqa: E402
from tests.core.test_methods import stromal_mixtures  # noqa: E402

# Measured category -> the MCP-counter population that stands for it.
MCP_FOR = {
    "T_cells": "T cells",
    "monocytes": "Monocytic lineage",
    "B_cells": "B lineage",
    "dendritic_cells": "Myeloid dendritic cells",
    "NK_cells": "NK cells",
    "NK cells": "NK cells",
    "B cells": "B lineage",
    "mDC": "Myeloid dendritic cells",
    "Monocytes": "Monocytic lineage",
    "Neutrophils": "Neutrophils",
    "T cells CD8": "CD8 T cells",
}


def per_type_r(estimate: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Pearson r between samples per category (NaN for a constant column)."""
    est = estimate.loc[truth.index]
    return pd.Series({c: est[c].corr(truth[c]) for c in truth.columns if c in est})


def _fractions(values: pd.DataFrame, groups, relative: bool) -> pd.DataFrame:
    cells = values.drop(columns=["other"], errors="ignore")
    if relative:  # EPIC's cell types renormalised where the truth is relative
        cells = cells.div(cells.sum(axis=1), axis=0)
    return summed(cells, groups)


def real_data(data: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for ds in datasets(data, Path(tmp)):
            expression = load_expression(ds.expression)
            signature = load_signature(str(ds.signature))
            options = RunOptions(mode=ds.mode, exclude=ds.exclude or "none", methods=("all",))
            analysis = run_analysis(expression, signature, options)
            truth = ds.truth.loc[
                [s for s in ds.truth.index if s in analysis.result.proportions.index]
            ]
            print(f"{ds.name}  [{ds.mode}; {truth.shape[0]} samples x {truth.shape[1]} categories]")
            for r in analysis.methods.results:
                if r.kind == "fraction":
                    est = _fractions(r.values, ds.groups, ds.mode == "relative")
                    o = metrics(est, truth)
                    note = "" if r.applicable else "  (not applicable to this signature)"
                    print(
                        f"  {r.method:12s} pooled r {o[0]:.3f}  RMSE {o[1]:.3f}  "
                        f"per-type r {o[2]:.3f}{note}"
                    )
                else:
                    mapped = {c: MCP_FOR[c] for c in truth.columns if c in MCP_FOR}
                    scores = r.values.rename(columns={v: k for k, v in mapped.items()})
                    rs = per_type_r(scores[[c for c in mapped if c in scores]], truth[list(mapped)])
                    rs = rs.dropna()
                    text = (
                        "no markers in these data"
                        if rs.empty
                        else (
                            f"per-type r {rs.mean():.3f} over {len(rs)} categories "
                            f"({', '.join(f'{c} {v:.2f}' for c, v in rs.items())})"
                        )
                    )
                    print(f"  {r.method:12s} (score) {text}")
            robust = per_type_r(summed(analysis.result.proportions, ds.groups), truth)
            summary = agreement_summary(analysis.methods.agreement)
            lowest = {}
            for category in truth.columns:
                members = (ds.groups or {}).get(category, [category])
                rows = summary.loc[[m for m in members if m in summary.index]]
                worst = rows.sort_values("lowest_r").head(1)
                lowest[category] = (
                    f"{worst['lowest_r'].iloc[0]:.2f} ({worst['with'].iloc[0]})"
                    if len(worst)
                    else "-"
                )
            flagged = [q for q in summary.index if summary.loc[q, "flagged"]]
            print("  category: robust r vs truth | lowest Spearman r robust vs another method")
            for category in truth.columns:
                print(f"    {category}: {robust.get(category, np.nan):.2f} | {lowest[category]}")
            print(f"  flagged: {', '.join(flagged) or 'none'}")


def planted_stroma() -> None:
    signature = load_signature("TIL10")
    print("Planted tumours (30 samples each; marker genes with log-normal noise sd 0.3)")
    for seed in (0, 1, 2):
        expr, planted = stromal_mixtures(30, seed=seed)
        result = deconvolve(expr, signature, mode="absolute")
        other = run_methods(expr, result, signature, ["mcp-counter"]).other
        parts = []
        for population in ("Fibroblasts", "Endothelial cells"):
            score = other[f"{population} score"]
            parts.append(
                f"{population}: Pearson {score.corr(planted[population]):.3f}, "
                f"Spearman {score.corr(planted[population], method='spearman'):.3f}"
            )
        epithelial = other["Epithelial cells score"]
        parts.append(
            f"epithelial score vs tumour: Pearson {epithelial.corr(planted['tumour']):.3f}, "
            f"Spearman {epithelial.corr(planted['tumour'], method='spearman'):.3f}"
        )
        gap = other["tumour_at_most"] - planted["tumour"]
        print(
            f"  seed {seed}: {'; '.join(parts)}; tumour_at_most - planted tumour "
            f"{gap.min():.3f} to {gap.max():.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    real_data(args.data)
    planted_stroma()


if __name__ == "__main__":
    main()

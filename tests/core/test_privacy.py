"""Privacy: the command line makes no network call and writes only where asked."""

import subprocess
import sys
from pathlib import Path

from tests.conftest import planted_mixtures

ROOT = Path(__file__).resolve().parents[2]
GUARD = ROOT / "tests" / "support" / "netguard.py"


def _guarded(log: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GUARD), str(log), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(cwd)},
    )


def test_guard_catches_an_outbound_attempt(tmp_path):
    """The guard itself works: a real outbound request is refused and logged."""
    log = tmp_path / "net.log"
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('http://example.org', timeout=1)\n"
        "except OSError:\n"
        "    print('refused')\n"
    )
    proc = subprocess.run(
        [sys.executable, str(GUARD), str(log), "probe"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "refused" in proc.stdout
    assert "example.org" in log.read_text()


def test_cli_run_makes_no_network_call_and_writes_only_the_output_folder(tmp_path):
    expr, _ = planted_mixtures(3, seed=5)
    work = tmp_path / "work"
    work.mkdir()
    bulk = work / "bulk.tsv"
    expr.to_csv(bulk, sep="\t", index_label="gene")
    log = tmp_path / "net.log"
    before = set(work.rglob("*"))
    proc = _guarded(
        log,
        "deconv_core",
        "run",
        str(bulk),
        "--signature",
        "TIL10",
        "--out",
        str(work / "out"),
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    assert not log.exists(), log.read_text()
    created = set(work.rglob("*")) - before
    assert created and all(p == work / "out" or work / "out" in p.parents for p in created)
    proc = _guarded(log, "deconv_core", "signatures", cwd=work)
    assert proc.returncode == 0 and not log.exists()


def test_shipped_streamlit_config_is_private_and_local():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True
    assert 0 < config["server"]["maxUploadSize"] <= 1000


def test_core_never_imports_streamlit():
    code = (
        "import sys, deconv_core, deconv_core.cli, deconv_core.report; "
        "import pkgutil, importlib; "
        "[importlib.import_module('deconv_core.' + m.name) "
        " for m in pkgutil.iter_modules(deconv_core.__path__) if m.name != '__main__']; "
        "print('streamlit' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert proc.stdout.strip() == "False"


def test_every_public_name_exists():
    import importlib
    import pkgutil

    import deconv_core

    for info in pkgutil.iter_modules(deconv_core.__path__):
        if info.name == "__main__":
            continue
        module = importlib.import_module(f"deconv_core.{info.name}")
        for name in getattr(module, "__all__", []):
            assert hasattr(module, name), f"deconv_core.{info.name}.{name}"

"""A run's folder is complete or visibly not: interrupted runs, unusable --out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deconv_core import cli, startup
from deconv_core.cli import main
from deconv_core.options import MAX_PERMUTATIONS

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo" / "expression.tsv.gz"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("out", ["", "   "])
def test_empty_out_is_refused(out, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(DEMO), "--signature", "TIL10", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: The output folder is empty")
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    existing = tmp_path / "results"
    existing.write_text("keep me")
    assert main(["run", str(DEMO), "--signature", "TIL10", "--out", str(existing)]) == 2
    assert "is an existing file" in capsys.readouterr().err
    assert existing.read_text() == "keep me"


def test_a_later_run_replaces_every_file_of_an_earlier_one(tmp_path):
    out = tmp_path / "run"
    args = ["run", str(DEMO), "--signature", "TIL10", "--out", str(out)]
    assert main([*args, "--bootstrap", "5"]) == 0
    assert (out / "intervals.csv").exists()
    (out / "my_notes.txt").write_text("mine")
    assert main(args) == 0  # no bootstrap this time
    assert not (out / "intervals.csv").exists()  # the earlier run's file is gone
    assert (out / "my_notes.txt").read_text() == "mine"  # the user's own file is not
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.partial-")]


SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]


def _sleep_six_seconds(process: subprocess.Popen) -> None:
    # Usually past the imports and the fit, inside the permutation test; on a loaded
    # machine it may still be loading the libraries, which ends the same way.
    time.sleep(6)
    assert process.poll() is None


def _numpy_loading(process: subprocess.Popen) -> None:
    # numpy's compiled core is mapped: the package's imports have begun (pandas and
    # scipy still take a second or more), whatever the machine's load.
    maps = Path(f"/proc/{process.pid}/maps")
    deadline = time.monotonic() + 120
    while "numpy" not in maps.read_text():
        assert process.poll() is None and time.monotonic() < deadline, "numpy never loaded"
        time.sleep(0.01)


def _signal_child(command: list[str], signum: int, wait) -> tuple[int, str]:
    """Start `command`, call `wait(process)`, send `signum`; return exit code and stderr."""
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        wait(process)
        process.send_signal(signum)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:  # never leave the child (and its pipes) behind
            process.kill()
            process.communicate()
    return process.returncode, err


@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS)
def test_an_interrupted_run_leaves_the_earlier_run_intact(tmp_path, signum, code, word):
    out = tmp_path / "run"
    assert main(["run", str(DEMO), "--signature", "TIL10", "--out", str(out)]) == 0
    before = _snapshot(out)
    # The most permutations allowed: minutes of work, so the signal comes first.
    slow = ["--permutations", str(MAX_PERMUTATIONS)]
    command = [sys.executable, "-m", "deconv_core", "run", str(DEMO), "--signature", "TIL10",
               *slow, "--out", str(out)]  # fmt: skip
    returncode, err = _signal_child(command, signum, _sleep_six_seconds)
    lines = err.strip().splitlines()
    assert returncode == code
    assert len(lines) == 1 and lines[0].startswith(f"{word}:"), err
    assert "Traceback" not in err
    assert _snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.partial-")]


def test_an_unrelated_manifest_never_makes_the_writer_delete_files(tmp_path):
    import json

    out = tmp_path / "mine"
    out.mkdir()
    (out / "important.csv").write_text("keep")
    (out / "fit.csv").write_text("someone else's")
    (out / "manifest.json").write_text(json.dumps({"files": ["important.csv", "fit.csv"]}))
    assert main(["run", str(DEMO), "--signature", "TIL10", "--out", str(out)]) == 0
    assert (out / "important.csv").read_text() == "keep"
    assert json.loads((out / "manifest.json").read_text())["tool"] == "deconv-explorer"


LINUX = pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")


@LINUX
@pytest.mark.parametrize(("signum", "code", "word"), SIGNALS)
def test_a_signal_while_the_libraries_load_ends_in_one_line(tmp_path, signum, code, word):
    out = tmp_path / "never"
    command = [sys.executable, "-m", "deconv_core", "run", str(DEMO), "--signature", "TIL10",
               "--out", str(out)]  # fmt: skip
    returncode, err = _signal_child(command, signum, _numpy_loading)
    assert returncode == code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    # "while starting" unless a descheduled test sent the signal after the (1-2 s) imports
    assert len(lines) == 1 and lines[0].startswith(f"{word}:"), err
    assert not out.exists()


@LINUX
def test_imported_as_a_library_the_package_lets_ctrl_c_through():
    returncode, err = _signal_child(
        [sys.executable, "-c", "import deconv_core"], signal.SIGINT, _numpy_loading
    )
    assert returncode not in (0, 130)
    assert "Traceback" in err  # the caller's own interrupt (or numpy's ImportError), unchanged
    assert "while starting" not in err


@pytest.mark.parametrize(("stop", "code", "word"), [
    (KeyboardInterrupt, 130, "interrupted"), (cli._Terminated, 143, "terminated")
])  # fmt: skip
def test_the_command_line_ends_with_the_startup_guards_codes(stop, code, word, monkeypatch, capsys):
    def stopped(args):
        raise stop

    monkeypatch.setattr(cli, "_dispatch", stopped)
    assert main(["signatures"]) == code
    assert capsys.readouterr().err == f"{word}: nothing was written\n"
    assert code in (startup.EXIT_INTERRUPTED, startup.EXIT_TERMINATED)  # one definition


def test_a_signal_swallowed_inside_a_weakref_callback_still_ends_the_start(capsys):
    # A signal whose exception is raised inside a weakref callback (as in the
    # import machinery's module locks) is printed as "Exception ignored" and
    # lost; the guard must still end the start with the signal's line and code.
    import signal
    import weakref

    class Thing:
        pass

    went_on = []
    with pytest.raises(SystemExit) as ended, startup.quiet_start(True):
        thing = Thing()
        ref = weakref.ref(thing, lambda _: signal.raise_signal(signal.SIGTERM))
        del thing
        went_on.append(ref)  # the callback's exception did not stop the block
    assert went_on and ended.value.code == startup.EXIT_TERMINATED
    err = capsys.readouterr().err
    assert err == f"terminated: {startup.STARTING}\n"

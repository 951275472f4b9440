"""``make install``'s interpreter check (scripts/check_python.py)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "check_python.py"


def test_the_supported_interpreter_passes_in_silence() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "python3"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_refusal_names_the_versions_from_pyproject() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import check_python
    finally:
        sys.path.remove(str(SCRIPT.parent))
    floor, tested = check_python.supported((ROOT / "pyproject.toml").read_text())
    assert floor == (3, 11)
    assert tested == ["3.11", "3.12", "3.13"]
    line = check_python.refusal("python3", "3.10.13", floor, tested, venv=False)
    assert line == (
        "error: omnivoltaic-erm needs Python >=3.11 (3.11, 3.12, 3.13 are tested), but "
        "python3 is Python 3.10.13: run `make install PYTHON=python3.11` (or any supported "
        "python3)"
    )
    assert "run `make clean`, then run" in check_python.refusal(
        ".venv/bin/python", "3.10.13", floor, tested, venv=True
    )


OLD = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10*/bin/python3")))


@pytest.mark.skipif(not OLD, reason="no Python 3.10 under ~/.pyenv")
def test_python_3_10_is_refused_in_one_line() -> None:
    done = subprocess.run([OLD[0], str(SCRIPT), "python3"], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "needs Python >=3.11" in done.stderr and "is Python 3.10" in done.stderr

"""The library works without the ``cli`` extra (click and rich), and ``erm`` says how to
get it.

Each test runs a fresh interpreter whose imports of ``click`` and ``rich`` fail, as where
the extra is not installed: a finder first on ``sys.meta_path`` raises
``ModuleNotFoundError`` for them. The child checks that the blocker works before it
relies on it, so a blocker that stopped blocking fails the test rather than passing it.
``make check-no-cli`` does the same in a real environment installed without the extra.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from omnivoltaic_erm.__main__ import CLI_INSTALL, EXIT_NO_CLI
from tests.conftest import ROOT

BLOCKER = """
import sys

class _NoCliExtra:
    # Any import of these packages fails, as where they are not installed.
    def __init__(self, blocked):
        self.blocked = set(blocked)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoCliExtra(BLOCKED))
for _name in [m for m in sys.modules if m.partition(".")[0] in BLOCKED]:
    del sys.modules[_name]
for _name in BLOCKED:
    try:
        __import__(_name)
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit(f"the blocker let {_name} through")
"""


def run_without(
    code: str, blocked: tuple[str, ...] = ("click", "rich")
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``blocked`` cannot be imported."""
    program = f"BLOCKED = {blocked!r}\n{BLOCKER}\n{textwrap.dedent(code)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
    return subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


LIBRARY = """
import importlib

import omnivoltaic_erm
from omnivoltaic_erm import AsyncErmClient, ClientConfig, ErmClient, Limits

# Every public name, and every module a program or a test of a user's imports.
for name in omnivoltaic_erm.__all__:
    getattr(omnivoltaic_erm, name)
for module in ("batch", "journal", "errors", "config", "models", "client", "sync",
               "testing", "contracts", "schema_tools", "sandbox", "sandbox.pytest_plugin"):
    importlib.import_module(f"omnivoltaic_erm.{module}")

from omnivoltaic_erm.sandbox import Sandbox

with Sandbox(items=2, code_interval=0.0) as sb:
    item = sb.items()[0]["oemItemID"]
    with ErmClient(sb.url, sb.email, sb.password, limits=Limits(code_interval=0.0)) as erm:
        code = erm.generate_days_code(item, days=3)
    assert [e["codeHexString"] for e in sb.history(item)] == [code.code_hex]

# The sandbox's own command: argparse, not click.
import runpy
sys.argv = ["python -m omnivoltaic_erm.sandbox", "--help"]
try:
    runpy.run_module("omnivoltaic_erm.sandbox", run_name="__main__")
except SystemExit as exc:
    assert exc.code in (0, None), exc.code

loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
assert not loaded, loaded
print("issued", code.code_hex)
"""


def test_the_library_and_the_sandbox_work_without_click_and_rich() -> None:
    done = run_without(LIBRARY)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "issued " in done.stdout
    assert "usage: erm sandbox" in done.stdout  # the sandbox's --help ran


ERM = """
sys.argv = ["erm", *ARGS]
from omnivoltaic_erm.__main__ import run
run()
"""


def _erm_without(args: list[str], blocked: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    return run_without(f"ARGS = {args!r}\n{ERM}", blocked)


def test_erm_without_the_extra_prints_how_to_install_it() -> None:
    for args in (["--help"], ["code", "days", "DVAV2501000001", "--days", "7"]):
        done = _erm_without(args, ("click", "rich"))
        assert done.returncode == EXIT_NO_CLI == 1, done.stderr[-2000:]
        assert done.stdout == ""
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr[-2000:]
        assert CLI_INSTALL in lines[0]
        assert "pip install 'omnivoltaic-erm[cli]'" in lines[0]
        assert "click, rich" in lines[0]
        assert "Traceback" not in done.stderr


def test_erm_with_half_the_extra_names_the_missing_half() -> None:
    # rich is imported only inside commands: without the check up front, a command would
    # fail half-way with a traceback.
    done = _erm_without(["--help"], ("rich",))
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr.splitlines() == [
        f"error: the erm command needs the cli extra (rich not installed): {CLI_INSTALL}"
    ]


def test_erm_with_the_extra_still_runs() -> None:
    # The same child, nothing blocked: the check above does not refuse a full install.
    done = _erm_without(["--help"], ())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage: erm" in done.stdout

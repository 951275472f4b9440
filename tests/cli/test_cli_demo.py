"""``make demo`` (scripts/demo.py) runs start to finish and leaves nothing behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

KEYPAD = re.compile(r"\*\d{3}(?: \d{3}){6}#")


@pytest.mark.slow
def test_demo_prints_real_codes_and_cleans_up() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Traceback" not in out + done.stderr
    assert "allows a code every 0.5 s per item (the real API: every 6 s)" in out
    for step in ("$ erm login", "$ erm items --limit 5", "$ erm code days", "$ erm code free"):
        assert step in out
    assert "$ erm history" in out and "$ erm batch" in out
    assert len(set(KEYPAD.findall(out))) >= 7, "real codes: two single ones and the batch's"
    assert re.search(r"│ issued\s+│\s+20 │", out), "the batch issued its 20 rows"
    assert '"skipped-done": 20' in out, "and the rerun issued none again"
    assert "20/20" in done.stderr, "the batch's progress"
    assert "Demo finished" in out
    assert "/bin/erm: run it by that path, or activate the venv first" in out
    work = re.search(r"(/\S*erm-demo-[^/\s]+)/", out)
    assert work is not None
    assert not Path(work.group(1)).exists(), "the sandbox database and token cache are gone"

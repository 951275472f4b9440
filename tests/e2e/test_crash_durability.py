"""Crash durability: 20 runs of a batch SIGKILLed at a random point, each resumed; after
every run the journal, the results CSV and the sandbox history agree, one code per row."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.cli.test_cli_batch import assert_records_agree, oem_ids, states, write_rows
from tests.support.cli_helpers import Cli

RUNS = 20
ROWS = 12
INTERVAL = "0.1"


@pytest.mark.slow
def test_twenty_random_kills_each_resume_to_one_code_per_row(tmp_path: Path) -> None:
    rng = random.Random(20261125)
    kills_mid_run = 0
    with Sandbox(items=4 * RUNS, code_interval=float(INTERVAL)) as sb:
        cli = Cli(sb, tmp_path / "cache")
        ids = oem_ids(sb)
        for run in range(RUNS):
            items = ids[4 * run : 4 * run + 4]
            rows = [f"{items[n % 4]},days,{n + 1}" for n in range(ROWS)]
            src = write_rows(tmp_path / f"run{run}.csv", rows)
            journal, out = tmp_path / f"run{run}.db", tmp_path / f"run{run}-out.csv"
            args = ["batch", str(src), "--journal", str(journal), "--out", str(out)]

            proc = cli.popen(*args, ERM_CODE_INTERVAL=INTERVAL)
            # A random point of progress, from start-up (0 rows done) to the last row: the
            # kill is tied to the journal, not to a clock, so a loaded machine moves it
            # nowhere. A little random jitter lands it between journal writes too.
            target = rng.randrange(ROWS)
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if states(journal).get("done", 0) >= target:
                    time.sleep(rng.uniform(0.0, 0.05))
                    break
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            at_kill = states(journal)
            if proc.returncode == -signal.SIGKILL and 0 < at_kill.get("done", 0) < ROWS:
                kills_mid_run += 1

            resumed = cli.run("--json", *args, ERM_CODE_INTERVAL=INTERVAL)
            assert resumed.code == 0, f"run {run}: {resumed.err}"
            counts = resumed.json()["counts"]
            assert counts["issued"] + counts["recovered"] + counts["skipped-done"] == ROWS
            assert_records_agree(sb, items, journal, out, rows=ROWS)
    print(f"{kills_mid_run} of {RUNS} kills landed with rows done and rows left")
    assert kills_mid_run >= RUNS // 4, f"only {kills_mid_run} kills landed mid-run"

"""``make demo``: the ``erm`` command line against a local sandbox, start to finish.

Starts a sandbox on a free loopback port with a temporary database, then runs the
commands an operator would: login, items, a days code, a free code, the history, and a
20-row batch with its progress bar (run twice, to show that a rerun issues nothing
again). The sandbox is stopped and every temporary file (database, token cache,
journal) removed when the demo ends, whether it succeeds or fails.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omnivoltaic_erm._constants import CODE_INTERVAL
from omnivoltaic_erm.sandbox import Sandbox

# The API allows one code per item every 6 s; the demo's sandbox allows one every 0.5 s
# so that the batch finishes in seconds. The CLI is told the same (ERM_CODE_INTERVAL).
DEMO_INTERVAL = 0.5
ITEMS = 12


def banner(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def erm(*args: str, env: dict[str, str]) -> None:
    """Run ``erm args...`` with its output on this terminal; stop the demo if it fails."""
    print(f"$ erm {shlex.join(args)}", flush=True)
    done = subprocess.run([sys.executable, "-m", "omnivoltaic_erm", *args], env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"demo: `erm {shlex.join(args)}` exited with {done.returncode}")


def main() -> int:
    """Run the demo; return the exit code."""
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="erm-demo-") as tmp,
        Sandbox(
            items=ITEMS, code_interval=DEMO_INTERVAL, db_path=Path(tmp) / "sandbox.sqlite3"
        ) as sandbox,
    ):
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
        env.update(
            ERM_URL=sandbox.url,
            ERM_EMAIL=sandbox.email,
            ERM_PASSWORD=sandbox.password,
            ERM_CODE_INTERVAL=str(DEMO_INTERVAL),
            XDG_CACHE_HOME=str(work / "cache"),  # the token cache goes away with the demo
        )
        banner(f"ERM sandbox listening on {sandbox.url} ({ITEMS} demo items)")
        print(
            f"Note: this sandbox allows a code every {DEMO_INTERVAL:g} s per item (the real "
            f"API: every {CODE_INTERVAL:g} s), so the batch takes seconds; the CLI is told "
            f"with ERM_CODE_INTERVAL={DEMO_INTERVAL:g}.\n"
            f"Account: ERM_URL={sandbox.url} ERM_EMAIL={sandbox.email} "
            f"ERM_PASSWORD=<the sandbox's demo password>",
            flush=True,
        )
        newest = [str(i["oemItemID"]) for i in reversed(sandbox.items())]
        first, second = newest[0], newest[1]

        banner("Sign in and cache the token")
        erm("login", env=env)
        banner("The distributor's items")
        erm("items", "--limit", "5", env=env)
        banner(f"A 7-day code for {first}")
        erm("code", "days", first, "--days", "7", "--description", "demo", env=env)
        banner(f"A free code for {second}")
        erm("code", "free", second, env=env)
        banner(f"The code history of {first}")
        erm("history", first, env=env)

        batch_items = newest[2:6]
        plan = [("days", "30"), ("days", "7"), ("days", "90"), ("reset", ""), ("days", "14")]
        rows = [f"{item},{kind},{days}" for kind, days in plan for item in batch_items]
        csv_file = work / "demo-batch.csv"
        csv_file.write_text("item,type,days\n" + "\n".join(rows) + "\n")
        journal, results = work / "demo-batch.db", work / "demo-results.csv"
        banner(f"A {len(rows)}-row batch over {len(batch_items)} items: {csv_file.name}")
        print("\n".join(["item,type,days", *rows[:5], "..."]), flush=True)
        batch_args = ("batch", str(csv_file), "--journal", str(journal), "--out", str(results))
        erm(*batch_args, "--progress", "bar", env=env)
        lines = results.read_text().splitlines()
        banner(f"The results CSV ({len(lines) - 1} rows; the first five)")
        print("\n".join(lines[:6]), flush=True)
        banner("The same batch again, same journal: every row is already done")
        erm("--json", *batch_args, "--progress", "none", env=env)

    banner(f"Demo finished in {time.monotonic() - started:.1f} s; sandbox stopped, files removed")
    erm_path = Path(sys.executable).parent / "erm"
    print(
        f"The erm command is {erm_path}: run it by that path, or activate the venv first "
        f"(. {erm_path.parent}/activate); `erm sandbox` starts a sandbox of your own."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up: whole processes, from exec to exit.

``python -c pass`` is the interpreter's own floor. ``import omnivoltaic_erm`` is what a
service pays to import the package (the clients load lazily), ``from omnivoltaic_erm
import AsyncErmClient`` what it pays once it uses the client, and ``erm --help`` what a
user waits for at the terminal. Commands run interleaved, after one warm-up run each
(so the file cache is warm); CPU time is the child's user plus system time.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ._common import ROOT, median, spread


def commands() -> dict[str, list[str]]:
    """The commands to time, by label."""
    python = sys.executable
    erm = Path(python).parent / "erm"
    erm_cmd = [str(erm)] if erm.exists() else [python, "-m", "omnivoltaic_erm"]
    return {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import omnivoltaic_erm'": [python, "-c", "import omnivoltaic_erm"],
        "python -c 'from omnivoltaic_erm import AsyncErmClient'": [
            python,
            "-c",
            "from omnivoltaic_erm import AsyncErmClient",
        ],
        "erm --help": [*erm_cmd, "--help"],
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str]) -> tuple[float, float]:
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, check=True, timeout=60)
    return time.perf_counter() - started, _children_cpu() - cpu


def run(repeats: int = 9) -> dict[str, Any]:
    """Time each command ``repeats`` times after a warm-up run."""
    cmds = commands()
    for argv in cmds.values():
        _time(argv)
    walls: dict[str, list[float]] = {label: [] for label in cmds}
    cpus: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(repeats):
        for label, argv in cmds.items():
            wall, cpu = _time(argv)
            walls[label].append(wall)
            cpus[label].append(cpu)
    rows = [
        {
            "command": label,
            "wall_ms": median(walls[label]) * 1000,
            "wall_ms_range": tuple(x * 1000 for x in spread(walls[label])),
            "cpu_ms": median(cpus[label]) * 1000,
        }
        for label in cmds
    ]
    return {"repeats": repeats, "rows": rows}

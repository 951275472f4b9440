"""Start-up: whole processes, from exec to exit.

``python -c pass`` is the interpreter's own floor; ``import aiohttp, pydantic`` is what any
aiohttp + pydantic client pays, the base of the import target. ``import omnivoltaic_erm`` is what a
service pays to import the package (the clients load lazily), ``from omnivoltaic_erm
import AsyncErmClient`` what it pays once it uses the client, and ``erm --help`` what a
user waits for at the terminal. Commands run interleaved, after one warm-up run each
(so the file cache is warm); CPU time is the child's user plus system time.
"""

from __future__ import annotations

import os
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
        "python -c 'import aiohttp, pydantic'": [python, "-c", "import aiohttp, pydantic"],
        "python -c 'import omnivoltaic_erm'": [python, "-c", "import omnivoltaic_erm"],
        "python -c 'from omnivoltaic_erm import AsyncErmClient'": [
            python,
            "-c",
            "from omnivoltaic_erm import AsyncErmClient",
        ],
        "erm --help": [*erm_cmd, "--help"],
    }


def child_env() -> dict[str, str]:
    """The environment of the timed processes: bytecode as an installed wheel has it.

    A wheel install compiles every module; an editable checkout under
    PYTHONDONTWRITEBYTECODE would compile the package from source on every start, which
    no user pays. So the package is compiled once, and the children may use the result.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "src"), str(ROOT / "generated")],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=300,
    )
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True, timeout=60)
    return time.perf_counter() - started, _children_cpu() - cpu


def cli_items(url: str, email: str, password: str, repeats: int = 9) -> dict[str, Any]:
    """``erm items --limit 5`` with a token cached by ``erm login``: wall and CPU."""
    import tempfile

    python = sys.executable
    erm = Path(python).parent / "erm"
    erm_cmd = [str(erm)] if erm.exists() else [python, "-m", "omnivoltaic_erm"]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as cache:
        env = {k: v for k, v in child_env().items() if not k.startswith("ERM_")}
        env.update(ERM_URL=url, ERM_EMAIL=email, XDG_CACHE_HOME=cache)
        subprocess.run(
            [*erm_cmd, "login"],
            env={**env, "ERM_PASSWORD": password},
            check=True,
            capture_output=True,
            timeout=60,
        )
        argv = [*erm_cmd, "items", "--limit", "5"]
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(repeats + 1):
            cpu = _children_cpu()
            started = time.perf_counter()
            subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)
            walls.append(time.perf_counter() - started)
            cpus.append(_children_cpu() - cpu)
    walls, cpus = walls[1:], cpus[1:]  # the first run warms the file cache
    return {
        "command": "erm items --limit 5 (cached token)",
        "repeats": repeats,
        "wall_ms": median(walls) * 1000,
        "wall_ms_range": tuple(x * 1000 for x in spread(walls)),
        "cpu_ms": median(cpus) * 1000,
    }


def run(repeats: int = 9) -> dict[str, Any]:
    """Time each command ``repeats`` times after a warm-up run."""
    cmds = commands()
    env = child_env()
    for argv in cmds.values():
        _time(argv, env)
    walls: dict[str, list[float]] = {label: [] for label in cmds}
    cpus: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(repeats):
        for label, argv in cmds.items():
            wall, cpu = _time(argv, env)
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
    # The import target: CPU of the client's import over aiohttp + pydantic's, paired by
    # round so that load drifting between rounds cancels out.
    base = cpus["python -c 'import aiohttp, pydantic'"]
    ours = cpus["python -c 'from omnivoltaic_erm import AsyncErmClient'"]
    ratio = median([a / b for a, b in zip(ours, base, strict=True)])
    return {"repeats": repeats, "rows": rows, "import_cpu_ratio": ratio}

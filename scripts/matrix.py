"""``make matrix``: the fast suite on every supported Python, and on the lowest versions of
the dependencies that ``pyproject.toml`` allows.

Each target gets a virtualenv of its own under ``.matrix/`` (made with uv, which the dev
extra installs): ``py3.11``, ``py3.12`` and ``py3.13`` with the newest versions the
pyproject allows, and ``lowest`` on 3.11 with ``--resolution lowest-direct`` (every direct
dependency at its declared floor). Each then runs ``pytest -m "not slow"``. Interpreters
are found as ``python3.X`` on PATH or under pyenv's versions. Prints a table; exits 1 if
any target failed or its interpreter is missing.

    python scripts/matrix.py [TARGET ...]     # default: all four
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".matrix"
EXTRAS = ".[cli,dev,sandbox,schema]"


@dataclass(frozen=True)
class Target:
    name: str
    python: str  # "3.11"
    lowest: bool = False


TARGETS = (
    Target("py3.11", "3.11"),
    Target("py3.12", "3.12"),
    Target("py3.13", "3.13"),
    Target("lowest", "3.11", lowest=True),
)


def interpreter(version: str) -> str | None:
    """A working ``python`` of ``version``: the newest under pyenv's versions, else
    ``python3.X`` on PATH (a pyenv shim there may name a version that is not active)."""
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(
        glob.glob(f"{root}/versions/{version}.*/bin/python"),
        key=lambda p: [int(x) for x in Path(p).parent.parent.name.split(".") if x.isdigit()],
    )
    on_path = shutil.which(f"python{version}")
    for found in [*reversed(candidates), *([on_path] if on_path else [])]:
        works = subprocess.run([found, "-c", "pass"], capture_output=True, check=False)
        if works.returncode == 0:
            return found
    return None


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        sys.exit("matrix: uv not found; run `make install` (the dev extra installs it)")
    return found


def run(target: Target) -> tuple[str, float, str]:
    """Build the target's environment and run the fast suite; (verdict, seconds, detail)."""
    started = time.monotonic()
    python = interpreter(target.python)
    if python is None:
        return "missing", 0.0, f"no Python {target.python} found"
    venv = HOME / target.name
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "UV_PYTHON": python}
    env.pop("PYTHONPATH", None)
    shutil.rmtree(venv, ignore_errors=True)  # a clean environment every run
    made = subprocess.run(
        [uv(), "venv", "--quiet", "--python", python, str(venv)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        return "venv failed", time.monotonic() - started, made.stderr.strip()[-2000:]
    install = [uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    if target.lowest:
        install += ["--resolution", "lowest-direct"]
    built = subprocess.run(
        [*install, "-e", EXTRAS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if built.returncode != 0:
        return "install failed", time.monotonic() - started, built.stderr.strip()[-2000:]
    tests = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pytest",
            "-q",
            "-m",
            "not slow",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in tests.stdout.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else tests.stderr.strip()[-500:]
    verdict = "ok" if tests.returncode == 0 else "failed"
    detail = summary if tests.returncode == 0 else "\n".join(lines[-30:])
    return verdict, time.monotonic() - started, detail


def versions(target: Target) -> str:
    """The installed versions of the direct dependencies, for the report."""
    python = HOME / target.name / "bin" / "python"
    if not python.exists():
        return ""
    names = ["aiohttp", "pydantic", "click", "rich", "ariadne", "graphql-core", "pytest"]
    code = (
        "import importlib.metadata as m\n"
        f"print(' '.join(f'{{n}}=={{m.version(n)}}' for n in {names!r}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return done.stdout.strip()


def main(argv: list[str]) -> int:
    wanted = [t for t in TARGETS if not argv or t.name in argv]
    unknown = set(argv) - {t.name for t in TARGETS}
    if unknown:
        print(f"matrix: unknown target(s) {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    HOME.mkdir(exist_ok=True)
    failed = False
    rows = []
    for target in wanted:
        print(f"matrix: {target.name} ...", flush=True)
        verdict, seconds, detail = run(target)
        failed |= verdict != "ok"
        rows.append((target, verdict, seconds, detail))
        if verdict != "ok":
            print(detail, file=sys.stderr)
    print("\n| target | Python | result | seconds | direct dependencies |")
    print("| --- | --- | --- | --: | --- |")
    passed = failures = 0
    for target, verdict, seconds, detail in rows:
        result = detail if verdict == "ok" else verdict
        print(
            f"| {target.name} | {target.python} | {result} | {seconds:.0f} | {versions(target)} |"
        )
        passed += _count(detail, "passed")
        failures += _count(detail, "failed") + _count(detail, "error")
        if verdict != "ok" and not _count(detail, "failed"):
            failures += 1  # a target that never got to run its tests
    # The totals, as a line of their own (what CI reads last).
    print(f"matrix: {passed} passed, {failures} failed")
    return 1 if failed else 0


def _count(summary: str, word: str) -> int:
    """The number before ``word`` in a pytest summary ("872 passed, 3 deselected in ...")."""
    last = summary.strip().splitlines()[-1] if summary.strip() else ""
    match = re.search(rf"(\d+) {word}", last)
    return int(match.group(1)) if match else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

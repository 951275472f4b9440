"""``make check-no-cli``: the package as ``pip install omnivoltaic-erm`` gives it, with no
extra, in an environment of its own (``.matrix/no-cli``, made with uv as ``make matrix``
makes its own).

There the library imports with neither click nor rich installed, and ``erm`` prints one
line naming ``pip install 'omnivoltaic-erm[cli]'`` and exits 1, with no traceback. Prints
what it checked; exits 1 when a check fails. Some 10 to 30 seconds, most of it the
install.

    python scripts/check_no_cli.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

from matrix import HOME, ROOT, uv

VENV = HOME / "no-cli"
# Run by the environment's own interpreter: the library and its public names import, and
# the cli extra's packages are not there to import.
LIBRARY = """
import importlib.util
import omnivoltaic_erm
from omnivoltaic_erm import AsyncErmClient, ErmClient, ClientConfig, Limits
for name in omnivoltaic_erm.__all__:
    getattr(omnivoltaic_erm, name)
import omnivoltaic_erm.batch, omnivoltaic_erm.journal, omnivoltaic_erm.errors
present = [n for n in ("click", "rich") if importlib.util.find_spec(n) is not None]
assert not present, f"installed without the cli extra, yet present: {present}"
print("import omnivoltaic_erm: ok, without click and rich")
"""
INSTALL_HINT = "pip install 'omnivoltaic-erm[cli]'"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def main() -> int:
    started = time.monotonic()
    env = {**os.environ, "VIRTUAL_ENV": str(VENV)}
    env.pop("PYTHONPATH", None)
    HOME.mkdir(exist_ok=True)
    shutil.rmtree(VENV, ignore_errors=True)  # a clean environment every run
    python = VENV / "bin" / "python"
    for step in (
        [uv(), "venv", "--quiet", "--python", sys.executable, str(VENV)],
        # Not editable: the wheel a user installs, with its console script.
        [uv(), "pip", "install", "--quiet", "--python", str(python), str(ROOT)],
    ):
        done = _run(step, env)
        if done.returncode != 0:
            print(f"check-no-cli: {' '.join(step[1:3])} failed", file=sys.stderr)
            print(done.stderr.strip()[-2000:], file=sys.stderr)
            return 1
    failures = []
    library = _run([str(python), "-c", LIBRARY], env)
    if library.returncode == 0:
        print(library.stdout.strip())
    else:
        failures.append(f"import omnivoltaic_erm failed:\n{library.stderr.strip()[-2000:]}")
    erm = _run([str(VENV / "bin" / "erm"), "--help"], env)
    lines = erm.stderr.splitlines()
    if erm.returncode == 1 and len(lines) == 1 and INSTALL_HINT in lines[0] and not erm.stdout:
        print(f"erm --help: exit 1, {lines[0]}")
    else:
        failures.append(
            f"erm --help: expected exit 1 and one line naming {INSTALL_HINT}; got exit "
            f"{erm.returncode}, stdout {erm.stdout[-500:]!r}, stderr {erm.stderr[-2000:]!r}"
        )
    for failure in failures:
        print(f"check-no-cli: {failure}", file=sys.stderr)
    print(f"check-no-cli: {'failed' if failures else 'ok'} in {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

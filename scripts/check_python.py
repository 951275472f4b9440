"""``make install``'s first step: refuse an interpreter that pyproject.toml does not support.

Run with the interpreter that would make (or already made) the venv, before anything is
installed, so that an unsupported Python is refused in a second with one line naming the
versions needed, instead of pip backtracking through every release of every dependency.
Kept to the syntax and standard library of old Pythons (no tomllib): it must run on the
versions it refuses.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def supported(text: str) -> tuple[tuple[int, int], list[str]]:
    """The lowest (major, minor) that requires-python allows, and the tested versions."""
    floor = re.search(r'(?m)^requires-python\s*=\s*">=\s*(\d+)\.(\d+)', text)
    if floor is None:
        raise SystemExit('error: pyproject.toml has no requires-python of the form ">=X.Y"')
    tested = re.findall(r'"Programming Language :: Python :: (\d+\.\d+)"', text)
    return (int(floor.group(1)), int(floor.group(2))), tested


def refusal(name: str, have: str, floor: tuple[int, int], tested: list[str], venv: bool) -> str:
    """The one line that refuses ``name`` (Python ``have``)."""
    need = f"{floor[0]}.{floor[1]}"
    versions = f" ({', '.join(tested)} are tested)" if tested else ""
    then = "run `make clean`, then " if venv else ""
    return (
        f"error: omnivoltaic-erm needs Python >={need}{versions}, but {name} is Python "
        f"{have}: {then}run `make install PYTHON=python{need}` (or any supported python3)"
    )


def main(argv: list[str]) -> int:
    """Exit 0 if this interpreter is supported; otherwise print one line and exit 1.

    ``argv[1]``: how the Makefile names the interpreter; ``--venv`` after it: the
    interpreter is that of an existing .venv.
    """
    name = argv[1] if len(argv) > 1 else sys.executable
    floor, tested = supported(PYPROJECT.read_text(encoding="utf-8"))
    if sys.version_info[:2] >= floor:
        return 0
    have = ".".join(str(n) for n in sys.version_info[:3])
    sys.stderr.write(refusal(name, have, floor, tested, "--venv" in argv[2:]) + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

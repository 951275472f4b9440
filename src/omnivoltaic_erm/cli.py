"""The ``erm`` command line."""

from __future__ import annotations

import sys

USAGE = """usage: erm COMMAND [OPTIONS]

Typed client for the Omnivoltaic ERM API.

commands:
  (the commands arrive with the command-line release)
"""


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv``; return the exit code."""
    args = sys.argv[1:] if argv is None else argv
    print(USAGE)
    return 0 if not args or args[0] in ("-h", "--help") else 2

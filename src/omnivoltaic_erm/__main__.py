"""``erm`` console script: a thin shim over ``omnivoltaic_erm.cli.main``."""

from __future__ import annotations

import sys


def run() -> None:
    """Entry point of the ``erm`` console script."""
    from .cli import main

    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()

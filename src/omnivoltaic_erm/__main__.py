"""``erm`` console script: a thin shim over ``omnivoltaic_erm.cli.main``."""

from __future__ import annotations

import sys


def run() -> None:
    """Entry point of the ``erm`` console script.

    Ctrl-C while the command line is still being imported exits 130 with one line, as
    it does once a command runs.
    """
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()

"""``erm`` console script: a thin shim over ``omnivoltaic_erm.cli.main``.

The command line needs the ``cli`` extra (click and rich); the library does not. Without
it, ``erm`` prints one line saying how to install it and exits with ``EXIT_NO_CLI`` (1),
never a traceback.
"""

from __future__ import annotations

import importlib.util
import sys

# What the ``cli`` extra brings, and how to get it.
CLI_DEPENDENCIES = ("click", "rich")
CLI_INSTALL = "pip install 'omnivoltaic-erm[cli]'"
EXIT_NO_CLI = 1


def missing_cli_dependencies() -> list[str]:
    """The ``cli`` extra's packages that cannot be imported here, without importing them
    (so that ``erm --help`` stays fast)."""
    missing = []
    for name in CLI_DEPENDENCIES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def no_cli_message(missing: list[str]) -> str:
    """The one line ``erm`` prints when the ``cli`` extra is not installed."""
    return (
        f"error: the erm command needs the cli extra ({', '.join(missing)} not installed): "
        f"{CLI_INSTALL}"
    )


def run() -> None:
    """Entry point of the ``erm`` console script.

    Ctrl-C while the command line is still being imported exits 130 with one line, as
    it does once a command runs. Without the ``cli`` extra it exits ``EXIT_NO_CLI`` with
    one line naming the install command.
    """
    missing = missing_cli_dependencies()
    if missing:
        sys.stderr.write(no_cli_message(missing) + "\n")
        sys.exit(EXIT_NO_CLI)
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    except ModuleNotFoundError as exc:
        # Found but not importable (a broken install): the same advice.
        if exc.name is None or exc.name.partition(".")[0] not in CLI_DEPENDENCIES:
            raise
        sys.stderr.write(no_cli_message([exc.name.partition(".")[0]]) + "\n")
        sys.exit(EXIT_NO_CLI)
    sys.exit(main(sys.argv[1:]))


if __name__ == "__main__":
    run()

"""The ``erm`` command line.

``main(argv) -> int`` is the entry point; the console script is a shim over it. Each
command group lives in its own module and registers itself on the ``erm`` group in
``_register``. Importing ``omnivoltaic_erm`` never imports this package, so a service that
only uses the client does not pay for click or rich.
"""

from __future__ import annotations

import sys

import click

from ._app import erm


def _register() -> None:
    # Imported for their side effect: each module adds its commands to ``erm``.
    from . import (  # noqa: F401
        sandbox_cmd,
        schema_cmd,
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``erm`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    0: success; 1: an operation failed; 2: usage error.
    """
    _register()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        result = erm.main(args=args, prog_name="erm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        return 2
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return int(result) if isinstance(result, int) else 0

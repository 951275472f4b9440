"""The ``erm`` command line.

``main(argv) -> int`` is the entry point; the console script is a shim over it. Each
command group lives in its own module and registers itself on the ``erm`` group in
``_register``. Importing ``omnivoltaic_erm`` never imports this package, so a service that
only uses the client does not pay for click or rich; and the command modules import rich,
the client and the models only inside their functions, so ``erm --help`` stays fast.
"""

from __future__ import annotations

import json
import sys

import click

from ._app import erm
from ._failure import EXIT_USAGE, Failure


def _register() -> None:
    # Imported for their side effect: each module adds its commands to ``erm``.
    from . import (  # noqa: F401
        batch_cmd,
        codes_cmd,
        contract_cmd,
        items_cmd,
        limits_cmd,
        login_cmd,
        sandbox_cmd,
        schema_cmd,
    )


def _usage_error(exc: click.UsageError, as_json: bool) -> int:
    """Print a usage error as one line (and as JSON under ``--json``); return 2."""
    message = " ".join(exc.format_message().split())
    if exc.ctx is not None:
        message += f" (see '{exc.ctx.command_path} --help')"
    if as_json:
        error = {"type": "UsageError", "message": message, "exit_code": EXIT_USAGE}
        click.echo(json.dumps({"error": error}))
    click.echo(f"error: {message}", err=True)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Run ``erm`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    0: success; 1: an operation failed; 2: usage error.
    """
    _register()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        result = erm.main(args=args, prog_name="erm", standalone_mode=False)
    except Failure as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        return _usage_error(exc, "--json" in args)
    except click.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return int(result) if isinstance(result, int) else 0

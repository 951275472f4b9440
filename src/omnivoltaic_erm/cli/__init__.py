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
from ._failure import EXIT_INTERRUPTED, EXIT_USAGE, Failure


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


def _missing_command(ctx: click.Context, as_json: bool) -> int:
    """A group run without its command (bare ``erm``, ``erm code``): its help, as help."""
    if as_json:
        message = f"missing command (see '{ctx.command_path} --help')"
        error = {"type": "UsageError", "message": message, "exit_code": EXIT_USAGE}
        click.echo(json.dumps({"error": error}))
    click.echo(ctx.get_help(), err=True)
    return EXIT_USAGE


def interrupted(as_json: bool) -> int:
    """Ctrl-C outside a command's own handling (start-up, output): one line, exit 130."""
    Failure("interrupted", EXIT_INTERRUPTED, kind="Interrupted", as_json=as_json).show()
    return EXIT_INTERRUPTED


# Raised by click 8.2 and later for a group run without its command; click 8.1 prints
# the help itself.
_NO_ARGS_IS_HELP: type[Exception] | None = getattr(click.exceptions, "NoArgsIsHelpError", None)


def main(argv: list[str] | None = None) -> int:
    """Run ``erm`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    0: success; 1: an operation failed; 2: usage error; 130: interrupted (Ctrl-C).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in args
    try:
        _register()
        return _main(args, as_json)
    except KeyboardInterrupt:
        return interrupted(as_json)


def _main(args: list[str], as_json: bool) -> int:
    try:
        result = erm.main(args=args, prog_name="erm", standalone_mode=False)
    except Failure as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        if _NO_ARGS_IS_HELP is not None and isinstance(exc, _NO_ARGS_IS_HELP) and exc.ctx:
            return _missing_command(exc.ctx, as_json)
        return _usage_error(exc, as_json)
    except click.Abort as exc:
        # click turns Ctrl-C outside a command's own handling into Abort.
        if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            return interrupted(as_json)
        click.echo("Aborted.", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return int(result) if isinstance(result, int) else 0

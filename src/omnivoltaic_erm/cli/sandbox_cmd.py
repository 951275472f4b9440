"""``erm sandbox``: start the local ERM sandbox server."""

from __future__ import annotations

import click

from ._app import erm


@erm.command(
    "sandbox",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sandbox(args: tuple[str, ...]) -> int:
    """Start a local server that behaves like the ERM API (see `erm sandbox --help`)."""
    try:
        from ..sandbox.__main__ import main as sandbox_main
    except ImportError as exc:
        raise click.ClickException(
            "the sandbox needs its extra: pip install 'omnivoltaic-erm[sandbox]'"
        ) from exc
    return int(sandbox_main(list(args)))

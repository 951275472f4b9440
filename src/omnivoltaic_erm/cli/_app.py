"""The ``erm`` group and its global options."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import click

from .._constants import (
    CODE_INTERVAL,
    DEFAULT_TIMEOUT,
    ENV_EMAIL,
    ENV_PASSWORD,
    ENV_PROXY,
    ENV_RECORD,
    ENV_URL,
    MAX_HOLD,
)


@dataclass
class Settings:
    """Global options, passed to every command as ``ctx.obj``."""

    url: str | None
    email: str | None
    as_json: bool
    debug: bool
    insecure: bool
    code_interval: float | None = None
    timeout: float | None = None
    proxy: str | None = None
    max_hold: float | None = None
    call_timeout: float | None = None
    record: str | None = None

    def password(self) -> str | None:
        """ERM_PASSWORD, or a prompt when a terminal is attached; never an argument."""
        value = os.environ.get(ENV_PASSWORD)
        if value:
            return value
        if sys.stdin is not None and sys.stdin.isatty():
            return str(click.prompt("ERM password", hide_input=True))
        return None

    def __repr__(self) -> str:
        return f"Settings(url={self.url!r}, email={self.email!r})"


@click.group(
    name="erm",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--url", envvar=ENV_URL, help=f"GraphQL endpoint (env {ENV_URL}).")
@click.option("--email", envvar=ENV_EMAIL, help=f"Distributor e-mail (env {ENV_EMAIL}).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option(
    "--insecure", is_flag=True, help="Allow a plain http:// URL to a host that is not loopback."
)
@click.option(
    "--code-interval",
    envvar="ERM_CODE_INTERVAL",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Minimum seconds between two codes of one item, as the server enforces "
    f"(default {CODE_INTERVAL:g}, the API's rule; a sandbox may allow less). "
    "Env ERM_CODE_INTERVAL.",
)
@click.option(
    "--timeout",
    envvar="ERM_TIMEOUT",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help=f"Give up on a request after this long, its retries included (default "
    f"{DEFAULT_TIMEOUT:g}; a code request whose answer is lost is then settled from the "
    "item's history). Env ERM_TIMEOUT.",
)
@click.option(
    "--call-timeout",
    envvar="ERM_CALL_TIMEOUT",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Bound a whole request, its retries included, by this instead of --timeout "
    "(which then bounds each attempt); it also bounds a whole code request, settling "
    "included. Env ERM_CALL_TIMEOUT.",
)
@click.option(
    "--max-hold",
    envvar="ERM_MAX_HOLD",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help=f"The longest a request can be on its way (a proxy's or gateway's queue) before "
    f"the server runs it (default {MAX_HOLD:g}). A code request whose answer is lost and "
    "that the history does not show is sent again only after this long, or where the "
    "item's fleet enforces a longer interval; until then the command says how to settle "
    "it. Env ERM_MAX_HOLD.",
)
@click.option(
    "--proxy",
    envvar=ENV_PROXY,
    metavar="URL",
    help="Send every request through this proxy; overrides HTTPS_PROXY / HTTP_PROXY / "
    f"NO_PROXY, which are honoured otherwise. Env {ENV_PROXY}.",
)
@click.option(
    "--record",
    envvar=ENV_RECORD,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Record every answer, redacted, into DIR for `erm contract verify` (see the "
    f"Contracts page). Env {ENV_RECORD}.",
)
@click.version_option(package_name="omnivoltaic-erm", prog_name="erm")
@click.pass_context
def erm(
    ctx: click.Context,
    url: str | None,
    email: str | None,
    as_json: bool,
    debug: bool,
    insecure: bool,
    code_interval: float | None,
    timeout: float | None,
    call_timeout: float | None,
    max_hold: float | None,
    proxy: str | None,
    record: str | None,
) -> None:
    """Typed client for the Omnivoltaic ERM API: items, unlock codes and code history.

    The password comes from ERM_PASSWORD, or a prompt when a terminal is attached;
    after `erm login`, commands use the cached token and need no password.
    """
    ctx.obj = Settings(
        url=url,
        email=email,
        as_json=as_json,
        debug=debug,
        insecure=insecure,
        code_interval=code_interval,
        timeout=timeout,
        proxy=proxy or None,
        max_hold=max_hold,
        call_timeout=call_timeout,
        record=record or None,
    )


def item_id_argument(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """An ID argument without the blanks around it, as ``erm batch`` reads its rows."""
    return value.strip()

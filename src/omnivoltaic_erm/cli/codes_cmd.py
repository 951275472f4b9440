"""``erm code WORD`` (one command per code kind: days, free, reset) and ``erm history``:
issue codes, read an item's codes."""

from __future__ import annotations

import contextlib
import re
import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from .._constants import MAX_CODE_DAYS, MIN_CODE_DAYS
from ..errors import ErmError, OutcomeUnknownError
from ._app import Settings, erm, item_id_argument
from ._failure import EXIT_FAILED, Failure

if TYPE_CHECKING:
    from .._issuing import IntervalWait
    from ..client import AsyncErmClient
    from ..kinds import CodeKind
    from ..models import CodeEvent, IssuedCode


def _request_id(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[0-9a-f]{16}", value):
        raise click.BadParameter("a request id is 16 lowercase hex digits")
    return value


_description = click.option(
    "--description", "-d", metavar="TEXT", help="Free text stored with the code in its history."
)
_request = click.option(
    "--request-id",
    metavar="HEX16",
    callback=_request_id,
    help="Your own request id (16 hex digits), the command's idempotency key: run again "
    "with the same id, it shows the code already issued for it instead of issuing another; "
    "with another kind, other days or another item it fails and sends nothing.",
)


class _KindGroup(click.Group):
    """``erm code``: one subcommand per row of the code-kind table (``kinds``), read when
    the command line runs, so a kind registered before then is there too."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ..kinds import words

        return [*words(), *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from ..kinds import kind_named

        kind = kind_named(cmd_name)
        return _kind_command(kind) if kind is not None else super().get_command(ctx, cmd_name)


@erm.group("code", cls=_KindGroup)
def code() -> None:
    """Issue a code for an item (ID: its _id, oemItemID or sellerItemID).

    Each code request carries a request id; if the answer is lost, the item's code
    history is read to find out whether the code was issued, so a code is never issued
    twice. Codes of one item are spaced by the server's minimum interval.
    """


def _issue(
    settings: Settings,
    item_id: str,
    kind: str,
    days: int,
    description: str | None,
    request_id: str | None,
) -> None:
    from ..batch import row_kind
    from ..client import new_request_id
    from . import _output
    from ._run import run_client

    # Picked before anything is sent, so that Ctrl-C can always name it.
    rid = request_id or new_request_id()
    issued: list[IssuedCode] = []

    async def send(client: AsyncErmClient) -> IssuedCode:
        # With the caller's own id, the client settles it from the item's history first.
        try:
            row = row_kind(kind)
            code = await client.issue(
                row.member,
                item_id,
                days if row.takes_days else None,
                description,
                request_id=rid,
            )
        except OutcomeUnknownError as exc:
            raise Failure(
                unknown_message(exc, kind, item_id, days, description), EXIT_FAILED
            ) from exc
        issued.append(code)
        return code

    def interrupted(exc: KeyboardInterrupt) -> str:
        return interrupted_message(exc, kind, item_id, days, description, rid, bool(issued))

    with _telling_waits(item_id):
        code = run_client(settings, send, issuing=True, on_interrupt=interrupted, item=item_id)
    if settings.as_json:
        _output.emit_json(_output.code_json(code))
    else:
        _output.show_code(code, item_id)


@contextlib.contextmanager
def _telling_waits(item_id: str) -> Iterator[None]:
    """On a terminal, say on stderr when the code waits out its item's interval, and
    how long: otherwise a second code for an item sits silent for seconds."""
    import logging
    import sys

    if not sys.stderr.isatty():
        yield
        return
    from .._issuing import INTERVAL_WAIT

    class Notice(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            wait = getattr(record, INTERVAL_WAIT, None)
            if wait is not None:
                sys.stderr.write(wait_message(wait, item_id) + "\n")
                sys.stderr.flush()

    logger = logging.getLogger("omnivoltaic_erm.issuing")
    handler, level = Notice(logging.INFO), logger.level
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def wait_message(wait: IntervalWait, item_id: str) -> str:
    """``waiting 4.2 s: ...``: what a code request for ``item_id`` (as the command
    named it) waits for, and how long."""
    ago = "" if wait.since_last is None else f" {wait.since_last:.1f} s ago"
    return (
        f"waiting {wait.seconds:.1f} s: {item_id} had a code{ago}, and the server allows "
        f"one code per item every {wait.interval:g} s"
    )


def _label(word: str) -> str:
    """``days code``: the label of the kind a command word names."""
    from ..batch import row_kind

    return row_kind(word).label


def _same_command(
    kind: str, item_id: str, days: int, description: str | None, request_id: str
) -> str:
    """The command that settles ``request_id``: this one, with ``--request-id``."""
    from ..batch import row_kind

    words = ["erm", "code", kind, item_id]
    if row_kind(kind).takes_days:
        words += ["--days", str(days)]
    if description:
        words += ["--description", description]
    words += ["--request-id", request_id]
    return shlex.join(words)


def unknown_message(
    exc: OutcomeUnknownError, kind: str, item_id: str, days: int, description: str | None
) -> str:
    """What ``erm code`` says when its request's outcome stays unknown: the request id,
    and the command that settles it (it shows the code if it was issued, and never
    issues a second one)."""
    command = _same_command(kind, item_id, days, description, exc.request_id)
    cause = exc.__cause__
    why = cause.message if isinstance(cause, ErmError) else exc.message
    return (
        f"a {_label(kind)} for {item_id} may have been issued: the outcome of request "
        f"{exc.request_id} is unknown ({why}). Do not issue a new code; run "
        f"`erm history {shlex.quote(item_id)}` to look, or settle it with: {command}"
    )


def interrupted_message(
    exc: BaseException,
    kind: str,
    item_id: str,
    days: int,
    description: str | None,
    request_id: str,
    issued: bool,
) -> str:
    """What Ctrl-C during ``erm code KIND`` says: whether a code may have been issued,
    its request id, and the command that recovers it (the same command with
    ``--request-id``, which shows the code already issued instead of issuing another)."""
    from .._issuing import interruption_of

    what = _label(kind)
    command = _same_command(kind, item_id, days, description, request_id)
    if issued:
        return (
            f"interrupted after a {what} for {item_id} was issued (request {request_id}); "
            f"show it with: {command}"
        )
    found = interruption_of(exc)
    if found is None or not found.maybe_sent:
        return (
            f"interrupted before request {request_id} was sent: no {what} was issued for {item_id}"
        )
    return (
        f"interrupted: a {what} for {item_id} may have been issued (request {request_id}); "
        f"recover it with: {command}"
    )


def _kind_command(kind: CodeKind) -> click.Command:
    """``erm code WORD ID [--days N]``, from a code kind's table row."""

    @click.pass_obj
    def issue_code(
        settings: Settings,
        item_id: str,
        description: str | None,
        request_id: str | None,
        days: int = 0,
    ) -> None:
        _issue(settings, item_id, kind.word, days, description, request_id)

    callback = _description(_request(issue_code))
    if kind.takes_days:
        callback = click.option(
            "--days",
            required=True,
            type=click.IntRange(MIN_CODE_DAYS, MAX_CODE_DAYS),
            metavar="N",
            help=f"Days of use to add, {MIN_CODE_DAYS} to {MAX_CODE_DAYS}.",
        )(callback)
    callback = click.argument("item_id", metavar="ID", callback=item_id_argument)(callback)
    return click.command(kind.word, help=f"Issue a {kind.label}: {kind.help}.")(callback)


@erm.command("history")
@click.argument("item_id", metavar="ID", callback=item_id_argument)
@click.pass_obj
def history(settings: Settings, item_id: str) -> None:
    """Show the codes issued for item ID, oldest first."""
    from . import _output
    from ._run import run_client

    async def fetch(client: AsyncErmClient) -> list[CodeEvent]:
        return await client.code_history(item_id)

    events = run_client(settings, fetch, item=item_id)
    if settings.as_json:
        _output.emit_json([_output.event_json(e) for e in events])
    else:
        _output.show_history(item_id, events)

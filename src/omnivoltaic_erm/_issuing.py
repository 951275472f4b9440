"""The issuing state machine: one code request, sent at most once per known outcome.

``issue`` takes a ``CodeRequest`` for one item and drives it to a code or a typed error:

- learn the item's limits (its fleet's, once), then wait out its interval
  (``_ratelimit.check_code_request`` raises past a limit);
- take a token (a failed sign-in raises its own error: nothing was sent);
- send the request once, with its request id tagged into the description;
- a refused token (UNAUTHENTICATED): nothing was executed; sign in again and send again,
  once;
- a refusal for speed (``RateLimitError``): nothing was issued; count it, wait, send again;
- an unknown outcome (dropped connection, timeout, 5xx, unreadable answer): read the
  item's code history; the request id there means issued (return it, ``recovered``),
  its absence means not issued (send again); an unreadable history raises
  ``OutcomeUnknownError`` carrying the request id, for ``recover()`` later;
- any other refusal raises.

Interrupted (the task cancelled, or ``KeyboardInterrupt``), no code is hidden: the
machine keeps ``Progress`` (may the request have reached the server?), and the caller
wraps it in ``noting_interruption``, which lets the exception go on with a note
(``add_note``) giving the request id and how to ``recover()`` it. ``interruption_of``
reads that back for the command line.

All I/O goes through an ``IssuePort``, so the machine is tested from a table with a
scripted port (tests/unit/test_issuing.py) as well as against the sandbox under faults.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from omnivoltaic_erm_gql import CodeEventFields as CodeEvent
from omnivoltaic_erm_gql import CodeFields, CodeTypes

from . import _tracing
from ._logging import get_logger
from ._ratelimit import ItemLedger, check_code_request
from ._request_ids import request_id_of, tag_description, untag_description
from ._retry import outcome_unknown, retry_delay
from .config import Limits, RetryPolicy
from .errors import (
    AuthenticationError,
    ErmError,
    OutcomeUnknownError,
    RateLimitError,
    TransportError,
)
from .models import IssuedCode

log = get_logger("omnivoltaic_erm.issuing")


@dataclass(frozen=True, slots=True)
class CodeRequest:
    """One code to issue: its kind, item, days (0 unless days), text and request id."""

    kind: CodeTypes
    item_id: str
    days: int
    description: str | None
    request_id: str

    @property
    def tagged(self) -> str:
        """The description as sent, with the request tag."""
        return tag_description(self.description, self.request_id)


_KIND_NAMES = {
    CodeTypes.DAYSCODE: "days code",
    CodeTypes.FREECODE: "free code",
    CodeTypes.RESETCODE: "reset code",
}


def kind_name(kind: CodeTypes | str) -> str:
    """``days code``, ``free code``, ``reset code``: a code type as a message names it."""
    # A code type this client does not know (the enum is open) is named as it came.
    if isinstance(kind, CodeTypes):
        return _KIND_NAMES.get(kind, kind.value)
    return str(kind)


def issued_note(code: IssuedCode) -> str:
    """The note for an interruption that came after ``code`` was issued, before the
    caller had it."""
    return (
        f"interrupted: a {kind_name(code.code_type)} for {code.item_id} was issued (request "
        f"{code.request_id}); recover it with recover({code.item_id!r}, {code.request_id!r})"
    )


@dataclass(slots=True)
class Progress:
    """Whether a code request may have reached the server: True from the moment it is
    handed to the transport until its outcome is known to be "not issued"."""

    maybe_sent: bool = False


@dataclass(frozen=True, slots=True)
class Interruption:
    """What an interrupted code request left behind, as carried by the interruption."""

    kind: CodeTypes
    item: str
    request_id: str
    maybe_sent: bool

    @property
    def note(self) -> str:
        """The note added to the ``CancelledError`` or ``KeyboardInterrupt``."""
        what = kind_name(self.kind)
        if self.maybe_sent:
            return (
                f"interrupted: a {what} for {self.item} may have been issued (request "
                f"{self.request_id}); recover it with recover({self.item!r}, "
                f"{self.request_id!r})"
            )
        return (
            f"interrupted before request {self.request_id} was sent: no {what} was issued "
            f"for {self.item}"
        )


_INTERRUPTION = "_erm_interruption"


def interruption_of(exc: BaseException | None) -> Interruption | None:
    """The ``Interruption`` carried by ``exc`` or by the exceptions it chains, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found = getattr(exc, _INTERRUPTION, None)
        if isinstance(found, Interruption):
            return found
        exc = exc.__cause__ or exc.__context__
    return None


@contextmanager
def noting_interruption(request: CodeRequest, progress: Progress) -> Iterator[None]:
    """Let an interruption through, noted with the request id and whether it was sent.

    Cancellation is never swallowed or replaced (``asyncio.timeout`` and task groups rely
    on it), so the note is the only channel; ``OutcomeUnknownError`` stays for outcomes
    that the machine itself could not settle.
    """
    try:
        yield
    except (asyncio.CancelledError, KeyboardInterrupt) as exc:
        if interruption_of(exc) is None:
            found = Interruption(
                request.kind, request.item_id, request.request_id, progress.maybe_sent
            )
            setattr(exc, _INTERRUPTION, found)
            exc.add_note(found.note)
        raise


class ItemState(Protocol):
    """What the machine needs of an item: its ledger and the lock for its requests."""

    item_id: str
    ledger: ItemLedger
    lock: asyncio.Lock


class IssuePort(Protocol):
    """The machine's I/O: tokens, the code request, the item's history, time."""

    async def token(self) -> str:
        """A valid token (signs in if needed; raises the sign-in's error)."""
        ...

    def invalidate(self, token: str) -> None:
        """Forget a token the server refused."""
        ...

    async def send(self, request: CodeRequest, token: str) -> CodeFields:
        """Send the code request once, with ``token``."""
        ...

    async def history(self, item_id: str) -> list[CodeEvent]:
        """The item's code events (and make them the item's ledger)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait."""
        ...

    def now(self) -> float:
        """The time, epoch seconds."""
        ...

    def refused(self) -> None:
        """Count one code request the server refused for speed."""
        ...

    async def limits(self, state: ItemState) -> Limits:
        """The limits that apply to the item (learned once, under its lock)."""
        ...


async def issue(
    port: IssuePort,
    state: ItemState,
    request: CodeRequest,
    policy: RetryPolicy,
    progress: Progress | None = None,
) -> IssuedCode:
    """Issue ``request`` for ``state``'s item; see the module docstring.

    ``progress`` (updated as the request goes) lets a caller that notes interruptions
    itself (``noting_interruption``) tell "sent" from "not sent".
    """
    name = request.kind.value
    rid = request.request_id
    progress = progress if progress is not None else Progress()
    with _tracing.issue_span(name, state.item_id, rid) as span:
        token_var = _tracing.request_id_var.set(rid)
        try:
            async with state.lock:
                limits = await port.limits(state)
                return await _issue(port, state, request, limits, policy, span, progress)
        finally:
            _tracing.request_id_var.reset(token_var)


async def _issue(
    port: IssuePort,
    state: ItemState,
    request: CodeRequest,
    limits: Limits,
    policy: RetryPolicy,
    span: _tracing.Span | None,
    progress: Progress,
) -> IssuedCode:
    name, rid = request.kind.value, request.request_id
    attempt = 0
    token_refused = False
    while True:
        attempt += 1
        wait = check_code_request(request.kind, state.ledger, limits, port.now(), request.days)
        if wait > 0:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s req:%s waits %.2f s for the item interval", name, rid, wait)
            await port.sleep(wait)
        # Outside the try: a failed sign-in raises its own error; nothing was sent.
        token = await port.token()
        progress.maybe_sent = True
        try:
            code = await port.send(request, token)
        except AuthenticationError:
            # The token was refused before anything was executed.
            progress.maybe_sent = False
            port.invalidate(token)
            if token_refused:
                raise
            token_refused = True
            attempt -= 1
            continue
        except RateLimitError as exc:
            # A refusal: nothing was issued, so the same request may go again.
            progress.maybe_sent = False
            port.refused()
            if attempt > policy.max_retries:
                raise
            await port.sleep(retry_delay(attempt, policy, exc.retry_after))
            continue
        except ErmError as exc:
            issued = await _settle(port, state, request, exc, attempt, policy, span)
            if issued is not None:
                return issued
            progress.maybe_sent = False  # settled: this attempt issued nothing
            await port.sleep(retry_delay(attempt, policy))
            continue
        state.ledger.record(request.kind, port.now(), request.days)
        log.info("%s req:%s issued", name, rid)
        return IssuedCode.from_response(state.item_id, code, request.days, request.description, rid)


async def _settle(
    port: IssuePort,
    state: ItemState,
    request: CodeRequest,
    exc: ErmError,
    attempt: int,
    policy: RetryPolicy,
    span: _tracing.Span | None,
) -> IssuedCode | None:
    """After a failed code request: the recovered code, None to send again, or raise."""
    name, rid = request.kind.value, request.request_id
    if outcome_unknown(exc):
        log.warning("%s req:%s outcome unknown (%s); reading history", name, rid, exc.message)
        try:
            found = await recover(port, state.item_id, rid, request.description)
        except ErmError as lookup_error:
            raise OutcomeUnknownError(
                f"{name}: the outcome of request {rid} is unknown and the item's code "
                f"history could not be read ({type(lookup_error).__name__}); call "
                "recover(item, request_id) before issuing again",
                request_id=rid,
                item_id=state.item_id,
            ) from exc
        if found is not None:
            log.info("%s req:%s recovered from history", name, rid)
            _tracing.record_event(span, "erm.recovered_from_history", **{"erm.request_id": rid})
            return found
        if attempt > policy.max_retries:
            raise exc
        log.info("%s req:%s was not issued; sending again", name, rid)
        return None
    if (
        isinstance(exc, TransportError)
        and not exc.sent
        and exc.retryable
        and attempt <= policy.max_retries
    ):
        return None
    raise exc


async def recover(
    port: IssuePort, item_id: str, request_id: str, description: str | None
) -> IssuedCode | None:
    """The code issued for ``request_id``, from the item's history, or None."""
    for event in await port.history(item_id):
        if request_id_of(event.description) == request_id:
            text = description if description is not None else untag_description(event.description)
            return IssuedCode.from_event(item_id, event, text, request_id)
    return None

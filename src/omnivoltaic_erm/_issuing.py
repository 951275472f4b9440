"""The issuing state machine: one code request, never two codes for one request id.

``issue`` takes a ``CodeRequest`` for one item and drives it to a code or a typed error:

- a request id that may have been used before (any id but one freshly minted here) is
  first *settled*: looked up in the item's code history. Found, its code is returned,
  ``recovered``; found with other parameters, ``RequestIdConflictError``, nothing sent;
- learn the item's limits (its fleet's, once, before the first send), then wait out its
  interval
  (``_ratelimit.check_code_request`` raises past a limit);
- take a token (a failed sign-in raises its own error: nothing was sent);
- send the request, with its request id tagged at the end of the description;
- a refused token (UNAUTHENTICATED): nothing was executed; sign in again and send again,
  once;
- a refusal for speed (``RateLimitError``): count it, wait, settle, send again (settled
  first because a gateway that re-sent the request may answer with the refusal of its
  second delivery while the first was executed);
- provably not sent (connection refused, connect timeout): send again;
- an unknown outcome (dropped connection, timeout, 5xx, unreadable answer): settle; not
  found, wait ``grace`` (a held request may still arrive) and settle again; still not
  found, send again only if ``may_resend`` (no attempt can land any more after
  ``max_hold``, or the server is known to enforce an interval for the item longer than
  that), else raise ``OutcomeUnknownError`` carrying the request id, for ``recover()``
  later;
- any other refusal raises (``OutcomeUnknownError`` if an earlier attempt's outcome is
  still unknown and the history does not show it).

``settle`` is the one routine that reads a request id back: ``issue``, the client's
``recover``, batch resume and ``erm code --request-id`` all go through it.

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
from dataclasses import dataclass, field
from typing import Protocol

from omnivoltaic_erm_gql import CodeEventFields as CodeEvent
from omnivoltaic_erm_gql import CodeFields, CodeTypes

from . import _constants as c
from . import _tracing
from ._logging import get_logger
from ._ratelimit import ItemLedger, check_code_request
from ._request_ids import (
    clear_pending,
    hold,
    note_pending,
    pending_at,
    request_id_of,
    tag_description,
    untag_description,
)
from ._retry import hint_within_cap, outcome_unknown, retry_delay
from .config import Limits, RetryPolicy
from .errors import (
    AuthenticationError,
    ErmError,
    OutcomeUnknownError,
    RateLimitError,
    RequestIdConflictError,
    TransportError,
)
from .kinds import kind_of, type_value
from .models import IssuedCode

log = get_logger("omnivoltaic_erm.issuing")


# The attribute of the log record (INFO, ``omnivoltaic_erm.issuing``) said when a code
# request waits out its item's minimum interval; its value is an ``IntervalWait``.
INTERVAL_WAIT = "erm_interval_wait"


@dataclass(frozen=True, slots=True)
class IntervalWait:
    """A code request waiting out its item's interval: for how long, and why."""

    item: str
    seconds: float
    interval: float
    since_last: float | None


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

    @property
    def what(self) -> str:
        """The request in words: ``7-day days code for ITEM``."""
        return what_code(self.kind, self.days, self.item_id)


def what_code(kind: CodeTypes | str, days: int, item_id: str) -> str:
    """``7-day days code for ITEM``, ``free code for ITEM``: a code request in words."""
    name = kind_name(kind)
    return f"{days}-day {name} for {item_id}" if _takes_days(kind) else f"{name} for {item_id}"


def _takes_days(kind: CodeTypes | str) -> bool:
    row = kind_of(kind)
    return row is not None and row.takes_days


def kind_name(kind: CodeTypes | str) -> str:
    """``days code``, ``free code``, ``reset code``: a code type as a message names it."""
    # A code type this client does not issue (the enum is open) is named as it came.
    row = kind_of(kind)
    return row.label if row is not None else type_value(kind)


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
    *,
    grace: float,
    max_hold: float = c.MAX_HOLD,
) -> IssuedCode:
    """Issue ``request`` for ``state``'s item; see the module docstring.

    ``progress`` (updated as the request goes) lets a caller that notes interruptions
    itself (``noting_interruption``) tell "sent" from "not sent". ``grace`` is the wait
    before the second history read of an unknown outcome; ``max_hold`` the longest a
    request can be on its way before it is executed (see ``may_resend``).
    """
    name = request.kind.value
    rid = request.request_id
    progress = progress if progress is not None else Progress()
    with _tracing.issue_span(name, state.item_id, rid) as span:
        token_var = _tracing.request_id_var.set(rid)
        try:
            # The request id first (one request at a time per id in this process), then
            # the item: always in this order.
            async with hold(rid) as fresh, state.lock:
                machine = _Machine(port, state, request, policy, span, progress, grace, max_hold)
                return await machine.run(fresh)
        finally:
            _tracing.request_id_var.reset(token_var)


def may_resend(limits: Limits, held_for: float, max_hold: float, staleness: float = 0.0) -> bool:
    """Whether a code request whose outcome is still unknown may be sent again.

    The evidence is the latest history read that did not show it. ``held_for``: seconds
    from the sending of the latest attempt whose outcome is unknown to the sending of
    that read (the server ran the read no earlier); ``staleness``: seconds since the
    read was sent; ``max_hold``: the longest a request can be on its way before the
    server runs it (``ClientConfig.max_hold``).

    Either no attempt can be executed any more (``held_for >= max_hold``: it would have
    been in the read), or the server is known to enforce a minimum interval between
    the item's codes, longer than ``max_hold + staleness`` (the fleet's rule is on): the
    attempts then land less than one interval apart, if at all, and the later one is
    refused. Otherwise a second send could be a second code.
    """
    if held_for >= max_hold:
        return True
    interval = limits.server_interval
    return interval is not None and interval > max_hold + staleness


@dataclass(slots=True)
class _Machine:
    port: IssuePort
    state: ItemState
    request: CodeRequest
    policy: RetryPolicy
    span: _tracing.Span | None
    progress: Progress
    grace: float
    max_hold: float
    # An attempt of this call, or of an earlier call of this process, may have been
    # executed: its outcome is unknown.
    unknown: bool = False
    # When the latest attempt whose outcome is unknown was sent (the port's clock).
    pending_at: float | None = None
    # The item's limits, learned (once) before the first send: a request settled from the
    # history before any send needs none.
    limits: Limits = field(default_factory=Limits)
    # When the latest history read that did not show the request was sent, and when the
    # latest attempt was sent (the port's clock).
    settled_at: float = float("-inf")
    sent_at: float | None = None

    async def run(self, fresh: bool) -> IssuedCode:
        """Issue; ``fresh``: the id was minted here and never held (nothing to settle)."""
        try:
            code = await self._run(fresh)
        except (asyncio.CancelledError, KeyboardInterrupt):
            if self.progress.maybe_sent and self.sent_at is not None:
                # Interrupted with a request on its way: it may still land, so a later call
                # with this id in this process must not send it blind.
                self._pending(self.sent_at)
            raise
        except (OutcomeUnknownError, RequestIdConflictError):
            raise
        except ErmError as exc:
            if not self.unknown:
                raise
            # Whatever stops the call after an unknown outcome (a failed sign-in, a
            # refusal, a limit) must not hide it: the code may have been issued.
            raise self._unknown_error(exc) from exc
        clear_pending(self.request.request_id)
        return code

    async def _run(self, fresh: bool) -> IssuedCode:
        port, request, policy = self.port, self.request, self.policy
        name, rid = request.kind.value, request.request_id
        earlier = pending_at(rid)
        if earlier is not None:
            # An earlier call of this process left this id's outcome unknown.
            self.unknown, self.pending_at = True, earlier
        # A request id that may have been used before is settled before anything is sent.
        in_doubt = not fresh or self.unknown
        learned = False
        attempt = 0
        token_refused = False
        last_error: ErmError | None = None
        while True:
            if in_doubt:
                found = await self.settle()
                if found is not None:
                    return found
                in_doubt = False
            if not learned:
                self.limits = await port.limits(self.state)
                learned = True
            attempt += 1
            ledger = self.state.ledger
            wait = check_code_request(request.kind, ledger, self.limits, port.now(), request.days)
            if wait > 0:
                if log.isEnabledFor(logging.INFO):
                    last = ledger.last
                    notice = IntervalWait(
                        request.item_id,
                        wait,
                        self.limits.code_interval,
                        None if last is None else max(0.0, port.now() - last),
                    )
                    log.info(
                        "%s req:%s waits %.2f s for the item interval",
                        name,
                        rid,
                        wait,
                        extra={INTERVAL_WAIT: notice},
                    )
                await port.sleep(wait)
            # Outside the try: a failed sign-in raises its own error; nothing was sent.
            token = await port.token()
            if self.unknown:
                # Right before sending: a second send needs the evidence that it cannot be a
                # second code; if the last look is too old for that, look again.
                if not self._may_resend():
                    # A read now can only help if, taken now, it would be enough.
                    if self._may_resend(fresh=True):
                        found = await self.settle()
                        if found is not None:
                            return found
                    if not self._may_resend():
                        held_for = port.now() - (self.pending_at or 0.0)
                        if last_error is not None:
                            raise self._unknown_error(last_error) from last_error
                        raise self._unknown_error(None, held_for)
                log.info("%s req:%s not in the history; sending again", name, rid)
            self.progress.maybe_sent = True
            sent_at = self.sent_at = port.now()
            try:
                code = await port.send(request, token)
            except AuthenticationError:
                # The token was refused before anything was executed.
                self.progress.maybe_sent = self.unknown
                port.invalidate(token)
                if token_refused:
                    raise
                token_refused = True
                attempt -= 1
                continue
            except RateLimitError as exc:
                # A refusal executes nothing, but a gateway that delivered the request twice
                # answers with its second delivery's refusal: until settled, it may have
                # been sent, and it is settled before anything is sent again.
                port.refused()
                if attempt > policy.max_retries or not hint_within_cap(exc.retry_after, policy):
                    # Out of attempts, or asked to wait longer than the policy allows (the
                    # caller decides, with the hint on the error): settled first.
                    found = await self.settle()
                    if found is not None:
                        return found
                    raise
                await port.sleep(retry_delay(attempt, policy, exc.retry_after))
                in_doubt = True
                continue
            except ErmError as exc:
                if outcome_unknown(exc):
                    self._pending(sent_at)
                    last_error = exc
                    found = await self._look_again(exc)
                    if found is not None:
                        return found
                    if attempt > policy.max_retries:
                        raise self._unknown_error(exc) from exc
                    continue
                if (
                    isinstance(exc, TransportError)
                    and not exc.sent
                    and exc.retryable
                    and attempt <= policy.max_retries
                ):
                    # Provably never sent: the same request may go again.
                    self.progress.maybe_sent = self.unknown
                    await port.sleep(retry_delay(attempt, policy))
                    continue
                if self.unknown:
                    # A refusal after an unknown outcome: the earlier attempt may be why.
                    found = await self.settle()
                    if found is not None:
                        return found
                    raise
                self.progress.maybe_sent = False
                raise
            self.state.ledger.record(request.kind, port.now(), request.days)
            log.info("%s req:%s issued", name, rid)
            return IssuedCode.from_response(
                self.state.item_id, code, request.days, request.description, rid
            )

    def _pending(self, sent_at: float) -> None:
        """The attempt sent at ``sent_at`` may have been executed, or may still be: note
        it, here and in the process's journal of request ids."""
        self.unknown = True
        if self.pending_at is None or sent_at > self.pending_at:
            self.pending_at = sent_at
        note_pending(self.request.request_id, self.pending_at)

    async def _look_again(self, exc: ErmError) -> IssuedCode | None:
        """After an attempt whose outcome is unknown: read the history, wait the grace (a
        request held on the way may still arrive), read it again."""
        name, rid = self.request.kind.value, self.request.request_id
        log.warning("%s req:%s outcome unknown (%s); reading history", name, rid, exc.message)
        found = await self.settle()
        if found is not None:
            return found
        await self.port.sleep(self.grace)
        return await self.settle()

    def _may_resend(self, *, fresh: bool = False) -> bool:
        """``may_resend`` on the evidence of the latest history read (``fresh``: of one
        that would be sent now)."""
        now = self.port.now()
        read_at = now if fresh else self.settled_at
        held_for = read_at - (self.pending_at or 0.0)
        return may_resend(self.limits, held_for, self.max_hold, now - read_at)

    async def settle(self) -> IssuedCode | None:
        """``settle`` for this request; an unreadable history raises
        ``OutcomeUnknownError``."""
        read_at = self.port.now()  # the server runs the read no earlier than this
        try:
            found = await settle(
                self.port, self.state.item_id, self.request.request_id, self.request
            )
        except RequestIdConflictError:
            raise
        except ErmError as lookup_error:
            raise OutcomeUnknownError(
                f"{self.request.kind.value}: request {self.request.request_id} for "
                f"{self.state.item_id} may have been issued and the item's code history "
                f"could not be read ({type(lookup_error).__name__}); call "
                f"recover({self.state.item_id!r}, {self.request.request_id!r}), or issue "
                "again with the same request_id",
                request_id=self.request.request_id,
                item_id=self.state.item_id,
            ) from lookup_error
        if found is None:
            # Not in the history: only an attempt whose outcome is unknown may still land.
            self.settled_at = read_at
            self.progress.maybe_sent = self.unknown
            return None
        rid = self.request.request_id
        log.info("%s req:%s recovered from history", self.request.kind.value, rid)
        _tracing.record_event(self.span, "erm.recovered_from_history", **{"erm.request_id": rid})
        return found

    def _unknown_error(
        self, exc: ErmError | None, held_for: float | None = None
    ) -> OutcomeUnknownError:
        rid, item = self.request.request_id, self.state.item_id
        why = (
            exc.message
            if exc is not None
            else f"an earlier call sent it {held_for or 0.0:.1f} s ago and it may still arrive"
        )
        return OutcomeUnknownError(
            f"{self.request.kind.value}: the outcome of request {rid} for {item} is unknown "
            f"({why}); the item's history does not show it yet. Call "
            f"recover({item!r}, {rid!r}) later, or issue again with the same request_id",
            request_id=rid,
            item_id=item,
        )


async def settle(
    port: IssuePort, item_id: str, request_id: str, request: CodeRequest | None = None
) -> IssuedCode | None:
    """The code issued for ``request_id``, from the item's history, or None.

    The one routine that reads a request id back. Only the client's own trailing tag
    counts. With ``request``, an event under the id that another request made (another
    kind or other days) raises ``RequestIdConflictError``. Two or more events under the
    id are reported on the result (``duplicates``); the port's history read warns.
    """
    matches = [e for e in await port.history(item_id) if request_id_of(e.description) == request_id]
    if not matches:
        return None
    event = matches[0]
    if request is not None and (
        event.code_type != request.kind
        or (_takes_days(request.kind) and event.code_days != request.days)
    ):
        raise conflict(request, what_code(event.code_type, event.code_days, item_id))
    text = (
        request.description
        if request is not None and request.description is not None
        else untag_description(event.description)
    )
    return IssuedCode.from_event(item_id, event, text, request_id, len(matches) - 1)


def conflict(request: CodeRequest, existing: str) -> RequestIdConflictError:
    """The error for ``request`` whose request id already names ``existing`` (a code
    request in words, ``CodeRequest.what``)."""
    return RequestIdConflictError(
        f"request id {request.request_id} already names a {existing}, not a "
        f"{request.what}; nothing was sent: use a new request id for a new code",
        request_id=request.request_id,
        existing=existing,
        requested=request.what,
    )

"""The issuing state machine (``_issuing.issue``) from a table, with a scripted port.

Each row scripts what each send does (answer, refuse, fail, or commit then lose the
answer) and what each history read does, and states the outcome and the counts: sends,
history reads, sign-ins, refusals counted, the code's ``recovered`` flag. The same
machine runs against the sandbox under faults in tests/e2e/test_soak.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from omnivoltaic_erm_gql import CodeEventFields, CodeFields, CodeTypes

from omnivoltaic_erm import _request_ids, _tracing
from omnivoltaic_erm._issuing import CodeRequest, Progress, issue, request_id_of
from omnivoltaic_erm._ratelimit import ItemLedger
from omnivoltaic_erm.config import Limits, RetryPolicy
from omnivoltaic_erm.errors import (
    CODE_CREDIT_LIMIT,
    AuthenticationError,
    CodeLimitError,
    ErmError,
    ErmTimeoutError,
    HttpStatusError,
    InvalidInputError,
    OutcomeUnknownError,
    RateLimitError,
    RedirectError,
    RequestIdConflictError,
    ServerError,
    TransportError,
)
from omnivoltaic_erm.models import IssuedCode

POLICY = RetryPolicy(max_retries=2, initial_delay=0.5, max_delay=4.0, jitter=0.0)
LIMITS = Limits()
# An item whose fleet is known to enforce a 6 s interval, longer than any request is held
# on its way (MAX_HOLD): a late original is refused.
GUARDED = Limits(server_interval=6.0)
RID = "0123456789abcdef"
GRACE = 2.5
MAX_HOLD = 5.0


@pytest.fixture(autouse=True)
def minted() -> None:
    """The ids of these tests count as minted here and never used (a fresh request, as
    ``issue()`` without a request id makes), unless a test says otherwise."""
    for rid in (RID, "fedcba9876543210", "fedcba9876543211", "00000000000000aa"):
        _request_ids._minted[rid] = None
        # Nor left in doubt by an earlier test (the process's journal of request ids).
        _request_ids.clear_pending(rid)
    _request_ids._minted.pop("00000000000000aa")  # the caller's own id of the table


# Script steps for a send.
OK = "ok"  # issued, answered
LOST = "lost"  # issued, answer lost (TimeoutError)
LOST_502 = "lost502"  # issued, then a 502 page
HELD = "held"  # held on the way: not yet issued, answer lost; it lands at a later read
TWICE = "twice"  # issued, then re-sent by a gateway whose second delivery is refused
NOT_SENT = "not-sent"  # connection refused before sending
GONE_TIMEOUT = "gone"  # not issued, answer lost (TimeoutError)
TOO_FAST = "429"
TOO_FAST_NO_HINT = "429-no-hint"  # refused for speed, with no Retry-After
TOKEN_REFUSED = "401"
MOVED = "307"
LIMIT = "limit"
BAD_INPUT = "bad"
# Script steps for a history read.
READ = "read"
UNREADABLE = "unreadable"
LAND = "land"  # the request held on the way is executed just before this read
# A sign-in that fails (before anything is sent).
SIGN_IN_FAILS = "sign-in-fails"


@dataclass
class State:
    item_id: str = "item-1"
    ledger: ItemLedger = field(default_factory=ItemLedger)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class ScriptedPort:
    """The machine's I/O, each call taking the next step of its script."""

    sends: list[str]
    reads: list[str] = field(default_factory=list)
    sign_in: str = "ok"
    events: list[CodeEventFields] = field(default_factory=list)
    item_limits: Limits = LIMITS
    sent: int = 0
    read: int = 0
    tokens_taken: int = 0
    invalidated: list[str] = field(default_factory=list)
    # The request id in the tracing context at each send.
    request_ids: list[str | None] = field(default_factory=list)
    refusals: int = 0
    slept: list[float] = field(default_factory=list)
    limits_read: int = 0
    clock: float = 1_000_000.0
    held: CodeRequest | None = None

    async def token(self) -> str:
        self.tokens_taken += 1
        if self.sign_in == SIGN_IN_FAILS:
            raise ServerError(502, "sign-in gateway")
        return f"token-{len(self.invalidated)}"

    def invalidate(self, token: str) -> None:
        self.invalidated.append(token)

    def _commit(self, request: CodeRequest) -> CodeFields:
        self.events.append(
            CodeEventFields.model_validate(
                {
                    "_id": f"e{len(self.events)}",
                    "codeType": request.kind.value,
                    "codeDays": request.days,
                    "codeNumber": len(self.events) + 1,
                    "codeHexString": "ABCDEF0123456789",
                    "codeDecString": "*123#",
                    "description": request.tagged,
                    "hashIndex": 1,
                    "createdAt": datetime.fromtimestamp(self.clock, UTC).isoformat(),
                    "deleteStatus": False,
                }
            )
        )
        return CodeFields.model_validate(
            {"codeType": request.kind.value, "codeHex": "ABCDEF0123456789", "codeDec": "*123#"}
        )

    async def send(self, request: CodeRequest, token: str) -> CodeFields:
        step = self.sends[self.sent]
        self.sent += 1
        self.request_ids.append(_tracing.request_id_var.get())
        if step == OK:
            return self._commit(request)
        if step == LOST:
            self._commit(request)
            raise ErmTimeoutError("no answer")
        if step == LOST_502:
            self._commit(request)
            raise ServerError(502, "bad gateway")
        if step == HELD:
            self.held = request
            raise ErmTimeoutError("no answer")
        if step == TWICE:
            self._commit(request)
            raise RateLimitError("too fast", retry_after=1.0)
        errors: dict[str, ErmError] = {
            NOT_SENT: TransportError("refused", sent=False),
            GONE_TIMEOUT: ErmTimeoutError("no answer"),
            TOO_FAST: RateLimitError("too fast", retry_after=1.0),
            TOO_FAST_NO_HINT: RateLimitError("too fast"),
            TOKEN_REFUSED: AuthenticationError("Unauthorized"),
            MOVED: RedirectError(307, "https://elsewhere.example/graphql"),
            LIMIT: CodeLimitError("used up"),
            BAD_INPUT: InvalidInputError("bad"),
        }
        raise errors[step]

    async def history(self, item_id: str) -> list[CodeEventFields]:
        step = self.reads[self.read] if self.read < len(self.reads) else READ
        self.read += 1
        if step == UNREADABLE:
            raise ServerError(503, "down")
        if step == LAND and self.held is not None:
            self._commit(self.held)
        return list(self.events)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock += seconds

    def now(self) -> float:
        return self.clock

    def refused(self) -> None:
        self.refusals += 1

    async def limits(self, state: object) -> Limits:
        self.limits_read += 1
        return self.item_limits


@dataclass(frozen=True)
class Row:
    name: str
    sends: list[str]
    outcome: type[ErmError] | str  # "issued", "recovered", or the error raised
    sent: int
    reads: int = 0
    read_script: list[str] = field(default_factory=list)
    refusals: int = 0
    invalidated: int = 0
    sign_in: str = "ok"
    limits: Limits = LIMITS
    # The caller's own request id, used before: the history is read before any send.
    own_id: bool = False
    # A code already in the history under the request id: (kind, days).
    before: tuple[CodeTypes, int] | None = None


TABLE = [
    Row("answered", [OK], "issued", sent=1),
    Row("lost answer, found in history", [LOST], "recovered", sent=1, reads=1),
    Row("502 after commit, found in history", [LOST_502], "recovered", sent=1, reads=1),
    # Not in the history at once, nor after the grace: sent again only where a late
    # original would be refused by the item's interval rule.
    Row(
        "lost, not in history, interval rule known on: sent again",
        [GONE_TIMEOUT, OK],
        "issued",
        sent=2,
        reads=2,
        limits=GUARDED,
    ),
    Row(
        "lost, not in history, interval rule not known: raised",
        [GONE_TIMEOUT, OK],
        OutcomeUnknownError,
        sent=1,
        reads=2,
    ),
    Row(
        "held on the way, lands during the grace: found at the second read",
        [HELD],
        "recovered",
        sent=1,
        reads=2,
        read_script=[READ, LAND],
    ),
    Row(
        "lost every time, interval rule on: raised after the retries",
        [GONE_TIMEOUT] * 3,
        OutcomeUnknownError,
        sent=3,
        reads=6,
        limits=GUARDED,
    ),
    Row(
        "a refusal for speed hides an execution (sent twice by a gateway)",
        [TWICE],
        "recovered",
        sent=1,
        reads=1,
        refusals=1,
    ),
    Row(
        "a limit refusal after an unknown outcome",
        [GONE_TIMEOUT, LIMIT],
        OutcomeUnknownError,
        sent=2,
        reads=3,
        limits=GUARDED,
    ),
    Row(
        "own id, already issued: recovered, nothing sent",
        [],
        "recovered",
        0,
        1,
        own_id=True,
        before=(CodeTypes.DAYSCODE, 7),
    ),
    Row("own id, not in the history: settled, then sent", [OK], "issued", 1, 1, own_id=True),
    Row(
        "own id names other days: refused, nothing sent",
        [],
        RequestIdConflictError,
        0,
        1,
        own_id=True,
        before=(CodeTypes.DAYSCODE, 30),
    ),
    Row(
        "own id names another kind: refused, nothing sent",
        [],
        RequestIdConflictError,
        0,
        1,
        own_id=True,
        before=(CodeTypes.FREECODE, 0),
    ),
    Row(
        "lost and history unreadable",
        [LOST],
        OutcomeUnknownError,
        sent=1,
        reads=1,
        read_script=[UNREADABLE],
    ),
    Row("not sent, then answered", [NOT_SENT, OK], "issued", sent=2),
    Row("not sent every time", [NOT_SENT] * 3, TransportError, sent=3),
    # Each refusal for speed is settled before the next send (it may hide an execution).
    Row("refused for speed, then answered", [TOO_FAST, OK], "issued", 2, 1, refusals=1),
    Row("refused for speed every time", [TOO_FAST] * 3, RateLimitError, 3, 3, refusals=3),
    Row(
        "refused for speed with no hint, then answered",
        [TOO_FAST_NO_HINT, OK],
        "issued",
        sent=2,
        reads=1,
        refusals=1,
    ),
    Row("token refused once", [TOKEN_REFUSED, OK], "issued", sent=2, invalidated=1),
    Row(
        "token refused twice",
        [TOKEN_REFUSED, TOKEN_REFUSED],
        AuthenticationError,
        sent=2,
        invalidated=2,
    ),
    # A refused token costs no attempt: the three attempts are all still to come.
    Row(
        "token refused, then refused for speed every time",
        [TOKEN_REFUSED] + [TOO_FAST] * 4,
        RateLimitError,
        sent=4,
        reads=3,
        refusals=3,
        invalidated=1,
    ),
    Row("redirect", [MOVED], RedirectError, sent=1),
    Row("limit", [LIMIT], CodeLimitError, sent=1),
    Row("bad input", [BAD_INPUT], InvalidInputError, sent=1),
    Row("sign-in fails", [], ServerError, sent=0, sign_in=SIGN_IN_FAILS),
]


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.name)
def test_issuing_table(row: Row) -> None:
    port = ScriptedPort(
        sends=row.sends, reads=row.read_script, sign_in=row.sign_in, item_limits=row.limits
    )
    rid = "00000000000000aa" if row.own_id else RID
    request = CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, "note", rid)
    if row.before is not None:
        kind, days = row.before
        port._commit(CodeRequest(kind, "item-1", days, "earlier", rid))
    state = State()

    async def run() -> object:
        try:
            return await issue(port, state, request, POLICY, grace=GRACE, max_hold=MAX_HOLD)
        except ErmError as exc:
            return exc

    result = asyncio.run(run())
    if isinstance(row.outcome, str):
        assert isinstance(result, IssuedCode), repr(result)
        assert result.recovered is (row.outcome == "recovered")
        assert result.request_id == rid
        assert result.description == "note"
        assert result.duplicates == 0
    else:
        assert type(result) is row.outcome, repr(result)
    if isinstance(result, OutcomeUnknownError):
        assert (result.request_id, result.item_id) == (rid, "item-1")
        if UNREADABLE in row.read_script:
            # It names the error that kept the history from being read.
            assert "history could not be read (ServerError)" in result.message
    if isinstance(result, RequestIdConflictError):
        assert result.requested == "7-day days code for item-1"
        assert result.existing in result.message and result.requested in result.message
    if {GONE_TIMEOUT, HELD} & set(row.sends):
        assert GRACE in port.slept  # the second read waits out the grace
    # Learned once, before the first send (a code settled before any send needs none).
    assert port.limits_read == (0 if row.own_id and row.sent == 0 else 1)
    assert port.sent == row.sent
    assert port.read == row.reads
    assert port.refusals == row.refusals
    # Each token the server refused is forgotten: the one it was sent with.
    assert port.invalidated == [f"token-{n}" for n in range(row.invalidated)]
    assert port.request_ids == [rid] * port.sent  # each send traced under its request id
    # Never two codes for one request: at most one history event carries its id.
    assert sum(request_id_of(e.description) == rid for e in port.events) <= 1


def test_ledger_limit_is_checked_before_anything_is_sent() -> None:
    port = ScriptedPort(sends=[OK])
    state = State(ledger=ItemLedger(total=LIMITS.total_limit))
    request = CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, None, RID)
    with pytest.raises(CodeLimitError):
        asyncio.run(issue(port, state, request, POLICY, grace=0.0))
    assert (port.sent, port.tokens_taken) == (0, 0)


def test_interval_wait_comes_before_the_send() -> None:
    port = ScriptedPort(sends=[OK, OK])
    state = State()
    first = CodeRequest(CodeTypes.FREECODE, "item-1", 0, None, RID)
    second = CodeRequest(CodeTypes.RESETCODE, "item-1", 0, None, "fedcba9876543210")

    async def run() -> None:
        await issue(port, state, first, POLICY, grace=0.0)
        await issue(port, state, second, POLICY, grace=0.0)

    asyncio.run(run())
    assert port.slept == [pytest.approx(LIMITS.code_interval + LIMITS.interval_margin)]
    assert (
        state.ledger.count("FREECODE"),
        state.ledger.count("RESETCODE"),
        state.ledger.total,
    ) == (1, 1, 2)


def test_unknown_outcome_with_an_http_refusal_is_not_read_from_history() -> None:
    port = ScriptedPort(sends=[MOVED])
    with pytest.raises(HttpStatusError):
        asyncio.run(
            issue(
                port, State(), CodeRequest(CodeTypes.DAYSCODE, "i", 1, None, RID), POLICY, grace=0.0
            )
        )
    assert port.read == 0


@dataclass
class CancellingPort(ScriptedPort):
    """A scripted port whose ``cancel_at``-th sleep, or first history read, is cancelled."""

    cancel_at: int | None = None  # which sleep (1-based) is cancelled
    cancel_history: bool = False
    sleeps: int = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.sleeps == self.cancel_at:
            raise asyncio.CancelledError
        await super().sleep(seconds)

    async def history(self, item_id: str) -> list[CodeEventFields]:
        if self.cancel_history:
            raise asyncio.CancelledError
        return await super().history(item_id)


@pytest.mark.parametrize(
    ("name", "sends", "cancel_at", "cancel_history", "wait_first", "maybe_sent"),
    [
        ("waiting out the interval", [OK], 1, False, True, False),
        ("reading history after a lost answer", [LOST], None, True, False, True),
        # Not in the history yet: a request held on the way may still land.
        ("waiting out the grace after a lost answer", [GONE_TIMEOUT], 1, False, False, True),
        # A refusal may be a gateway's second delivery of an executed request.
        ("waiting after a refusal for speed, unsettled", [TOO_FAST], 1, False, False, True),
        ("waiting to resend a request never sent", [NOT_SENT], 1, False, False, False),
    ],
)
def test_cancellation_knows_whether_the_request_may_have_been_sent(
    name: str,
    sends: list[str],
    cancel_at: int | None,
    cancel_history: bool,
    wait_first: bool,
    maybe_sent: bool,
) -> None:
    port = CancellingPort(sends=sends, cancel_at=cancel_at, cancel_history=cancel_history)
    state = State()
    if wait_first:
        state.ledger.record(CodeTypes.DAYSCODE, port.clock, 1)  # a code just now: wait
    request = CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, None, RID)
    progress = Progress()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(issue(port, state, request, POLICY, progress, grace=0.0))
    assert progress.maybe_sent is maybe_sent, name
    assert port.sent == (0 if wait_first else 1)


def test_refusals_for_speed_with_no_hint_back_off_by_the_policy() -> None:
    port = ScriptedPort(sends=[TOO_FAST_NO_HINT, TOO_FAST_NO_HINT, OK])
    request = CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, None, RID)
    asyncio.run(issue(port, State(), request, POLICY, grace=0.0))
    # initial_delay, then twice it: the attempt number drives the back-off.
    assert port.slept == [0.5, 1.0]


def test_credit_stacking_counts_the_days_asked_and_the_days_issued() -> None:
    # At most 10 days stacked over the last 3 code events.
    port = ScriptedPort(sends=[OK, OK], item_limits=Limits(credit_days=10, credit_events=3))
    state = State()

    async def run() -> None:
        await issue(
            port, state, CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, None, RID), POLICY, grace=0.0
        )
        # 7 days issued and 4 more asked: past 10, refused before anything is sent.
        second = CodeRequest(CodeTypes.DAYSCODE, "item-1", 4, None, "fedcba9876543210")
        with pytest.raises(CodeLimitError) as info:
            await issue(port, state, second, POLICY, grace=0.0)
        assert info.value.limit == CODE_CREDIT_LIMIT
        # 3 more fit.
        third = CodeRequest(CodeTypes.DAYSCODE, "item-1", 3, None, "fedcba9876543211")
        await issue(port, state, third, POLICY, grace=0.0)

    asyncio.run(run())
    assert port.sent == 2
    assert state.ledger.kinds == [(CodeTypes.DAYSCODE, 7), (CodeTypes.DAYSCODE, 3)]


@dataclass
class CancelledSignIn(ScriptedPort):
    """A scripted port whose ``cancel_at``-th token (1-based) is cancelled."""

    cancel_at: int = 1

    async def token(self) -> str:
        if self.tokens_taken + 1 == self.cancel_at:
            raise asyncio.CancelledError
        return await super().token()


def test_cancelled_while_signing_in_again_after_a_refused_token_nothing_was_sent() -> None:
    port = CancelledSignIn(sends=[TOKEN_REFUSED], cancel_at=2)
    progress = Progress()
    request = CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, None, RID)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(issue(port, State(), request, POLICY, progress, grace=0.0))
    # The refused request executed nothing, and the next one was never sent.
    assert progress.maybe_sent is False
    assert (port.sent, port.invalidated) == (1, ["token-0"])


def test_an_issuance_is_one_span_with_its_recovery_as_an_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    # A provider of this test's own (the global one can be set only once per process).
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(_tracing, "tracer", lambda: provider.get_tracer(_tracing.TRACER_NAME))
    port = ScriptedPort(sends=[LOST])
    request = CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, None, RID)

    code = asyncio.run(issue(port, State(), request, POLICY, grace=0.0))
    assert code.recovered
    assert port.request_ids == [RID]
    assert _tracing.request_id_var.get() is None  # reset after the issuance
    (span,) = exporter.get_finished_spans()
    assert span.name == "issue DAYSCODE"
    assert dict(span.attributes or {}) == {
        "erm.code_type": "DAYSCODE",
        "erm.item_id": "item-1",
        "erm.request_id": RID,
    }
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        ("erm.recovered_from_history", {"erm.request_id": RID})
    ]


@pytest.mark.parametrize(
    ("held_for", "limits", "sent", "outcome"),
    [
        (1.0, LIMITS, 0, OutcomeUnknownError),  # may still land: not sent blind
        (1.0, Limits(server_interval=MAX_HOLD + 1), 1, "issued"),  # the interval guards it
        (MAX_HOLD, LIMITS, 1, "issued"),  # can no longer land
    ],
)
def test_an_id_an_earlier_call_left_in_doubt_is_sent_only_on_evidence(
    held_for: float, limits: Limits, sent: int, outcome: type[ErmError] | str
) -> None:
    port = ScriptedPort(sends=[OK], item_limits=limits)
    _request_ids.note_pending(RID, port.clock - held_for)
    request = CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, None, RID)

    async def run() -> object:
        try:
            return await issue(port, State(), request, POLICY, grace=GRACE, max_hold=MAX_HOLD)
        except ErmError as exc:
            return exc

    result = asyncio.run(run())
    assert port.sent == sent
    if outcome == "issued":
        assert isinstance(result, IssuedCode) and not result.recovered
        assert _request_ids.pending_at(RID) is None  # settled
    else:
        assert type(result) is outcome
        assert isinstance(result, OutcomeUnknownError)
        assert "an earlier call sent it 1.0 s ago" in result.message
        assert _request_ids.pending_at(RID) == port.clock - held_for  # still in doubt


def test_an_interrupted_request_on_its_way_is_left_in_doubt_for_the_next_call() -> None:
    port = CancellingPort(sends=[LOST], cancel_history=True)
    request = CodeRequest(CodeTypes.DAYSCODE, "item-1", 7, None, RID)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(issue(port, State(), request, POLICY, grace=GRACE, max_hold=MAX_HOLD))
    assert _request_ids.pending_at(RID) == port.clock
    # The next call with the same id finds it in the history, and clears the doubt.
    again = ScriptedPort(sends=[], events=port.events)

    async def run() -> IssuedCode:
        return await issue(again, State(), request, POLICY, grace=GRACE, max_hold=MAX_HOLD)

    code = asyncio.run(run())
    assert code.recovered and again.sent == 0
    assert _request_ids.pending_at(RID) is None

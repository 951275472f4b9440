"""The pipeline's loop as plain logic: ``Pipeline.run`` with a scripted ``send`` (the one
HTTP exchange the transport would make), a real token manager over a scripted sign-in,
a recorded sleep and, for the traced cases, an in-memory span exporter.

Which headers each call carried, how many times it was sent, how long the loop waited
and what the span says: the loop's whole contract, without a server. A loop that would
never end is stopped by the script after ``GIVE_UP`` calls."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from omnivoltaic_erm import _tracing
from omnivoltaic_erm._auth import Grant, TokenManager
from omnivoltaic_erm._operations import REFRESH, SIGN_IN
from omnivoltaic_erm._pipeline import MUTATION, QUERY, Pipeline, deadline_var
from omnivoltaic_erm.config import RetryPolicy
from omnivoltaic_erm.errors import (
    AuthenticationError,
    ErmError,
    HttpStatusError,
    RateLimitError,
    ServerError,
)

# No jitter: the waits are exactly 0.5 s, then 1 s.
POLICY = RetryPolicy(max_retries=2, initial_delay=0.5, max_delay=4.0, jitter=0.0)
# More calls than any correct loop makes for one operation here.
GIVE_UP = 8

Outcome = Callable[[], Any]


def ok(value: str = "ok") -> Outcome:
    return lambda: value


def fail(make: Callable[[], ErmError]) -> Outcome:
    def outcome() -> Any:
        raise make()

    return outcome


def server_error() -> ErmError:
    return ServerError(502)


def refused() -> ErmError:
    return AuthenticationError(
        "Unauthorized",
        errors=[{"message": "Unauthorized", "extensions": {"code": "UNAUTHENTICATED"}}],
    )


class Script:
    """``send`` for one operation: each call plays the next outcome (the last repeats)
    and keeps the headers it was given."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = outcomes
        self.headers: list[dict[str, str] | None] = []

    @property
    def calls(self) -> int:
        return len(self.headers)

    async def __call__(self, headers: Mapping[str, str] | None) -> Any:
        self.headers.append(None if headers is None else dict(headers))
        if self.calls > GIVE_UP:
            raise RuntimeError(f"sent {self.calls} times: the loop does not end")
        return self.outcomes[min(self.calls, len(self.outcomes)) - 1]()


class SignIn:
    """A sign-in that hands out t1, t2, ... (plain strings: no expiry claim)."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    async def __call__(self) -> Grant:
        self.issued.append(f"t{len(self.issued) + 1}")
        return Grant(self.issued[-1])


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Harness:
    def __init__(self, spans: InMemorySpanExporter | None, **kw: Any) -> None:
        self.sign_in = SignIn()
        self.tokens = TokenManager(self.sign_in, refresh_margin=60.0)
        self.sleeps = Sleeps()
        self.spans = spans
        kw.setdefault("tokens", self.tokens)
        self.pipeline = Pipeline(retry=POLICY, sleep=self.sleeps, **kw)

    def run(
        self,
        name: str,
        kind: str,
        send: Script,
        headers: Mapping[str, str] | None = None,
        role: str | None = None,
    ) -> Any:
        return asyncio.run(self.pipeline.run(name, kind, send, headers, role))

    def run_at(
        self,
        now: float,
        name: str,
        kind: str,
        send: Script,
        outer: float | None = None,
    ) -> Any:
        """``run`` on a loop whose clock stands at ``now`` (the waits are recorded, not
        slept), inside an enclosing operation's deadline ``outer`` when given; the
        enclosing deadline is checked to be in force again afterwards."""

        async def run() -> Any:
            scope = deadline_var.set(outer)
            try:
                return await self.pipeline.run(name, kind, send)
            finally:
                assert deadline_var.get() == outer
                deadline_var.reset(scope)

        loop = asyncio.new_event_loop()
        loop.time = lambda: now  # type: ignore[method-assign]
        try:
            return loop.run_until_complete(run())
        finally:
            loop.close()

    def span(self) -> ReadableSpan:
        assert self.spans is not None
        (span,) = self.spans.get_finished_spans()
        return span


def _traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    # A provider of this test's own: the global one can be set only once per process.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(_tracing, "tracer", lambda: provider.get_tracer(_tracing.TRACER_NAME))
    yield exporter
    provider.shutdown()


@pytest.fixture(params=["untraced", "traced"])
def spans(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InMemorySpanExporter | None]:
    """None without a tracer; else the exporter of a provider of this test's own."""
    if request.param == "untraced":
        monkeypatch.setattr(_tracing, "tracer", lambda: None)
        yield None
    else:
        yield from _traced(monkeypatch)


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    yield from _traced(monkeypatch)


@pytest.fixture
def h(spans: InMemorySpanExporter | None) -> Harness:
    return Harness(spans)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- headers and the managed token ---------------------------------------------------------


def test_a_query_carries_the_managed_token_and_the_callers_headers(h: Harness) -> None:
    send = Script(ok("answer"))
    assert h.run("GetItems", QUERY, send, {"X-Trace": "7"}) == "answer"
    assert send.headers == [{"X-Trace": "7", **bearer("t1")}]
    assert h.sign_in.issued == ["t1"]


def test_a_call_without_headers_gets_the_token_alone(h: Harness) -> None:
    send = Script(ok())
    assert h.run("GenerateDaysCode", MUTATION, send) == "ok"
    assert send.headers == [bearer("t1")]


def test_a_callers_own_token_is_sent_as_given_and_never_renewed(h: Harness) -> None:
    send = Script(ok())
    h.run("GetItems", QUERY, send, {"X-Trace": "7", **bearer("mine")})
    assert send.headers == [{"X-Trace": "7", **bearer("mine")}]
    assert h.sign_in.issued == []

    refused_send = Script(fail(refused))
    with pytest.raises(AuthenticationError):
        h.run("GetItems", QUERY, refused_send, bearer("mine"))
    assert refused_send.calls == 1  # its caller manages that token
    assert h.sign_in.issued == []


@pytest.mark.parametrize("headers", [None, {"X-Trace": "7"}])
def test_without_a_token_manager_calls_are_sent_as_given(
    spans: InMemorySpanExporter | None, headers: dict[str, str] | None
) -> None:
    h = Harness(spans, tokens=None)
    send = Script(ok())
    assert h.run("GetItems", QUERY, send, headers) == "ok"
    assert send.headers == [headers]


@pytest.mark.parametrize("name", ["SignInUser", "SignInLoginUser"])
def test_a_sign_in_carries_no_managed_token_and_is_retried(h: Harness, name: str) -> None:
    send = Script(fail(server_error), fail(server_error), ok("grant"))
    assert h.run(name, MUTATION, send, role=SIGN_IN) == "grant"
    assert send.headers == [None, None, None]
    assert h.sign_in.issued == []
    assert h.sleeps.delays == [0.5, 1.0]


@pytest.mark.parametrize("name", ["RefreshAccessToken", "RenewToken"])
def test_a_refresh_carries_no_managed_token_and_is_sent_once(h: Harness, name: str) -> None:
    send = Script(fail(server_error))
    with pytest.raises(ServerError):
        h.run(name, MUTATION, send, role=REFRESH)
    assert send.headers == [None]
    assert h.sign_in.issued == []


# -- retries -------------------------------------------------------------------------------


def test_a_failing_query_is_sent_until_the_policy_gives_up(h: Harness) -> None:
    send = Script(fail(server_error))
    with pytest.raises(ServerError):
        h.run("GetItems", QUERY, send)
    assert send.calls == 3
    assert h.sleeps.delays == [0.5, 1.0]
    if h.spans is not None:
        span = h.span()
        assert span.attributes is not None
        assert span.attributes["erm.attempts"] == 3
        assert span.attributes["error.type"] == "ServerError"
        assert span.status.status_code is StatusCode.ERROR
        assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
            ("erm.retry", {"erm.attempt": 1, "error.type": "ServerError"}),
            ("erm.retry", {"erm.attempt": 2, "error.type": "ServerError"}),
        ]


def test_a_query_that_recovers_returns_its_answer(h: Harness) -> None:
    send = Script(fail(server_error), fail(server_error), ok("late"))
    assert h.run("GetItems", QUERY, send) == "late"
    assert send.headers == [bearer("t1")] * 3
    assert h.sleeps.delays == [0.5, 1.0]
    if h.spans is not None:
        span = h.span()
        assert span.attributes is not None
        assert span.attributes["erm.attempts"] == 3
        assert "error.type" not in span.attributes
        assert span.status.status_code is StatusCode.UNSET


def test_the_servers_hint_sets_the_wait(h: Harness) -> None:
    send = Script(fail(lambda: RateLimitError("slow down", retry_after=7.0)), ok())
    assert h.run("GetItems", QUERY, send) == "ok"
    assert h.sleeps.delays == [7.0]


def test_a_permanent_failure_is_not_retried(h: Harness) -> None:
    send = Script(fail(lambda: HttpStatusError(400)))
    with pytest.raises(HttpStatusError):
        h.run("GetItems", QUERY, send)
    assert send.calls == 1
    assert h.sleeps.delays == []


def test_a_mutation_is_sent_once(h: Harness) -> None:
    send = Script(fail(server_error))
    with pytest.raises(ServerError):
        h.run("GenerateDaysCode", MUTATION, send)
    assert send.calls == 1
    assert h.sleeps.delays == []
    if h.spans is not None:
        span = h.span()
        assert span.attributes is not None
        assert span.attributes["erm.attempts"] == 1
        assert span.events == ()


# -- a refused token -----------------------------------------------------------------------


def test_a_refused_token_on_a_query_is_replaced_once(h: Harness) -> None:
    send = Script(fail(refused), ok("answer"))
    assert h.run("GetItems", QUERY, send) == "answer"
    assert send.headers == [bearer("t1"), bearer("t2")]
    assert h.sleeps.delays == []

    again = Script(fail(refused))
    with pytest.raises(AuthenticationError):
        h.run("GetItems", QUERY, again)
    assert again.headers == [bearer("t2"), bearer("t3")]


def test_a_refused_token_is_not_a_failed_attempt(h: Harness) -> None:
    send = Script(fail(refused), fail(server_error))
    with pytest.raises(ServerError):
        h.run("GetItems", QUERY, send)
    assert send.headers == [bearer("t1")] + [bearer("t2")] * 3
    assert h.sleeps.delays == [0.5, 1.0]
    if h.spans is not None:
        assert h.span().attributes == {
            "graphql.operation.name": "GetItems",
            "graphql.operation.type": "query",
            "erm.attempts": 3,
            "error.type": "ServerError",
        }


def test_a_refused_token_on_a_mutation_is_forgotten_and_raised(h: Harness) -> None:
    send = Script(fail(refused), ok())
    with pytest.raises(AuthenticationError):
        h.run("GenerateDaysCode", MUTATION, send)
    assert send.headers == [bearer("t1")]
    later = Script(ok())
    h.run("GenerateDaysCode", MUTATION, later)
    assert later.headers == [bearer("t2")]


# -- the operation's deadline -------------------------------------------------------------

NOW = 1000.0


def _given_up_for_time(h: Harness, send: Script, caplog: pytest.LogCaptureFixture) -> None:
    """The loop stopped after ``send.calls`` attempts because no time was left: the
    failure is raised, the span says so, and the log names the operation."""
    attempts = send.calls
    if h.spans is not None:
        span = h.span()
        assert span.attributes is not None
        assert span.attributes["erm.attempts"] == attempts
        assert span.attributes["error.type"] == "ServerError"
        assert span.status.status_code is StatusCode.ERROR
    assert f"GetItems attempt {attempts} failed; no time left to retry" in caplog.messages


@pytest.mark.parametrize(
    ("call_timeout", "calls", "delays"),
    [
        (0.5, 1, []),  # the first wait (0.5 s) would end on the deadline: no retry
        (0.75, 2, [0.5]),  # room for the first wait, not for the second (1 s)
    ],
)
def test_a_retry_that_would_end_on_or_past_the_deadline_is_not_made(
    spans: InMemorySpanExporter | None,
    caplog: pytest.LogCaptureFixture,
    call_timeout: float,
    calls: int,
    delays: list[float],
) -> None:
    h = Harness(spans, call_timeout=call_timeout)
    send = Script(fail(server_error))
    with caplog.at_level(logging.INFO, "omnivoltaic_erm.pipeline"), pytest.raises(ServerError):
        h.run_at(NOW, "GetItems", QUERY, send)
    assert send.calls == calls
    assert h.sleeps.delays == delays
    _given_up_for_time(h, send, caplog)


@pytest.mark.parametrize(
    ("outer", "call_timeout"),
    [
        (NOW + 0.5, None),  # no bound of its own: the enclosing operation's holds
        (NOW + 0.5, 100.0),  # its own is later: the enclosing one, earlier, holds
        (NOW + 100.0, 0.5),  # its own is earlier and holds
    ],
)
def test_the_earlier_of_the_enclosing_and_own_deadline_holds(
    spans: InMemorySpanExporter | None,
    caplog: pytest.LogCaptureFixture,
    outer: float,
    call_timeout: float | None,
) -> None:
    h = Harness(spans, call_timeout=call_timeout)
    send = Script(fail(server_error))
    with caplog.at_level(logging.INFO, "omnivoltaic_erm.pipeline"), pytest.raises(ServerError):
        h.run_at(NOW, "GetItems", QUERY, send, outer=outer)
    assert (send.calls, h.sleeps.delays) == (1, [])
    _given_up_for_time(h, send, caplog)


def test_without_any_deadline_the_policy_alone_ends_the_loop(h: Harness) -> None:
    send = Script(fail(server_error))
    with pytest.raises(ServerError):
        h.run_at(NOW, "GetItems", QUERY, send)
    assert (send.calls, h.sleeps.delays) == (3, [0.5, 1.0])


# -- the error names its operation ---------------------------------------------------------


def test_an_error_leaves_named_by_its_operation(h: Harness) -> None:
    with pytest.raises(HttpStatusError) as info:
        h.run("GetItems", QUERY, Script(fail(lambda: HttpStatusError(400))))
    assert info.value.operation == "GetItems"


def test_an_error_already_named_keeps_its_name(h: Harness) -> None:
    def named() -> ErmError:
        error = HttpStatusError(400)
        error.operation = "SignInUser"  # raised by the sign-in run inside this call
        return error

    with pytest.raises(HttpStatusError) as info:
        h.run("GetItems", QUERY, Script(fail(named)))
    assert info.value.operation == "SignInUser"


def test_a_retry_is_logged_with_its_operation(
    spans: InMemorySpanExporter | None, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(spans)
    with caplog.at_level(logging.INFO, "omnivoltaic_erm.pipeline"):
        assert h.run("GetItems", QUERY, Script(fail(server_error), ok())) == "ok"
    assert caplog.messages == ["GetItems attempt 1 failed (ServerError); retrying in 0.50 s"]


# -- spans and the concurrency bound -------------------------------------------------------


def test_each_operation_is_one_span_named_by_its_type_and_name(
    traced: InMemorySpanExporter,
) -> None:
    h = Harness(traced)
    assert h.run("GetItems", QUERY, Script(ok())) == "ok"
    span = h.span()
    assert span.name == "query GetItems"
    assert span.attributes == {
        "graphql.operation.name": "GetItems",
        "graphql.operation.type": "query",
        "erm.attempts": 1,
    }


class InFlight:
    """``send`` that counts the calls in flight at once, yielding to the loop inside."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def __call__(self, headers: Mapping[str, str] | None) -> str:
        self.now += 1
        self.most = max(self.most, self.now)
        for _ in range(3):
            await asyncio.sleep(0)
        self.now -= 1
        return "ok"


@pytest.mark.parametrize(("bound", "most"), [(1, 1), (2, 2), (None, 3)])
def test_only_the_exchange_is_bounded(bound: int | None, most: int) -> None:
    pipeline = Pipeline(max_concurrency=bound)
    send = InFlight()

    async def run() -> list[str]:
        calls = (pipeline.run("GetItems", QUERY, send) for _ in range(3))
        return list(await asyncio.gather(*calls))

    assert asyncio.run(run()) == ["ok"] * 3
    assert send.most == most

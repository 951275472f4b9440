"""The request pipeline under every generated operation.

The generated client's base class (``_transport.GraphQLTransport``) hands each call to
``Pipeline.run`` together with the operation's name and type, which the code generator
writes into every method. The pipeline applies, in this order and in one place:

1. the token: lazy, renewed ahead of expiry, one renewal in flight (``_auth``); an
   operation that obtains a token (a sign-in or a refresh, known by its root field,
   whatever it is called: ``_operations``) carries none;
2. the concurrency bound: only the HTTP exchange holds a slot, never a sign-in or a wait;
3. retries: one loop per request, for queries and sign-ins only, decided by
   ``_retry.should_retry`` on exception types and HTTP status; a mutation is never sent
   twice by the pipeline (a code request settles its own failures, see ``_issuing``);
   all within the operation's deadline (``call_timeout``: attempts, waits and retries
   together), which also bounds each attempt's own timeout (``deadline_var``);
4. one re-sign-in when the server refuses the token of a query (UNAUTHENTICATED: the
   server executed nothing);
5. typed errors (raised by the transport), logging with secrets redacted, and a span
   per operation when opentelemetry-api is installed (``_tracing``).

A sign-in failure is raised as the sign-in's own error: it happened before the
operation's request was sent, so no enclosing loop retries it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from . import _tracing
from ._auth import TokenManager
from ._logging import get_logger
from ._operations import SIGN_IN
from ._retry import retry_delay, should_retry
from .config import RetryPolicy
from .errors import AuthenticationError, ErmError

log = get_logger("omnivoltaic_erm.pipeline")

T = TypeVar("T")
Send = Callable[[Mapping[str, str] | None], Awaitable[T]]

QUERY = "query"
MUTATION = "mutation"
AUTHORIZATION = "Authorization"

_NO_RETRIES = RetryPolicy(max_retries=0)

# The loop time by which the operation under way must end (None: no deadline). The
# transport bounds each attempt by it; an operation run inside another (a sign-in for a
# query's token) keeps the earlier of the two.
deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "erm_deadline", default=None
)


class Pipeline:
    """Token, concurrency bound, retries, logging and tracing for every operation.

    ``tokens`` is None for a bare generated client (no credentials: every call is sent
    as given). ``max_concurrency`` of None leaves calls unbounded. A call that already
    carries an ``Authorization`` header keeps it: its caller manages the token.
    """

    def __init__(
        self,
        *,
        tokens: TokenManager | None = None,
        retry: RetryPolicy = _NO_RETRIES,
        max_concurrency: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        call_timeout: float | None = None,
    ) -> None:
        self.tokens = tokens
        self.retry = retry
        self.call_timeout = call_timeout
        self._max_concurrency = max_concurrency
        self._sem: asyncio.Semaphore | contextlib.nullcontext[None]
        self.reset()
        self._sleep = sleep

    def reset(self) -> None:
        """Fresh loop-bound state (the concurrency bound), as in a forked child."""
        n = self._max_concurrency
        self._sem = asyncio.Semaphore(n) if n else contextlib.nullcontext()

    def __repr__(self) -> str:
        return f"Pipeline(tokens={self.tokens!r}, retry={self.retry!r})"

    async def run(
        self,
        name: str,
        kind: str,
        send: Send[T],
        headers: Mapping[str, str] | None = None,
        role: str | None = None,
    ) -> T:
        """Run one operation: ``send(headers)`` performs one HTTP exchange. An error that
        leaves carries the operation's name (``ErmError.operation``).

        ``role`` says whether the operation obtains a token (``_operations.SIGN_IN`` or
        ``REFRESH``, read from its root fields): such an operation runs while the token
        manager may hold its lock, so it carries no managed token and never waits for
        one. A sign-in changes nothing on the server and is retried like a query; a
        refresh is sent once, its refresh token being spent when used.
        """
        outer = deadline_var.get()
        deadline = outer
        if self.call_timeout is not None and math.isfinite(self.call_timeout):
            own = asyncio.get_running_loop().time() + self.call_timeout
            deadline = own if outer is None else min(outer, own)
        scope = deadline_var.set(deadline)
        try:
            tracer = _tracing.tracer()
            if tracer is None:
                return await self._run(name, kind, send, headers, role, None)
            with _tracing.operation_span(tracer, name, kind) as span:
                return await self._run(name, kind, send, headers, role, span)
        except ErmError as exc:
            if exc.operation is None:
                exc.operation = name
            raise
        finally:
            deadline_var.reset(scope)

    async def _run(
        self,
        name: str,
        kind: str,
        send: Send[T],
        headers: Mapping[str, str] | None,
        role: str | None,
        span: _tracing.Span | None,
    ) -> T:
        tokens = self.tokens
        authed = tokens is not None and role is None and not (headers and AUTHORIZATION in headers)
        repeatable = kind == QUERY or role == SIGN_IN
        attempt = 0
        signed_in_again = False
        while True:
            attempt += 1
            call_headers = headers
            if authed:
                assert tokens is not None
                # Outside the try: a failed sign-in is the sign-in's own error, raised
                # after the sign-in's own retries, and nothing of this call was sent.
                token = await tokens.token()
                call_headers = {**(headers or {}), AUTHORIZATION: f"Bearer {token}"}
            started = time.perf_counter()
            try:
                async with self._sem:
                    result = await send(call_headers)
            except AuthenticationError:
                if not authed:
                    raise
                assert tokens is not None
                tokens.invalidate(token)  # set above: authed calls carry the managed token
                if not repeatable or signed_in_again:
                    raise
                signed_in_again = True
                attempt -= 1  # a refused token is not a failed attempt
                log.info("%s: token refused; signing in again", name)
                continue
            except ErmError as exc:
                if not repeatable or not should_retry(exc, attempt, self.retry):
                    if span is not None:
                        _tracing.record_failure(span, exc, attempt)
                    raise
                delay = retry_delay(attempt, self.retry, getattr(exc, "retry_after", None))
                deadline = deadline_var.get()
                if deadline is not None and asyncio.get_running_loop().time() + delay >= deadline:
                    # No time left for another attempt within the operation's deadline.
                    log.info("%s attempt %d failed; no time left to retry", name, attempt)
                    if span is not None:
                        _tracing.record_failure(span, exc, attempt)
                    raise
                log.info(
                    "%s attempt %d failed (%s); retrying in %.2f s",
                    name,
                    attempt,
                    type(exc).__name__,
                    delay,
                )
                if span is not None:
                    _tracing.record_retry(span, exc, attempt)
                await self._sleep(delay)
                continue
            if span is not None:
                _tracing.record_success(span, attempt)
            log.debug(
                "%s ok on attempt %d in %.1f ms",
                name,
                attempt,
                (time.perf_counter() - started) * 1000,
            )
            return result

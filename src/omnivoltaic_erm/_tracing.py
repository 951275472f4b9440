"""Spans for operations, when ``opentelemetry-api`` is installed (``omnivoltaic-erm[otel]``).

The application configures the SDK; without one, the API's tracer is a no-op. Without
the package, ``tracer()`` returns None after one failed import and nothing else runs.

Without a configured SDK the pipeline skips spans altogether (one provider check
per call). A span carries only names, types, counts, error class names and request ids: never a
variable, a header, a message or a response body, so no secret can reach it.

Span name: ``{operation type} {operation name}``; attributes from the OpenTelemetry
GraphQL semantic conventions (``graphql.operation.name``, ``graphql.operation.type``)
plus ``erm.attempts``, ``erm.request_id`` for code requests, and an ``erm.retry`` event
per retried attempt.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span as Span
    from opentelemetry.trace import Tracer as Tracer
else:
    Span = Any
    Tracer = Any

TRACER_NAME = "omnivoltaic_erm"

# The request id of the code request being sent, for the operation's span.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "erm_request_id", default=None
)

_UNSET: Any = object()
_trace: Any = _UNSET
_provider: Any = None
_tracer: Tracer | None = None


def tracer() -> Tracer | None:
    """The package's tracer; None without opentelemetry-api, or while the application
    has configured no SDK (then the API would only hand out no-op spans: skip them)."""
    global _trace, _provider, _tracer
    if _trace is _UNSET:
        try:
            import opentelemetry.trace
        except ImportError:
            _trace = None
        else:
            _trace = opentelemetry.trace
    if _trace is None:
        return None
    provider = _trace.get_tracer_provider()
    if provider is not _provider:
        # The provider changes when the application configures the SDK, even later.
        _provider = provider
        noop = (_trace.ProxyTracerProvider, _trace.NoOpTracerProvider)
        _tracer = None if isinstance(provider, noop) else provider.get_tracer(TRACER_NAME)
    return _tracer


@contextmanager
def operation_span(tracer_: Tracer, name: str, kind: str) -> Iterator[Span]:
    """A span around one GraphQL operation."""
    attributes: dict[str, str] = {
        "graphql.operation.name": name,
        "graphql.operation.type": kind,
    }
    request_id = request_id_var.get()
    if request_id is not None:
        attributes["erm.request_id"] = request_id
    # Exceptions are recorded by class name only (record_failure): an exception's text
    # may quote a server's answer.
    with tracer_.start_as_current_span(
        f"{kind} {name}",
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


@contextmanager
def issue_span(kind: str, item_id: str, request_id: str) -> Iterator[Span | None]:
    """A span around one code issuance (its requests, waits and any recovery)."""
    tracer_ = tracer()
    if tracer_ is None:
        yield None
        return
    with tracer_.start_as_current_span(
        f"issue {kind}",
        attributes={"erm.code_type": kind, "erm.item_id": item_id, "erm.request_id": request_id},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def record_retry(span: Span, error: BaseException, attempt: int) -> None:
    """An ``erm.retry`` event: attempt ``attempt`` failed with ``error`` and is repeated."""
    span.add_event("erm.retry", {"erm.attempt": attempt, "error.type": type(error).__name__})


def record_success(span: Span, attempts: int) -> None:
    """The operation succeeded after ``attempts`` attempts."""
    span.set_attribute("erm.attempts", attempts)


def record_failure(span: Span, error: BaseException, attempts: int) -> None:
    """The operation failed for good with ``error`` after ``attempts`` attempts."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("erm.attempts", attempts)
    span.set_attribute("error.type", type(error).__name__)
    span.set_status(Status(StatusCode.ERROR))


def record_event(span: Span | None, name: str, **attributes: str | int) -> None:
    """An event on ``span``, when tracing is on."""
    if span is not None:
        span.add_event(name, attributes)

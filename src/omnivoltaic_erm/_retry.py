"""Retry policy: two small pure functions, and the table of what is retried.

``should_retry`` decides whether a failed call may be sent again; ``retry_delay`` says how
long to wait first: exponential backoff with jitter, capped, honouring a server's hint.
Only the pipeline's loop (``_pipeline``) asks ``should_retry``, and only for queries and
sign-ins; a code request settles an unknown outcome from the item's code history first
(see ``_issuing``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from .config import RetryPolicy
from .errors import (
    ErmError,
    HttpStatusError,
    InvalidResponseError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    TransportError,
    UnexpectedShapeError,
)


def should_retry(error: BaseException, attempt: int, policy: RetryPolicy) -> bool:
    """Whether a query (safe to repeat) that failed with ``error`` may be tried again.

    ``attempt`` counts the attempts made so far, from 1. Decided on the error's type and
    HTTP status only, never on its message (which may quote a server's body).
    """
    if attempt > policy.max_retries:
        return False
    if isinstance(error, RateLimitError) and not hint_within_cap(error.retry_after, policy):
        return False
    if isinstance(error, TransportError):
        return error.retryable
    if isinstance(error, RateLimitError | ServerError):
        return True
    if isinstance(error, HttpStatusError):
        return error.status in (408, 429)
    # Another attempt would meet the same size cap or the same mismatched types.
    permanent = ResponseTooLargeError | UnexpectedShapeError
    return isinstance(error, InvalidResponseError) and not isinstance(error, permanent)


def outcome_unknown(error: ErmError) -> bool:
    """Whether a code request that failed with ``error`` may have been executed.

    A refusal (a GraphQL error other than an internal one, a 4xx, a connection that was
    never made) means nothing was issued; a dropped connection, a timeout, a 5xx or an
    unreadable answer leave the outcome unknown.
    """
    if isinstance(error, TransportError):
        return error.sent
    if isinstance(error, ServerError | InvalidResponseError):
        return True
    # Older deployments label every refusal INTERNAL_SERVER_ERROR and tell the 4xx
    # apart only by the status inside the error: a 4xx there is a refusal.
    reported = getattr(error, "reported_status", None)
    if isinstance(reported, int) and 400 <= reported < 500:
        return False
    return getattr(error, "code", None) == "INTERNAL_SERVER_ERROR"


def hint_within_cap(retry_after: float | None, policy: RetryPolicy) -> bool:
    """Whether a server's wait hint may be slept for: absent, or finite and at most
    ``policy.max_retry_after``. A longer one is the caller's to decide on."""
    return retry_after is None or (
        math.isfinite(retry_after) and retry_after <= policy.max_retry_after
    )


def retry_delay(
    attempt: int,
    policy: RetryPolicy,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``.

    A server hint (``retry_after``) wins, plus a little jitter so that waiters do not
    stampede; otherwise ``initial_delay * 2**(attempt-1)``, capped at ``max_delay``, minus
    up to ``jitter`` of itself.
    """
    if retry_after is not None and 0 <= retry_after <= policy.max_retry_after:
        return float(retry_after + policy.jitter * policy.initial_delay * rand())
    base = min(policy.max_delay, policy.initial_delay * 2.0 ** max(0, attempt - 1))
    return float(base * (1 - policy.jitter * rand()))

"""Typed errors of the ERM client.

::

    ErmError
    ├── ConfigurationError        bad or missing settings (URL, credentials)
    ├── ClientClosedError         the client was closed (also a RuntimeError)
    ├── InvalidInputError         rejected before sending, or refused by the server (400)
    │   └── RequestIdConflictError a request id already names another code request
    ├── TransportError            the request failed on the wire (.sent: it may have arrived)
    │   ├── ErmTimeoutError       no complete answer in time (also a builtin TimeoutError)
    │   └── OutcomeUnknownError   a code request's outcome could not be settled: recover()
    ├── HttpStatusError           a non-2xx answer that is not a GraphQL response
    │   ├── RedirectError         3xx: the endpoint moved (.location); never followed
    │   └── ServerError           5xx: gateway or server failure
    ├── InvalidResponseError      not GraphQL JSON: HTML, truncated, wrong shape
    │   ├── ResponseTooLargeError the body exceeds the configured cap (not retried)
    │   └── UnexpectedShapeError  JSON data that does not match the operation's types
    ├── RateLimitError            too fast; .retry_after says how long to wait
    └── GraphQLError              the server answered with ``errors`` (.data keeps partial data)
        ├── AuthenticationError   UNAUTHENTICATED, "Invalid Credentials"
        ├── PermissionDeniedError FORBIDDEN
        ├── NotFoundError         no such item for this distributor (404, or a look-up's null)
        └── CodeLimitError        an item's daily, total, free or reset allowance is used up

An error from the server's answer reads the server's own reason (``reasons``: each entry
of a list) from whichever of its error shapes it uses (see ``error_from_graphql``), and
keeps the raw ``extensions``. No error text ever holds a password or a token: messages
are built from server messages and codes only, and ``repr`` shows the class and message.
"""

from __future__ import annotations

import builtins
import re
import warnings
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

# Stable ``extensions.code`` values, shared by the client and the sandbox.
CODE_UNAUTHENTICATED = "UNAUTHENTICATED"
CODE_FORBIDDEN = "FORBIDDEN"
CODE_BAD_USER_INPUT = "BAD_USER_INPUT"
CODE_NOT_FOUND = "NOT_FOUND"
CODE_INTERNAL = "INTERNAL_SERVER_ERROR"
# The codes NestJS derives from an HTTP status (the real server's newest shape).
CODE_BAD_REQUEST = "BAD_REQUEST"
CODE_TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
CODE_RATE_LIMITED = "CODE_INTERVAL"
CODE_DAILY_LIMIT = "DAILY_CODE_LIMIT"
CODE_TOTAL_LIMIT = "TOTAL_CODE_LIMIT"
CODE_FREE_LIMIT = "FREE_CODE_LIMIT"
CODE_RESET_LIMIT = "RESET_CODE_LIMIT"
CODE_CREDIT_LIMIT = "CREDIT_STACK_LIMIT"
# A root field of the real schema that the local sandbox does not implement.
CODE_NOT_SERVED = "NOT_SERVED_BY_SANDBOX"
LIMIT_CODES = frozenset(
    {CODE_DAILY_LIMIT, CODE_TOTAL_LIMIT, CODE_FREE_LIMIT, CODE_RESET_LIMIT, CODE_CREDIT_LIMIT}
)


class ErmError(Exception):
    """Base of every error this package raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    # What a report of the problem needs, where the error came from an exchange with the
    # server: the operation, the HTTP status, and the server's own id of the request (a
    # gateway's or server's request-id header, when the answer had one).
    operation: str | None = None
    http_status: int | None = None
    server_request_id: str | None = None
    # What the server said, where the error came from its answer: its reason(s), each
    # entry of a list apart, and the first error's raw ``extensions``.
    reasons: tuple[str, ...] = ()
    extensions: Mapping[str, Any] = MappingProxyType({})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def report(self) -> str:
        """One line for a problem report: the message, then what is known of the exchange
        (never a secret: messages hold none, and the rest is metadata)."""
        facts = [
            f"operation={self.operation}" if self.operation else "",
            f"http_status={self.http_status}" if self.http_status is not None else "",
            f"server_request_id={self.server_request_id}" if self.server_request_id else "",
        ]
        extra = " ".join(f for f in facts if f)
        return f"{type(self).__name__}: {self.message}" + (f" [{extra}]" if extra else "")


class ConfigurationError(ErmError):
    """A setting is missing or unsafe; fix the arguments or environment."""


class ClientClosedError(ErmError, RuntimeError):
    """The client was closed: make a new one. Also a ``RuntimeError``."""


class InvalidInputError(ErmError):
    """The request is invalid, or the server refused it (``BAD_REQUEST``, a 400); it was
    not issued. ``reasons`` holds the server's own words, entry by entry."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RequestIdConflictError(InvalidInputError):
    """A request id already names a code request with other parameters (another kind,
    other days, another item); nothing was sent. ``existing`` and ``requested`` describe
    both."""

    def __init__(self, message: str, *, request_id: str, existing: str, requested: str) -> None:
        super().__init__(message, field="request_id")
        self.request_id = request_id
        self.existing = existing
        self.requested = requested


class DuplicateCodeWarning(UserWarning):
    """An item's history holds two or more code events under one request id: the
    request was executed twice (a gateway or proxy that re-sent it)."""


class TransportError(ErmError):
    """The request failed on the wire.

    ``sent`` is False when the connection was never made, so the server cannot have
    acted on the request; True when the outcome is unknown. ``retryable`` is False for
    failures that another attempt cannot mend, such as a certificate that fails
    verification.
    """

    def __init__(self, message: str, *, sent: bool = True, retryable: bool = True) -> None:
        super().__init__(message)
        self.sent = sent
        self.retryable = retryable


class ErmTimeoutError(TransportError, builtins.TimeoutError):
    """No complete answer arrived within the timeout (``sent``: whether the request had
    left the machine, so that its outcome is unknown).

    It is also a builtin ``TimeoutError``, so ``except TimeoutError`` catches it. The old
    name ``omnivoltaic_erm.TimeoutError`` still works for this release, with a
    ``DeprecationWarning``.
    """


class OutcomeUnknownError(TransportError):
    """A code request may have been issued, and the item's history could not settle it.

    Call ``recover(item_id, request_id)`` once the API answers again: it returns the code
    if it was issued, or None if it was not yet. Issuing again *with the same
    ``request_id``* is always safe: the call settles the id from the history first and
    returns the code already issued, marked ``recovered``, instead of a second one.
    """

    def __init__(self, message: str, *, request_id: str, item_id: str) -> None:
        super().__init__(message, sent=True, retryable=False)
        self.request_id = request_id
        self.item_id = item_id


class HttpStatusError(ErmError):
    """The server answered with a non-2xx status and no GraphQL body."""

    def __init__(self, status: int, body_excerpt: str = "") -> None:
        excerpt = f": {body_excerpt}" if body_excerpt else ""
        super().__init__(f"HTTP {status} from the ERM API{excerpt}")
        self.status = status
        self.body_excerpt = body_excerpt


class RedirectError(HttpStatusError):
    """The endpoint answered with a redirect (3xx). It is never followed: a request body,
    and a password above all, goes to the configured origin only. Update ``ERM_URL``."""

    def __init__(self, status: int, location: str | None) -> None:
        where = f" to {location[:200]}" if location else ""
        super().__init__(
            status,
            f"the endpoint redirects{where}; redirects are not followed: update ERM_URL "
            "(or url=) to the new address if you trust it",
        )
        self.location = location


class ServerError(HttpStatusError):
    """A 5xx from the server or a gateway. For a code request the outcome is unknown."""


class InvalidResponseError(ErmError):
    """The response is not valid GraphQL JSON, is too large, or lacks required fields."""


class ResponseTooLargeError(InvalidResponseError):
    """The response body exceeds ``max_response_bytes``; another attempt would too."""


class UnexpectedShapeError(InvalidResponseError):
    """The response's data does not match the operation's generated types."""


class RateLimitError(ErmError):
    """The server refused because requests came too fast; wait ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GraphQLError(ErmError):
    """The server answered with GraphQL ``errors``.

    ``errors`` holds every error dict as received; ``message``, ``code``, ``path``,
    ``extensions`` and ``reported_status`` describe the first; ``data`` keeps any
    partial data.
    """

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        data: Any = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.errors = list(errors)
        self.data = data
        self.status = status
        first: Mapping[str, Any] = self.errors[0] if self.errors else {}
        ext = first.get("extensions")
        self.extensions: dict[str, Any] = dict(ext) if isinstance(ext, Mapping) else {}
        path = first.get("path")
        self.path: list[str | int] | None = list(path) if isinstance(path, list) else None
        code = self.extensions.get("code")
        self.code: str | None = code if isinstance(code, str) else None
        # The HTTP status the server reported inside the error (``statusCode``), which
        # older deployments give where their ``code`` says only INTERNAL_SERVER_ERROR.
        self.reported_status: int | None = server_status(first)


class AuthenticationError(GraphQLError):
    """The credentials or the token were refused: check ERM_EMAIL / ERM_PASSWORD."""


class SignInRequiredError(AuthenticationError):
    """A client made without a password (on a cached token alone) needed to sign in:
    its token was refused or has expired. Nothing was sent with the refused request's
    effect; give the password, or sign in again where the token is cached."""


class PermissionDeniedError(GraphQLError):
    """The signed-in distributor may not do this."""


class NotFoundError(GraphQLError):
    """No such item among the signed-in distributor's items: a 404, or the error the
    server answers for a look-up of an id it does not know ("Cannot return null for
    non-nullable field Query.getItembyOemItemId")."""


class CodeLimitError(GraphQLError):
    """An item's code allowance (daily, total, free or reset) is used up; nothing was issued."""

    def __init__(self, message: str, *, limit: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


def _first_message(errors: Sequence[Mapping[str, Any]]) -> str:
    if errors:
        message = errors[0].get("message")
        if isinstance(message, str) and message:
            return message
    return "the ERM API returned an error"


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _texts(value: Any) -> tuple[str, ...]:
    """A detail as the server gives it (a string, or a list of strings) as a tuple."""
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v.strip())
    return ()


# Where each generation of the real server puts its detail, newest first: NestJS behind
# an Apollo gateway today (``originalError``; a version of 2026-04 read its ``error``),
# then ``response`` (the handbook's capture) and ``exception.response`` (the oldest).
_DETAIL_PATHS: tuple[tuple[str, ...], ...] = (
    ("originalError", "message"),
    ("originalError", "error"),
    ("response", "message"),
    ("exception", "response", "message"),
)
_STATUS_PATHS: tuple[tuple[str, ...], ...] = (
    ("originalError", "statusCode"),
    ("response", "statusCode"),
    ("exception", "response", "statusCode"),
    ("exception", "status"),
)


def server_reasons(error: Mapping[str, Any]) -> tuple[str, ...]:
    """The server's own reason(s) for one GraphQL error, from the newest shape that has
    them, else its top-level message (pure). A list of details (a validation failure)
    comes back entry by entry."""
    extensions = error.get("extensions")
    for path in _DETAIL_PATHS:
        found = _texts(_dig(extensions, *path))
        if found:
            return found
    return _texts(error.get("message"))


def server_status(error: Mapping[str, Any]) -> int | None:
    """The HTTP status the server gave one GraphQL error inside ``extensions`` (pure)."""
    extensions = error.get("extensions")
    for path in _STATUS_PATHS:
        status = _dig(extensions, *path)
        if isinstance(status, int) and not isinstance(status, bool):
            return status
    return None


# "Cannot return null for non-nullable field Query.getItembyOemItemId.": what the real
# server answers for an id it does not know, on a look-up whose result is non-null.
_NULL_LOOKUP = re.compile(r"Cannot return null for non-nullable field Query\.(\w+)")
# ``extensions.code`` values by the kind of refusal: the stable ones of GraphQL servers
# and Apollo, the HTTP status names NestJS derives codes from, and the sandbox's own.
_INPUT_CODES = frozenset({CODE_BAD_USER_INPUT, CODE_BAD_REQUEST})
_RATE_CODES = frozenset({CODE_RATE_LIMITED, CODE_TOO_MANY_REQUESTS})
_AUTH_MESSAGES = frozenset({"Invalid Credentials", "Unauthorized"})


def _kind(code: str | None, rule: str | None, status: int | None, error: Mapping[str, Any]) -> str:
    """Which typed error one GraphQL error becomes (pure): the most specific evidence
    first, a sandbox's rule, then the code, then the status, then the words."""
    message = error.get("message")
    if rule in LIMIT_CODES or code in LIMIT_CODES:
        return "limit"
    if rule == CODE_RATE_LIMITED:
        return "rate"
    if code == CODE_UNAUTHENTICATED or status == 401:
        return "auth"
    if code is None and message in _AUTH_MESSAGES:
        return "auth"
    if code == CODE_FORBIDDEN or status == 403:
        return "forbidden"
    if code == CODE_NOT_FOUND or status == 404:
        return "not_found"
    path = error.get("path")
    if (
        isinstance(message, str)
        and _NULL_LOOKUP.match(message)
        and isinstance(path, list)
        and len(path) == 1
    ):
        return "not_found"
    if code in _RATE_CODES or status == 429:
        return "rate"
    if code in _INPUT_CODES or status == 400:
        return "input"
    return "other"


_GRAPHQL_KINDS: dict[str, type[GraphQLError]] = {
    "auth": AuthenticationError,
    "forbidden": PermissionDeniedError,
    "not_found": NotFoundError,
}


def error_from_graphql(
    errors: Sequence[Mapping[str, Any]], data: Any = None, status: int | None = None
) -> ErmError:
    """Map a GraphQL ``errors`` list to the most specific error class (pure).

    The user reads the server's own reason: the detail of the newest error shape that
    has one (``extensions.originalError.message``, ``extensions.response.message`` or
    ``extensions.exception.response.message``; each entry of a list), not a generic
    "Bad Request Exception". The error keeps every error dict (``errors``), the first
    one's raw ``extensions`` and the reasons (``reasons``).
    """
    first: Mapping[str, Any] = errors[0] if errors else {}
    reasons = server_reasons(first)
    message = "; ".join(reasons) if reasons else _first_message(errors)
    base = GraphQLError(message, errors=errors, data=data, status=status)
    base.reasons = reasons
    rule = base.extensions.get("rule")
    kind = _kind(base.code, rule if isinstance(rule, str) else None, base.reported_status, first)
    err: ErmError
    if kind == "rate":
        retry = base.extensions.get("retryAfter")
        wait = float(retry) if isinstance(retry, int | float) and retry == retry else None
        err = RateLimitError(message, retry_after=wait)
    elif kind == "input":
        err = InvalidInputError(message)
    elif kind == "limit":
        limit = rule if rule in LIMIT_CODES else base.code
        err = CodeLimitError(message, limit=limit, errors=errors, data=data, status=status)
    else:
        cls = _GRAPHQL_KINDS.get(kind, GraphQLError)
        err = cls(message, errors=errors, data=data, status=status)
    if not isinstance(err, GraphQLError):
        # Not a GraphQLError itself: the server's answer stays reachable as its cause.
        err.__cause__ = base
        err.extensions = base.extensions
    err.reasons = reasons
    return err


def __getattr__(name: str) -> Any:
    # The old name, which shadowed the builtin without being one.
    if name == "TimeoutError":
        warnings.warn(
            "omnivoltaic_erm.TimeoutError is deprecated: use ErmTimeoutError, which is also "
            "a builtin TimeoutError",
            DeprecationWarning,
            stacklevel=2,
        )
        return ErmTimeoutError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

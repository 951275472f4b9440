"""The GraphQL errors the sandbox answers with, shaped like the real API's.

A resolver raises ``ApiError(message, code, status)``: ``code`` is the sandbox's own name
for the rule or failure (one of the codes in ``omnivoltaic_erm.errors``), ``status`` the
HTTP status the real server's NestJS layer would give. What goes on the wire is shaped by
``error_extensions`` in one of three generations of the real server (``ERROR_SHAPES``):

- ``current`` (the default; public client code of 2026-05): ``extensions.code`` is the
  status's name (``BAD_REQUEST``, ``NOT_FOUND``, ``TOO_MANY_REQUESTS``; ``UNAUTHENTICATED``
  for 401) and the detail is in ``extensions.originalError`` (``message``, ``error``,
  ``statusCode``);
- ``handbook``: the handbook's capture, ``extensions.response`` (``statusCode``,
  ``message``) beside a gateway's ``serviceName`` and ``exception`` (message, stack);
- ``legacy``: the oldest, the detail in ``extensions.exception.response``.

A refusal of invalid input reads as the real one does: the message "Bad Request
Exception", the detail a list of reasons. Two extensions are the sandbox's own, in every
generation: ``rule`` (which of its rules refused a code: ``CODE_INTERVAL``,
``DAILY_CODE_LIMIT``…) and ``retryAfter`` (the seconds to wait). The real server's words
for those refusals are not public, so nothing may depend on them against it. Messages
never echo an id longer than ``MAX_ID_IN_MESSAGE``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from graphql import GraphQLError

from ..errors import (
    CODE_BAD_USER_INPUT,
    CODE_FORBIDDEN,
    CODE_INTERNAL,
    CODE_NOT_FOUND,
    CODE_NOT_SERVED,
    CODE_UNAUTHENTICATED,
)

MAX_ID_IN_MESSAGE = 64
CURRENT, HANDBOOK, LEGACY = ERROR_SHAPES = ("current", "handbook", "legacy")
# The top-level message of a refused input, as the real server's validation gives it.
BAD_REQUEST_EXCEPTION = "Bad Request Exception"
# The sandbox's codes that name a failure every generation names the same way; any
# other code is one of the sandbox's rules, told apart by ``extensions.rule``.
_GENERIC = frozenset(
    {CODE_UNAUTHENTICATED, CODE_FORBIDDEN, CODE_NOT_FOUND, CODE_BAD_USER_INPUT, CODE_INTERNAL}
)
# The older generations' codes: Apollo's stable names, whatever the status.
_APOLLO_CODES = {400: CODE_BAD_USER_INPUT, 401: CODE_UNAUTHENTICATED, 403: CODE_FORBIDDEN}


class ApiError(GraphQLError):
    """An expected, client-facing error (never logged as a server failure).

    ``detail`` is what the server says (a list for a refused input); ``message`` what
    its top-level ``message`` reads. ``extensions`` are in the ``current`` shape until
    ``error_extensions`` reshapes them for another generation.
    """

    def __init__(
        self,
        message: str,
        code: str,
        status: int,
        *,
        retry_after: float | None = None,
        detail: str | list[str] | None = None,
    ) -> None:
        self.api_code = code
        self.status = status
        self.retry_after = retry_after
        self.detail: str | list[str] = message if detail is None else detail
        super().__init__(message)
        self.extensions = error_extensions(self, CURRENT)


def _status_code_name(status: int) -> str:
    if status == 401:
        return CODE_UNAUTHENTICATED
    try:
        return HTTPStatus(status).name
    except ValueError:
        return CODE_INTERNAL


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_extensions(error: ApiError, shape: str) -> dict[str, Any]:
    """``error``'s extensions in the given generation's shape (pure)."""
    status = error.status
    if error.api_code == CODE_NOT_SERVED:
        code = CODE_NOT_SERVED  # the sandbox's own answer, the same in every shape
    elif shape == CURRENT:
        code = _status_code_name(status)
    else:
        code = _APOLLO_CODES.get(status, CODE_INTERNAL)
    extensions: dict[str, Any] = {"code": code}
    if shape == CURRENT:
        extensions["originalError"] = {
            "message": error.detail,
            "error": _phrase(status),
            "statusCode": status,
        }
    elif shape == HANDBOOK:
        extensions["response"] = {"statusCode": status, "message": error.detail}
        extensions["serviceName"] = "erm-sandbox"
        extensions["exception"] = {
            "message": error.message,
            "stacktrace": [f"GraphQLError: {error.message}"],
        }
    else:
        extensions["exception"] = {
            "response": {"statusCode": status, "message": error.detail, "error": _phrase(status)},
            "status": status,
            "message": error.message,
        }
    if error.api_code not in _GENERIC and error.api_code != CODE_NOT_SERVED:
        extensions["rule"] = error.api_code
    if error.retry_after is not None:
        extensions["retryAfter"] = error.retry_after
    return extensions


def shorten(value: str, limit: int = MAX_ID_IN_MESSAGE) -> str:
    """``value`` cut to ``limit`` characters, with an ellipsis when cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def unauthorized() -> ApiError:
    """No token, an expired token or a tampered token (the handbook's shape)."""
    return ApiError("Unauthorized", CODE_UNAUTHENTICATED, 401)


def invalid_credentials() -> ApiError:
    """Wrong e-mail or password."""
    return ApiError("Invalid Credentials", CODE_UNAUTHENTICATED, 401)


def not_found(item_id: str) -> ApiError:
    """No such item among the signed-in distributor's items."""
    return ApiError(f"Item not found: {shorten(item_id)!r}", CODE_NOT_FOUND, 404)


def bad_input(message: str) -> ApiError:
    """Invalid input: "Bad Request Exception", with ``message`` as the one reason."""
    return ApiError(BAD_REQUEST_EXCEPTION, CODE_BAD_USER_INPUT, 400, detail=[message])


def internal() -> ApiError:
    """An unexpected failure inside the sandbox (details go to the log only)."""
    return ApiError("Internal server error", CODE_INTERNAL, 500)


def not_served(coordinate: str) -> ApiError:
    """A root field of the real schema that the sandbox does not implement."""
    return ApiError(
        f"{coordinate} is not served by the sandbox: it is part of the real API's schema,"
        " but the sandbox implements only the operations this project uses",
        CODE_NOT_SERVED,
        501,
    )

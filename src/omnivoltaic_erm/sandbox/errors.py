"""The GraphQL errors the sandbox answers with, shaped like the real API's.

Every error carries ``extensions.code`` (one of the stable codes in
``omnivoltaic_erm.errors``) and a NestJS-style ``extensions.response`` with
``statusCode`` and ``message``. An interval rejection adds ``extensions.retryAfter``,
the seconds to wait. Messages never echo an id longer than ``MAX_ID_IN_MESSAGE``.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from ..errors import (
    CODE_BAD_USER_INPUT,
    CODE_INTERNAL,
    CODE_NOT_FOUND,
    CODE_NOT_SERVED,
    CODE_UNAUTHENTICATED,
)

MAX_ID_IN_MESSAGE = 64


class ApiError(GraphQLError):
    """An expected, client-facing error (never logged as a server failure)."""

    def __init__(
        self, message: str, code: str, status: int, *, retry_after: float | None = None
    ) -> None:
        extensions: dict[str, Any] = {
            "code": code,
            "response": {"statusCode": status, "message": message},
        }
        if retry_after is not None:
            extensions["retryAfter"] = retry_after
        super().__init__(message, extensions=extensions)


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
    """Invalid input."""
    return ApiError(message, CODE_BAD_USER_INPUT, 400)


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

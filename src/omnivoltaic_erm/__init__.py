"""Typed client for the Omnivoltaic ERM GraphQL API.

The generated, typed operations live in ``omnivoltaic_erm_gql``; this package adds the
hand-written layer on top of them.
"""

from __future__ import annotations

from .errors import (
    AuthenticationError,
    CodeLimitError,
    ConfigurationError,
    ErmError,
    GraphQLError,
    HttpStatusError,
    InvalidInputError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TimeoutError,
    TransportError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "CodeLimitError",
    "ConfigurationError",
    "ErmError",
    "GraphQLError",
    "HttpStatusError",
    "InvalidInputError",
    "InvalidResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "__version__",
]

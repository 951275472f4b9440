"""Typed client for the Omnivoltaic ERM GraphQL API.

The generated, typed operations live in ``omnivoltaic_erm_gql``; this package adds the
hand-written layer on top of them::

    from omnivoltaic_erm import AsyncErmClient

    async with AsyncErmClient() as erm:          # ERM_URL / ERM_EMAIL / ERM_PASSWORD
        item = await erm.find_item("DVAV2501000001")
        code = await erm.generate_days_code(item, days=7)
        print(code.code_dec)
"""

from __future__ import annotations

from .client import AsyncErmClient
from .config import ClientConfig, Limits, RetryPolicy
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
from .models import CodeEvent, CodeTypes, IssuedCode, Item, QueryOrder
from .sync import ErmClient

__version__ = "0.1.0"

__all__ = [
    "AsyncErmClient",
    "AuthenticationError",
    "ClientConfig",
    "CodeEvent",
    "CodeLimitError",
    "CodeTypes",
    "ConfigurationError",
    "ErmClient",
    "ErmError",
    "GraphQLError",
    "HttpStatusError",
    "InvalidInputError",
    "InvalidResponseError",
    "IssuedCode",
    "Item",
    "Limits",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryOrder",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "__version__",
]

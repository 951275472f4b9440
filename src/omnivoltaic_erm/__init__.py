"""Typed client for the Omnivoltaic ERM GraphQL API.

The generated, typed operations live in ``omnivoltaic_erm_gql``; this package adds the
hand-written layer on top of them::

    from omnivoltaic_erm import AsyncErmClient

    async with AsyncErmClient() as erm:          # ERM_URL / ERM_EMAIL / ERM_PASSWORD
        item = await erm.find_item("DVAV2501000001")
        code = await erm.generate_days_code(item, days=7)
        print(code.code_dec)

The clients and models are imported on first use: the generated package's base class
imports this package's transport, and a command that never touches a client should not
pay for pydantic models at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AuthenticationError,
    ClientClosedError,
    CodeLimitError,
    ConfigurationError,
    DuplicateCodeWarning,
    ErmError,
    ErmTimeoutError,
    GraphQLError,
    HttpStatusError,
    InvalidInputError,
    InvalidResponseError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    RequestIdConflictError,
    ResponseTooLargeError,
    ServerError,
    SignInRequiredError,
    TransportError,
    UnexpectedShapeError,
)

if TYPE_CHECKING:
    from ._limits import LimitReport
    from .client import AsyncErmClient
    from .config import ClientConfig, Limits, RetryPolicy
    from .models import CodeEvent, CodeTypes, IssuedCode, Item, QueryOrder
    from .sync import ErmClient

__version__ = "0.1.0"

_LAZY = {
    "AsyncErmClient": "client",
    "ClientConfig": "config",
    "Limits": "config",
    "LimitReport": "_limits",
    "RetryPolicy": "config",
    "CodeEvent": "models",
    "CodeTypes": "models",
    "IssuedCode": "models",
    "Item": "models",
    "QueryOrder": "models",
    "ErmClient": "sync",
}


def __getattr__(name: str) -> Any:
    if name == "TimeoutError":  # deprecated: warns, and is not cached
        from . import errors

        return errors.__getattr__(name)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'omnivoltaic_erm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AsyncErmClient",
    "AuthenticationError",
    "ClientClosedError",
    "ClientConfig",
    "CodeEvent",
    "CodeLimitError",
    "CodeTypes",
    "ConfigurationError",
    "DuplicateCodeWarning",
    "ErmClient",
    "ErmError",
    "ErmTimeoutError",
    "GraphQLError",
    "HttpStatusError",
    "InvalidInputError",
    "InvalidResponseError",
    "IssuedCode",
    "Item",
    "LimitReport",
    "Limits",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "QueryOrder",
    "RateLimitError",
    "RedirectError",
    "RequestIdConflictError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "ServerError",
    "SignInRequiredError",
    "TransportError",
    "UnexpectedShapeError",
    "__version__",
]

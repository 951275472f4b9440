"""Pull a schema and normalise SDL: the form ``schema.graphql`` is committed in.

``pull_schema`` introspects an endpoint with gql and returns lexicographically sorted SDL,
so that a pull from an unchanged server gives no diff; gql is needed only for pulling
(install ``omnivoltaic-erm[schema]``). ``load_schema`` builds a schema from SDL and names
the file in its error. The only module of the package that touches the network.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping

import aiohttp
from graphql import (
    GraphQLError,
    GraphQLSchema,
    build_schema,
    lexicographic_sort_schema,
    print_schema,
)

from .._logging import redact
from ..errors import (
    ConfigurationError,
    ErmTimeoutError,
    HttpStatusError,
    InvalidResponseError,
    ServerError,
    TransportError,
)
from ..errors import GraphQLError as ErmGraphQLError


def sorted_sdl(schema: GraphQLSchema) -> str:
    """The schema as SDL with types and fields in lexicographic order."""
    return print_schema(lexicographic_sort_schema(schema)) + "\n"


def sdl_body(text: str) -> str:
    """``text`` without its leading ``#`` comment header: the SDL a server would print.

    ``schema.graphql`` is committed under a provenance header; comparisons with a pulled
    or printed schema are made on the body.
    """
    lines = text.splitlines(keepends=True)
    index = 0
    while index < len(lines) and (lines[index].startswith("#") or not lines[index].strip()):
        index += 1
    return "".join(lines[index:])


def normalise_sdl(sdl: str) -> str:
    """Parse SDL and print it back sorted."""
    return sorted_sdl(build_schema(sdl))


def load_schema(sdl: str, name: str = "schema") -> GraphQLSchema:
    """Build a schema from SDL, or raise ConfigurationError naming ``name``."""
    try:
        return build_schema(sdl)
    except (GraphQLError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(f"{name} is not a valid GraphQL schema: {first}") from exc


async def pull_schema(
    url: str, headers: Mapping[str, str] | None = None, *, timeout: float = 30.0
) -> str:
    """Introspect ``url`` and return its schema as sorted SDL.

    ``headers`` (e.g. ``Authorization``) go with the request and into no message: the
    errors raised name the URL and the failure only.
    """
    try:
        from gql import Client
        from gql.transport.aiohttp import AIOHTTPTransport
        from gql.transport.exceptions import TransportError as GqlTransportError
        from gql.transport.exceptions import (
            TransportProtocolError,
            TransportQueryError,
            TransportServerError,
        )
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "pulling a schema needs gql: pip install 'omnivoltaic-erm[schema]'"
        ) from exc
    transport = AIOHTTPTransport(url=url, headers=dict(headers or {}), ssl=True)
    client = Client(transport=transport, fetch_schema_from_transport=True)
    try:
        async with asyncio.timeout(timeout), client:
            schema = client.schema
    except builtins.TimeoutError as exc:
        raise ErmTimeoutError(f"introspecting {url}: no answer within {timeout:g} s") from exc
    except TransportServerError as exc:
        status = exc.code if isinstance(exc.code, int) else 0
        raise (ServerError if status >= 500 else HttpStatusError)(status) from exc
    except TransportQueryError as exc:
        errors = [e for e in (exc.errors or []) if isinstance(e, dict)]
        said = errors[0].get("message") if errors else None
        raise ErmGraphQLError(
            redact(
                f"introspecting {url}: {said or 'the server answered with errors'} "
                "(is introspection disabled, or is a token needed?)"
            ),
            errors=errors,
        ) from exc
    except TransportProtocolError as exc:
        raise InvalidResponseError(f"introspecting {url}: not a GraphQL answer") from exc
    except GqlTransportError as exc:  # gql wraps the aiohttp failure
        cause = exc.__cause__
        if isinstance(cause, aiohttp.ClientConnectorError):
            raise TransportError(f"cannot connect to {url} ({cause.os_error})", sent=False) from exc
        raise TransportError(f"introspecting {url}: {type(cause or exc).__name__}") from exc
    except aiohttp.ClientError as exc:
        raise TransportError(f"introspecting {url}: {type(exc).__name__}") from exc
    if schema is None:
        raise InvalidResponseError(f"{url} returned no schema")
    return sorted_sdl(schema)


__all__ = ["load_schema", "normalise_sdl", "pull_schema", "sorted_sdl"]

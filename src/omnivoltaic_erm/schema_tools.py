"""Fetch and normalise the ERM schema.

``pull_schema`` introspects an endpoint with gql and returns lexicographically sorted
SDL, the form ``schema.graphql`` is committed in, so that a pull from an unchanged server
gives no diff. gql is needed only here: install ``omnivoltaic-erm[schema]``.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphql import GraphQLSchema, build_schema, lexicographic_sort_schema, print_schema

from .errors import ConfigurationError


def sorted_sdl(schema: GraphQLSchema) -> str:
    """The schema as SDL with types and fields in lexicographic order."""
    return print_schema(lexicographic_sort_schema(schema)) + "\n"


def normalise_sdl(sdl: str) -> str:
    """Parse SDL and print it back sorted."""
    return sorted_sdl(build_schema(sdl))


async def pull_schema(url: str, headers: Mapping[str, str] | None = None) -> str:
    """Introspect ``url`` and return its schema as sorted SDL."""
    try:
        from gql import Client
        from gql.transport.aiohttp import AIOHTTPTransport
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "pulling a schema needs gql: pip install 'omnivoltaic-erm[schema]'"
        ) from exc
    transport = AIOHTTPTransport(url=url, headers=dict(headers or {}), ssl=True)
    async with Client(transport=transport, fetch_schema_from_transport=True) as session:
        schema = session.client.schema
    if schema is None:
        raise ConfigurationError(f"{url} returned no schema")
    return sorted_sdl(schema)


def main(argv: list[str]) -> int:
    """``python -m omnivoltaic_erm.schema_tools pull URL OUT``: write the sorted SDL."""
    import asyncio
    import sys

    if len(argv) != 3 or argv[0] != "pull" or not argv[1]:
        print("usage: python -m omnivoltaic_erm.schema_tools pull URL OUT", file=sys.stderr)
        return 2
    sdl = asyncio.run(pull_schema(argv[1]))
    with open(argv[2], "w", encoding="utf-8") as fh:
        fh.write(sdl)
    print(f"wrote {argv[2]} from {argv[1]}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

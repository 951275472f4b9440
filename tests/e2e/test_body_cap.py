"""The response-size cap counts decoded bytes, as they stream: a small gzip body that
inflates past the cap (a "bomb") is refused with memory near the cap, and ordinary gzip
and deflate bodies decode as before."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib

import pytest
from aiohttp import web

from omnivoltaic_erm._transport import GraphQLTransport
from omnivoltaic_erm.errors import InvalidResponseError, ResponseTooLargeError
from omnivoltaic_erm.testing import BackgroundServer

BOMB_INFLATED = 52 * 1024 * 1024
CAP = 1024 * 1024
ANSWER = b'{"data": {"x": 1}}'


def _bomb() -> bytes:
    return gzip.compress(b'{"data": {"x": "' + b"0" * BOMB_INFLATED + b'"}}', compresslevel=9)


def _app(body: bytes, encoding: str) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        headers = {"Content-Encoding": encoding} if encoding else {}
        return web.Response(body=body, content_type="application/json", headers=headers)

    app = web.Application()
    app.router.add_post("/graphql", handle)
    return app


async def _post(url: str, cap: int = CAP) -> bytes:
    transport = GraphQLTransport(url, max_response_bytes=cap)
    try:
        return (await transport.post("{ x }", "X", None)).body
    finally:
        await transport.close()


def test_a_gzip_bomb_is_refused_with_memory_near_the_cap() -> None:
    bomb = _bomb()
    assert len(bomb) < 100_000  # about 51 KB on the wire, 52 MB inflated
    with BackgroundServer(_app(bomb, "gzip")) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLargeError, match="once decoded"):
                asyncio.run(_post(f"{server.base_url}/graphql"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, peak


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the standard says
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw, as some servers send it
        ("", lambda b: b),
    ],
)
def test_encoded_answers_decode(encoding: str, encode: object) -> None:
    assert callable(encode)
    with BackgroundServer(_app(encode(ANSWER), encoding)) as server:
        assert asyncio.run(_post(f"{server.base_url}/graphql")) == ANSWER


def test_a_body_just_under_the_cap_once_decoded_is_kept() -> None:
    body = b"x" * (CAP - 1)
    with BackgroundServer(_app(gzip.compress(body), "gzip")) as server:
        assert asyncio.run(_post(f"{server.base_url}/graphql")) == body
    too_big = gzip.compress(body + b"yy")
    with BackgroundServer(_app(too_big, "gzip")) as server, pytest.raises(ResponseTooLargeError):
        asyncio.run(_post(f"{server.base_url}/graphql"))


def test_a_body_that_is_not_what_its_encoding_says_is_an_invalid_response() -> None:
    not_gzip = BackgroundServer(_app(b"not gzip at all", "gzip"))
    with not_gzip as server, pytest.raises(InvalidResponseError, match="not valid gzip"):
        asyncio.run(_post(f"{server.base_url}/graphql"))
    brotli = BackgroundServer(_app(ANSWER, "br"))
    with brotli as server, pytest.raises(InvalidResponseError, match="did not ask for"):
        asyncio.run(_post(f"{server.base_url}/graphql"))

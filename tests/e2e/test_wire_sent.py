"""``sent`` is precise on the wire: a request that never left the machine says so
(``sent=False``), so the issuing machine sends it again without settling it; one whose
headers went out may have been executed (``sent=True``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import pytest
from aiohttp import web

from omnivoltaic_erm._transport import GraphQLTransport
from omnivoltaic_erm.errors import ErmTimeoutError, TransportError
from omnivoltaic_erm.testing import BackgroundServer


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: a new connection is never made (its SYN is
    dropped), so connecting times out, as to a host that does not answer."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(8):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    yield port
    for s in fillers:
        s.close()
    server.close()


def test_a_connect_timeout_was_never_sent(full_backlog: int) -> None:
    async def run() -> ErmTimeoutError:
        transport = GraphQLTransport(
            f"http://127.0.0.1:{full_backlog}/graphql", timeout=5.0, connect_timeout=0.3
        )
        try:
            with pytest.raises(ErmTimeoutError) as info:
                await transport.post("mutation { x }", "GenerateDaysCode", None)
        finally:
            await transport.close()
        return info.value

    error = asyncio.run(run())
    assert error.sent is False
    assert "cannot connect" in error.message and "0.3 s" in error.message


def _slow_app(seconds: float) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(seconds)
        return web.json_response({"data": {"x": 1}})

    app = web.Application()
    app.router.add_post("/graphql", handle)
    return app


def test_a_timeout_while_queued_for_a_pooled_connection_was_never_sent() -> None:
    # One connection in the pool, held by a slow request: the second request's whole
    # timeout passes while it waits for the connection, before its headers are written.
    with BackgroundServer(_slow_app(1.0)) as server:

        async def run() -> tuple[TransportError, TransportError]:
            transport = GraphQLTransport(
                f"{server.base_url}/graphql", timeout=3.0, connection_limit=1
            )
            try:
                first = asyncio.ensure_future(transport.post("{ x }", "Slow", None))
                await asyncio.sleep(0.1)
                with pytest.raises(ErmTimeoutError) as queued:
                    await transport.post("mutation { x }", "Queued", None, timeout=0.3)
                await first
                # The same timeout once the request is on the wire: it may have run.
                with pytest.raises(ErmTimeoutError) as on_wire:
                    await transport.post("mutation { x }", "OnWire", None, timeout=0.3)
            finally:
                await transport.close()
            return queued.value, on_wire.value

        queued, on_wire = asyncio.run(run())
    assert queued.sent is False
    assert on_wire.sent is True

"""``BackgroundServer.stop`` leaves nothing running: a handler whose client hung up (the
runner's cleanup no longer sees its connection) is cancelled and unwinds on the server's
own loop, in its own context, before ``stop`` returns; nothing is left for the garbage
collector to finish later inside another test."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import socket
import time

import pytest
from aiohttp import web

from omnivoltaic_erm.testing import BackgroundServer

_VAR: contextvars.ContextVar[str | None] = contextvars.ContextVar("held", default=None)


def _held_app(entered: list[str], finished: list[str]) -> web.Application:
    async def hold(request: web.Request) -> web.StreamResponse:
        token = _VAR.set("held")
        try:
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b"started")
            entered.append("entered")
            # Held as the sandbox holds a late answer: shielded from the disconnect.
            await asyncio.shield(asyncio.get_running_loop().create_future())
            return response
        finally:
            _VAR.reset(token)  # raises when run in another context
            finished.append("finished")

    app = web.Application()
    app.router.add_post("/hold", hold)
    return app


def test_a_handler_whose_client_hung_up_is_finished_by_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered: list[str] = []
    finished: list[str] = []
    server = BackgroundServer(_held_app(entered, finished)).start()
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(b"POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        deadline = time.monotonic() + 10
        while not entered and time.monotonic() < deadline:
            time.sleep(0.01)
        assert entered == ["entered"]
    time.sleep(0.2)  # the server sees the hang-up
    with caplog.at_level(logging.ERROR):
        server.stop()
        assert finished == ["finished"]  # before stop returned, on the server's loop
        del server
        gc.collect()
    assert finished == ["finished"]
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == []

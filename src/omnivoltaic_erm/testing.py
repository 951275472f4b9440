"""Run an aiohttp application on a loopback port in a background thread.

Used by the sandbox's pytest fixture and by tests that need a small scripted server:
the server lives on its own event loop, so both async and sync code can talk to it.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web


def _finish_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what still runs on ``loop`` and let it unwind there, as ``asyncio.run`` does.

    The runner's cleanup waits only for requests whose connection is still open: a handler
    whose client hung up is left pending, and closing the loop under it would leave its
    coroutine to the garbage collector, which runs its ``finally`` later, in whatever
    thread and context collects it (a context variable reset there fails, and the error
    is logged into an unrelated test).
    """
    left = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in left:
        task.cancel()
    if left:
        loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


class BackgroundServer:
    """Serve ``app`` on ``host``:``port`` (0 picks a free port) until ``stop()``."""

    def __init__(
        self,
        app: web.Application | Callable[[], Awaitable[web.Application]],
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._app = app
        self._ssl_context = ssl_context
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop (for scheduling work on the server side)."""
        assert self._loop is not None, "server not started"
        return self._loop

    def start(self) -> BackgroundServer:
        """Start serving; return once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="erm-server", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"server failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        assert self._runner is not None
        try:
            loop.run_until_complete(self._runner.cleanup())
        finally:
            _finish_tasks(loop)
            loop.close()

    async def _serve(self) -> None:
        app = self._app if isinstance(self._app, web.Application) else await self._app()
        # A short shutdown: a test server may hold requests that never finish.
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.host, self.port, reuse_address=True, ssl_context=self._ssl_context
        )
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

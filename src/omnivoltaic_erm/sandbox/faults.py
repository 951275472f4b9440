"""Fault injection: a seeded draw per request, and the aiohttp middleware that acts on it.

Only requests that carry an ``Authorization`` header are faulted, so signing in always
works and a test can count on getting a token. A 502 answers before the request is
looked at; a drop and a delay happen after it has run and its code event (if any) is
committed, so a fault never loses or corrupts state: a dropped code is in the history.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import Handler
from aiohttp.web_request import BaseRequest

from .config import FaultSpec

log = logging.getLogger("omnivoltaic_erm.sandbox")

ERROR_502, DROP, DELAY = "error_502", "drop", "delay"

BAD_GATEWAY_HTML = """<html>
<head><title>502 Bad Gateway</title></head>
<body>
<center><h1>502 Bad Gateway</h1></center>
<hr><center>erm-sandbox (injected fault)</center>
</body>
</html>
"""


class FaultInjector:
    """Holds the current ``FaultSpec`` (settable at any time) and counts what fired.

    The draws come from ``random.Random(seed)``; installing a spec that has its own
    ``seed`` restarts them from that seed.
    """

    def __init__(self, spec: FaultSpec, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._spec = FaultSpec()
        self.spec = spec
        self.counts: Counter[str] = Counter()

    @property
    def spec(self) -> FaultSpec:
        """The fault probabilities applied to the next request."""
        return self._spec

    @spec.setter
    def spec(self, spec: FaultSpec) -> None:
        if spec.seed is not None:
            self._rng = random.Random(spec.seed)
        self._spec = spec

    def draw(self) -> str | None:
        """The fault for the next request, or None. One random draw per request."""
        spec = self.spec
        if not spec.active:
            return None
        roll = self._rng.random()
        kind = None
        if roll < spec.error_502:
            kind = ERROR_502
        elif roll < spec.error_502 + spec.drop:
            kind = DROP
        elif roll < spec.error_502 + spec.drop + spec.delay:
            kind = DELAY
        if kind is not None:
            self.counts[kind] += 1
        return kind


class _DroppedResponse(web.StreamResponse):
    """Stands in for a response on a connection that has been closed on purpose.

    aiohttp treats a ``ConnectionError`` from ``prepare`` as a client that went away:
    it logs nothing above DEBUG and writes nothing.
    """

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        raise ConnectionResetError("connection dropped by the sandbox's fault injection")


FAULTS = web.AppKey("erm_sandbox_faults", FaultInjector)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the drawn fault to an authorised POST."""
    if request.method != "POST" or "Authorization" not in request.headers:
        return await handler(request)
    injector = request.app[FAULTS]
    kind = injector.draw()
    if kind is None:
        return await handler(request)
    log.info("injecting fault: %s", kind)
    if kind == ERROR_502:
        return web.Response(status=502, text=BAD_GATEWAY_HTML, content_type="text/html")
    delay = injector.spec.delay_seconds
    response = await handler(request)
    if kind == DROP:
        if request.transport is not None:
            request.transport.close()
        return _DroppedResponse()
    await asyncio.sleep(delay)
    return response

"""Fault injection: a seeded draw per request, and the aiohttp middleware that acts on it.

Only requests that carry an ``Authorization`` header are faulted, so signing in always
works and a test can count on getting a token. What each fault does is described on
``FaultSpec``: a 502 answers before the request is looked at; a 504, a drop and a delay
happen after it has run and its code event (if any) is committed; ``late`` holds the
request before running it, and runs it even after the client gave up; ``twice`` runs it
twice; ``reset`` closes the connection before it runs. A fault never corrupts state:
whatever was executed is in the history.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections import Counter, deque

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.typedefs import Handler
from aiohttp.web_request import BaseRequest

from .config import FAULT_KINDS, FaultSpec
from .errors import CURRENT, error_extensions, unauthorized
from .faultrules import HTML, UNAUTHENTICATED, FaultRule
from .operations import operation_of
from .trace import TRACE_SINK

log = logging.getLogger("omnivoltaic_erm.sandbox")

ERROR_502, ERROR_504, DROP, DELAY, LATE, TWICE, RESET, ERROR_521 = FAULT_KINDS


def _gateway_page(status: str) -> str:
    return f"""<html>
<head><title>{status}</title></head>
<body>
<center><h1>{status}</h1></center>
<hr><center>erm-sandbox (injected fault)</center>
</body>
</html>
"""


BAD_GATEWAY_HTML = _gateway_page("502 Bad Gateway")
GATEWAY_TIMEOUT_HTML = _gateway_page("504 Gateway Timeout")
ORIGIN_DOWN_HTML = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>erm-sandbox | 521: Web server is down</title></head>
<body>
<h1>Web server is down</h1> <span>Error code 521</span>
<p>The content network is working, but the web server behind it refused the connection
(erm-sandbox: injected fault).</p>
</body>
</html>
"""
_CODE_MUTATIONS = ("generateDaysCode", "generateFreeCode", "generateResetCode")


# How many fired faults the injector remembers, with the request ids they hit.
_LOG_MAX = 100_000


class FaultInjector:
    """Holds the current ``FaultSpec`` (settable at any time) and counts what fired.

    The draws come from ``random.Random(seed)``; installing a spec that has its own
    ``seed`` restarts them from that seed. ``log`` keeps the latest fired faults as
    ``(kind, request id)``, the id read from a code request's description (None for
    other requests), so a test can tell a duplicate the network made from one the client
    made.
    """

    def __init__(self, spec: FaultSpec, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._spec = FaultSpec()
        self.spec = spec
        self.counts: Counter[str] = Counter()
        self.log: deque[tuple[str, str | None]] = deque(maxlen=_LOG_MAX)
        # The dashboard's rules (``faultrules``), checked before the spec's draw.
        self.rules: list[FaultRule] = []
        self.error_shape = CURRENT

    def pick_rule(self, operation: str) -> str | None:
        """The kind of the first rule that fires for ``operation``, or None."""
        for rule in self.rules:
            if rule.fires(operation):
                self.counts[rule.kind] += 1
                return rule.kind
        return None

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
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += getattr(spec, kind)
            if roll < edge:
                self.counts[kind] += 1
                return kind
        return None


class _DroppedResponse(web.StreamResponse):
    """Stands in for a response on a connection that has been closed on purpose.

    aiohttp treats a ``ConnectionError`` from ``prepare`` as a client that went away:
    it logs nothing above DEBUG and writes nothing.
    """

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter | None:
        raise ConnectionResetError("connection dropped by the sandbox's fault injection")


FAULTS = web.AppKey("erm_sandbox_faults", FaultInjector)


_TAG = re.compile(r"\[req:([0-9a-f]{16})\]\s*\Z")


async def _code_request_id(request: web.Request) -> tuple[bool, str | None]:
    """Whether the request is a code request, and the request id it is tagged with."""
    try:
        body = json.loads(await request.read())
    except ValueError:
        return False, None
    if not isinstance(body, dict):
        return False, None
    query = body.get("query")
    if not (isinstance(query, str) and any(name in query for name in _CODE_MUTATIONS)):
        return False, None
    variables = body.get("variables")
    text = variables.get("description") if isinstance(variables, dict) else None
    match = _TAG.search(text) if isinstance(text, str) else None
    return True, match.group(1) if match else None


def _close(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.close()
    return _DroppedResponse()


async def _rule_fault(request: web.Request, injector: FaultInjector) -> str | None:
    try:
        body = json.loads(await request.read())
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    return injector.pick_rule(operation_of(body)[0])


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply a dashboard rule's fault, else the drawn fault to an authorised POST."""
    injector = request.app[FAULTS]
    if injector.rules and request.method == "POST":
        kind = await _rule_fault(request, injector)
        if kind is not None:
            _, request_id = await _code_request_id(request)
            return await _apply(kind, request, handler, injector, request_id)
    if request.method != "POST" or "Authorization" not in request.headers:
        return await handler(request)
    spec = injector.spec
    if not spec.active:
        return await handler(request)
    is_code, request_id = await _code_request_id(request)
    if spec.ops == "codes" and not is_code:
        return await handler(request)
    drawn = injector.draw()
    if drawn is None:
        return await handler(request)
    return await _apply(drawn, request, handler, injector, request_id)


async def _apply(
    kind: str,
    request: web.Request,
    handler: Handler,
    injector: FaultInjector,
    request_id: str | None,
) -> web.StreamResponse:
    spec = injector.spec
    injector.log.append((kind, request_id))
    sink = TRACE_SINK.get()
    if sink is not None:  # the request log records this request
        sink["fault"] = kind
    log.info("injecting fault: %s", kind)
    if kind == ERROR_502:
        return web.Response(status=502, text=BAD_GATEWAY_HTML, content_type="text/html")
    if kind == ERROR_521:
        return web.Response(status=521, text=ORIGIN_DOWN_HTML, content_type="text/html")
    if kind == HTML:
        return web.Response(status=200, text=BAD_GATEWAY_HTML, content_type="text/html")
    if kind == UNAUTHENTICATED:
        error = unauthorized()
        extensions = error_extensions(error, injector.error_shape)
        body = {"data": None, "errors": [{"message": error.message, "extensions": extensions}]}
        return web.json_response(body)
    if kind == RESET:
        return _close(request)
    if kind == LATE:
        # Held, then executed whether or not the client is still there: the shielded task
        # runs to the end even if this handler is cancelled by a disconnect.
        async def late() -> web.StreamResponse:
            await asyncio.sleep(spec.late_seconds)
            return await handler(request)

        return await asyncio.shield(asyncio.ensure_future(late()))
    response = await handler(request)
    if kind == TWICE:
        return await handler(request)
    if kind == ERROR_504:
        return web.Response(status=504, text=GATEWAY_TIMEOUT_HTML, content_type="text/html")
    if kind == DROP:
        return _close(request)
    await asyncio.sleep(spec.delay_seconds)
    return response

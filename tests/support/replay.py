"""A scripted GraphQL server on loopback: answers each operation with a canned response
and records every request it receives."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from omnivoltaic_erm.testing import BackgroundServer


@dataclass
class Canned:
    """One scripted answer."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"


@dataclass
class ReplayServer:
    """Answers by operation name; ``requests`` holds each decoded request body."""

    answers: dict[str, Canned] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            payload = json.loads(await request.read())
            self.requests.append(payload)
            self.headers.append(dict(request.headers))
            canned = self.answers[payload.get("operationName") or ""]
            return web.Response(
                body=canned.body, status=canned.status, content_type=canned.content_type
            )

        app = web.Application()
        app.router.add_post("/graphql", handle)
        return app

    def serve(self) -> BackgroundServer:
        return BackgroundServer(self.app())

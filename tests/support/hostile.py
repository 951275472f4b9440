"""A hostile GraphQL server on loopback: signs in normally, then answers every other
operation with the malformed response named by ``mode``."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.real_api import real_item
from tests.support.tokens import jwt

HTML = b"<!DOCTYPE html><html><head><title>Error</title></head><body>oops</body></html>"


def fake_jwt(ttl: float = 3600.0) -> str:
    now = time.time()
    return jwt(now + ttl, distributorId="d", roleName="DISTRIBUTOR", iat=now)


def _item(i: int) -> dict[str, Any]:
    return real_item(i)


@dataclass
class Hostile:
    """``mode`` picks the malformed answer; ``seen`` records each request's body."""

    mode: str = "html"
    seen: list[dict[str, Any]] = field(default_factory=list)
    # In mode "items": whether a page of items says that more pages follow.
    more_pages: bool = False

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024**2)
        app.router.add_post("/graphql", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = json.loads(await request.read())
        self.seen.append(body)
        if body.get("operationName") == "SignInUser":
            token = fake_jwt()
            return web.json_response({"data": {"signInUser": {"accessToken": token, "_id": "d"}}})
        mode = self.mode
        if mode == "items":  # well-formed answers: one item, no code history
            if body.get("operationName") == "GetItemsForDownloadById":
                ids = body["variables"]["ids"]
                entries = [{"item": _item(1), "codeHistory": []} for i in ids if i != "GONE"]
                return web.json_response({"data": {"getItemsForDownloadById": entries}})
            info = {"hasNextPage": self.more_pages, "hasPreviousPage": False}
            page = {"page": {"edges": [{"cursor": "c", "node": _item(1)}], "pageInfo": info}}
            return web.json_response({"data": {"getAllClientItems": page}})
        if mode == "html":
            return web.Response(body=HTML, status=500, content_type="text/html")
        if mode == "html200":
            return web.Response(body=HTML, content_type="text/html")
        if mode == "empty":
            return web.Response(body=b"", content_type="application/json")
        if mode == "truncated":
            return web.Response(body=b'{"data": {"getAllClientItems": {"page": {"ed')
        if mode == "neither":
            return web.json_response({"result": "ok"})
        if mode == "wrong_types":
            page = {"page": {"edges": [{"cursor": 5, "node": {"_id": ["not", "a", "string"]}}]}}
            return web.json_response({"data": {"getAllClientItems": page}})
        if mode == "data_and_errors":
            # A well-formed page, and an error beside it: the data is partial at best.
            page = {"page": {"edges": [{"cursor": "c", "node": _item(1)}]}}
            errors = [{"message": "partial failure", "path": ["getAllClientItems"]}]
            return web.json_response({"data": {"getAllClientItems": page}, "errors": errors})
        if mode == "missing_required":
            return web.json_response({"data": {"getAllClientItems": {"pageData": None}}})
        if mode == "huge":
            edges = [{"cursor": "c", "node": _item(i)} for i in range(60_000)]
            payload = json.dumps({"data": {"getAllClientItems": {"page": {"edges": edges}}}})
            return web.Response(body=payload.encode(), content_type="application/json")
        if mode == "huge_chunked":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            chunk = b" " * 65536
            for _ in range(200):  # 13 MB of whitespace, never a complete document
                await response.write(chunk)
            return response
        if mode == "never":
            await asyncio.sleep(30)
            return web.json_response({})
        if mode == "drip":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for byte in b'{"data": {"getAllClientItems": {"page": {"edges": []}}}}':
                await response.write(bytes([byte]))
                await asyncio.sleep(0.1)
            return response
        raise AssertionError(f"unknown mode {mode}")

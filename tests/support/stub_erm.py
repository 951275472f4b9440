"""A scripted ERM server on loopback for the pipeline's fault tests.

It answers the client's operations from the handbook's example responses, counts every
request by operation name, and plays a script for sign-ins: each sign-in takes the next
answer of ``sign_in_script`` (the last one repeats), so a test can let the first sign-in
succeed and every later one fail. Every request's headers and body are kept, so a test
can look for a planted secret.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from omnivoltaic_erm.testing import BackgroundServer
from tests.conftest import ROOT
from tests.support.tokens import jwt

DATA = ROOT / "tests" / "data"
ITEM_ID = "677f9698818e7a7fe66a939e"
PASSWORD = "planted-Pa55word-31337"


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def ok_sign_in(token: str) -> web.Response:
    """A successful SignInUser answer carrying ``token``."""
    body = _load("handbook_sign_in_user")
    body["data"]["signInUser"]["accessToken"] = token
    return web.json_response(body)


def status(code: int) -> Callable[[], web.Response]:
    """An answer with HTTP ``code`` and an HTML body (a gateway's page)."""
    return lambda: web.Response(
        status=code, body=b"<html><title>gateway capacity</title></html>", content_type="text/html"
    )


def graphql_error(code: str, message: str) -> Callable[[], web.Response]:
    """A GraphQL error answer with ``extensions.code``."""
    return lambda: web.json_response(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    )


def redirect(code: int, location: str) -> Callable[[], web.Response]:
    """A redirect to ``location``."""
    return lambda: web.Response(status=code, headers={"Location": location})


@dataclass
class StubErm:
    """The scripted server; ``calls`` counts requests by operation name."""

    token_lifetime: float = 3600.0
    sign_in_script: list[Callable[[], web.Response]] = field(default_factory=list)
    answers: dict[str, Callable[[], web.Response]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    seen: list[str] = field(default_factory=list)
    # Every request's headers and decoded body, in order.
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    # Code events committed by GenerateDaysCode, served back as the item's history.
    history: list[dict[str, Any]] = field(default_factory=list)
    # When set, GenerateDaysCode commits the code and then answers with this instead.
    after_commit: Callable[[], web.Response] | None = None
    # When given, GenerateDaysCode commits the code and holds its answer until it is set.
    hold: threading.Event | None = None
    # The next answer of each operation named here is made when its request arrives and
    # sent this many seconds later: a read that is stale when it lands.
    late: dict[str, float] = field(default_factory=dict)

    def _item_entry(self) -> dict[str, Any]:
        page = _load("handbook_items_page")
        item = page["data"]["getAllClientItems"]["page"]["edges"][0]["node"]
        return {"item": item, "codeHistory": self.history}

    def _default(self, name: str, variables: dict[str, Any]) -> web.Response:
        if name == "SignInUser":
            n = self.calls[name]
            if self.sign_in_script and n > 1:
                script = self.sign_in_script
                return script[min(n - 2, len(script) - 1)]()
            token = jwt(time.time() + self.token_lifetime, marker=str(n))
            self.tokens.append(token)
            return ok_sign_in(token)
        if name == "GetItemsForDownloadById":
            return web.json_response({"data": {"getItemsForDownloadById": [self._item_entry()]}})
        if name == "GetAllClientItems":
            return web.json_response(_load("handbook_items_page"))
        if name == "GenerateDaysCode":
            code = _load("handbook_days_code")
            fields = code["data"]["generateDaysCode"]
            self.history.append(
                {
                    "_id": f"ev{len(self.history)}",
                    "codeType": "DAYSCODE",
                    "codeDays": variables.get("codeDays"),
                    "codeNumber": len(self.history) + 1,
                    "codeHexString": fields["codeHex"],
                    "codeDecString": fields["codeDec"],
                    "description": variables.get("description"),
                    "hashIndex": 1,
                    "createdAt": "2026-01-01T00:00:00.000Z",
                    "deleteStatus": False,
                    "deleteAt": None,
                }
            )
            if self.after_commit is not None:
                return self.after_commit()
            return web.json_response(code)
        return web.json_response({"errors": [{"message": f"no stub answer for {name}"}]})

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await request.read()
            self.seen.append(json.dumps(dict(request.headers)) + raw.decode())
            payload = json.loads(raw)
            self.requests.append((dict(request.headers), payload))
            name = payload.get("operationName") or ""
            self.calls[name] += 1
            answer = self.answers.get(name)
            if answer is not None:
                return answer()
            response = self._default(name, payload.get("variables") or {})
            delay = self.late.pop(name, None)
            if delay is not None:
                await asyncio.sleep(delay)
            if name == "GenerateDaysCode" and self.hold is not None:
                await asyncio.to_thread(self.hold.wait)
            return response

        app = web.Application()
        app.router.add_post("/graphql", handle)
        return app

    def serve(self) -> BackgroundServer:
        """A loopback server for this stub (use as a context manager)."""
        return BackgroundServer(self.app())

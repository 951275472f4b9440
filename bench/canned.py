"""A canned-response GraphQL server: every POST gets the same 100-item items page.

Run as ``python -m bench.canned`` in a process of its own, so that the server's work is
never counted as the client's CPU time. It binds a free port on 127.0.0.1, prints
``READY <port>`` and serves until its stdin closes (or it is terminated).

The page has the shape of the handbook's ``getAllClientItems`` answer
(``tests/data/handbook_items_page.json``): all 22 fields of ``ItemFields`` on every item,
with realistic values, plus ``pageInfo`` and ``pageData``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from ._common import LOOPBACK, wait_for_stdin_eof_then

PAGE_SIZE = 100
TOTAL_ITEMS = 20_000

# The variables every contender sends: the same document, the same values.
VARIABLES: dict[str, Any] = {"queryorder": "DESC", "first": PAGE_SIZE, "assetaccount": False}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _cursor(offset: int) -> str:
    return base64.b64encode(f"arrayconnection:{offset}".encode()).decode()


def build_item(index: int, rng: random.Random) -> dict[str, Any]:
    """One item as the ERM API returns it: every field of the ``ItemFields`` fragment."""
    created = datetime(2025, 1, 9, 9, 27, 52, tzinfo=UTC) - timedelta(seconds=137 * index)
    serial = 999 - index
    oem_item_id = f"DVAV0111{serial:06d}"
    used = rng.choice([None, "OVES", "OPENTOKEN"])
    return {
        "_id": f"677f9698818e7a7fe66a{0x939E - index:04x}",
        "deleteStatus": False,
        "deleteAt": None,
        "createdAt": _iso(created),
        "updatedAt": _iso(created + timedelta(minutes=40, seconds=54.292)),
        "triggers": rng.choice([[], ["PAYG_TIMER"], ["PAYG_TIMER", "LOW_BATTERY"]]),
        "type": "DEVICE",
        "actionScope": rng.choice(["DEVELOPMENT", "CLIENT"]),
        "actorName": "eIOT",
        "profile": "Off-Grid Electric Device",
        "idType": "UUID",
        "idString": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "description": "OVES Connected eIoT",
        "creationDate": _iso(created - timedelta(minutes=46, seconds=11.245)),
        "oemID": "OVES",
        "oemItemID": oem_item_id,
        "sellerID": "OVES",
        "sellerItemID": oem_item_id,
        "lifeCycle": rng.choice(["INITIATED", "INITIATED", "ASSIGNED"]),
        "codeGenUsed": used,
        "legacyItemId": None if used is None else float(serial),
        "code": None if used is None else f"{rng.getrandbits(40):013d}",
    }


def build_page(size: int = PAGE_SIZE, total: int = TOTAL_ITEMS) -> dict[str, Any]:
    """The first ``size`` items of a ``total``-item listing, as a full GraphQL answer."""
    rng = random.Random(7)
    edges = [{"cursor": _cursor(i), "node": build_item(i, rng)} for i in range(size)]
    return {
        "data": {
            "getAllClientItems": {
                "page": {
                    "edges": edges,
                    "pageInfo": {
                        "startCursor": _cursor(0),
                        "endCursor": _cursor(size - 1),
                        "hasPreviousPage": False,
                        "hasNextPage": size < total,
                    },
                },
                "pageData": {"count": total, "limit": size, "offset": 0},
            }
        }
    }


def page_bytes() -> bytes:
    """The canned answer as sent on the wire (compact JSON, like most servers)."""
    return json.dumps(build_page(), separators=(",", ":")).encode()


def make_app(body: bytes) -> web.Application:
    """An app that answers every POST with ``body``; the request is read, not parsed."""

    async def graphql(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/graphql", graphql)
    return app


async def serve() -> None:
    """Serve the canned page on a free loopback port until stdin closes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    runner = web.AppRunner(make_app(page_bytes()), access_log=None, handle_signals=True)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        wait_for_stdin_eof_then(lambda: loop.call_soon_threadsafe(stop.set))
        print(f"READY {sock.getsockname()[1]}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
        sock.close()


if __name__ == "__main__":
    asyncio.run(serve())
    sys.exit(0)

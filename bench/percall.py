"""Per-call client cost: one 100-item ``getAllClientItems`` page, five ways.

The server (``bench.canned``) runs in a process of its own and answers every request
with the same canned page, so this process's CPU time is the client's alone. Every
contender sends the same document with the same variables:

- ``raw aiohttp``: ``session.post(json=...)`` and ``.json()`` on one session; the floor;
- ``typed (ours)``: ``omnivoltaic_erm_gql.Client(url=...).get_all_client_items(...)``;
- ``gql 4.0``: ``gql.Client`` with ``AIOHTTPTransport``, one ``async with`` session;
- ``ariadne-codegen stock``: the client ariadne-codegen generates by default (httpx),
  generated at bench time from the same schema and queries into a temporary directory;
- ``requests, no session``: the handbook's ``requests.post(...).json()``, a new
  connection every call (synchronous, run directly).

Many short rounds interleave the contenders (in a rotating order) so that background
load on a shared machine falls on all of them alike. A µs figure is the median over
rounds of the per-call mean within a round; a ratio is the median over rounds of the
contender's figure divided by raw aiohttp's figure in the same round.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ._common import ROOT, ChildProcess, Stopwatch, median, spread
from .canned import PAGE_SIZE, VARIABLES, page_bytes

OPERATION = "GetAllClientItems"
STOCK_PACKAGE = "stock_erm_gql"


def typed_document() -> str:
    """The exact document our generated client sends for ``GetAllClientItems``."""
    from omnivoltaic_erm_gql import Client, QueryOrder

    captured: list[str] = []

    async def capture(query: str, *args: Any, **kwargs: Any) -> Any:
        captured.append(query)
        raise LookupError  # stop before anything is sent

    client = Client(url="http://127.0.0.1:9/graphql")
    client.execute_typed = capture  # type: ignore[method-assign]
    # Driven by hand: the capture raises before the first await, so no loop is needed.
    call = client.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
    with contextlib.suppress(LookupError):
        call.send(None)
    call.close()
    return captured[0]


def generate_stock_client(target: Path) -> Any:
    """Generate ariadne-codegen's default async client into ``target``; import it.

    Same schema, queries and scalar mapping as ours; the default (httpx) base client and
    no plugins. Nothing is written inside the repository.
    """
    config = "\n".join(
        [
            "[tool.ariadne-codegen]",
            f"schema_path = {json.dumps(str(ROOT / 'schema.graphql'))}",
            f"queries_path = {json.dumps(str(ROOT / 'queries'))}",
            f'target_package_name = "{STOCK_PACKAGE}"',
            f"target_package_path = {json.dumps(str(target))}",
            "async_client = true",
            "default_optional_fields_to_none = true",
            "",
            "[tool.ariadne-codegen.scalars.DateTime]",
            'type = "datetime.datetime"',
            "",
        ]
    )
    (target / "pyproject.toml").write_text(config)
    done = subprocess.run(
        [sys.executable, "-m", "ariadne_codegen", "--config", "pyproject.toml", "client"],
        cwd=target,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ariadne-codegen failed: {done.stderr[-2000:]}")
    sys.path.insert(0, str(target))
    return importlib.import_module(STOCK_PACKAGE)


class Contender:
    """One way of making the call: ``open``, then ``call`` many times, then ``close``.

    ``call`` returns the number of items in the answer, checked once so that no contender
    is timed on an error path. Async contenders return awaitables from ``call``.
    """

    name = ""
    is_async = True
    # A diagnostic contender splits a cost in two; it is not one of the compared clients.
    diagnostic = False

    async def open(self, url: str, document: str) -> None:
        """Create the client (and its session) on the running loop."""

    def call(self) -> Any:
        """Make one request; return (an awaitable of) the number of items received."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release the client's connections."""


class RawAiohttp(Contender):
    """``aiohttp.ClientSession.post`` + ``.json()``, one session: the floor."""

    name = "raw aiohttp"

    async def open(self, url: str, document: str) -> None:
        import aiohttp

        self.url = url
        self.payload: dict[str, Any] = {
            "query": document,
            "operationName": OPERATION,
            "variables": VARIABLES,
        }
        self.session = aiohttp.ClientSession()

    async def call(self) -> int:
        async with self.session.post(self.url, json=self.payload) as response:
            data = await response.json()
        return len(data["data"]["getAllClientItems"]["page"]["edges"])

    async def close(self) -> None:
        await self.session.close()


class RawAiohttpBytes(RawAiohttp):
    """Diagnostic: raw aiohttp, reading the body as bytes without decoding it."""

    name = "raw aiohttp, bytes only"
    diagnostic = True

    async def call(self) -> int:
        async with self.session.post(self.url, json=self.payload) as response:
            body = await response.read()
        return PAGE_SIZE if body else 0


class Typed(Contender):
    """Our generated client on our aiohttp transport; one client, one session."""

    name = "typed (ours)"

    async def open(self, url: str, document: str) -> None:
        from omnivoltaic_erm_gql import Client, QueryOrder

        self.client = Client(url=url)
        self.order = QueryOrder.DESC

    async def call(self) -> int:
        result = await self.client.get_all_client_items(
            queryorder=self.order, first=PAGE_SIZE, assetaccount=False
        )
        return len(result.get_all_client_items.page.edges or [])

    async def close(self) -> None:
        await self.client.close()


class Facade(Contender):
    """``AsyncErmClient.api``: the whole per-call path a user takes, pipeline included
    (a cached token, the concurrency bound, the tracing check, retries armed)."""

    name = "erm.api (pipeline, token)"

    async def open(self, url: str, document: str) -> None:
        import time

        from omnivoltaic_erm import AsyncErmClient, QueryOrder
        from omnivoltaic_erm._auth import Token, TokenCache

        # The canned server answers every request with the page, a sign-in too: the
        # token comes from a cache file, as for `erm` after `erm login`.
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-token-")
        cache = Path(self._tmp.name) / "token.json"
        TokenCache(cache).save(Token("bench-token-value", time.time() + 86400))
        self.erm = AsyncErmClient(url, "bench@example.test", "unused", token_cache=cache)
        self.order = QueryOrder.DESC

    async def call(self) -> int:
        result = await self.erm.api.get_all_client_items(
            queryorder=self.order, first=PAGE_SIZE, assetaccount=False
        )
        return len(result.get_all_client_items.page.edges or [])

    async def close(self) -> None:
        await self.erm.aclose()
        self._tmp.cleanup()


class TypedBytes(Contender):
    """Diagnostic: our transport's ``post`` alone, returning the raw bytes."""

    name = "our transport, bytes only"
    diagnostic = True

    async def open(self, url: str, document: str) -> None:
        from omnivoltaic_erm_gql import Client

        self.client = Client(url=url)
        self.document = document

    async def call(self) -> int:
        raw = await self.client.post(self.document, OPERATION, VARIABLES)
        return PAGE_SIZE if raw.body else 0

    async def close(self) -> None:
        await self.client.close()


class Gql(Contender):
    """gql 4.0 with ``AIOHTTPTransport``; no schema fetch; one ``async with`` session."""

    name = "gql 4.0 (aiohttp)"

    async def open(self, url: str, document: str) -> None:
        from gql import Client, GraphQLRequest
        from gql.transport.aiohttp import AIOHTTPTransport

        self.request = GraphQLRequest(document, variable_values=VARIABLES, operation_name=OPERATION)
        client = Client(transport=AIOHTTPTransport(url=url), fetch_schema_from_transport=False)
        self.stack = contextlib.AsyncExitStack()
        self.session = await self.stack.enter_async_context(client)

    async def call(self) -> int:
        data = await self.session.execute(self.request)
        return len(data["getAllClientItems"]["page"]["edges"])

    async def close(self) -> None:
        await self.stack.aclose()


class StockAriadne(Contender):
    """ariadne-codegen's default generated client (httpx); one client, one pool."""

    name = "ariadne-codegen stock (httpx)"

    def __init__(self, package: Any) -> None:
        self.package = package

    async def open(self, url: str, document: str) -> None:
        self.client = self.package.Client(url=url)
        self.order = self.package.QueryOrder.DESC

    async def call(self) -> int:
        result = await self.client.get_all_client_items(
            queryorder=self.order, first=PAGE_SIZE, assetaccount=False
        )
        return len(result.get_all_client_items.page.edges or [])

    async def close(self) -> None:
        await self.client.http_client.aclose()


class RequestsNoSession(Contender):
    """The handbook's snippet: ``requests.post(...).json()``, no session (sync)."""

    name = "requests, no session"
    is_async = False

    async def open(self, url: str, document: str) -> None:
        import requests

        self.post = requests.post
        self.url = url
        self.payload: dict[str, Any] = {
            "query": document,
            "operationName": OPERATION,
            "variables": VARIABLES,
        }

    def call(self) -> int:
        data = self.post(self.url, json=self.payload, timeout=30).json()
        return len(data["data"]["getAllClientItems"]["page"]["edges"])


def _batch(loop: asyncio.AbstractEventLoop, contender: Contender, calls: int) -> int:
    """Make ``calls`` sequential calls; return the item count of the last answer."""
    count = 0
    if contender.is_async:
        call: Callable[[], Awaitable[int]] = contender.call

        async def run() -> int:
            n = 0
            for _ in range(calls):
                n = await call()
            return n

        count = loop.run_until_complete(run())
    else:
        for _ in range(calls):
            count = contender.call()
    return count


def run(calls: int = 20, rounds: int = 50, warmup: int = 30) -> dict[str, Any]:
    """Measure every contender; return the rows, the cost breakdown and the raw samples."""
    document = typed_document()
    with tempfile.TemporaryDirectory(prefix="bench-stock-") as tmp:
        try:
            stock = generate_stock_client(Path(tmp))
            contenders: list[Contender] = [
                RawAiohttp(),
                Typed(),
                Facade(),
                Gql(),
                StockAriadne(stock),
                RequestsNoSession(),
                RawAiohttpBytes(),
                TypedBytes(),
            ]
            samples = _against_canned_server(contenders, document, calls, rounds, warmup)
        finally:
            if tmp in sys.path:
                sys.path.remove(tmp)
    summary = _summarise(samples, contenders, calls, rounds, warmup)
    summary["decode"] = {
        **decode_costs(rounds),
        "raw_bytes_us": median(samples[RawAiohttpBytes.name]["cpu_us"]),
        "ours_bytes_us": median(samples[TypedBytes.name]["cpu_us"]),
    }
    return summary


def _against_canned_server(
    contenders: list[Contender], document: str, calls: int, rounds: int, warmup: int
) -> dict[str, dict[str, list[float]]]:
    """Start the canned server, open every contender, warm up, measure; always clean up."""
    with ChildProcess("bench.canned") as server:
        url = f"http://127.0.0.1:{server.start()}/graphql"
        loop = asyncio.new_event_loop()
        opened: list[Contender] = []
        try:
            for contender in contenders:
                loop.run_until_complete(contender.open(url, document))
                opened.append(contender)
            for contender in contenders:
                got = _batch(loop, contender, warmup)
                if got != PAGE_SIZE:
                    raise RuntimeError(f"{contender.name} received {got} items, not {PAGE_SIZE}")
            return _measure(loop, contenders, calls, rounds)
        finally:
            for contender in opened:
                loop.run_until_complete(contender.close())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def decode_costs(rounds: int, calls: int = 50) -> dict[str, float]:
    """CPU µs to decode the canned page, without any network: where the time goes."""
    from omnivoltaic_erm_gql import GetAllClientItems

    from omnivoltaic_erm._transport import envelope_for

    body = page_bytes()
    envelope = envelope_for(GetAllClientItems)
    ways: dict[str, Callable[[], object]] = {
        "json_loads_us": lambda: json.loads(body),
        "validate_json_us": lambda: envelope.model_validate_json(body),
        "loads_then_validate_us": lambda: envelope.model_validate(json.loads(body)),
    }
    samples: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(max(rounds, 5)):
        for key, way in ways.items():
            with Stopwatch() as sw:
                for _ in range(calls):
                    way()
            samples[key].append(sw.cpu / calls * 1e6)
    return {k: median(v) for k, v in samples.items()}


def _measure(
    loop: asyncio.AbstractEventLoop, contenders: list[Contender], calls: int, rounds: int
) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {
        c.name: {"cpu_us": [], "wall_us": []} for c in contenders
    }
    gc.collect()  # once: garbage left by set-up and warm-up is nobody's cost
    for r in range(rounds):
        shift = r % len(contenders)
        for contender in contenders[shift:] + contenders[:shift]:
            with Stopwatch() as sw:
                _batch(loop, contender, calls)
            samples[contender.name]["cpu_us"].append(sw.cpu / calls * 1e6)
            samples[contender.name]["wall_us"].append(sw.wall / calls * 1e6)
    return samples


def _summarise(
    samples: dict[str, dict[str, list[float]]],
    contenders: list[Contender],
    calls: int,
    rounds: int,
    warmup: int,
) -> dict[str, Any]:
    floor = samples[RawAiohttp.name]
    ours = samples[Typed.name]

    def paired(key: str, s: dict[str, list[float]], base: dict[str, list[float]]) -> float:
        # Each round's figure over the base's figure in the same round, then the median:
        # load that drifts between rounds cancels out of the ratio.
        return median([a / b for a, b in zip(s[key], base[key], strict=True)])

    rows = []
    for name in (c.name for c in contenders if not c.diagnostic):
        s = samples[name]
        rows.append(
            {
                "client": name,
                "cpu_us": median(s["cpu_us"]),
                "cpu_us_range": spread(s["cpu_us"]),
                "wall_us": median(s["wall_us"]),
                "wall_us_range": spread(s["wall_us"]),
                "cpu_ratio": paired("cpu_us", s, floor),
                "wall_ratio": paired("wall_us", s, floor),
                # For the targets "cheaper than gql" and "2x cheaper than stock".
                "cpu_vs_ours": paired("cpu_us", s, ours),
                "cpu_ratio_of_medians": median(s["cpu_us"]) / median(floor["cpu_us"]),
            }
        )
    return {
        "calls_per_round": calls,
        "rounds": rounds,
        "warmup_calls": warmup,
        "page_items": PAGE_SIZE,
        "rows": rows,
        "samples": samples,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

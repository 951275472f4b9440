"""Load: 200 concurrent item look-ups and listings against the sandbox, with no errors,
no leaked connections and flat memory."""

from __future__ import annotations

import asyncio
import gc

import pytest

from omnivoltaic_erm import AsyncErmClient, ClientConfig
from omnivoltaic_erm.sandbox import Sandbox


async def _round(erm: AsyncErmClient, keys: list[str]) -> int:
    async def listing() -> int:
        return len([i async for i in erm.iter_items(page_size=20)])

    async def lookup(key: str) -> int:
        return 1 if (await erm.find_item(key)).oem_item_id == key else 0

    calls = [listing() if n % 4 == 0 else lookup(keys[n % len(keys)]) for n in range(200)]
    return sum(await asyncio.gather(*calls))


@pytest.mark.slow
def test_200_concurrent_calls_without_errors_leaks_or_growth() -> None:
    with Sandbox(items=40) as sb:
        keys = [str(i["oemItemID"]) for i in sb.items()]

        async def run() -> tuple[list[int], list[int], int, bool]:
            config = ClientConfig(max_concurrency=32)
            erm = AsyncErmClient(sb.url, sb.email, sb.password, config=config)
            totals, sizes = [], []
            for _ in range(3):
                totals.append(await _round(erm, keys))
                gc.collect()
                sizes.append(len(gc.get_objects()))
            session = erm.api.session
            assert session is not None
            connector = session.connector
            assert connector is not None
            # Every connection is back in the pool, and the pool stays within its limit.
            in_use = len(connector._acquired)  # type: ignore[attr-defined]
            pooled = sum(len(c) for c in connector._conns.values())  # type: ignore[attr-defined]
            assert pooled <= connector.limit
            await erm.aclose()
            return totals, sizes, in_use, session.closed

        totals, sizes, in_use, closed = asyncio.run(run())
    expected = 50 * 40 + 150  # 50 listings of 40 items, 150 look-ups
    assert totals == [expected] * 3
    assert in_use == 0, "a connection was left checked out"
    assert closed
    # Live objects after the 3rd round are no more than after the 2nd, give or take less
    # than one object per call (a leak of one object per call would add 250).
    assert sizes[2] - sizes[1] < 250, sizes

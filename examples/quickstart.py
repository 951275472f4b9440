"""Issue codes with the async and the sync client, against a sandbox started in-process.

Run: .venv/bin/python examples/quickstart.py
Against a real endpoint, drop the sandbox and set ERM_URL, ERM_EMAIL and ERM_PASSWORD.
"""

from __future__ import annotations

import asyncio

from omnivoltaic_erm import AsyncErmClient, ErmClient, Limits
from omnivoltaic_erm.sandbox import Sandbox


async def async_flow(url: str, email: str, password: str) -> None:
    # The sandbox here runs with a 1 s code interval; the client is told the same.
    async with AsyncErmClient(url, email, password, limits=Limits(code_interval=1)) as erm:
        item = await erm.find_item("DVAV2501000001")  # _id, oemItemID or sellerItemID
        print("item", item.id, item.oem_item_id, item.life_cycle)
        code = await erm.generate_days_code(item, days=7, description="week 1")
        print("days code", code.code_dec, code.code_hex, "recovered:", code.recovered)
        # The client waits out the item's minimum interval before this one.
        reset = await erm.generate_reset_code(item)
        print("reset code", reset.code_dec)
        for event in await erm.code_history(item):
            print("history", event.code_type.value, event.code_days, event.description)
        count = 0
        async for _ in erm.iter_items(page_size=20):  # streamed page by page
            count += 1
        print("items", count)


def sync_flow(url: str, email: str, password: str) -> None:
    with ErmClient(url, email, password, limits=Limits(code_interval=1)) as erm:
        free = erm.generate_free_code("DVAV2501000002", description="paid in full")
        print("free code", free.code_dec)


if __name__ == "__main__":
    with Sandbox(items=50, code_interval=1) as sandbox:
        asyncio.run(async_flow(sandbox.url, sandbox.email, sandbox.password))
        sync_flow(sandbox.url, sandbox.email, sandbox.password)

"""Responses shaped like the real API's, through every operation and every core flow.

The real API fills fields the handbook only ever shows as null (``codeGenUsed`` is the
enum ``CodeGenUsed``, ``legacyItemId`` a ``Float``), fills every non-null field of the
printed schema, uses the printed enums for the profile fields of a token, and returns
fields we do not select. These answers come from a scripted server on loopback; the
client must parse each of them and run its core flows on them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from omnivoltaic_erm_gql import (
    Client,
    CodeGenUsed,
    CodeTypes,
    PaginationEnum,
    QueryOrder,
)

from omnivoltaic_erm import AsyncErmClient
from omnivoltaic_erm.testing import BackgroundServer
from tests.support.real_api import ITEMS, REAL_EVENT, answers
from tests.support.replay import Canned, ReplayServer


@pytest.fixture(scope="module")
def real_api() -> Iterator[tuple[ReplayServer, BackgroundServer]]:
    replay = ReplayServer(
        answers={
            name: Canned(json.dumps({"data": data}).encode()) for name, data in answers().items()
        }
    )
    with replay.serve() as server:
        yield replay, server


def _url(server: BackgroundServer) -> str:
    return f"{server.base_url}/graphql"


def test_every_operation_parses_a_real_shaped_answer(
    real_api: tuple[ReplayServer, BackgroundServer],
) -> None:
    _, server = real_api

    async def run() -> None:
        async with Client(url=_url(server)) as client:
            user = (await client.sign_in_user(email="e@x.test", password="pw")).sign_in_user
            assert user.agent_type == "SALES" and user.id_type == "PASSPORT"
            await client.sign_in_client(email="e@x.test", password="pw")
            refreshed = (await client.refresh_access_token(refresh_token="r")).refresh_access_token
            assert refreshed.access_token and refreshed.refresh_token == "refresh-token-value"
            await client.refresh_client_access_token(refresh_token="r")
            page = (
                await client.get_all_client_items(queryorder=QueryOrder.DESC, assetaccount=False)
            ).get_all_client_items
            nodes = [e.node for e in page.page.edges or [] if e.node is not None]
            assert [n.code_gen_used for n in nodes] == [
                CodeGenUsed.OVES,
                CodeGenUsed.OPENTOKEN,
                CodeGenUsed.OVES,
            ]
            assert [n.legacy_item_id for n in nodes] == [1042.0, 17.5, None]
            assert page.page_data is not None and page.page_data.count == 3
            specific = (await client.get_specific_item(item_id="x")).get_specific_item
            assert specific.oem_item_id == "DVAV2501000001"
            by_oem = (await client.get_item_by_oem_item_id(oem_item_id="x")).get_itemby_oem_item_id
            assert by_oem.seller_item_id == "AGZ-00002"
            limits = (await client.get_item_limits(item_id="x")).get_specific_item
            assert limits.item_fleet is not None and limits.item_fleet.code_gen_interval == 0
            many = (await client.get_items_limits(ids=["x"])).get_items_for_download_by_id
            assert many[0].item.item_fleet is not None
            assert many[0].item.item_fleet.disable_code_gen_interval is True
            events = (
                await client.get_item_code_events(item_id="x", pagination=PaginationEnum.CURSOR)
            ).get_all_code_events_for_specific_item_by_distributor
            edges = events.page.edges or []
            assert edges[0].node is not None and edges[0].node.code_type == CodeTypes.DAYSCODE
            entry = (
                await client.get_items_for_download_by_id(ids=["x"])
            ).get_items_for_download_by_id
            assert entry[0].item.code_gen_used == CodeGenUsed.OVES
            assert entry[0].code_history is not None and len(entry[0].code_history) == 1
            code = (await client.generate_days_code(item_id="x", code_days=7)).generate_days_code
            assert code.code_type == CodeTypes.DAYSCODE

    asyncio.run(run())


def test_core_flows_run_on_real_shaped_answers(
    real_api: tuple[ReplayServer, BackgroundServer],
) -> None:
    replay, server = real_api

    async def run() -> None:
        async with AsyncErmClient(_url(server), "e@x.test", "pw") as erm:
            items = [item async for item in erm.iter_items()]
            assert [i.oem_item_id for i in items] == [x["oemItemID"] for x in ITEMS]
            found = await erm.find_item("AGZ-00001")
            assert found.id == ITEMS[0]["_id"]
            history = await erm.code_history(found)
            assert [e.code_dec_string for e in history] == [REAL_EVENT["codeDecString"]]
            days = await erm.generate_days_code(found, 7)
            free = await erm.generate_free_code(found)
            reset = await erm.generate_reset_code(found)
            assert [days.code_type, free.code_type, reset.code_type] == [
                CodeTypes.DAYSCODE,
                CodeTypes.FREECODE,
                CodeTypes.RESETCODE,
            ]
            assert days.code_dec == REAL_EVENT["codeDecString"]

    replay.requests.clear()
    asyncio.run(run())
    sent = [r["operationName"] for r in replay.requests]
    assert sent.count("GenerateDaysCode") == 1 and sent.count("GenerateFreeCode") == 1

"""Responses shaped like the real API's, through every operation and every core flow.

The real API fills fields the handbook only ever shows as null (``codeGenUsed`` is the
enum ``CodeGenUsed``, ``legacyItemId`` a ``Float``), fills every non-null field of the
printed schema, uses the printed enums for the profile fields of a token, and returns
fields we do not select. These answers come from a scripted server on loopback; the
client must parse each of them and run its core flows on them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

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
from tests.replay import Canned, ReplayServer

ITEM_ID = "677f9698818e7a7fe66a939e"


def _jwt(ttl: float = 86400.0) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {"distributorId": "61811cc2bf5a3f81fbeb5d41", "iat": now, "exp": now + int(ttl)}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def real_item(index: int, code_gen: str = "OVES", legacy: float | None = 1042.0) -> dict[str, Any]:
    """An item as the real API returns it: every printed non-null field filled, real
    enum values, a float ``legacyItemId``, and relations we do not select."""
    oem = f"DVAV2501{index:06d}"
    return {
        "_id": f"677f9698818e7a7fe66a{index:04x}",
        "deleteStatus": False,
        "deleteAt": None,
        "createdAt": "2025-01-09T09:27:52.758Z",
        "updatedAt": "2025-01-09T10:08:47.050Z",
        "triggers": ["ONBOARDED"],
        "type": "DEVICE",
        "actionScope": "CLIENT",
        "actorName": "eIOT",
        "profile": "Off-Grid Electric Device",
        "idType": "UUID",
        "idString": "0b7c6a4e-1f5e-4f1b-9a55-1b2f3c4d5e6f",
        "description": "OVES Connected eIoT",
        "creationDate": "2025-01-09T08:41:41.513Z",
        "oemID": "OVES",
        "oemItemID": oem,
        "sellerID": "ANGAZA",
        "sellerItemID": f"AGZ-{index:05d}",
        "lifeCycle": "ASSIGNED",
        "codeGenUsed": code_gen,
        "legacyItemId": legacy,
        "code": "A1",
        # Fields the server adds that our operations do not select.
        "itemFleet": {"_id": "f1", "fleetName": "Kisumu"},
        "__typename": "Item",
    }


REAL_EVENT = {
    "_id": "67c8005b6fe08baf2c62e3bd",
    "codeType": "DAYSCODE",
    "codeDays": 7,
    "codeNumber": 3,
    "codeHexString": "5F9378720CBB25A8",
    "codeDecString": "*016 035 001 460 213 591 464#",
    "description": "week",
    "hashIndex": 4,
    "createdAt": "2025-03-05T07:40:11.120Z",
    "deleteStatus": False,
    "deleteAt": None,
    "codeGenerator": {"_id": "cg1"},
    "triggers": [],
}

REAL_TOKEN = {
    "accessToken": None,  # replaced per answer
    "refreshToken": "refresh-token-value",
    "_id": "61811cc2bf5a3f81fbeb5d41",
    "deleteStatus": False,
    "deleteAt": None,
    "createdAt": "2021-11-02T11:10:58.663Z",
    "updatedAt": "2024-01-30T06:07:17.127Z",
    "email": "ovesTestDistributor3@outlook.com",
    "agentType": "SALES",
    "agentId": "A-17",
    "hireDate": "2022-02-01T00:00:00.000Z",
    "idString": "P1234567",
    "type": "DISTRIBUTOR",
    "name": "OVES Distributor",
    "profile": "Distributor",
    "idType": "PASSPORT",
    "birthDate": "1990-05-01T00:00:00.000Z",
    "actionScope": "CLIENT",
    "roleName": "DISTRIBUTOR",
    "subRoleName": "ADMIN",
    "firstName": "Ada",
    "lastName": "Mwangi",
    "role": {"_id": "r1"},
}

ITEMS = [
    real_item(1, "OVES", 1042.0),
    real_item(2, "OPENTOKEN", 17.5),
    real_item(3, "OVES", None),
]


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    edges = [
        {"cursor": base64.b64encode(f"arrayconnection:{i}".encode()).decode(), "node": item}
        for i, item in enumerate(items)
    ]
    return {
        "page": {
            "edges": edges,
            "pageInfo": {
                "startCursor": edges[0]["cursor"],
                "endCursor": edges[-1]["cursor"],
                "hasPreviousPage": False,
                "hasNextPage": False,
            },
        },
        "pageData": {"count": len(items), "limit": 100, "offset": 0},
    }


def _code(kind: str) -> dict[str, Any]:
    return {"codeType": kind, "codeHex": "5F9378720CBB25A8", "codeDec": REAL_EVENT["codeDecString"]}


def _answers() -> dict[str, Any]:
    token = _jwt()
    fleet = {
        "_id": "f1",
        "fleetName": "Kisumu",
        "codeGenInterval": 0,
        "disableCodeGenInterval": True,
        "dayCodeCountLimit": 10,
        "disableDayCodeCountLimit": False,
        "totalCodeCountLimit": 1096,
        "disableTotalCodeCountLimit": False,
        "freeCodeCount": 5,
        "disableFreeCode": False,
        "resetCodeCount": 5,
        "disableResetCodeCount": False,
        "maxCreditStackDays": 60,
        "disableMaxCreditStackDays": True,
        "maxCreditStackCodeEvents": 5,
        "disableMaxCreditStackCodeEvents": True,
        "assignDate": "2025-01-01T00:00:00.000Z",
    }
    return {
        "SignInUser": {"signInUser": {**REAL_TOKEN, "accessToken": token}},
        "SignInClient": {"signInClient": {**REAL_TOKEN, "accessToken": token, "role": "r1"}},
        "RefreshAccessToken": {"refreshAccessToken": {**REAL_TOKEN, "accessToken": token}},
        "RefreshClientAccessToken": {
            "refreshClientAccessToken": {**REAL_TOKEN, "accessToken": token, "role": "r1"}
        },
        "GetAllClientItems": {"getAllClientItems": _page(ITEMS)},
        "GetSpecificItem": {"getSpecificItem": ITEMS[0]},
        "GetItemByOemItemId": {"getItembyOemItemId": ITEMS[1]},
        "GetItemLimits": {"getSpecificItem": {**ITEMS[0], "itemFleet": fleet}},
        "GetItemCodeEvents": {"getAllCodeEventsForSpecificItemByDistributor": _page([REAL_EVENT])},
        "GetItemsForDownloadById": {
            "getItemsForDownloadById": [{"item": ITEMS[0], "codeHistory": [REAL_EVENT]}]
        },
        "GenerateDaysCode": {"generateDaysCode": _code("DAYSCODE")},
        "GenerateFreeCode": {"generateFreeCode": _code("FREECODE")},
        "GenerateResetCode": {"generateResetCode": _code("RESETCODE")},
    }


@pytest.fixture(scope="module")
def real_api() -> Iterator[tuple[ReplayServer, BackgroundServer]]:
    replay = ReplayServer(
        answers={
            name: Canned(json.dumps({"data": data}).encode()) for name, data in _answers().items()
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

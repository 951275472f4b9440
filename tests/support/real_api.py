"""Answers shaped like the real API's, for the contract and client tests.

The real API fills fields the handbook only ever shows as null (``codeGenUsed`` is the
enum ``CodeGenUsed``, ``legacyItemId`` a ``Float``), fills every non-null field of the
printed schema, uses the printed enums for a token's profile, and returns fields we do not
select. ``answers()`` holds one such answer per operation of ``queries/``.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from tests.support.tokens import jwt

ITEM_ID = "677f9698818e7a7fe66a939e"


def real_jwt(ttl: float = 86400.0) -> str:
    """A token with the claims the real API's carry."""
    now = int(time.time())
    return jwt(now + int(ttl), distributorId="61811cc2bf5a3f81fbeb5d41", iat=now)


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


def page(items: list[dict[str, Any]]) -> dict[str, Any]:
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


def code(kind: str) -> dict[str, Any]:
    return {"codeType": kind, "codeHex": "5F9378720CBB25A8", "codeDec": REAL_EVENT["codeDecString"]}


def answers() -> dict[str, Any]:
    token = real_jwt()
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
        "GetAllClientItems": {"getAllClientItems": page(ITEMS)},
        "GetSpecificItem": {"getSpecificItem": ITEMS[0]},
        "GetItemByOemItemId": {"getItembyOemItemId": ITEMS[1]},
        "GetItemLimits": {"getSpecificItem": {**ITEMS[0], "itemFleet": fleet}},
        "GetItemsLimits": {"getItemsForDownloadById": [{"item": {**ITEMS[0], "itemFleet": fleet}}]},
        "GetItemCodeEvents": {"getAllCodeEventsForSpecificItemByDistributor": page([REAL_EVENT])},
        "GetItemsForDownloadById": {
            "getItemsForDownloadById": [{"item": ITEMS[0], "codeHistory": [REAL_EVENT]}]
        },
        "GenerateDaysCode": {"generateDaysCode": code("DAYSCODE")},
        "GenerateFreeCode": {"generateFreeCode": code("FREECODE")},
        "GenerateResetCode": {"generateResetCode": code("RESETCODE")},
    }

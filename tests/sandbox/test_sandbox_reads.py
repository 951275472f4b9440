"""The reads and token refresh the sandbox adds from the printed schema, over HTTP:
``getSpecificItem``, ``getItembyOemItemId``, ``getAllCodeEventsForSpecificItemByDistributor``
(cursor and offset paging), an item's relations, and ``refreshAccessToken`` /
``refreshClientAccessToken`` with single-use refresh tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.support.sandbox_http import DAYS, FREE, ITEMS, RESET, error_of, gql, sign_in

SPECIFIC = """
query ($id: ID!) {
  getSpecificItem(itemId: $id) {
    _id oemItemID lifeCycle codeGenUsed legacyItemId
    itemFleet { _id fleetName codeGenInterval disableCodeGenInterval dayCodeCountLimit }
    itemSKU { skuName productBase }
    itemBatch { batchNumber batchState itemSKU { skuName } }
    itemFirmware { version codeSystem }
    codeGenerator { codeCount freeCodeCount resetCodeCount hashIndex
                    codeSystem { system } codeLimits { freeCodeCount resetCodeCount } }
  }
}"""
BY_OEM = "query ($id: ID!) { getItembyOemItemId(oemItemId: $id) { _id oemItemID } }"
EVENTS = """
query ($id: ID!, $pagination: PaginationEnum, $first: Int, $after: String, $last: Int,
       $before: String, $limit: Int, $offset: Int, $distributorId: ID) {
  getAllCodeEventsForSpecificItemByDistributor(
    itemId: $id, pagination: $pagination, first: $first, after: $after, last: $last,
    before: $before, limit: $limit, offset: $offset, distributorId: $distributorId
  ) {
    page {
      edges { cursor node { _id codeType codeNumber codeGenerator { codeCount } } }
      pageInfo { startCursor endCursor hasPreviousPage hasNextPage }
    }
    pageData { count limit offset }
  }
}"""
SIGN_IN_TOKENS = """
mutation ($e: String!, $p: String!) {
  signInUser(signInCredentials: {email: $e, password: $p}) {
    _id accessToken refreshToken agentType idType actionScope
  }
}"""
REFRESH = """
mutation ($r: String!) { refreshAccessToken(refreshToken: $r) { _id accessToken refreshToken } }
"""
REFRESH_CLIENT = """
mutation ($r: String!) {
  refreshClientAccessToken(refreshToken: $r) { _id accessToken refreshToken }
}"""


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(items=12, code_interval=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def token(sb: Sandbox) -> str:
    return sign_in(sb)


def test_specific_item_and_by_oem_id_find_only_the_owners_items(sb: Sandbox, token: str) -> None:
    item = sb.items()[4]
    specific = gql(sb, SPECIFIC, {"id": item["_id"]}, token)["data"]["getSpecificItem"]
    assert specific["_id"] == item["_id"] and specific["oemItemID"] == item["oemItemID"]
    by_oem = gql(sb, BY_OEM, {"id": item["oemItemID"]}, token)["data"]["getItembyOemItemId"]
    assert by_oem["_id"] == item["_id"]
    # getSpecificItem takes an _id, getItembyOemItemId an oemItemID; not the other way.
    assert error_of(gql(sb, SPECIFIC, {"id": item["oemItemID"]}, token))["extensions"]["code"] == (
        "NOT_FOUND"
    )
    foreign = sb.items(sb.other_email)[0]
    error = error_of(gql(sb, SPECIFIC, {"id": foreign["_id"]}, token))
    assert error["extensions"]["code"] == "NOT_FOUND"
    # An unknown or foreign OEM id: the real server's non-null error, not NOT_FOUND.
    for unknown in (foreign["oemItemID"], "DVAV2501999999"):
        error = error_of(gql(sb, BY_OEM, {"id": unknown}, token))
        assert error["message"] == (
            "Cannot return null for non-nullable field Query.getItembyOemItemId."
        )
        assert error["path"] == ["getItembyOemItemId"]
        assert error["extensions"]["code"] != "NOT_FOUND"
    assert error_of(gql(sb, BY_OEM, {"id": item["oemItemID"]}))["message"] == "Unauthorized"


def test_an_item_carries_its_fleet_relations_and_generator(sb: Sandbox, token: str) -> None:
    items = sb.items()
    standard = gql(sb, SPECIFIC, {"id": items[0]["_id"]}, token)["data"]["getSpecificItem"]
    pilot = gql(sb, SPECIFIC, {"id": items[4]["_id"]}, token)["data"]["getSpecificItem"]
    assert standard["itemFleet"]["fleetName"] == "Standard"
    assert pilot["itemFleet"]["fleetName"] == "Pilot"
    assert pilot["itemFleet"]["_id"] != standard["itemFleet"]["_id"]
    assert pilot["itemFleet"]["dayCodeCountLimit"] == 2 * standard["itemFleet"]["dayCodeCountLimit"]
    assert standard["itemFleet"]["codeGenInterval"] == 0  # milliseconds
    assert standard["itemSKU"] == {"skuName": "DVAV Solar Home System", "productBase": "DVAV"}
    assert standard["itemBatch"]["batchNumber"] == "DVAV2501000001"
    assert standard["itemBatch"]["batchState"] == "Completed"
    assert standard["itemFirmware"]["codeSystem"] == "ACP1"
    generator = standard["codeGenerator"]
    assert generator["codeSystem"] == {"system": "ACP1"}
    assert generator["codeLimits"] == {"freeCodeCount": 5, "resetCodeCount": 5}
    before = generator["codeCount"]
    for document in (DAYS, FREE):
        variables = {"itemId": items[0]["_id"], "codeDays": 3} if document is DAYS else None
        variables = variables or {"itemId": items[0]["_id"]}
        assert "errors" not in gql(sb, document, variables, token)
    after = gql(sb, SPECIFIC, {"id": items[0]["_id"]}, token)["data"]["getSpecificItem"]
    assert after["codeGenerator"]["codeCount"] == before + 2
    assert after["codeGenerator"]["freeCodeCount"] == generator["freeCodeCount"] + 1
    assert after["codeGenerator"]["hashIndex"] == before + 2


def test_demo_items_have_realistic_values(sb: Sandbox, token: str) -> None:
    listing = gql(
        sb,
        "query { getAllClientItems(queryorder: ASC, first: 12, assetaccount: false) {"
        " page { edges { node { codeGenUsed legacyItemId lifeCycle } } } } }",
        token=token,
    )
    nodes = [e["node"] for e in listing["data"]["getAllClientItems"]["page"]["edges"]]
    assert {n["codeGenUsed"] for n in nodes} == {"OVES", "OPENTOKEN"}
    legacy = [n["legacyItemId"] for n in nodes if n["legacyItemId"] is not None]
    assert legacy and all(isinstance(v, float) for v in legacy)
    assert len(legacy) < len(nodes)
    assert len({n["lifeCycle"] for n in nodes}) > 1


def _issue(sb: Sandbox, token: str, item_id: str, n: int) -> None:
    kinds = [(DAYS, {"itemId": item_id, "codeDays": 2}), (FREE, {"itemId": item_id})]
    kinds.append((RESET, {"itemId": item_id}))
    for i in range(n):
        document, variables = kinds[i % 3]
        assert "errors" not in gql(sb, document, variables, token)


def _events(sb: Sandbox, token: str, **variables: Any) -> dict[str, Any]:
    result = gql(sb, EVENTS, variables, token)
    assert "errors" not in result, result
    data: dict[str, Any] = result["data"]["getAllCodeEventsForSpecificItemByDistributor"]
    return data


def test_code_events_page_newest_first_by_cursor_and_by_offset(sb: Sandbox, token: str) -> None:
    item = sb.items()[7]["_id"]
    _issue(sb, token, item, 7)
    numbers: list[int] = []
    after = None
    while True:
        page = _events(sb, token, id=item, first=3, after=after)
        numbers += [e["node"]["codeNumber"] for e in page["page"]["edges"]]
        assert page["pageData"]["count"] == 7
        if not page["page"]["pageInfo"]["hasNextPage"]:
            break
        after = page["page"]["pageInfo"]["endCursor"]
    assert numbers == [7, 6, 5, 4, 3, 2, 1]
    # The printed default is CURSOR with first = 10.
    default = _events(sb, token, id=item)
    assert len(default["page"]["edges"]) == 7 and default["pageData"]["limit"] == 10
    latest = _events(sb, token, id=item, first=1)["page"]["edges"][0]["node"]
    assert latest["codeNumber"] == 7 and latest["codeGenerator"]["codeCount"] == 7
    offset = _events(sb, token, id=item, pagination="OFFSET", limit=3, offset=2)
    assert [e["node"]["codeNumber"] for e in offset["page"]["edges"]] == [5, 4, 3]
    assert offset["pageData"] == {"count": 7, "limit": 3, "offset": 2}
    assert offset["page"]["pageInfo"]["hasPreviousPage"] is True
    assert offset["page"]["pageInfo"]["hasNextPage"] is True
    tail = _events(sb, token, id=item, pagination="OFFSET", limit=5, offset=5)
    assert [e["node"]["codeNumber"] for e in tail["page"]["edges"]] == [2, 1]
    assert tail["page"]["pageInfo"]["hasNextPage"] is False


def test_code_events_refuse_another_distributor_and_bad_paging(sb: Sandbox, token: str) -> None:
    item = sb.items()[8]["_id"]
    other = sb.store.distributor_id(sb.other_email)
    forbidden = error_of(gql(sb, EVENTS, {"id": item, "distributorId": other}, token))
    assert forbidden["extensions"]["code"] == "FORBIDDEN"
    own = sb.store.distributor_id(sb.email)
    assert "errors" not in gql(sb, EVENTS, {"id": item, "distributorId": own}, token)
    negative = gql(sb, EVENTS, {"id": item, "pagination": "OFFSET", "limit": -1}, token)
    assert error_of(negative)["extensions"]["code"] == "BAD_REQUEST"
    foreign = sb.items(sb.other_email)[0]["_id"]
    assert error_of(gql(sb, EVENTS, {"id": foreign}, token))["extensions"]["code"] == "NOT_FOUND"


def test_sign_in_profile_uses_the_printed_enums(sb: Sandbox) -> None:
    user = gql(sb, SIGN_IN_TOKENS, {"e": sb.email, "p": sb.password})["data"]["signInUser"]
    assert user["agentType"] in {"SERVICE", "SALES", "COLLECTION"}
    assert user["idType"] in {"PASSPORT", "OFFICIAL_ID", "DRIVERS_LICENSE"}
    assert user["actionScope"] in {"CLIENT", "DEVELOPMENT", "GLOBAL", "MANAGEMENT", "SYSTEM"}


@pytest.mark.parametrize(
    ("document", "field"),
    [(REFRESH, "refreshAccessToken"), (REFRESH_CLIENT, "refreshClientAccessToken")],
)
@pytest.mark.slow
def test_a_refresh_token_outlives_the_access_token_and_is_used_once(
    erm_sandbox_factory: Any, document: str, field: str
) -> None:
    sb = erm_sandbox_factory(items=2, token_ttl=1.0, refresh_ttl=60.0)
    user = gql(sb, SIGN_IN_TOKENS, {"e": sb.email, "p": sb.password})["data"]["signInUser"]
    listing = {"order": "ASC", "first": 1}
    assert "errors" not in gql(sb, ITEMS, listing, user["accessToken"])
    time.sleep(1.1)  # the access token expires; the refresh token does not
    assert error_of(gql(sb, ITEMS, listing, user["accessToken"]))["message"] == "Unauthorized"
    renewed = gql(sb, document, {"r": user["refreshToken"]})["data"][field]
    assert renewed["_id"] == user["_id"]
    assert renewed["refreshToken"] != user["refreshToken"]  # rotated
    assert "errors" not in gql(sb, ITEMS, listing, renewed["accessToken"])
    # The used refresh token is spent; the new one works once.
    reused = gql(sb, document, {"r": user["refreshToken"]})
    assert error_of(reused)["extensions"]["code"] == "UNAUTHENTICATED"
    again = gql(sb, document, {"r": renewed["refreshToken"]})["data"][field]
    assert again["accessToken"]


def test_only_a_refresh_token_refreshes(sb: Sandbox) -> None:
    access = sb.access_token()
    for bad in (access, "not-a-token", ""):
        result = gql(sb, REFRESH, {"r": bad})
        assert error_of(result)["extensions"]["code"] == "UNAUTHENTICATED"


LISTING = """
query ($pagination: PaginationEnum, $limit: Int, $offset: Int, $clientId: ID, $oem: String,
       $sim: Boolean) {
  getAllClientItems(queryorder: ASC, assetaccount: false, pagination: $pagination,
                    limit: $limit, offset: $offset, clientId: $clientId,
                    searchByOemItemId: $oem, isOpenTokenSimulator: $sim) {
    page { edges { cursor node { oemItemID } } pageInfo { hasPreviousPage hasNextPage } }
    pageData { count limit offset }
  }
}"""


def test_listing_takes_every_printed_argument(sb: Sandbox, token: str) -> None:
    def listing(**variables: Any) -> dict[str, Any]:
        result = gql(sb, LISTING, variables, token)
        assert "errors" not in result, result
        data: dict[str, Any] = result["data"]["getAllClientItems"]
        return data

    page = listing(pagination="OFFSET", limit=4, offset=8, sim=False)
    assert [e["node"]["oemItemID"][-2:] for e in page["page"]["edges"]] == ["09", "10", "11", "12"]
    assert page["pageData"] == {"count": 12, "limit": 4, "offset": 8}
    assert page["page"]["pageInfo"] == {"hasPreviousPage": True, "hasNextPage": False}
    own = sb.store.distributor_id(sb.email)
    assert listing(clientId=own)["pageData"]["count"] == 12
    assert listing(oem="2501000011")["pageData"]["count"] == 1
    other = sb.store.distributor_id(sb.other_email)
    refused = error_of(gql(sb, LISTING, {"clientId": other}, token))
    assert refused["extensions"]["code"] == "FORBIDDEN"

"""The reads real front ends make, over HTTP: ``getAllItems``,
``getAllClientItemsInItemFleet``, ``getAllCodeEvents``, ``getAllCodeEventsBetweenDates``,
``getCodeEventsByCodeGeneratorIds``, ``getSpecificCodeEvent`` and
``getSpecificDistributorSetting``, each scoped to the signed-in distributor and paged
like the others; and the fields front ends read that the sandbox now fills (the sign-in
profile, ``openTokencodeGen``, ``hashTop`` / ``hashRoot`` / ``codeCount``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.support.sandbox_http import DAYS, FREE, RESET, error_of, gql, sign_in

ALL_EVENTS = """
query ($first: Int, $after: String, $last: Int, $before: String, $search: String) {
  getAllCodeEvents(first: $first, after: $after, last: $last, before: $before,
                   search: $search) {
    page {
      edges { cursor node { _id codeType codeNumber description codeGenerator { _id } } }
      pageInfo { startCursor endCursor hasPreviousPage hasNextPage }
    }
    pageData { count limit offset }
  }
}"""
ALL_ITEMS = """
query ($order: QueryOrder!, $first: Int, $after: String, $search: String) {
  getAllItems(queryorder: $order, first: $first, after: $after, search: $search) {
    page { edges { node { _id oemItemID } } pageInfo { hasNextPage endCursor } }
    pageData { count limit offset }
  }
}"""
IN_FLEET = """
query ($fleet: ID!, $client: ID!, $first: Int, $after: String, $search: String) {
  getAllClientItemsInItemFleet(first: $first, after: $after, search: $search,
    getAllClientItemsInItemFleet: {itemFleetId: $fleet, clientId: $client}) {
    page { edges { node { _id itemFleet { _id fleetName } } } pageInfo { hasNextPage endCursor } }
    pageData { count }
  }
}"""
BY_GENERATOR = """
query ($ids: [String!]!) {
  getCodeEventsByCodeGeneratorIds(ids: $ids) { _id codeNumber codeGenerator { _id } }
}"""
BETWEEN = """
query ($id: ID!, $start: String!, $end: String!, $type: CodeTypes, $distributorId: ID) {
  getAllCodeEventsBetweenDates(itemId: $id, startDate: $start, endDate: $end,
                               codeType: $type, distributorId: $distributorId) {
    page { edges { node { _id codeType createdAt } } }
    pageData { count }
  }
}"""
SPECIFIC_EVENT = """
query ($id: String!) {
  getSpecificCodeEvent(id: $id) { _id codeType codeNumber codeCount hashTop hashRoot }
}"""
SETTING = """
query ($id: String!) {
  getSpecificDistributorSetting(distributorId: $id) {
    _id codeGenInterval dayCodeCountLimit totalCodeCountLimit freeCodeCount resetCodeCount
    maxCreditStackDays maxCreditStackCodeEvents
  }
}"""
ITEM = """
query ($id: ID!) {
  getSpecificItem(itemId: $id) {
    _id codeGenUsed itemFleet { _id fleetName }
    codeGenerator { _id hashRoot hashTop hashTopInitial codeCount codeHistory { _id } }
    openTokencodeGen {
      _id secret_key starting_code token token_type token_value max_count updatedAt
      openTokenCodeHistory { token token_type token_value max_count code_history_type }
    }
  }
}"""
ITEM_EVENTS = """
query ($id: ID!) {
  getAllCodeEventsForSpecificItemByDistributor(itemId: $id, first: 50) {
    page { edges { node { _id codeNumber codeCount hashTop hashRoot codeDecString } } }
  }
}"""
PROFILE = """
mutation ($e: String!, $p: String!) {
  signInUser(signInCredentials: {email: $e, password: $p}) {
    _id name roleName firstName lastName subrole { _id }
    role { _id name distributor { _id } }
    officeAddress { _id street unit city srpc postcode country }
    authenticationInstance { _id name }
  }
  signInClient(signInCredentialsInput: {email: $e, password: $p}) {
    _id name roleName firstName lastName role officeAddress authenticationInstance subrole
  }
}"""
HEX16 = re.compile(r"[0-9A-F]{16}")


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(items=12, code_interval=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def token(sb: Sandbox) -> str:
    return sign_in(sb)


@pytest.fixture(scope="module")
def other_token(sb: Sandbox) -> str:
    return sign_in(sb, sb.other_email, sb.other_password)


@pytest.fixture(scope="module")
def issued(sb: Sandbox, token: str, other_token: str) -> dict[str, list[str]]:
    """Code events on three of each distributor's items: _ids of the items used."""
    used: dict[str, list[str]] = {}
    for email, auth in ((sb.email, token), (sb.other_email, other_token)):
        items = [item["_id"] for item in sb.items(email)[1:4]]
        for n, item_id in enumerate(items):
            for kind in range(n + 1):
                document, variables = (
                    (DAYS, {"itemId": item_id, "codeDays": 3, "description": "days"}),
                    (FREE, {"itemId": item_id, "description": "free"}),
                    (RESET, {"itemId": item_id, "description": "reset"}),
                )[kind]
                assert "errors" not in gql(sb, document, variables, auth)
        used[email] = items
    return used


def _data(sb: Sandbox, query: str, variables: dict[str, Any], token: str) -> Any:
    result = gql(sb, query, variables, token)
    assert "errors" not in result, result
    return next(iter(result["data"].values()))


def _ids(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["_id"] for edge in page["page"]["edges"]]


def test_all_code_events_are_the_callers_own_newest_first_and_paged(
    sb: Sandbox, token: str, other_token: str, issued: dict[str, list[str]]
) -> None:
    created = {e["_id"]: e["createdAt"] for item in sb.items() for e in sb.history(item["_id"])}
    other_items = sb.items(sb.other_email)
    other_events = {e["_id"] for item in other_items for e in sb.history(item["_id"])}
    assert len(created) >= 6 and len(other_events) == 6
    seen: list[str] = []
    after = None
    while True:
        page = _data(sb, ALL_EVENTS, {"first": 4, "after": after}, token)
        assert page["pageData"]["count"] == len(created)
        seen += _ids(page)
        if not page["page"]["pageInfo"]["hasNextPage"]:
            break
        after = page["page"]["pageInfo"]["endCursor"]
    assert set(seen) == set(created) and len(seen) == len(created)
    # Newest first.
    assert [created[i] for i in seen] == sorted(created.values(), reverse=True)
    assert set(_ids(_data(sb, ALL_EVENTS, {"first": 50}, other_token))) == other_events
    last_two = _data(sb, ALL_EVENTS, {"last": 2}, token)
    assert _ids(last_two) == seen[-2:]


def test_all_code_events_search_by_item_id_and_code_type(
    sb: Sandbox, token: str, issued: dict[str, list[str]]
) -> None:
    third = sb.items()[3]
    by_item = _data(sb, ALL_EVENTS, {"search": third["oemItemID"].lower()}, token)
    assert {e["_id"] for e in sb.history(third["_id"])} == set(_ids(by_item))
    resets = _data(sb, ALL_EVENTS, {"search": "RESETCODE"}, token)
    assert [e["node"]["codeType"] for e in resets["page"]["edges"]] == ["RESETCODE"]
    # The other distributor's item ids find nothing here.
    foreign = sb.items(sb.other_email)[3]["oemItemID"]
    assert _data(sb, ALL_EVENTS, {"search": foreign}, token)["pageData"]["count"] == 0


def test_events_by_code_generator_ids_reach_only_the_callers_generators(
    sb: Sandbox, token: str, issued: dict[str, list[str]]
) -> None:
    first, second = issued[sb.email][1:3]
    generators = [
        _data(sb, ITEM, {"id": i}, token)["codeGenerator"]["_id"] for i in (second, first)
    ]
    events = _data(sb, BY_GENERATOR, {"ids": generators}, token)
    # Generator by generator in the order given, each oldest first.
    assert [e["codeNumber"] for e in events] == [1, 2, 3, 1, 2]
    assert [e["codeGenerator"]["_id"] for e in events] == [generators[0]] * 3 + [generators[1]] * 2
    other_token = sign_in(sb, sb.other_email, sb.other_password)
    assert _data(sb, BY_GENERATOR, {"ids": generators}, other_token) == []
    assert _data(sb, BY_GENERATOR, {"ids": ["0" * 24]}, token) == []


def test_a_specific_code_event_is_found_only_by_its_owner(
    sb: Sandbox, token: str, other_token: str, issued: dict[str, list[str]]
) -> None:
    event = sb.history(issued[sb.email][2])[1]
    found = _data(sb, SPECIFIC_EVENT, {"id": event["_id"]}, token)
    assert (found["_id"], found["codeType"], found["codeNumber"]) == (
        event["_id"],
        "FREECODE",
        2,
    )
    refused = error_of(gql(sb, SPECIFIC_EVENT, {"id": event["_id"]}, other_token))
    assert refused["extensions"]["code"] == "NOT_FOUND"


def test_events_between_dates_filter_by_date_and_code_type(
    sb: Sandbox, token: str, other_token: str, issued: dict[str, list[str]]
) -> None:
    item = issued[sb.email][2]
    history = sb.history(item)
    day = history[0]["createdAt"][:10]
    whole_day = _data(sb, BETWEEN, {"id": item, "start": day, "end": day}, token)
    assert whole_day["pageData"]["count"] == 3
    frees = _data(sb, BETWEEN, {"id": item, "start": day, "end": day, "type": "FREECODE"}, token)
    assert [e["node"]["codeType"] for e in frees["page"]["edges"]] == ["FREECODE"]
    # Both bounds are included: the second event's instant selects it alone.
    moment = history[1]["createdAt"]
    exact = _data(sb, BETWEEN, {"id": item, "start": moment, "end": moment}, token)
    assert _ids(exact) == [history[1]["_id"]]
    earlier = _data(sb, BETWEEN, {"id": item, "start": "2020-01-01", "end": "2020-12-31"}, token)
    assert earlier["pageData"]["count"] == 0
    bad = gql(sb, BETWEEN, {"id": item, "start": "yesterday", "end": day}, token)
    # Invalid input: BAD_USER_INPUT in the older error shape, BAD_REQUEST in the current.
    assert error_of(bad)["extensions"]["code"] in {"BAD_USER_INPUT", "BAD_REQUEST"}
    assert "startDate" in str(error_of(bad))
    foreign = gql(sb, BETWEEN, {"id": item, "start": day, "end": day}, other_token)
    assert error_of(foreign)["extensions"]["code"] == "NOT_FOUND"
    other_id = sb.store.distributor_id(sb.other_email)
    variables = {"id": item, "start": day, "end": day, "distributorId": other_id}
    assert error_of(gql(sb, BETWEEN, variables, token))["extensions"]["code"] == "FORBIDDEN"


def test_all_items_are_the_callers_own_and_paged(sb: Sandbox, token: str, other_token: str) -> None:
    own = [item["_id"] for item in sb.items()]
    first_page = _data(sb, ALL_ITEMS, {"order": "ASC", "first": 5}, token)
    assert first_page["pageData"] == {"count": 12, "limit": 5, "offset": 0}
    assert _ids(first_page) == own[:5]
    after = first_page["page"]["pageInfo"]["endCursor"]
    assert (
        _ids(_data(sb, ALL_ITEMS, {"order": "ASC", "first": 5, "after": after}, token))
        == (own[5:10])
    )
    default = _data(sb, ALL_ITEMS, {"order": "DESC"}, token)
    assert _ids(default) == own[::-1][:10]  # the printed default first = 10
    other = _data(sb, ALL_ITEMS, {"order": "ASC", "first": 50}, other_token)
    assert set(_ids(other)) == {item["_id"] for item in sb.items(sb.other_email)}
    assert not set(_ids(other)) & set(own)
    oem = sb.items()[7]["oemItemID"]
    assert _ids(_data(sb, ALL_ITEMS, {"order": "ASC", "search": oem}, token)) == [own[7]]


def test_items_in_a_fleet_are_the_callers_items_of_that_fleet(
    sb: Sandbox, token: str, other_token: str
) -> None:
    items = sb.items()
    own_id = sb.store.distributor_id(sb.email)
    pilot = _data(sb, ITEM, {"id": items[4]["_id"]}, token)["itemFleet"]
    standard = _data(sb, ITEM, {"id": items[0]["_id"]}, token)["itemFleet"]
    in_pilot = _data(sb, IN_FLEET, {"fleet": pilot["_id"], "client": own_id}, token)
    assert _ids(in_pilot) == [items[4]["_id"], items[9]["_id"]]  # every fifth item
    assert {e["node"]["itemFleet"]["fleetName"] for e in in_pilot["page"]["edges"]} == {"Pilot"}
    page = _data(sb, IN_FLEET, {"fleet": standard["_id"], "client": own_id, "first": 4}, token)
    assert page["pageData"]["count"] == 10 and len(_ids(page)) == 4
    assert page["page"]["pageInfo"]["hasNextPage"] is True
    rest = _data(
        sb,
        IN_FLEET,
        {
            "fleet": standard["_id"],
            "client": own_id,
            "first": 10,
            "after": page["page"]["pageInfo"]["endCursor"],
        },
        token,
    )
    assert len(_ids(rest)) == 6 and not set(_ids(rest)) & set(_ids(page))
    # Another distributor's clientId is refused; its fleet ids select none of its items.
    other_id = sb.store.distributor_id(sb.other_email)
    refused = gql(sb, IN_FLEET, {"fleet": pilot["_id"], "client": other_id}, token)
    assert error_of(refused)["extensions"]["code"] == "FORBIDDEN"
    foreign = _data(sb, IN_FLEET, {"fleet": pilot["_id"], "client": other_id}, other_token)
    assert foreign["pageData"]["count"] == 0


def test_the_distributor_setting_is_the_callers_own(sb: Sandbox, token: str) -> None:
    own_id = sb.store.distributor_id(sb.email)
    setting = _data(sb, SETTING, {"id": own_id}, token)
    # The printed schema's defaults (the daily limit has none printed: the handbook's).
    assert {k: v for k, v in setting.items() if k != "_id"} == {
        "codeGenInterval": 60000,
        "dayCodeCountLimit": 10,
        "totalCodeCountLimit": 1096,
        "freeCodeCount": 5,
        "resetCodeCount": 5,
        "maxCreditStackDays": 60,
        "maxCreditStackCodeEvents": 5,
    }
    other_id = sb.store.distributor_id(sb.other_email)
    assert error_of(gql(sb, SETTING, {"id": other_id}, token))["extensions"]["code"] == (
        "FORBIDDEN"
    )


def test_the_sign_in_profile_has_role_names_and_office_address(sb: Sandbox) -> None:
    data = gql(sb, PROFILE, {"e": sb.email, "p": sb.password})["data"]
    user, client = data["signInUser"], data["signInClient"]
    assert user["roleName"] == "DISTRIBUTOR" and user["role"]["name"] == "DISTRIBUTOR"
    assert user["role"]["distributor"] == []
    assert user["firstName"] and user["lastName"] and user["name"]
    address = user["officeAddress"]
    assert all(isinstance(v, str) and v for v in address.values())
    assert user["authenticationInstance"]["name"]
    assert user["subrole"] is None  # no sub-role, as the handbook's subRoleName: null
    # AccessToken types the same relations as ID: the objects' ids.
    assert client["role"] == user["role"]["_id"]
    assert client["officeAddress"] == address["_id"]
    assert client["authenticationInstance"] == user["authenticationInstance"]["_id"]
    assert client["subrole"] is None
    assert (client["firstName"], client["lastName"]) == (user["firstName"], user["lastName"])
    other = gql(sb, PROFILE, {"e": sb.other_email, "p": sb.other_password})["data"]["signInUser"]
    # The other distributor's names are null, as in the handbook's example; its office
    # is its own.
    assert (other["firstName"], other["lastName"]) == (None, None)
    assert other["officeAddress"]["_id"] != address["_id"]
    assert other["role"]["_id"] == user["role"]["_id"]


def test_open_token_items_carry_their_generator(sb: Sandbox, token: str) -> None:
    items = sb.items()
    open_item = items[6]
    assert open_item["codeGenUsed"] == "OPENTOKEN"
    oves = _data(sb, ITEM, {"id": items[0]["_id"]}, token)
    assert oves["codeGenUsed"] == "OVES" and oves["openTokencodeGen"] is None
    before = _data(sb, ITEM, {"id": open_item["_id"]}, token)["openTokencodeGen"]
    assert re.fullmatch(r"[0-9a-f]{32}", before["secret_key"])
    assert re.fullmatch(r"\d{9}", before["starting_code"])
    count = before["max_count"]
    variables = {"itemId": open_item["_id"], "codeDays": 14}
    assert "errors" not in gql(sb, DAYS, variables, token)
    after = _data(sb, ITEM, {"id": open_item["_id"]}, token)["openTokencodeGen"]
    latest = sb.history(open_item["_id"])[-1]
    assert after["max_count"] == count + 1
    assert after["token"] == re.sub(r"\D", "", latest["codeDecString"])
    assert (after["token_type"], after["token_value"]) == ("ADD_TIME", 14.0)
    history = after["openTokenCodeHistory"]
    assert len(history) == len(before["openTokenCodeHistory"]) + 1 == after["max_count"]
    assert history[-1] == {
        "token": after["token"],
        "token_type": "ADD_TIME",
        "token_value": 14.0,
        "max_count": after["max_count"],
        "code_history_type": "GENERATED_TOKEN",
    }
    assert (after["_id"], after["secret_key"], after["starting_code"]) == (
        before["_id"],
        before["secret_key"],
        before["starting_code"],
    )


def test_code_events_carry_a_consistent_hash_chain_and_count(
    sb: Sandbox, token: str, issued: dict[str, list[str]]
) -> None:
    item = issued[sb.email][2]
    edges = _data(sb, ITEM_EVENTS, {"id": item}, token)["page"]["edges"]
    events = [edge["node"] for edge in reversed(edges)]  # oldest first
    assert [e["codeCount"] for e in events] == [e["codeNumber"] for e in events] == [1, 2, 3]
    generator = _data(sb, ITEM, {"id": item}, token)["codeGenerator"]
    assert {e["hashRoot"] for e in events} == {generator["hashRoot"]}
    assert generator["hashTopInitial"] == generator["hashRoot"]
    assert events[-1]["hashTop"] == generator["hashTop"] != generator["hashRoot"]
    assert len({e["hashTop"] for e in events}) == 3
    assert all(HEX16.fullmatch(e["hashTop"]) and HEX16.fullmatch(e["hashRoot"]) for e in events)
    assert generator["codeCount"] == 3
    assert [e["_id"] for e in generator["codeHistory"]] == [e["_id"] for e in events]
    fresh = _data(sb, ITEM, {"id": sb.items()[11]["_id"]}, token)["codeGenerator"]
    assert fresh["hashTop"] == fresh["hashRoot"] and fresh["codeHistory"] == []

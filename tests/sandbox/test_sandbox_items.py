"""getAllClientItems and getItemsForDownloadById against the sandbox, over HTTP.

Paging is checked against a line-by-line port of graphql-relay-js
``connectionFromArray``, written here independently of the sandbox's own code.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.sandbox.pagination import window
from tests.support.sandbox_http import HISTORY, ITEMS, error_of, gql, sign_in

N = 11
# The printed schema's LifeCycle values.
LIFE_CYCLES = {"INITIATED", "PRODUCED", "ASSIGNED", "SHIPPED", "INSTALLED", "RETURNED", "RECYCLED"}


def relay_connection_from_array(
    array: list[Any],
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """graphql-relay-js ``connectionFromArray`` (v0.10), transcribed."""

    def to_cursor(offset: int) -> str:
        return base64.b64encode(f"arrayconnection:{offset}".encode()).decode()

    def offset_with_default(cursor: str | None, default: int) -> int:
        if not isinstance(cursor, str):
            return default
        try:
            return int(base64.b64decode(cursor).decode()[len("arrayconnection:") :])
        except ValueError:
            return default

    slice_start, array_length = 0, len(array)
    slice_end = slice_start + len(array)
    start_offset = max(slice_start, 0)
    end_offset = min(slice_end, array_length)
    after_offset = offset_with_default(after, -1)
    if 0 <= after_offset < array_length:
        start_offset = max(start_offset, after_offset + 1)
    before_offset = offset_with_default(before, end_offset)
    if 0 <= before_offset < array_length:
        end_offset = min(end_offset, before_offset)
    if isinstance(first, int):
        end_offset = min(end_offset, start_offset + first)
    if isinstance(last, int):
        start_offset = max(start_offset, end_offset - last)
    sliced = array[start_offset - slice_start : end_offset - slice_start]
    edges = [{"cursor": to_cursor(start_offset + i), "node": v} for i, v in enumerate(sliced)]
    lower_bound = after_offset + 1 if after is not None else 0
    upper_bound = before_offset if before is not None else array_length
    return {
        "edges": edges,
        "pageInfo": {
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
            "hasPreviousPage": start_offset > lower_bound if isinstance(last, int) else False,
            "hasNextPage": end_offset < upper_bound if isinstance(first, int) else False,
        },
    }


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(items=N) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def token(sb: Sandbox) -> str:
    return sign_in(sb)


def page(sb: Sandbox, token: str, **args: Any) -> dict[str, Any]:
    args.setdefault("order", "ASC")
    # Sent as explicit nulls: an omitted `first` takes the printed schema's default, 10.
    args.setdefault("first", None)
    args.setdefault("last", None)
    result = gql(sb, ITEMS, args, token)
    assert "errors" not in result, result
    data: dict[str, Any] = result["data"]["getAllClientItems"]
    return data


def expected(sb: Sandbox, order: str, **args: Any) -> dict[str, Any]:
    ids = [i["_id"] for i in sb.items()]
    return relay_connection_from_array(ids[::-1] if order == "DESC" else ids, **args)


def _shape(conn: dict[str, Any]) -> dict[str, Any]:
    return {
        "edges": [{"cursor": e["cursor"], "node": e["node"]["_id"]} for e in conn["page"]["edges"]],
        "pageInfo": conn["page"]["pageInfo"],
    }


def test_demo_items_follow_the_handbook(sb: Sandbox) -> None:
    items = sb.items()
    assert len(items) == N
    created = [i["createdAt"] for i in items]
    assert created == sorted(created) and len(set(created)) == N
    for n, item in enumerate(items, start=1):
        assert re.fullmatch(r"[0-9a-f]{24}", item["_id"]), item["_id"]
        assert item["oemItemID"] == f"DVAV2501{n:06d}"
        # Every third item from the second on has a sellerItemID of the seller's own.
        seller = f"SL2501{n:06d}" if n % 3 == 2 else item["oemItemID"]
        assert item["sellerItemID"] == seller
        assert item["type"] == "DEVICE" and item["profile"] == "Off-Grid Electric Device"
        assert item["description"] == "OVES Connected eIoT" and item["lifeCycle"] in LIFE_CYCLES
    other = sb.items(sb.other_email)
    assert other[0]["oemItemID"] == "06AH2502000001"
    assert not {i["_id"] for i in items} & {i["_id"] for i in other}


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("size", [1, 3, 4, N, N + 5])
def test_forward_paging_matches_relay(sb: Sandbox, token: str, order: str, size: int) -> None:
    seen: list[str] = []
    after = None
    while True:
        conn = page(sb, token, order=order, first=size, after=after)
        assert _shape(conn) == expected(sb, order, first=size, after=after)
        assert conn["pageData"] == {"count": N, "limit": size, "offset": len(seen)}
        seen += [e["node"]["_id"] for e in conn["page"]["edges"]]
        if not conn["page"]["pageInfo"]["hasNextPage"]:
            break
        after = conn["page"]["pageInfo"]["endCursor"]
    ids = [i["_id"] for i in sb.items()]
    assert seen == (ids if order == "ASC" else ids[::-1])


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("size", [1, 4, N])
def test_backward_paging_matches_relay(sb: Sandbox, token: str, order: str, size: int) -> None:
    seen: list[str] = []
    before = None
    while True:
        conn = page(sb, token, order=order, last=size, before=before)
        assert _shape(conn) == expected(sb, order, last=size, before=before)
        seen = [e["node"]["_id"] for e in conn["page"]["edges"]] + seen
        assert conn["pageData"]["offset"] == N - len(seen)
        if not conn["page"]["pageInfo"]["hasPreviousPage"]:
            break
        before = conn["page"]["pageInfo"]["startCursor"]
    ids = [i["_id"] for i in sb.items()]
    assert seen == (ids if order == "ASC" else ids[::-1])


def test_mixed_and_odd_arguments_match_relay(sb: Sandbox, token: str) -> None:
    def cur(n: int) -> str:
        return base64.b64encode(f"arrayconnection:{n}".encode()).decode()

    cases: list[dict[str, Any]] = [
        {},
        {"first": 0},
        {"last": 0},
        {"first": 5, "last": 2},
        {"first": 3, "after": cur(2), "before": cur(4)},
        {"last": 3, "after": cur(1), "before": cur(8)},
        {"after": cur(N - 1)},
        {"after": cur(N + 20), "first": 2},
        {"before": cur(0), "last": 2},
        {"after": cur(-5), "first": 2},
        {"after": "bm90LWEtY3Vyc29y", "first": 2},  # base64 "not-a-cursor"
    ]
    for args in cases:
        conn = page(sb, token, order="DESC", **args)
        assert _shape(conn) == expected(sb, "DESC", **args), args


def test_negative_page_sizes_are_bad_input(sb: Sandbox, token: str) -> None:
    for args in ({"first": -1}, {"last": -2}):
        error = error_of(gql(sb, ITEMS, {"order": "ASC", **args}, token))
        assert error["extensions"]["code"] == "BAD_REQUEST"


@given(
    length=st.integers(0, 30),
    first=st.none() | st.integers(0, 35),
    last=st.none() | st.integers(0, 35),
    after=st.none() | st.integers(-3, 35),
    before=st.none() | st.integers(-3, 35),
)
def test_window_matches_relay_for_any_arguments(
    length: int, first: int | None, last: int | None, after: int | None, before: int | None
) -> None:
    def cur(n: int | None) -> str | None:
        return None if n is None else base64.b64encode(f"arrayconnection:{n}".encode()).decode()

    args: dict[str, Any] = {
        "first": first,
        "last": last,
        "after": cur(after),
        "before": cur(before),
    }
    ref = relay_connection_from_array(list(range(length)), **args)
    win = window(length, **args)
    assert list(range(win.start, win.start + win.size)) == [e["node"] for e in ref["edges"]]
    assert win.has_next_page == ref["pageInfo"]["hasNextPage"]
    assert win.has_previous_page == ref["pageInfo"]["hasPreviousPage"]


def test_search_matches_each_id_kind(sb: Sandbox, token: str) -> None:
    item = sb.items()[6]
    for term in (item["_id"], item["oemItemID"], item["sellerItemID"], item["_id"].upper()):
        conn = page(sb, token, search=term)
        assert [e["node"]["_id"] for e in conn["page"]["edges"]] == [item["_id"]], term
        assert conn["pageData"]["count"] == 1
    # A substring matches every item that contains it, in the requested order.
    conn = page(sb, token, search="dvav250100001", order="DESC")
    assert [e["node"]["oemItemID"] for e in conn["page"]["edges"]] == [
        "DVAV2501000011",
        "DVAV2501000010",
    ]
    assert page(sb, token, search="no-such-item")["pageData"]["count"] == 0


def test_download_by_any_id_returns_items_in_request_order(sb: Sandbox, token: str) -> None:
    a, b = sb.items()[2], sb.items()[5]
    result = gql(sb, HISTORY, {"ids": [b["oemItemID"], a["_id"], b["_id"]]}, token)
    entries = result["data"]["getItemsForDownloadById"]
    assert [e["item"]["_id"] for e in entries] == [b["_id"], a["_id"]]  # one per item
    assert all(e["codeHistory"] == [] for e in entries)
    assert gql(sb, HISTORY, {"ids": []}, token)["data"]["getItemsForDownloadById"] == []


def test_unknown_id_is_not_found_and_never_echoed_in_full(sb: Sandbox, token: str) -> None:
    huge = "X" * 100_000
    error = error_of(gql(sb, HISTORY, {"ids": [sb.items()[0]["_id"], huge]}, token))
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["extensions"]["originalError"]["statusCode"] == 404
    assert len(error["message"]) < 120 and "XXXX" in error["message"]


@pytest.mark.slow
def test_twenty_thousand_items_seed_fast_and_page_by_offset() -> None:
    started = time.monotonic()
    with Sandbox(items=20_000) as big:
        seeded = time.monotonic() - started
        assert seeded < 6, f"seeding 2 x 20,000 items took {seeded:.1f} s"
        token = sign_in(big)
        started = time.monotonic()
        last_page = page(big, token, order="ASC", last=100)
        deep = page(
            big, token, order="DESC", first=100, after=last_page["page"]["edges"][0]["cursor"]
        )
        elapsed = time.monotonic() - started
        assert last_page["pageData"] == {"count": 20_000, "limit": 100, "offset": 19_900}
        assert last_page["page"]["edges"][-1]["node"]["oemItemID"] == "DVAV2501020000"
        assert deep["pageData"]["offset"] == 19_901
        assert len(deep["page"]["edges"]) == 99
        assert elapsed < 2, f"two deep pages took {elapsed:.2f} s"


def test_an_unserved_root_field_names_itself(sb: Sandbox, token: str) -> None:
    # getSpecificItemFleet is in the real schema, so the document validates; the sandbox
    # says it does not serve it instead of answering a null.
    result = gql(sb, 'query { getSpecificItemFleet(id: "x") { _id } }', token=token)
    error = error_of(result)
    assert error["extensions"]["code"] == "NOT_SERVED_BY_SANDBOX"
    assert "Query.getSpecificItemFleet is not served by the sandbox" in error["message"]
    mutation = error_of(gql(sb, 'mutation { deleteItem(itemId: "x") }', token=token))
    assert mutation["message"].startswith("Mutation.deleteItem is not served by the sandbox")


def test_omitting_first_takes_the_printed_default_of_ten(sb: Sandbox, token: str) -> None:
    result = gql(
        sb,
        "query { getAllClientItems(queryorder: ASC, assetaccount: false) "
        "{ page { edges { cursor } pageInfo { hasNextPage } } } }",
        token=token,
    )
    conn = result["data"]["getAllClientItems"]["page"]
    assert len(conn["edges"]) == 10 and conn["pageInfo"]["hasNextPage"] is True

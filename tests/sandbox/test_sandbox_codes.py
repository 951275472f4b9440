"""Code generation rules, code history and durability of the sandbox, over HTTP."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import aiohttp

from omnivoltaic_erm.errors import (
    CODE_BAD_REQUEST,
    CODE_BAD_USER_INPUT,
    CODE_DAILY_LIMIT,
    CODE_FREE_LIMIT,
    CODE_NOT_FOUND,
    CODE_RATE_LIMITED,
    CODE_RESET_LIMIT,
    CODE_TOTAL_LIMIT,
)
from omnivoltaic_erm.sandbox import Sandbox
from tests.support.sandbox_http import (
    DAYS,
    FREE,
    HISTORY,
    RESET,
    apost,
    error_of,
    gql,
    refusal_of,
    sign_in,
)

HEX = re.compile(r"^[0-9A-F]{16}$")
DEC = re.compile(r"^\*\d{3}( \d{3}){6}#$")
ISO_MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FAST = 0.05


def days(sb: Sandbox, token: str, item: str, n: int = 1, description: str | None = None) -> Any:
    return gql(sb, DAYS, {"itemId": item, "codeDays": n, "description": description}, token)


def code_of(result: dict[str, Any], field: str) -> dict[str, Any]:
    assert "errors" not in result, result
    code: dict[str, Any] = result["data"][field]
    return code


def rejected(result: dict[str, Any], code: str, status: int) -> dict[str, Any]:
    """The error of a refused request, checked against the sandbox's code (or rule) and
    status; invalid input reads as the real server's ("Bad Request Exception", and the
    reason in a list)."""
    error = error_of(result)
    assert refusal_of(error) == (code, status), error
    detail = error["extensions"]["originalError"]["message"]
    if code == CODE_BAD_REQUEST:
        assert error["message"] == "Bad Request Exception"
        assert isinstance(detail, list) and detail, error
    else:
        assert detail == error["message"], error
    return error


def test_three_code_kinds_by_each_id_kind_and_their_history(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=3, code_interval=FAST)
    token = sign_in(sb)
    item = sb.items()[1]
    issued = []
    for n, (query, field, ident, extra) in enumerate(
        [
            (DAYS, "generateDaysCode", item["_id"], {"codeDays": 7}),
            (FREE, "generateFreeCode", item["oemItemID"], {}),
            (RESET, "generateResetCode", item["sellerItemID"], {}),
            (DAYS, "generateDaysCode", item["oemItemID"], {"codeDays": 1096}),
        ]
    ):
        if n:
            time.sleep(FAST)
        description = None if n == 3 else f"note {n}: ünïcödé\nline two"
        result = gql(sb, query, {"itemId": ident, "description": description, **extra}, token)
        code = code_of(result, field)
        assert HEX.match(code["codeHex"]) and DEC.match(code["codeDec"]), code
        issued.append((code, extra.get("codeDays", 0), description))
    assert len({c["codeHex"] for c, _, _ in issued}) == 4
    assert len({c["codeDec"] for c, _, _ in issued}) == 4
    # codeDec is the same 64-bit value as codeHex, zero-padded to 21 digits.
    for code, _, _ in issued:
        assert int(code["codeDec"].strip("*#").replace(" ", "")) == int(code["codeHex"], 16)

    [entry] = gql(sb, HISTORY, {"ids": [item["sellerItemID"]]}, token)["data"][
        "getItemsForDownloadById"
    ]
    history = entry["codeHistory"]
    assert entry["item"]["_id"] == item["_id"]
    assert [e["codeType"] for e in history] == ["DAYSCODE", "FREECODE", "RESETCODE", "DAYSCODE"]
    assert [e["codeNumber"] for e in history] == [1, 2, 3, 4]
    assert [e["hashIndex"] for e in history] == [1, 2, 3, 4]
    created = [e["createdAt"] for e in history]
    assert all(ISO_MS_Z.match(c) for c in created) and created == sorted(created)
    for event, (code, n_days, description) in zip(history, issued, strict=True):
        assert event["codeHexString"] == code["codeHex"]
        assert event["codeDecString"] == code["codeDec"]
        assert event["codeDays"] == n_days
        assert event["description"] == description
        assert event["deleteStatus"] is False and event["deleteAt"] is None
        assert len(event["_id"]) == 24
    assert sb.history(item["_id"]) == history


def test_interval_rejects_with_retry_after_and_records_nothing(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=2, code_interval=0.4)
    token = sign_in(sb)
    item = sb.items()[0]["_id"]
    code_of(days(sb, token, item), "generateDaysCode")
    for query, variables in [
        (DAYS, {"itemId": item, "codeDays": 2}),
        (FREE, {"itemId": item}),
        (RESET, {"itemId": item}),
    ]:
        error = rejected(gql(sb, query, variables, token), CODE_RATE_LIMITED, 429)
        assert 0 < error["extensions"]["retryAfter"] <= 0.4
        assert "seconds" in error["message"]
    assert len(sb.history(item)) == 1
    # Another item is not held up by this one.
    code_of(days(sb, token, sb.items()[1]["_id"]), "generateDaysCode")
    time.sleep(error["extensions"]["retryAfter"] + 0.02)
    code_of(days(sb, token, item), "generateDaysCode")
    assert len(sb.history(item)) == 2


def test_daily_limit_rolls_over_with_its_window(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=1, code_interval=0, daily_limit=3, daily_window=1.0)
    token = sign_in(sb)
    item = sb.items()[0]["_id"]
    for _ in range(3):
        code_of(days(sb, token, item), "generateDaysCode")
    error = rejected(days(sb, token, item), CODE_DAILY_LIMIT, 429)
    assert 0 < error["extensions"]["retryAfter"] <= 1.0
    rejected(gql(sb, FREE, {"itemId": item}, token), CODE_DAILY_LIMIT, 429)
    assert len(sb.history(item)) == 3
    time.sleep(error["extensions"]["retryAfter"] + 0.05)
    code_of(days(sb, token, item), "generateDaysCode")


def test_total_limit(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=1, code_interval=0, total_limit=3)
    token = sign_in(sb)
    item = sb.items()[0]["oemItemID"]
    code_of(days(sb, token, item), "generateDaysCode")
    code_of(gql(sb, FREE, {"itemId": item}, token), "generateFreeCode")
    code_of(gql(sb, RESET, {"itemId": item}, token), "generateResetCode")
    for query, extra in [(DAYS, {"codeDays": 1}), (FREE, {}), (RESET, {})]:
        rejected(gql(sb, query, {"itemId": item, **extra}, token), CODE_TOTAL_LIMIT, 400)
    assert len(sb.history(item)) == 3


def test_free_and_reset_allowances_are_separate(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=1, code_interval=0, free_limit=2, reset_limit=1)
    token = sign_in(sb)
    item = sb.items()[0]["_id"]
    for _ in range(2):
        code_of(gql(sb, FREE, {"itemId": item}, token), "generateFreeCode")
    rejected(gql(sb, FREE, {"itemId": item}, token), CODE_FREE_LIMIT, 400)
    code_of(gql(sb, RESET, {"itemId": item}, token), "generateResetCode")
    rejected(gql(sb, RESET, {"itemId": item}, token), CODE_RESET_LIMIT, 400)
    code_of(days(sb, token, item), "generateDaysCode")
    assert [e["codeType"] for e in sb.history(item)] == [
        "FREECODE",
        "FREECODE",
        "RESETCODE",
        "DAYSCODE",
    ]


def test_code_days_must_be_1_to_max(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=1, code_interval=0, max_days=30)
    token = sign_in(sb)
    item = sb.items()[0]["_id"]
    for bad in (0, -1, 31, 2**31 - 1):
        error = rejected(days(sb, token, item, bad), CODE_BAD_REQUEST, 400)
        assert "30" in error["extensions"]["originalError"]["message"][0]
    # Not an integer: rejected by GraphQL before anything runs (HTTP 400).
    from tests.support.sandbox_http import post

    for bad_value in (1.5, "3", None, 2**40):
        reply = post(
            sb.url, {"query": DAYS, "variables": {"itemId": item, "codeDays": bad_value}}, token
        )
        assert reply.status == 400, reply.text
        # Apollo's own code for variables that do not fit their types.
        assert reply.json["errors"][0]["extensions"]["code"] == CODE_BAD_USER_INPUT
    assert sb.history(item) == []
    code_of(days(sb, token, item, 1), "generateDaysCode")
    code_of(days(sb, token, item, 30), "generateDaysCode")


def test_rules_are_checked_in_the_documented_order(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=1, code_interval=30, total_limit=1, free_limit=0)
    token = sign_in(sb)
    item = sb.items()[0]["_id"]
    rejected(days(sb, token, "no-such-item", 0), CODE_NOT_FOUND, 404)  # before input
    rejected(days(sb, token, item, 0), CODE_BAD_REQUEST, 400)
    rejected(gql(sb, FREE, {"itemId": item}, token), CODE_FREE_LIMIT, 400)
    code_of(days(sb, token, item), "generateDaysCode")
    # Now the total, the interval (30 s) and the free allowance all refuse: total wins.
    rejected(gql(sb, FREE, {"itemId": item}, token), CODE_TOTAL_LIMIT, 400)
    rejected(days(sb, token, item), CODE_TOTAL_LIMIT, 400)


def test_daily_limit_is_checked_before_the_interval(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=1, code_interval=30, daily_limit=1)
    token = sign_in(sb)
    item = sb.items()[0]["_id"]
    code_of(days(sb, token, item), "generateDaysCode")
    rejected(days(sb, token, item), CODE_DAILY_LIMIT, 429)


def test_concurrent_requests_cannot_both_pass_a_limit(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=1, code_interval=5)
    token = sign_in(sb)
    item = sb.items()[0]["_id"]

    async def burst() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as session:
            body = {"query": DAYS, "variables": {"itemId": item, "codeDays": 1}}
            replies = await asyncio.gather(
                *(apost(sb.url, body, token, session=session) for _ in range(20))
            )
        return [r.json for r in replies]

    results = asyncio.run(burst())
    ok = [r for r in results if "errors" not in r]
    assert len(ok) == 1
    assert all(refusal_of(r["errors"][0])[0] == CODE_RATE_LIMITED for r in results if r not in ok)
    assert len(sb.history(item)) == 1


def test_state_survives_a_restart_with_the_same_db(tmp_path: Path) -> None:
    db = tmp_path / "erm.sqlite3"
    with Sandbox(db_path=db, items=3, code_interval=30) as first:
        token = sign_in(first)
        item = first.items()[2]
        code = code_of(
            days(first, token, item["oemItemID"], 5, "before restart"), "generateDaysCode"
        )
        before = first.history(item["_id"])
        items_before = first.items()
    with Sandbox(db_path=db, items=3, code_interval=30) as second:
        assert second.items() == items_before  # not seeded again
        assert second.history(item["_id"]) == before
        # The old token still works (the secret is kept in the database) ...
        [entry] = gql(second, HISTORY, {"ids": [item["_id"]]}, token)["data"][
            "getItemsForDownloadById"
        ]
        assert entry["codeHistory"][0]["codeHexString"] == code["codeHex"]
        assert entry["codeHistory"][0]["description"] == "before restart"
        # ... and the rules remember the last event: 30 s have not passed.
        rejected(days(second, token, item["_id"]), CODE_RATE_LIMITED, 429)
    with Sandbox(db_path=db, items=3, code_interval=0) as third:
        token = sign_in(third)
        nxt = code_of(days(third, token, item["_id"]), "generateDaysCode")
        history = third.history(item["_id"])
        assert [e["codeNumber"] for e in history] == [1, 2]
        assert history[1]["codeHexString"] == nxt["codeHex"] != code["codeHex"]


def test_a_temporary_database_is_removed_on_stop() -> None:
    sb = Sandbox(items=1).start()
    path = sb.db_path
    assert path.is_file() and sb.config.db_path is None
    sb.stop()
    assert not path.exists() and not path.parent.exists()

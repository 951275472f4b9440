"""Per-fleet code limits in the sandbox: each code request is checked against the rules of
its item's fleet, a disabled rule is not enforced, and the credit-stacking rule is
modelled (disabled in the default fleet). The rule functions are also tested as tables."""

from __future__ import annotations

from typing import Any

import pytest

from omnivoltaic_erm.sandbox.fleets import (
    CREDIT,
    DAILY,
    INTERVAL,
    Fleet,
    credit_exceeded,
    demo_fleet_index,
    parse_fleet,
)
from tests.support.sandbox_http import DAYS, FREE, RESET, error_of, gql, refusal_of, sign_in

FLEET_LIMITS = """
query ($id: ID!) {
  getSpecificItem(itemId: $id) {
    itemFleet {
      fleetName codeGenInterval disableCodeGenInterval dayCodeCountLimit
      disableDayCodeCountLimit totalCodeCountLimit disableTotalCodeCountLimit
      freeCodeCount disableFreeCode resetCodeCount disableResetCodeCount
      maxCreditStackDays disableMaxCreditStackDays
      maxCreditStackCodeEvents disableMaxCreditStackCodeEvents
    }
  }
}"""


def fleet(name: str = "F", **overrides: Any) -> Fleet:
    values: dict[str, Any] = {
        "code_interval": 0.0,
        "daily_limit": 10,
        "total_limit": 1096,
        "free_limit": 5,
        "reset_limit": 5,
    }
    return Fleet(name, **{**values, **overrides})


def _days(sb: Any, token: str, item: str, n: int = 1) -> dict[str, Any]:
    return gql(sb, DAYS, {"itemId": item, "codeDays": n}, token)


def test_the_default_fleet_is_the_handbooks_and_serves_its_flags(erm_sandbox: Any) -> None:
    sb = erm_sandbox
    token = sign_in(sb)
    served = gql(sb, FLEET_LIMITS, {"id": sb.items()[0]["_id"]}, token)["data"]
    limits = served["getSpecificItem"]["itemFleet"]
    assert limits == {
        "fleetName": "Standard",
        "codeGenInterval": 6000,
        "disableCodeGenInterval": False,
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
    }


def test_each_item_follows_its_own_fleets_interval(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(
        items=4, fleets=(fleet("Fast", code_interval=0.0), fleet("Slow", code_interval=30.0))
    )
    token = sign_in(sb)
    fast, slow = sb.items()[0]["_id"], sb.items()[1]["_id"]  # items take the fleets in turn
    for item in (fast, slow):
        assert "errors" not in _days(sb, token, item)
    assert "errors" not in _days(sb, token, fast)
    refused = error_of(_days(sb, token, slow))
    assert refusal_of(refused) == ("CODE_INTERVAL", 429)
    assert 29 < refused["extensions"]["retryAfter"] <= 30
    assert len(sb.history(fast)) == 2 and len(sb.history(slow)) == 1


def test_a_disabled_rule_is_not_enforced(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(
        items=2,
        fleets=(
            fleet("Capped", daily_limit=2, free_limit=1),
            fleet("Open", daily_limit=2, free_limit=1, disabled=frozenset({DAILY, "free"})),
        ),
    )
    token = sign_in(sb)
    capped, open_ = sb.items()[0]["_id"], sb.items()[1]["_id"]
    assert "errors" not in gql(sb, FREE, {"itemId": capped}, token)
    assert refusal_of(error_of(gql(sb, FREE, {"itemId": capped}, token))) == (
        "FREE_CODE_LIMIT",
        400,
    )
    assert "errors" not in _days(sb, token, capped)
    assert refusal_of(error_of(_days(sb, token, capped)))[0] == "DAILY_CODE_LIMIT"
    for _ in range(2):
        assert "errors" not in gql(sb, FREE, {"itemId": open_}, token)
    for _ in range(2):
        assert "errors" not in _days(sb, token, open_)
    assert len(sb.history(capped)) == 2 and len(sb.history(open_)) == 4
    flags = gql(sb, FLEET_LIMITS, {"id": open_}, token)["data"]["getSpecificItem"]["itemFleet"]
    assert flags["disableDayCodeCountLimit"] is True and flags["disableFreeCode"] is True
    assert flags["disableCodeGenInterval"] is False


def test_credit_stacking_when_enabled(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(
        items=1,
        fleets=(fleet("Credit", credit_days=10, credit_events=3, disabled=frozenset()),),
    )
    token = sign_in(sb)
    item = sb.items()[0]["_id"]
    assert "errors" not in _days(sb, token, item, 6)
    assert "errors" not in _days(sb, token, item, 4)  # 10 days stacked: the limit
    refused = error_of(_days(sb, token, item, 1))
    assert refused["extensions"]["rule"] == "CREDIT_STACK_LIMIT"
    assert "10 days of credit stacked" in refused["message"]
    assert len(sb.history(item)) == 2
    # A reset code empties the stack.
    reset = gql(sb, RESET, {"itemId": item}, token)
    assert "errors" not in reset
    assert "errors" not in _days(sb, token, item, 10)


@pytest.mark.parametrize(
    ("recent", "days", "expected"),
    [
        ([], 60, None),
        ([], 61, 0),
        ([("DAYSCODE", 30), ("DAYSCODE", 30)], 1, 60),
        ([("DAYSCODE", 30), ("DAYSCODE", 29)], 1, None),
        # Only the last credit_events - 1 events count, with the new one.
        ([("DAYSCODE", 10)] * 4 + [("DAYSCODE", 50)], 20, None),
        ([("DAYSCODE", 10)] * 4 + [("DAYSCODE", 50)], 21, 40),
        # Free codes add no days; a reset code ends the stack.
        ([("FREECODE", 0), ("DAYSCODE", 55)], 5, None),
        ([("FREECODE", 0), ("DAYSCODE", 55)], 6, 55),
        ([("RESETCODE", 0), ("DAYSCODE", 55)], 60, None),
    ],
)
def test_credit_rule_table(recent: list[tuple[str, int]], days: int, expected: int | None) -> None:
    rule = fleet(credit_days=60, credit_events=5, disabled=frozenset())
    assert credit_exceeded(rule, days, recent) == expected


def test_a_disabled_credit_rule_never_refuses() -> None:
    assert credit_exceeded(fleet(), 10_000, [("DAYSCODE", 1000)]) is None
    assert CREDIT in fleet().disabled


@pytest.mark.parametrize(
    ("index", "count", "explicit", "expected"),
    [
        (0, 2, False, 0),
        (3, 2, False, 0),
        (4, 2, False, 1),
        (9, 2, False, 1),
        (10, 2, False, 0),
        (4, 1, False, 0),
        (0, 3, True, 0),
        (1, 3, True, 1),
        (5, 3, True, 2),
    ],
)
def test_demo_fleet_assignment(index: int, count: int, explicit: bool, expected: int) -> None:
    assert demo_fleet_index(index, count, explicit) == expected


def test_parse_fleet_and_its_errors() -> None:
    base = fleet("Base")
    parsed = parse_fleet("Slow:interval=3,daily=4,off=credit+free", base)
    assert (parsed.name, parsed.code_interval, parsed.daily_limit) == ("Slow", 3.0, 4)
    assert parsed.disabled == frozenset({CREDIT, "free"})
    assert parse_fleet("Same", base).disabled == base.disabled
    for bad in ("", ":interval=1", "X:speed=1", "X:daily=lots", "X:off=nonsense"):
        with pytest.raises(ValueError):
            parse_fleet(bad, base)
    with pytest.raises(ValueError, match="unknown fleet rule"):
        Fleet("X", 0, 1, 1, 1, 1, disabled=frozenset({INTERVAL, "bogus"}))

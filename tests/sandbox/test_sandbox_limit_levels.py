"""Limits at two levels: the distributor's ``DistributorSetting`` under the item's fleet.

An item's limit is its fleet's value when the fleet sets one, else its distributor's
setting, else the printed default; a fleet's ``disable…`` flag turns the rule off. Tested
as a table (the pure resolution), over HTTP (what a code request meets and what the reads
serve), and from the command line."""

from __future__ import annotations

from typing import Any

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.sandbox.__main__ import build_parser, config_from_args
from omnivoltaic_erm.sandbox.defaults import DAILY_CODE_LIMIT
from omnivoltaic_erm.sandbox.fleets import CREDIT, DAILY, DURATION, Fleet, parse_fleet
from omnivoltaic_erm.sandbox.settings import DistributorSetting, effective_limits
from tests.support.sandbox_http import DAYS, error_of, gql, sign_in

FLEET_AND_SETTING = """
query ($item: ID!, $distributor: String!) {
  getSpecificItem(itemId: $item) {
    itemFleet {
      codeGenInterval dayCodeCountLimit disableDayCodeCountLimit
      daysToCheckDuration disableDaysToCheckDuration
      minimumDayCodesGenerated disableMinimumDayCodesGenerated
    }
    codeGenerator { codeLimits { freeCodeCount resetCodeCount } }
  }
  getSpecificDistributorSetting(distributorId: $distributor) {
    codeGenInterval dayCodeCountLimit freeCodeCount maxCreditStackDays
  }
}"""


def fleet(**values: Any) -> Fleet:
    """A fleet without an interval, setting nothing else unless told."""
    base: dict[str, Any] = {
        "code_interval": 0.0,
        "daily_limit": None,
        "total_limit": None,
        "free_limit": None,
        "reset_limit": None,
    }
    return Fleet("Levels", **{**base, **values})


@pytest.mark.parametrize(
    ("fleet_daily", "setting_daily", "expected"),
    [
        (3, 1, 3),  # the fleet's value wins
        (None, 2, 2),  # the fleet sets none: the distributor's
        # Neither: the last level (the printed schema documents no daily default; the
        # handbook's stands in).
        (None, None, DAILY_CODE_LIMIT),
        (0, 7, 0),  # zero is a value, not "unset"
    ],
)
def test_a_limit_is_the_fleets_else_the_distributors_else_the_printed_default(
    fleet_daily: int | None, setting_daily: int | None, expected: int
) -> None:
    limits = effective_limits(
        fleet(daily_limit=fleet_daily), DistributorSetting(daily_limit=setting_daily)
    )
    assert limits.daily_limit == expected
    assert limits.enforces(DAILY)


def test_the_printed_defaults_and_the_fleets_disable_flags() -> None:
    unset = effective_limits(
        fleet(code_interval=None),
        DistributorSetting(
            **dict.fromkeys(
                (
                    "code_interval",
                    "total_limit",
                    "free_limit",
                    "reset_limit",
                    "credit_days",
                    "credit_events",
                )
            )
        ),
    )
    assert (unset.code_interval, unset.total_limit, unset.free_limit, unset.reset_limit) == (
        60.0,
        1096,
        5,
        5,
    )
    assert (unset.credit_days, unset.credit_events) == (60, 5)
    assert not unset.enforces(CREDIT)  # a fleet's default: credit stacking off
    off = effective_limits(fleet(disabled=frozenset({DAILY})), DistributorSetting(daily_limit=1))
    assert not off.enforces(DAILY) and off.enforces(CREDIT)


def rule_of(error: dict[str, Any]) -> str:
    """The sandbox rule that refused a code: ``extensions.rule`` in the current error
    shape, ``extensions.code`` in the older one."""
    extensions: dict[str, Any] = error["extensions"]
    return str(extensions.get("rule", extensions["code"]))


def _days(sb: Any, token: str, item: str) -> dict[str, Any]:
    return gql(sb, DAYS, {"itemId": item, "codeDays": 1}, token)


def _issue_until_refused(sb: Any, token: str, item: str, most: int = 6) -> int:
    """How many days codes the item takes before the first refusal (``most`` if none)."""
    for issued in range(most):
        result = _days(sb, token, item)
        if "errors" in result:
            assert rule_of(error_of(result)) == "DAILY_CODE_LIMIT"
            return issued
    return most


def test_a_distributor_setting_applies_where_the_fleet_sets_no_value(
    erm_sandbox_factory: Any,
) -> None:
    unset, own = fleet(), fleet(daily_limit=3)
    off = fleet(disabled=frozenset({DAILY}))
    sb: Sandbox = erm_sandbox_factory(
        items=3,
        fleets=(unset, own, off),
        distributor_settings={"distributor@sandbox.test": DistributorSetting(daily_limit=1)},
    )
    token = sign_in(sb)
    items = [item["_id"] for item in sb.items()]
    assert _issue_until_refused(sb, token, items[0]) == 1  # the distributor's 1
    assert _issue_until_refused(sb, token, items[1]) == 3  # the fleet's 3 wins over 1
    assert _issue_until_refused(sb, token, items[2]) == 6  # the fleet turned it off
    # The other distributor's items, in the same fleets, have the printed settings.
    other_token = sign_in(sb, sb.other_email, sb.other_password)
    assert _issue_until_refused(sb, other_token, sb.items(sb.other_email)[0]["_id"]) == 6


def test_the_reads_serve_each_level_as_set(erm_sandbox_factory: Any) -> None:
    sb: Sandbox = erm_sandbox_factory(
        items=1,
        fleets=(fleet(days_to_check_duration=7, minimum_day_codes=2, disabled={CREDIT, DURATION}),),
        distributor_settings={
            "distributor@sandbox.test": DistributorSetting(
                daily_limit=4, free_limit=2, code_interval=None
            )
        },
    )
    token = sign_in(sb)
    variables = {"item": sb.items()[0]["_id"], "distributor": sb.store.distributor_id(sb.email)}
    data = gql(sb, FLEET_AND_SETTING, variables, token)["data"]
    assert data["getSpecificItem"]["itemFleet"] == {
        "codeGenInterval": 0,
        "dayCodeCountLimit": None,  # not set by the fleet
        "disableDayCodeCountLimit": False,
        "daysToCheckDuration": 7,  # stored and served, not enforced
        "disableDaysToCheckDuration": True,
        "minimumDayCodesGenerated": 2,
        "disableMinimumDayCodesGenerated": False,
    }
    # The generator's limits are the effective ones: free from the setting, reset printed.
    assert data["getSpecificItem"]["codeGenerator"]["codeLimits"] == {
        "freeCodeCount": 2,
        "resetCodeCount": 5,
    }
    assert data["getSpecificDistributorSetting"] == {
        "codeGenInterval": None,
        "dayCodeCountLimit": 4,
        "freeCodeCount": 2,
        "maxCreditStackDays": 60,
    }


def test_the_printed_default_interval_applies_where_neither_level_sets_one(
    erm_sandbox_factory: Any,
) -> None:
    sb: Sandbox = erm_sandbox_factory(
        items=1,
        fleets=(fleet(code_interval=None),),
        distributor_settings={"distributor@sandbox.test": DistributorSetting(code_interval=None)},
    )
    token = sign_in(sb)
    item = sb.items()[0]["_id"]
    assert "errors" not in _days(sb, token, item)
    refused = error_of(_days(sb, token, item))
    assert rule_of(refused) == "CODE_INTERVAL"
    assert 55 < refused["extensions"]["retryAfter"] <= 60  # the printed 1 minute


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="credit_events"):
        DistributorSetting(credit_events=0)
    with pytest.raises(ValueError, match="daily_limit"):
        DistributorSetting(daily_limit=-1)
    with pytest.raises(ValueError, match="no demo distributor"):
        Sandbox(distributor_settings={"nobody@sandbox.test": DistributorSetting()})


def test_the_command_line_sets_distributor_settings_and_unset_fleet_values() -> None:
    args = build_parser().parse_args(
        [
            "--distributor-setting",
            "daily=5,interval=none",
            "--distributor-setting",
            "other@sandbox.test:free=2",
            "--distributor-setting",
            "total=100",
            "--fleet",
            "Open:daily=none,duration=7,minimum=3,off=duration",
        ]
    )
    config = config_from_args(args)
    own = config.setting_of(config.email)
    assert (own.daily_limit, own.code_interval, own.total_limit) == (5, None, 100)
    assert config.setting_of(config.other_email).free_limit == 2
    assert config.setting_of(config.other_email).daily_limit == 10
    assert config.fleets is not None
    (open_fleet,) = config.fleets
    assert (open_fleet.daily_limit, open_fleet.days_to_check_duration) == (None, 7)
    assert open_fleet.minimum_day_codes == 3 and not open_fleet.enforces(DURATION)
    with pytest.raises(ValueError, match="bad distributor setting"):
        config_from_args(build_parser().parse_args(["--distributor-setting", "duration=3"]))
    with pytest.raises(ValueError, match="bad fleet setting"):
        parse_fleet("X:bogus=1", open_fleet)

"""Client-side limits, pure: a fleet's fields turned into ``Limits``, which of them the
configured limits fill in, and the item ledger's arithmetic for credit stacking."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from omnivoltaic_erm import CodeLimitError, Limits
from omnivoltaic_erm._limits import (
    UNLIMITED,
    limit_sources,
    limits_from_fleet,
    limits_from_levels,
    missing_limits,
    not_enforced,
)
from omnivoltaic_erm._ratelimit import ItemLedger, check_code_request
from omnivoltaic_erm.errors import CODE_CREDIT_LIMIT
from omnivoltaic_erm.models import CodeTypes
from tests.e2e.test_learned_limits import FleetFields

DAYS, FREE, RESET = CodeTypes.DAYSCODE, CodeTypes.FREECODE, CodeTypes.RESETCODE

ALL_FIVE = ["interval", "daily", "total", "free", "reset"]


# -- limits_from_fleet --------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "fleet", "expected"),
    [
        # A limit of 0 is a limit: nothing of that kind may be issued.
        (
            Limits(),
            FleetFields(
                day_code_count_limit=0,
                total_code_count_limit=0,
                free_code_count=0,
                reset_code_count=0,
            ),
            {"daily_limit": 0, "total_limit": 0, "free_limit": 0, "reset_limit": 0},
        ),
        (Limits(), FleetFields(day_code_count_limit=1), {"daily_limit": 1}),
        (Limits(), FleetFields(day_code_count_limit=-1), {}),
        (Limits(), FleetFields(free_code_count=0, disable_free_code=False), {"free_limit": 0}),
        (Limits(), FleetFields(disable_free_code=True), {"free_limit": UNLIMITED}),
        # The configured credit-stacking rule stays when the fleet gives none.
        (Limits(credit_days=30, credit_events=3), FleetFields(), {}),
        (Limits(credit_days=30, credit_events=3), FleetFields(max_credit_stack_days=60), {}),
        (
            Limits(credit_days=30, credit_events=3),
            FleetFields(max_credit_stack_days=60, max_credit_stack_code_events=7),
            {"credit_days": 60, "credit_events": 7},
        ),
        (
            Limits(credit_days=30, credit_events=3),
            FleetFields(disable_max_credit_stack_days=True),
            {"credit_days": None},
        ),
        # One event: only the code asked for counts.
        (
            Limits(),
            FleetFields(max_credit_stack_days=60, max_credit_stack_code_events=1),
            {"credit_days": 60, "credit_events": 1},
        ),
        (
            Limits(),
            FleetFields(max_credit_stack_days=60, max_credit_stack_code_events=-3),
            {"credit_days": 60, "credit_events": 1},
        ),
        (
            Limits(),
            FleetFields(max_credit_stack_days=60, max_credit_stack_code_events=2),
            {"credit_days": 60, "credit_events": 2},
        ),
        (
            Limits(),
            FleetFields(max_credit_stack_days=0, max_credit_stack_code_events=2),
            {"credit_days": 0, "credit_events": 2},
        ),
    ],
)
def test_limits_from_fleet_edges(
    base: Limits, fleet: FleetFields, expected: dict[str, Any]
) -> None:
    learned = limits_from_fleet(fleet, base)
    for f in fields(Limits):
        assert getattr(learned, f.name) == expected.get(f.name, getattr(base, f.name)), f.name


def test_no_fleet_keeps_the_configured_limits_as_they_are() -> None:
    base = Limits(code_interval=2.0, credit_days=30, credit_events=3)
    assert limits_from_fleet(None, base) is base


# -- missing_limits -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fleet", "missing"),
    [
        (None, ["all"]),
        (FleetFields(), ALL_FIVE),
        (FleetFields(disable_code_gen_interval=False, disable_free_code=False), ALL_FIVE),
        (FleetFields(code_gen_interval=1000, free_code_count=0), ["daily", "total", "reset"]),
        (
            FleetFields(disable_day_code_count_limit=True, disable_reset_code_count=True),
            ["interval", "total", "free"],
        ),
        (
            FleetFields(
                code_gen_interval=0,
                day_code_count_limit=3,
                total_code_count_limit=9,
                free_code_count=1,
                reset_code_count=1,
            ),
            [],
        ),
        # The credit pair has a configured default of "off", so it is never reported.
        (
            FleetFields(
                code_gen_interval=0,
                day_code_count_limit=3,
                total_code_count_limit=9,
                free_code_count=1,
                reset_code_count=1,
                max_credit_stack_days=None,
            ),
            [],
        ),
    ],
)
def test_missing_limits(fleet: FleetFields | None, missing: list[str]) -> None:
    assert missing_limits(fleet) == missing


# -- the ledger and credit stacking -------------------------------------------------

T0 = datetime(2025, 1, 1, tzinfo=UTC)
CREDIT = Limits(code_interval=0, credit_days=60, credit_events=5)


def test_an_event_without_days_adds_none() -> None:
    ledger = ItemLedger.from_history([(DAYS, T0), (DAYS, T0)])
    assert ledger.kinds == [(DAYS, 0), (DAYS, 0)]
    assert ledger.stacked_days(5) == 0
    ledger.record(DAYS, 1.0)
    assert ledger.kinds[-1] == (DAYS, 0)
    assert ledger.stacked_days(5) == 0
    with_days = ItemLedger.from_history([(DAYS, T0, 7), (FREE, None), (DAYS, T0, 3)])
    # Without a time, the free code counts as the oldest; one time keeps its order.
    assert with_days.kinds == [(FREE, 0), (DAYS, 7), (DAYS, 3)]


@pytest.mark.parametrize(
    ("events", "stacked"),
    [(-1, 0), (0, 0), (1, 3), (2, 3), (3, 10), (4, 10), (9, 10)],
)
def test_stacked_days_counts_the_last_events_back_to_a_reset(events: int, stacked: int) -> None:
    ledger = ItemLedger()
    for kind, days in [(DAYS, 100), (RESET, 0), (DAYS, 7), (FREE, 0), (DAYS, 3)]:
        ledger.record(kind, 0.0, days)
    assert ledger.stacked_days(events) == stacked


def test_with_one_event_only_the_code_asked_for_counts() -> None:
    ledger = ItemLedger()
    ledger.record(DAYS, 0.0, 60)
    one = Limits(code_interval=0, credit_days=60, credit_events=1)
    assert check_code_request(DAYS, ledger, one, 1e10, 60) == 0.0
    with pytest.raises(CodeLimitError):
        check_code_request(DAYS, ledger, one, 1e10, 61)


def test_a_request_without_days_adds_none_to_the_stack() -> None:
    ledger = ItemLedger()
    ledger.record(DAYS, 0.0, 60)
    assert check_code_request(DAYS, ledger, CREDIT, 1e10) == 0.0
    with pytest.raises(CodeLimitError):
        check_code_request(DAYS, ledger, CREDIT, 1e10, 1)


def test_the_credit_limit_message_is_exact() -> None:
    ledger = ItemLedger()
    ledger.record(DAYS, 0.0, 55)
    with pytest.raises(CodeLimitError) as info:
        check_code_request(DAYS, ledger, CREDIT, 1e10, 6)
    assert info.value.limit == CODE_CREDIT_LIMIT
    assert info.value.message == (
        "this item already has 55 days of credit stacked; 6 more would pass its fleet's "
        "limit of 60 days; nothing was issued"
    )


# -- two levels: the distributor's settings under the fleet's ----------------------------


@dataclass
class SettingFields:
    """The DistributorLimits fields, all unset unless given."""

    code_gen_interval: int | None = None
    day_code_count_limit: int | None = None
    total_code_count_limit: int | None = None
    free_code_count: int | None = None
    reset_code_count: int | None = None
    max_credit_stack_days: int | None = None
    max_credit_stack_code_events: int | None = None


DISTRIBUTOR = SettingFields(
    code_gen_interval=30_000,
    day_code_count_limit=4,
    total_code_count_limit=500,
    free_code_count=2,
    reset_code_count=3,
    max_credit_stack_days=90,
    max_credit_stack_code_events=4,
)


def test_the_distributors_settings_fill_what_the_fleet_leaves() -> None:
    limits = limits_from_levels(DISTRIBUTOR, FleetFields(day_code_count_limit=7), Limits())
    # The distributor's interval paces; it is not evidence for a resend.
    assert (limits.code_interval, limits.server_interval) == (30.0, None)
    own = limits_from_levels(DISTRIBUTOR, FleetFields(code_gen_interval=45_000), Limits())
    assert (own.code_interval, own.server_interval) == (45.0, 45.0)
    assert limits.daily_limit == 7  # the fleet's, over the distributor's 4
    assert (limits.total_limit, limits.free_limit, limits.reset_limit) == (500, 2, 3)
    assert (limits.credit_days, limits.credit_events) == (90, 4)
    assert limit_sources(DISTRIBUTOR, FleetFields(day_code_count_limit=7)) == {
        "interval": "distributor",
        "daily": "fleet",
        "total": "distributor",
        "free": "distributor",
        "reset": "distributor",
        "credit": "distributor",
    }


def test_a_fleets_switch_turns_off_what_the_distributor_sets() -> None:
    fleet = FleetFields(
        disable_code_gen_interval=True,
        disable_day_code_count_limit=True,
        disable_free_code=True,
        disable_max_credit_stack_days=True,
    )
    limits = limits_from_levels(DISTRIBUTOR, fleet, Limits())
    assert (limits.code_interval, limits.server_interval) == (0.0, None)
    assert limits.daily_limit == limits.free_limit == UNLIMITED
    assert limits.credit_days is None
    assert limits.total_limit == 500 and limits.reset_limit == 3  # not switched off
    sources = limit_sources(DISTRIBUTOR, fleet)
    assert [sources[k] for k in ("interval", "daily", "free", "credit")] == ["off"] * 4
    assert sources["total"] == sources["reset"] == "distributor"


def test_without_either_level_the_configured_limits_apply() -> None:
    configured = Limits(daily_limit=3, credit_days=None)
    assert limits_from_levels(None, None, configured) == configured
    assert limit_sources(None, None) == dict.fromkeys([*ALL_FIVE, "credit"], "configured")
    # An unset or negative distributor value is no value.
    partial = SettingFields(day_code_count_limit=-1, max_credit_stack_days=60)
    limits = limits_from_levels(partial, None, configured)
    assert limits == configured  # the credit pair needs both values
    assert limit_sources(partial, None)["daily"] == "configured"


def test_the_settings_whose_rules_are_not_public_are_shown_not_enforced() -> None:
    fleet = FleetFields(
        days_to_check_duration=30,
        minimum_day_codes_generated=2,
        disable_minimum_day_codes_generated=True,
    )
    assert not_enforced(fleet) == {"daysToCheckDuration": 30, "minimumDayCodesGenerated": None}
    assert not_enforced(None) == {"daysToCheckDuration": None, "minimumDayCodesGenerated": None}
    # Enforcing nothing: the limits are those of a fleet without them.
    assert limits_from_levels(None, fleet, Limits()) == limits_from_levels(
        None, FleetFields(), Limits()
    )


def test_a_history_out_of_order_keeps_each_kind_with_its_time() -> None:
    t = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]
    # Newest first, as a server may list them: a reset between two days codes.
    ledger = ItemLedger.from_history([(DAYS, t[2], 30), (RESET, t[1], 0), (DAYS, t[0], 50)])
    assert ledger.times == sorted(ledger.times)
    assert ledger.kinds == [(DAYS, 50), (RESET, 0), (DAYS, 30)]
    # Only the days since the latest reset stack.
    assert ledger.stacked_days(5) == 30


def test_a_fleets_zero_is_a_value_and_its_credit_pair_is_the_fleets() -> None:
    # 0 free codes, 0 days of credit: values the fleet gives, not the absence of one.
    fleet = FleetFields(free_code_count=0, max_credit_stack_days=0, max_credit_stack_code_events=3)
    limits = limits_from_levels(DISTRIBUTOR, fleet, Limits())
    assert (limits.free_limit, limits.credit_days, limits.credit_events) == (0, 0, 3)
    assert limit_sources(DISTRIBUTOR, fleet) == {
        "interval": "distributor",
        "daily": "distributor",
        "total": "distributor",
        "free": "fleet",
        "reset": "distributor",
        "credit": "fleet",
    }
    zero = FleetFields(max_credit_stack_days=0, max_credit_stack_code_events=2)
    assert limit_sources(None, zero)["credit"] == "fleet"
    assert limits_from_levels(None, zero, Limits()).credit_days == 0


def test_a_distributors_zeroes_and_smallest_values_are_values() -> None:
    zeroes = SettingFields(
        code_gen_interval=0,
        day_code_count_limit=0,
        free_code_count=0,
        max_credit_stack_days=10,
        max_credit_stack_code_events=1,
    )
    limits = limits_from_levels(zeroes, None, Limits(code_interval=6.0))
    assert (limits.code_interval, limits.daily_limit, limits.free_limit) == (0.0, 0, 0)
    assert (limits.credit_days, limits.credit_events) == (10, 1)
    assert limits.server_interval is None  # a distributor's interval only paces
    only_daily = limits_from_levels(SettingFields(day_code_count_limit=8), None, Limits())
    assert only_daily == replace(Limits(), daily_limit=8)


def test_a_fleets_interval_is_the_servers_and_a_known_one_stays_without_it() -> None:
    fleet = limits_from_fleet(FleetFields(code_gen_interval=500), Limits())
    assert (fleet.code_interval, fleet.server_interval) == (0.5, 0.5)
    known = Limits(server_interval=60.0)
    assert limits_from_fleet(FleetFields(day_code_count_limit=5), known).server_interval == 60.0

"""Per-item limits learned from the server, at its two levels, turned into ``Limits``.

The real API keeps code-generation limits at two levels: the distributor's defaults
(``DistributorSetting``, read once per client with ``getSpecificDistributorSetting``;
the access token's payload names the distributor) and the item's fleet (``ItemFleet``),
whose values are over them. The fields: ``codeGenInterval`` in milliseconds,
``dayCodeCountLimit``, ``totalCodeCountLimit``, ``freeCodeCount``, ``resetCodeCount``
and the credit-stacking pair. A fleet has a ``disable…`` flag per rule; the printed
schema gives the distributor's settings none.

``limits_from_levels`` is pure. For each rule: a fleet whose flag is true turns it off
(the flags are read as the sandbox reads them, see ``omnivoltaic_erm.sandbox.fleets``);
else the fleet's value where it gives one; else the distributor's; else the configured
``Limits`` value. It also records ``server_interval``: the interval the server is known to
enforce, which only a fleet with the rule on and a value gives (the distributor's interval
paces the client but is not evidence for a resend: no public source shows the server
enforcing it where the fleet sets none).

Two more fleet settings, ``daysToCheckDuration`` and ``minimumDayCodesGenerated``, are
read and shown (``LimitReport.not_enforced``) but not enforced: what the server does with
them is not public.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from .config import Limits
from .kinds import allowances

# What a disabled count limit becomes: a number no item reaches.
UNLIMITED = sys.maxsize


class FleetLimitFields(Protocol):
    """The fields of the ``FleetLimits`` fragment that the client reads by name; each code
    kind's allowance fields (``kinds.Allowance``) are read by the names in its row."""

    @property
    def code_gen_interval(self) -> int | None: ...
    @property
    def disable_code_gen_interval(self) -> bool | None: ...
    @property
    def day_code_count_limit(self) -> int | None: ...
    @property
    def disable_day_code_count_limit(self) -> bool | None: ...
    @property
    def total_code_count_limit(self) -> int | None: ...
    @property
    def disable_total_code_count_limit(self) -> bool | None: ...
    @property
    def max_credit_stack_days(self) -> int | None: ...
    @property
    def disable_max_credit_stack_days(self) -> bool | None: ...
    @property
    def max_credit_stack_code_events(self) -> int | None: ...
    @property
    def disable_max_credit_stack_code_events(self) -> bool | None: ...


class DistributorLimitFields(Protocol):
    """The fields of the ``DistributorLimits`` fragment that the client reads by name (and
    each code kind's allowance count, by the name in its row)."""

    @property
    def code_gen_interval(self) -> int | None: ...
    @property
    def day_code_count_limit(self) -> int | None: ...
    @property
    def total_code_count_limit(self) -> int | None: ...
    @property
    def max_credit_stack_days(self) -> int | None: ...
    @property
    def max_credit_stack_code_events(self) -> int | None: ...


def _given(value: int | None) -> bool:
    return value is not None and value >= 0


def limits_from_distributor(settings: DistributorLimitFields | None, base: Limits) -> Limits:
    """``base`` with every limit the distributor's settings give replaced by theirs."""
    if settings is None:
        return base
    # Pacing only: the distributor's interval never becomes ``server_interval``, the
    # evidence on which a code request whose outcome is unknown may be sent again. That
    # the server enforces a distributor's default where the fleet sets nothing is not
    # shown by any public source, and a wrong resend gives a code away.
    interval = base.code_interval
    if settings.code_gen_interval is not None and settings.code_gen_interval >= 0:
        interval = settings.code_gen_interval / 1000.0
    credit_days, credit_events = base.credit_days, base.credit_events
    if _given(settings.max_credit_stack_days) and settings.max_credit_stack_code_events:
        credit_days = settings.max_credit_stack_days
        credit_events = max(1, settings.max_credit_stack_code_events)

    def count(value: int | None, fallback: int) -> int:
        return value if value is not None and value >= 0 else fallback

    return replace(
        base,
        code_interval=interval,
        daily_limit=count(settings.day_code_count_limit, base.daily_limit),
        total_limit=count(settings.total_code_count_limit, base.total_limit),
        credit_days=credit_days,
        credit_events=credit_events,
        **{
            a.limit: count(getattr(settings, a.count_field), getattr(base, a.limit))
            for _, a in allowances()
        },
    )


def limits_from_levels(
    settings: DistributorLimitFields | None, fleet: FleetLimitFields | None, base: Limits
) -> Limits:
    """The limits of an item: the configured ``base``, the distributor's settings over
    it, the item's fleet over both (pure)."""
    return limits_from_fleet(fleet, limits_from_distributor(settings, base))


def _count(value: int | None, disabled: bool | None, fallback: int) -> int:
    if disabled:
        return UNLIMITED
    return value if value is not None and value >= 0 else fallback


def limits_from_fleet(fleet: FleetLimitFields | None, base: Limits) -> Limits:
    """``base`` with every limit the fleet gives replaced by the fleet's value."""
    if fleet is None:
        return base
    interval = base.code_interval
    server_interval = base.server_interval
    if fleet.disable_code_gen_interval:
        interval = 0.0
        server_interval = None
    elif fleet.code_gen_interval is not None and fleet.code_gen_interval >= 0:
        interval = fleet.code_gen_interval / 1000.0
        server_interval = interval if interval > 0 else None
    credit_days = base.credit_days
    credit_events = base.credit_events
    if fleet.disable_max_credit_stack_days or fleet.disable_max_credit_stack_code_events:
        credit_days = None
    elif fleet.max_credit_stack_days is not None and fleet.max_credit_stack_code_events:
        credit_days = fleet.max_credit_stack_days
        credit_events = max(1, fleet.max_credit_stack_code_events)
    return replace(
        base,
        code_interval=interval,
        daily_limit=_count(
            fleet.day_code_count_limit, fleet.disable_day_code_count_limit, base.daily_limit
        ),
        total_limit=_count(
            fleet.total_code_count_limit, fleet.disable_total_code_count_limit, base.total_limit
        ),
        credit_days=credit_days,
        credit_events=credit_events,
        server_interval=server_interval,
        **{
            a.limit: _count(
                getattr(fleet, a.count_field),
                getattr(fleet, a.switch_field),
                getattr(base, a.limit),
            )
            for _, a in allowances()
        },
    )


_RULES = (
    ("interval", "code_gen_interval", "disable_code_gen_interval"),
    ("daily", "day_code_count_limit", "disable_day_code_count_limit"),
    ("total", "total_code_count_limit", "disable_total_code_count_limit"),
)


def _named() -> list[tuple[str, str, str]]:
    """Each rule with one value and one switch: (name, value field, switch field)."""
    return [*_RULES, *((k.word, a.count_field, a.switch_field) for k, a in allowances())]


# The credit-stacking pair: one rule, two values, either flag turning it off.
_CREDIT = (
    ("max_credit_stack_days", "disable_max_credit_stack_days"),
    ("max_credit_stack_code_events", "disable_max_credit_stack_code_events"),
)
# Fleet settings read and shown but not enforced: their rules are not public.
NOT_ENFORCED = (
    ("daysToCheckDuration", "days_to_check_duration", "disable_days_to_check_duration"),
    (
        "minimumDayCodesGenerated",
        "minimum_day_codes_generated",
        "disable_minimum_day_codes_generated",
    ),
)
CONFIGURED = "configured"
DISTRIBUTOR = "distributor"
FLEET = "fleet"
OFF = "off"


@dataclass(frozen=True)
class LimitReport:
    """What the client applies to one item, and where each rule comes from.

    ``sources`` maps each rule (``interval``, ``daily``, ``total``, ``free``, ``reset``,
    ``credit``) to ``"fleet"``, ``"distributor"``, ``"configured"`` or ``"off"`` (a
    fleet's ``disable…`` flag). ``not_enforced`` holds the fleet's settings whose rules
    are not public (``daysToCheckDuration``, ``minimumDayCodesGenerated``): their values,
    None where unset or disabled; the client shows them and enforces nothing from them.
    """

    item_id: str
    limits: Limits
    sources: Mapping[str, str]
    fleet_name: str | None = None
    not_enforced: Mapping[str, int | None] = field(default_factory=dict)


def _distributor_value(settings: DistributorLimitFields | None, attr: str) -> bool:
    return settings is not None and _given(getattr(settings, attr))


def limit_sources(
    settings: DistributorLimitFields | None, fleet: FleetLimitFields | None
) -> dict[str, str]:
    """Where each rule's value comes from under ``limits_from_levels`` (pure)."""
    sources: dict[str, str] = {}
    for name, value, flag in _named():
        if fleet is not None and getattr(fleet, flag):
            sources[name] = OFF
        elif fleet is not None and _given(getattr(fleet, value)):
            sources[name] = FLEET
        elif _distributor_value(settings, value):
            sources[name] = DISTRIBUTOR
        else:
            sources[name] = CONFIGURED
    days, events = (pair[0] for pair in _CREDIT)
    if fleet is not None and any(getattr(fleet, flag) for _, flag in _CREDIT):
        sources["credit"] = OFF
    elif (
        fleet is not None
        and _given(fleet.max_credit_stack_days)
        and (fleet.max_credit_stack_code_events)
    ):
        sources["credit"] = FLEET
    elif _distributor_value(settings, days) and getattr(settings, events):
        sources["credit"] = DISTRIBUTOR
    else:
        sources["credit"] = CONFIGURED
    return sources


def not_enforced(fleet: object | None) -> dict[str, int | None]:
    """The fleet's settings whose rules are not public, by their schema names (pure)."""
    shown: dict[str, int | None] = {}
    for name, value, flag in NOT_ENFORCED:
        if fleet is None:
            shown[name] = None
            continue
        raw, disabled = getattr(fleet, value), getattr(fleet, flag)
        shown[name] = raw if isinstance(raw, int) and not disabled else None
    return shown


def missing_limits(fleet: FleetLimitFields | None) -> list[str]:
    """The limits a fleet leaves to the configured ones (no value, and not disabled)."""
    if fleet is None:
        return ["all"]
    return [
        name
        for name, value, flag in _named()
        if getattr(fleet, value) is None and not getattr(fleet, flag)
    ]

"""Per-item limits learned from the server: an item's fleet, turned into ``Limits``.

The real API keeps code-generation limits per fleet (``ItemFleet``): ``codeGenInterval``
in milliseconds, ``dayCodeCountLimit``, ``totalCodeCountLimit``, ``freeCodeCount``,
``resetCodeCount`` and the credit-stacking pair, each with a ``disable…`` flag. Before an
item's first code the client reads its fleet and applies these limits to that item.

``limits_from_fleet`` is pure. A limit the server does not give (no fleet, a null value)
keeps the configured ``Limits`` value; a limit whose ``disable…`` flag is true is not
enforced by the client either. The flags are read as the sandbox reads them (see
``omnivoltaic_erm.sandbox.fleets``): a true flag turns its limit off. It also records
``server_interval``: the interval the server is known to enforce, which only a fleet
with the rule on and a value gives.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Protocol

from .config import Limits

# What a disabled count limit becomes: a number no item reaches.
UNLIMITED = sys.maxsize


class FleetLimitFields(Protocol):
    """The fields of the ``FleetLimits`` fragment that the client reads."""

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
    def free_code_count(self) -> int | None: ...
    @property
    def disable_free_code(self) -> bool | None: ...
    @property
    def reset_code_count(self) -> int | None: ...
    @property
    def disable_reset_code_count(self) -> bool | None: ...
    @property
    def max_credit_stack_days(self) -> int | None: ...
    @property
    def disable_max_credit_stack_days(self) -> bool | None: ...
    @property
    def max_credit_stack_code_events(self) -> int | None: ...
    @property
    def disable_max_credit_stack_code_events(self) -> bool | None: ...


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
        free_limit=_count(fleet.free_code_count, fleet.disable_free_code, base.free_limit),
        reset_limit=_count(
            fleet.reset_code_count, fleet.disable_reset_code_count, base.reset_limit
        ),
        credit_days=credit_days,
        credit_events=credit_events,
        server_interval=server_interval,
    )


_NAMED = (
    ("interval", "code_gen_interval", "disable_code_gen_interval"),
    ("daily", "day_code_count_limit", "disable_day_code_count_limit"),
    ("total", "total_code_count_limit", "disable_total_code_count_limit"),
    ("free", "free_code_count", "disable_free_code"),
    ("reset", "reset_code_count", "disable_reset_code_count"),
)


def missing_limits(fleet: FleetLimitFields | None) -> list[str]:
    """The limits a fleet leaves to the configured ones (no value, and not disabled)."""
    if fleet is None:
        return ["all"]
    return [
        name
        for name, value, flag in _NAMED
        if getattr(fleet, value) is None and not getattr(fleet, flag)
    ]

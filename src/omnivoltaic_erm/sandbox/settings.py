"""Distributor settings and an item's effective limits: the two levels of the real API.

The real server keeps a ``DistributorSetting`` per distributor (read with
``getSpecificDistributorSetting(distributorId:)``) and the item's fleet (``ItemFleet``)
over it. The sandbox resolves each limit of an item so, in this order:

1. the fleet's value, when the fleet sets one (not null);
2. else the distributor's setting, when it sets one;
3. else the printed schema's documented default (``printed_setting()``, read from the
   ``DistributorSetting`` field descriptions of the served schema by ``sandbox.defaults``).

A fleet's ``disable…`` flag that is true turns its rule off, whatever the value. The
printed ``DistributorSetting`` has no ``disable…`` fields, so a distributor setting
cannot turn a rule off; and it has no ``daysToCheckDuration`` /
``minimumDayCodesGenerated``, which exist only on the fleet (served, not enforced).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .defaults import DAILY_CODE_LIMIT, distributor_defaults
from .fleets import Fleet, check_limit_values, to_milliseconds


@dataclass(frozen=True, slots=True)
class DistributorSetting:
    """A distributor's default limits (``code_interval`` in seconds; None: not set).

    Each default is read from the printed ``DistributorSetting`` field's description in
    the served schema (``sandbox.defaults``): a code interval of 1 minute, 1096 code
    events in all, 5 free and 5 reset codes, credit stacking of 60 days over 5 code
    events. ``dayCodeCountLimit`` has no printed default; the handbook's 10 a day stands
    in.
    """

    code_interval: float | None = field(
        default_factory=lambda: distributor_defaults().code_interval
    )
    daily_limit: int | None = DAILY_CODE_LIMIT
    total_limit: int | None = field(default_factory=lambda: distributor_defaults().total_limit)
    free_limit: int | None = field(default_factory=lambda: distributor_defaults().free_limit)
    reset_limit: int | None = field(default_factory=lambda: distributor_defaults().reset_limit)
    credit_days: int | None = field(default_factory=lambda: distributor_defaults().credit_days)
    credit_events: int | None = field(default_factory=lambda: distributor_defaults().credit_events)

    def __post_init__(self) -> None:
        check_limit_values(self, "a distributor setting's")


def printed_setting() -> DistributorSetting:
    """The last level: what applies when neither the fleet nor the distributor sets a
    value (every field the printed default; ``sandbox.defaults`` reads them once)."""
    return DistributorSetting()


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """An item's limits after both levels are resolved; ``disabled`` rules are off."""

    code_interval: float
    daily_limit: int
    total_limit: int
    free_limit: int
    reset_limit: int
    credit_days: int
    credit_events: int
    disabled: frozenset[str] = field(default_factory=frozenset)

    def enforces(self, rule: str) -> bool:
        """Whether ``rule`` is enforced for the item."""
        return rule not in self.disabled


def _first_set(*values: Any) -> Any:
    return next(value for value in values if value is not None)


# The limits both levels may set, by their names on ``Fleet`` and ``DistributorSetting``.
LIMIT_FIELDS = (
    "code_interval",
    "daily_limit",
    "total_limit",
    "free_limit",
    "reset_limit",
    "credit_days",
    "credit_events",
)


def effective_limits(fleet: Fleet, setting: DistributorSetting) -> EffectiveLimits:
    """An item's limits: the fleet's value, else the distributor's, else the printed
    default; the fleet's ``disable…`` flags turn rules off."""
    printed = printed_setting()
    values = {
        name: _first_set(getattr(fleet, name), getattr(setting, name), getattr(printed, name))
        for name in LIMIT_FIELDS
    }
    return EffectiveLimits(**values, disabled=fleet.disabled)


def setting_object(setting: DistributorSetting, setting_id: str, created: str) -> dict[str, Any]:
    """A setting as the printed ``DistributorSetting`` type shapes it.

    ``maxCreditStackDays`` and ``maxCreditStackCodeEvents`` are non-null there: an unset
    one is served as the printed default, which is also what applies.
    """
    return {
        "_id": setting_id,
        "createdAt": created,
        "updatedAt": created,
        "deleteStatus": False,
        "deleteAt": None,
        "codeGenInterval": to_milliseconds(setting.code_interval),
        "dayCodeCountLimit": setting.daily_limit,
        "totalCodeCountLimit": setting.total_limit,
        "freeCodeCount": setting.free_limit,
        "resetCodeCount": setting.reset_limit,
        "maxCreditStackDays": _first_set(setting.credit_days, printed_setting().credit_days),
        "maxCreditStackCodeEvents": _first_set(
            setting.credit_events, printed_setting().credit_events
        ),
    }

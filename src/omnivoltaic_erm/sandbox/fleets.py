"""Fleets: groups of items that share code-generation limits, as the real ``ItemFleet``.

The printed schema gives each fleet its limits, each with a ``disable…`` flag:
``codeGenInterval`` (milliseconds), ``dayCodeCountLimit``, ``totalCodeCountLimit``,
``freeCodeCount``, ``resetCodeCount``, and the credit-stacking pair
``maxCreditStackDays`` / ``maxCreditStackCodeEvents``. Every value may be left unset
(None, served as null): the item then takes the distributor's setting, or the printed
default (``omnivoltaic_erm.sandbox.settings``). The sandbox refuses a code request that
breaks a rule of the item's effective limits.

Readings that the public evidence does not settle, and that the sandbox (and the client)
therefore assume:

- A ``disable…`` flag that is true turns its limit off. ``disableFreeCode`` is read like
  the others: the free-code count is not limited (not: free codes are forbidden).
- Credit stacking: a days code is refused when its days, plus the days of every days
  code among the item's last ``maxCreditStackCodeEvents - 1`` code events, exceed
  ``maxCreditStackDays``. A reset code sets the device's days to zero, so events before the
  item's latest reset code do not count. The default fleet leaves the rule disabled.
- ``daysToCheckDuration`` / ``minimumDayCodesGenerated`` (and their flags) are stored and
  served, but their rules are not public, so they are not enforced.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .defaults import fleet_defaults

# Rule names, for ``Fleet.disabled``.
INTERVAL = "interval"
DAILY = "daily"
TOTAL = "total"
FREE = "free"
RESET = "reset"
CREDIT = "credit"
# Served with their flags, never enforced: what the server does with them is not public.
DURATION = "duration"
MINIMUM = "minimum"
ENFORCED_RULES = frozenset({INTERVAL, DAILY, TOTAL, FREE, RESET, CREDIT})
RULES = ENFORCED_RULES | {DURATION, MINIMUM}

# The printed field and flag of each rule's value(s).
_PRINTED: dict[str, tuple[tuple[str, str], ...]] = {
    INTERVAL: (("codeGenInterval", "disableCodeGenInterval"),),
    DAILY: (("dayCodeCountLimit", "disableDayCodeCountLimit"),),
    TOTAL: (("totalCodeCountLimit", "disableTotalCodeCountLimit"),),
    FREE: (("freeCodeCount", "disableFreeCode"),),
    RESET: (("resetCodeCount", "disableResetCodeCount"),),
    CREDIT: (
        ("maxCreditStackDays", "disableMaxCreditStackDays"),
        ("maxCreditStackCodeEvents", "disableMaxCreditStackCodeEvents"),
    ),
    DURATION: (("daysToCheckDuration", "disableDaysToCheckDuration"),),
    MINIMUM: (("minimumDayCodesGenerated", "disableMinimumDayCodesGenerated"),),
}

# The keys of a ``NAME:key=value,...`` spec: (attribute, type); ``none`` leaves it unset.
LIMIT_KEYS: dict[str, tuple[str, type]] = {
    "interval": ("code_interval", float),
    "daily": ("daily_limit", int),
    "total": ("total_limit", int),
    "free": ("free_limit", int),
    "reset": ("reset_limit", int),
    "credit_days": ("credit_days", int),
    "credit_events": ("credit_events", int),
}
_FLEET_ONLY_KEYS: dict[str, tuple[str, type]] = {
    "duration": ("days_to_check_duration", int),
    "minimum": ("minimum_day_codes", int),
}
_COUNTS = ("daily_limit", "total_limit", "free_limit", "reset_limit", "credit_days")


@dataclass(frozen=True)
class Fleet:
    """One fleet's limits. ``code_interval`` is in seconds (the API serves milliseconds);
    a value of None is not set by the fleet; a rule named in ``disabled`` is not enforced
    (its value is still served)."""

    name: str
    code_interval: float | None
    daily_limit: int | None
    total_limit: int | None
    free_limit: int | None
    reset_limit: int | None
    # The printed ``ItemFleet`` defaults (60 days over 5 code events), served; the rule is
    # off unless the fleet turns it on.
    credit_days: int | None = field(default_factory=lambda: fleet_defaults().credit_days)
    credit_events: int | None = field(default_factory=lambda: fleet_defaults().credit_events)
    disabled: frozenset[str] = field(default_factory=lambda: frozenset({CREDIT}))
    days_to_check_duration: int | None = None
    minimum_day_codes: int | None = None

    def __post_init__(self) -> None:
        unknown = set(self.disabled) - RULES
        if unknown:
            raise ValueError(f"unknown fleet rule(s): {', '.join(sorted(unknown))}")
        if not isinstance(self.disabled, frozenset):
            object.__setattr__(self, "disabled", frozenset(self.disabled))
        check_limit_values(self, "a fleet's")
        for name in ("days_to_check_duration", "minimum_day_codes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"a fleet's {name} must not be negative")

    def enforces(self, rule: str) -> bool:
        """Whether this fleet leaves ``rule`` on (its ``disable…`` flag is not set)."""
        return rule not in self.disabled

    def printed_limits(self) -> dict[str, Any]:
        """The limit fields as the printed ``ItemFleet`` type names them (null: unset)."""
        values: dict[str, Any] = {
            "codeGenInterval": to_milliseconds(self.code_interval),
            "dayCodeCountLimit": self.daily_limit,
            "totalCodeCountLimit": self.total_limit,
            "freeCodeCount": self.free_limit,
            "resetCodeCount": self.reset_limit,
            "maxCreditStackDays": self.credit_days,
            "maxCreditStackCodeEvents": self.credit_events,
            "daysToCheckDuration": self.days_to_check_duration,
            "minimumDayCodesGenerated": self.minimum_day_codes,
        }
        for rule, pairs in _PRINTED.items():
            for _, flag in pairs:
                values[flag] = rule in self.disabled
        return values


def to_milliseconds(seconds: float | None) -> int | None:
    """Seconds as the API's whole milliseconds (None stays None)."""
    return None if seconds is None else round(seconds * 1000)


def check_limit_values(limits: Any, owner: str) -> None:
    """Raise ``ValueError`` for a negative limit or a ``credit_events`` below 1 on a
    fleet or a distributor setting (None, not set, passes)."""
    interval = limits.code_interval
    if interval is not None and not (math.isfinite(interval) and interval >= 0):
        raise ValueError(f"{owner} code_interval must not be negative")
    for name in _COUNTS:
        value = getattr(limits, name)
        if value is not None and value < 0:
            raise ValueError(f"{owner} {name} must not be negative")
    if limits.credit_events is not None and limits.credit_events < 1:
        raise ValueError(f"{owner} credit_events must be at least 1")


def standard_fleet(
    *,
    code_interval: float,
    daily_limit: int,
    total_limit: int,
    free_limit: int,
    reset_limit: int,
) -> Fleet:
    """The default fleet: the handbook's rules (or the sandbox's flags), no credit rule."""
    return Fleet(
        "Standard",
        code_interval=code_interval,
        daily_limit=daily_limit,
        total_limit=total_limit,
        free_limit=free_limit,
        reset_limit=reset_limit,
    )


def demo_fleets(standard: Fleet) -> tuple[Fleet, ...]:
    """The demo fleets: the standard one, and a pilot fleet allowed twice as many codes a
    day. The pilot fleet never refuses what the standard one allows, so a client that
    applies the standard limits everywhere is never refused."""
    return (standard, replace(standard, name="Pilot", daily_limit=_twice(standard.daily_limit)))


def _twice(value: int | None) -> int | None:
    return None if value is None else value * 2


def demo_fleet_index(item_index: int, fleet_count: int, explicit: bool) -> int:
    """Which fleet holds the ``item_index``-th demo item (from 0).

    Explicitly configured fleets take the items in turn; of the demo fleets, every fifth
    item is in the pilot fleet.
    """
    if explicit:
        return item_index % fleet_count
    return 1 if fleet_count > 1 and item_index % 5 == 4 else 0


class CreditRule(Protocol):
    """What the credit-stacking rule reads: an item's effective limits."""

    @property
    def credit_days(self) -> int: ...
    @property
    def credit_events(self) -> int: ...
    def enforces(self, rule: str) -> bool: ...


def credit_exceeded(rule: CreditRule, days: int, recent: Iterable[tuple[str, int]]) -> int | None:
    """The days already stacked when a ``days`` code would break the credit rule, else None.

    ``recent`` is the item's code events, newest first, as ``(code_type, code_days)``.
    """
    if not rule.enforces(CREDIT):
        return None
    stacked = 0
    for index, (code_type, code_days) in enumerate(recent):
        if index >= rule.credit_events - 1 or code_type == "RESETCODE":
            break
        if code_type == "DAYSCODE":
            stacked += code_days
    return stacked if stacked + days > rule.credit_days else None


def parse_limit_values(
    text: str, keys: Mapping[str, tuple[str, type]] = LIMIT_KEYS, *, allow_off: bool = False
) -> dict[str, Any]:
    """``key=value,...`` as attribute values, for the command line: a number, or
    ``none`` to leave the value unset. Raises ``ValueError`` for an unknown key or a bad
    number. With ``allow_off`` (a fleet's), ``off=rule+rule`` gives ``disabled``."""
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if key == "off" and sep and allow_off:
            values["disabled"] = frozenset(r.strip() for r in raw.split("+") if r.strip())
            continue
        if not sep or key not in keys:
            raise ValueError(f"bad setting {part[:40]!r}")
        attr, kind = keys[key]
        if raw.strip().lower() == "none":
            values[attr] = None
            continue
        try:
            values[attr] = kind(raw)
        except ValueError:
            raise ValueError(f"bad number in setting {part[:40]!r}") from None
    return values


def parse_fleet(spec: str, base: Fleet) -> Fleet:
    """A fleet from ``NAME:key=value,...`` on top of ``base``, for the command line.

    Keys: ``interval`` (seconds), ``daily``, ``total``, ``free``, ``reset``,
    ``credit_days``, ``credit_events``, ``duration`` (``daysToCheckDuration``),
    ``minimum`` (``minimumDayCodesGenerated``), each a number or ``none`` (unset: the
    distributor's setting applies), and ``off=rule+rule`` (rules to disable).
    """
    name, _, rest = spec.partition(":")
    if not name.strip():
        raise ValueError(f"bad fleet {spec[:40]!r}: expected NAME:key=value,...")
    try:
        values = parse_limit_values(rest, {**LIMIT_KEYS, **_FLEET_ONLY_KEYS}, allow_off=True)
    except ValueError as exc:
        raise ValueError(str(exc).replace("setting", "fleet setting", 1)) from None
    values["name"] = name.strip()
    if "disabled" not in values:
        values["disabled"] = base.disabled
    return replace(base, **values)

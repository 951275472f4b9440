"""Fleets: groups of items that share code-generation limits, as the real ``ItemFleet``.

The printed schema gives each fleet its limits, each with a ``disable…`` flag:
``codeGenInterval`` (milliseconds), ``dayCodeCountLimit``, ``totalCodeCountLimit``,
``freeCodeCount``, ``resetCodeCount``, and the credit-stacking pair
``maxCreditStackDays`` / ``maxCreditStackCodeEvents``. The sandbox refuses a code request
that breaks a rule of the item's fleet.

Readings that the public evidence does not settle, and that the sandbox (and the client)
therefore assume:

- A ``disable…`` flag that is true turns its limit off. ``disableFreeCode`` is read like
  the others: the free-code count is not limited (not: free codes are forbidden).
- Credit stacking: a days code is refused when its days, plus the days of every days code
  among the item's last ``maxCreditStackCodeEvents - 1`` code events, exceed
  ``maxCreditStackDays``. A reset code sets the device's days to zero, so events before the
  item's latest reset code do not count. The default fleet leaves the rule disabled.
- ``daysToCheckDuration`` / ``minimumDayCodesGenerated`` have no known meaning for issuing
  and are not modelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Rule names, for ``Fleet.disabled``.
INTERVAL = "interval"
DAILY = "daily"
TOTAL = "total"
FREE = "free"
RESET = "reset"
CREDIT = "credit"
RULES = frozenset({INTERVAL, DAILY, TOTAL, FREE, RESET, CREDIT})

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
}


@dataclass(frozen=True)
class Fleet:
    """One fleet's limits. ``code_interval`` is in seconds (the API serves milliseconds);
    a rule named in ``disabled`` is not enforced (its value is still served)."""

    name: str
    code_interval: float
    daily_limit: int
    total_limit: int
    free_limit: int
    reset_limit: int
    credit_days: int = 60
    credit_events: int = 5
    disabled: frozenset[str] = field(default_factory=lambda: frozenset({CREDIT}))

    def __post_init__(self) -> None:
        unknown = set(self.disabled) - RULES
        if unknown:
            raise ValueError(f"unknown fleet rule(s): {', '.join(sorted(unknown))}")
        if not isinstance(self.disabled, frozenset):
            object.__setattr__(self, "disabled", frozenset(self.disabled))
        if self.code_interval < 0:
            raise ValueError("a fleet's code_interval must not be negative")
        for name in ("daily_limit", "total_limit", "free_limit", "reset_limit", "credit_days"):
            if getattr(self, name) < 0:
                raise ValueError(f"a fleet's {name} must not be negative")
        if self.credit_events < 1:
            raise ValueError("a fleet's credit_events must be at least 1")

    def enforces(self, rule: str) -> bool:
        """Whether ``rule`` is enforced for this fleet's items."""
        return rule not in self.disabled

    def printed_limits(self) -> dict[str, Any]:
        """The limit fields as the printed ``ItemFleet`` type names them."""
        values: dict[str, Any] = {
            "codeGenInterval": round(self.code_interval * 1000),
            "dayCodeCountLimit": self.daily_limit,
            "totalCodeCountLimit": self.total_limit,
            "freeCodeCount": self.free_limit,
            "resetCodeCount": self.reset_limit,
            "maxCreditStackDays": self.credit_days,
            "maxCreditStackCodeEvents": self.credit_events,
        }
        for rule, pairs in _PRINTED.items():
            for _, flag in pairs:
                values[flag] = rule in self.disabled
        return values


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
    return (standard, replace(standard, name="Pilot", daily_limit=standard.daily_limit * 2))


def demo_fleet_index(item_index: int, fleet_count: int, explicit: bool) -> int:
    """Which fleet holds the ``item_index``-th demo item (from 0).

    Explicitly configured fleets take the items in turn; of the demo fleets, every fifth
    item is in the pilot fleet.
    """
    if explicit:
        return item_index % fleet_count
    return 1 if fleet_count > 1 and item_index % 5 == 4 else 0


def credit_exceeded(fleet: Fleet, days: int, recent: Iterable[tuple[str, int]]) -> int | None:
    """The days already stacked when a ``days`` code would break the credit rule, else None.

    ``recent`` is the item's code events, newest first, as ``(code_type, code_days)``.
    """
    if not fleet.enforces(CREDIT):
        return None
    stacked = 0
    for index, (code_type, code_days) in enumerate(recent):
        if index >= fleet.credit_events - 1 or code_type == "RESETCODE":
            break
        if code_type == "DAYSCODE":
            stacked += code_days
    return stacked if stacked + days > fleet.credit_days else None


def parse_fleet(spec: str, base: Fleet) -> Fleet:
    """A fleet from ``NAME:key=value,...`` on top of ``base``, for the command line.

    Keys: ``interval`` (seconds), ``daily``, ``total``, ``free``, ``reset``,
    ``credit_days``, ``credit_events``, and ``off=rule+rule`` (rules to disable).
    """
    name, _, rest = spec.partition(":")
    if not name.strip():
        raise ValueError(f"bad fleet {spec[:40]!r}: expected NAME:key=value,...")
    keys: Mapping[str, tuple[str, type]] = {
        "interval": ("code_interval", float),
        "daily": ("daily_limit", int),
        "total": ("total_limit", int),
        "free": ("free_limit", int),
        "reset": ("reset_limit", int),
        "credit_days": ("credit_days", int),
        "credit_events": ("credit_events", int),
    }
    values: dict[str, Any] = {"name": name.strip()}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if key == "off" and sep:
            values["disabled"] = frozenset(r.strip() for r in raw.split("+") if r.strip())
            continue
        if not sep or key not in keys:
            raise ValueError(f"bad fleet setting {part[:40]!r}")
        attr, kind = keys[key]
        try:
            values[attr] = kind(raw)
        except ValueError:
            raise ValueError(f"bad number in fleet setting {part[:40]!r}") from None
    if "disabled" not in values:
        values["disabled"] = base.disabled
    return replace(base, **values)

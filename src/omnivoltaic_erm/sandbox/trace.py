"""The decision trace of a code request: each rule the store checks, its values and
its verdict, in the order the store checks them (see ``Store.record_code``).

Pure functions over an item's effective limits and its usage; the request log attaches a
trace to a code request only while it records (see ``requestlog``), so the money path
pays nothing for it otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .fleets import CREDIT, DAILY, FREE, INTERVAL, RESET, TOTAL, Fleet, credit_exceeded
from .settings import DistributorSetting, EffectiveLimits

PASS, REFUSE, OFF, SKIP = "pass", "refuse", "off", "not checked"

# Set by the request log around a request it records: the store writes the decision
# trace (``trace``) and the stored event's id (``event_id``) into it, the fault injector
# the fault it fired (``fault``). None: nobody records.
TRACE_SINK: ContextVar[dict[str, Any] | None] = ContextVar("erm_sandbox_trace", default=None)

# Rule name -> the limit attribute that sets it.
_LIMIT_OF = {
    TOTAL: "total_limit",
    FREE: "free_limit",
    RESET: "reset_limit",
    CREDIT: "credit_days",
    DAILY: "daily_limit",
    INTERVAL: "code_interval",
}


@dataclass(frozen=True, slots=True)
class Usage:
    """An item's code events so far, as the rules count them."""

    total: int
    free: int
    reset: int
    in_window: int
    last_ts: float | None


def level_of(rule: str, fleet: Fleet, setting: DistributorSetting) -> str:
    """Where a rule's value comes from: ``fleet``, ``distributor`` or ``default``."""
    if rule in fleet.disabled:
        return "fleet"
    name = _LIMIT_OF[rule]
    if getattr(fleet, name) is not None:
        return "fleet"
    if getattr(setting, name) is not None:
        return "distributor"
    return "default"


def _step(rule: str, level: str, limit: Any, value: Any, verdict: str) -> dict[str, Any]:
    return {"rule": rule, "level": level, "limit": limit, "value": value, "verdict": verdict}


def decision_trace(
    limits: EffectiveLimits,
    levels: dict[str, str],
    usage: Usage,
    code_type: str,
    days: int,
    now: float,
    recent: Iterable[tuple[str, int]],
) -> list[dict[str, Any]]:
    """Each rule in the store's order with its limit, the item's value and the verdict.

    After the first refusal the remaining rules are ``not checked``, as in the store.
    """
    refused = False
    steps: list[dict[str, Any]] = []

    def add(rule: str, limit: Any, value: Any, applies: bool, fails: bool) -> None:
        nonlocal refused
        if not limits.enforces(rule):
            verdict = OFF
        elif refused or not applies:
            verdict = SKIP
        elif fails:
            verdict, refused = REFUSE, True
        else:
            verdict = PASS
        steps.append(_step(rule, levels.get(rule, "default"), limit, value, verdict))

    add(TOTAL, limits.total_limit, usage.total, True, usage.total >= limits.total_limit)
    add(FREE, limits.free_limit, usage.free, code_type == "FREECODE",
        usage.free >= limits.free_limit)  # fmt: skip
    add(RESET, limits.reset_limit, usage.reset, code_type == "RESETCODE",
        usage.reset >= limits.reset_limit)  # fmt: skip
    stacked = credit_exceeded(limits, days, recent) if code_type == "DAYSCODE" else None
    add(CREDIT, limits.credit_days, f"{days} more, over {limits.credit_events} events",
        code_type == "DAYSCODE", stacked is not None)  # fmt: skip
    add(DAILY, limits.daily_limit, usage.in_window, True, usage.in_window >= limits.daily_limit)
    since = None if usage.last_ts is None else round(now - usage.last_ts, 3)
    add(INTERVAL, limits.code_interval, since, usage.last_ts is not None,
        since is not None and since < limits.code_interval)  # fmt: skip
    return steps


def next_allowed_in(limits: EffectiveLimits, usage: Usage, now: float, daily_wait: float) -> float:
    """Seconds until the interval and daily rules allow the item's next code (0: now);
    ``daily_wait`` is when the daily window frees a slot (0 when it has one)."""
    wait = daily_wait if limits.enforces(DAILY) else 0.0
    if limits.enforces(INTERVAL) and usage.last_ts is not None:
        wait = max(wait, usage.last_ts + limits.code_interval - now)
    return round(max(wait, 0.0), 3)

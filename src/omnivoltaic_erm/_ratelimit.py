"""Client-side code-generation limits, so that the server never has to refuse.

``check_code_request`` is pure: given what is known of an item's code events (its
``ItemLedger``), the limits and the time, it raises for a request that must not be sent
and otherwise returns how long to wait for the item's minimum interval.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from .config import Limits
from .errors import (
    CODE_CREDIT_LIMIT,
    CODE_DAILY_LIMIT,
    CODE_TOTAL_LIMIT,
    CodeLimitError,
    InvalidInputError,
)
from .kinds import kind_of, type_value


@dataclass
class ItemLedger:
    """What this process knows of one item's code events (epoch seconds, oldest first)."""

    times: list[float] = field(default_factory=list)
    total: int = 0
    # Events per code type (``CodeTypes`` value), for the kinds with an allowance.
    counts: Counter[str] = field(default_factory=Counter)
    # (code type, days) of each event, oldest first, for the credit-stacking rule.
    kinds: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def from_history(
        cls, events: Iterable[tuple[str, datetime | None] | tuple[str, datetime | None, int]]
    ) -> ItemLedger:
        """Build from ``(code_type, created_at[, code_days])`` of the item's code history,
        in any order: the events are put in time order together, kinds and days with
        their times (the credit-stacking rule reads the latest ones). Events of one time
        keep their order; one without a time counts as the oldest."""
        rows = sorted(
            (
                (
                    created.timestamp() if created else 0.0,
                    type_value(event[0]),
                    event[2] if len(event) > 2 else 0,
                )
                for event in events
                for created in (event[1],)
            ),
            key=lambda row: row[0],
        )
        ledger = cls()
        for at, kind, days in rows:
            ledger.record(kind, at, days)
        return ledger

    def record(self, kind: str, at: float, days: int = 0) -> None:
        """Count one code event of ``kind`` (a ``CodeTypes`` value; adding ``days``) at
        ``at``."""
        kind = type_value(kind)
        self.times.append(at)
        self.kinds.append((kind, days))
        self.total += 1
        self.counts[kind] += 1

    def count(self, kind: object) -> int:
        """How many events of ``kind`` (a ``CodeTypes`` member or value) are known."""
        return self.counts[type_value(kind)]

    def stacked_days(self, events: int) -> int:
        """Days of the codes that take days among the last ``events`` code events,
        counted back to the latest code that clears credit (a reset code sets the
        device's days to zero)."""
        stacked = 0
        for kind, days in reversed(self.kinds[-events:] if events > 0 else []):
            row = kind_of(kind)
            if row is not None and row.clears_credit:
                break
            if row is not None and row.takes_days:
                stacked += days
        return stacked

    @property
    def last(self) -> float | None:
        """Time of the latest known event."""
        return self.times[-1] if self.times else None


def validate_days(days: object, limits: Limits) -> int:
    """``days`` as an int within the limits, or InvalidInputError."""
    if isinstance(days, bool) or not isinstance(days, int):
        raise InvalidInputError(
            f"days must be a whole number from {limits.min_days} to {limits.max_days}, "
            f"not {type(days).__name__} {days!r:.40}",
            field="days",
        )
    if not limits.min_days <= days <= limits.max_days:
        raise InvalidInputError(
            f"days must be from {limits.min_days} to {limits.max_days}; got {days}",
            field="days",
        )
    return days


def _all(limit: int, what: str) -> str:
    """``its 1 free code``, ``all 3 free codes``, ``all 0 free codes``."""
    return f"its {limit} {what}" if limit == 1 else f"all {limit} {what}s"


def _duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``24 h``: rounded up to the unit shown."""
    if seconds < 60:
        return f"{math.ceil(seconds)} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" if not minutes else f"{hours} h {minutes} min"


def check_code_request(
    kind: str, ledger: ItemLedger, limits: Limits, now: float, days: int = 0
) -> float:
    """Raise CodeLimitError if a ``kind`` code (of ``days`` days) must not be requested
    now; else the wait.

    The wait is the time left of the item's minimum interval since its last event.
    """
    if ledger.total >= limits.total_limit:
        raise CodeLimitError(
            f"this item has used {_all(limits.total_limit, 'code event')}; nothing was issued",
            limit=CODE_TOTAL_LIMIT,
        )
    row = kind_of(kind)
    if row is not None and row.allowance is not None:
        allowed: int = getattr(limits, row.allowance.limit)
        if ledger.count(row.member) >= allowed:
            raise CodeLimitError(
                f"this item has used {_all(allowed, row.label)}; nothing was issued",
                limit=row.allowance.error_code,
            )
    if row is not None and row.takes_days and limits.credit_days is not None:
        stacked = ledger.stacked_days(limits.credit_events - 1)
        if stacked + days > limits.credit_days:
            raise CodeLimitError(
                f"this item already has {stacked} days of credit stacked; {days} more would "
                f"pass its fleet's limit of {limits.credit_days} days; nothing was issued",
                limit=CODE_CREDIT_LIMIT,
            )
    window_start = now - limits.daily_window
    recent = [t for t in ledger.times if t > window_start]
    if len(recent) >= limits.daily_limit:
        free_at = recent[-limits.daily_limit] + limits.daily_window
        raise CodeLimitError(
            f"this item had {len(recent)} code events in the last "
            f"{limits.daily_window / 3600:g} h (limit {limits.daily_limit}); "
            f"try again in {_duration(free_at - now)}",  # > 0: the oldest is in the window
            limit=CODE_DAILY_LIMIT,
        )
    if ledger.last is None:
        return 0.0
    return max(0.0, ledger.last + limits.code_interval + limits.interval_margin - now)

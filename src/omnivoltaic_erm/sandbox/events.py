"""Which code events a read selects: the filter the event listings share, and the date
range of ``getAllCodeEventsBetweenDates``.

Every filter names the signed-in distributor: a listing never reaches another
distributor's events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The code events of ``distributor_id``'s items, narrowed by the other fields.

    ``item_id`` is an item's ``_id``; ``search`` a case-insensitive substring of the
    item's three ids, the event's ``_id``, its ``codeType`` or its description;
    ``since`` <= the event's time < ``before`` (epoch seconds).
    """

    distributor_id: str
    item_id: str | None = None
    search: str | None = None
    since: float | None = None
    before: float | None = None
    code_type: str | None = None


def date_range(start: str, end: str) -> tuple[float, float]:
    """``startDate``/``endDate`` as ``(since, before)`` in epoch seconds, both dates
    included as ``createdAt`` shows them (to the millisecond).

    Each is an ISO 8601 date or date-time (UTC unless it says otherwise). An ``endDate``
    that is a date alone includes that whole day. Raises ``ValueError`` for a value that
    is not a date or an end before the start.
    """
    since = _moment(start, "startDate")
    until = _moment(end, "endDate")
    if until < since:
        raise ValueError("endDate must not be before startDate")
    step = timedelta(days=1) if _is_date_only(end) else timedelta(milliseconds=1)
    try:
        return since.timestamp(), (until + step).timestamp()
    except (OverflowError, ValueError):  # the end of year 9999, or an offset past it
        return since.timestamp(), math.inf


def _is_date_only(value: str) -> bool:
    return len(value.strip()) == len("2025-01-06")


def _moment(value: str, name: str) -> datetime:
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date, such as 2025-01-06") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

"""Relay array-connection paging, as graphql-relay-js ``connectionFromArray`` does it.

The real API pages with Relay's array connections: cursors are
``base64("arrayconnection:<offset>")`` and ``pageInfo`` follows Relay's rules (for
example ``hasNextPage`` is only ever true when ``first`` was given). ``window`` computes
which offsets a request selects without touching the rows, so the store can fetch just
that slice with ``LIMIT``/``OFFSET``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

PREFIX = "arrayconnection:"
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def offset_to_cursor(offset: int) -> str:
    """The cursor of position ``offset``."""
    return base64.b64encode(f"{PREFIX}{offset}".encode()).decode()


def cursor_to_offset(cursor: str) -> int | None:
    """The offset in a cursor, or None when it holds none (Relay then uses the default).

    Like Relay, this decodes leniently and reads the integer that follows the prefix.
    """
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    match = _LEADING_INT.match(text[len(PREFIX) :])
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class Window:
    """The offsets ``[start, end)`` a request selects, and Relay's page flags."""

    start: int
    end: int
    has_previous_page: bool
    has_next_page: bool

    @property
    def size(self) -> int:
        """How many edges the page holds."""
        return max(0, self.end - self.start)


def window(
    length: int,
    *,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
) -> Window:
    """Relay's ``connectionFromArraySlice`` over a list of ``length`` rows.

    Raises ``ValueError`` for a negative ``first`` or ``last``, as Relay does.
    """
    start, end = 0, length
    after_offset = _offset(after, -1)
    if 0 <= after_offset < length:
        start = max(start, after_offset + 1)
    before_offset = _offset(before, end)
    if 0 <= before_offset < length:
        end = min(end, before_offset)
    if first is not None:
        if first < 0:
            raise ValueError('Argument "first" must be a non-negative integer')
        end = min(end, start + first)
    if last is not None:
        if last < 0:
            raise ValueError('Argument "last" must be a non-negative integer')
        start = max(start, end - last)
    lower = after_offset + 1 if after is not None else 0
    upper = before_offset if before is not None else length
    return Window(
        start=start,
        end=end,
        has_previous_page=start > lower if last is not None else False,
        has_next_page=end < upper if first is not None else False,
    )


def _offset(cursor: str | None, default: int) -> int:
    if cursor is None:
        return default
    offset = cursor_to_offset(cursor)
    return default if offset is None else offset


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A listing's paging arguments, as the printed schema names them."""

    pagination: str | None = None
    first: int | None = None
    last: int | None = None
    after: str | None = None
    before: str | None = None
    limit: int | None = None
    offset: int | None = None

    def window(self, length: int) -> tuple[Window, int | None]:
        """The offsets selected from ``length`` rows, and the page size asked for.

        ``pagination: OFFSET`` pages by ``limit`` and ``offset``; anything else by Relay
        cursors. Raises ``ValueError`` for negative sizes or offsets.
        """
        if self.pagination == "OFFSET":
            if (self.limit is not None and self.limit < 0) or (
                self.offset is not None and self.offset < 0
            ):
                raise ValueError("limit and offset must not be negative")
            start = self.offset or 0
            size = self.limit if self.limit is not None else length
            end = max(start, min(length, start + size))
            return Window(start, end, start > 0, end < length), size
        win = window(length, first=self.first, last=self.last, after=self.after, before=self.before)
        return win, self.first if self.first is not None else self.last


def connection(win: Window, nodes: list[Any], count: int, asked: int | None) -> dict[str, Any]:
    """A page as the printed ``…Response`` types shape it: edges, pageInfo and pageData."""
    edges = [{"cursor": offset_to_cursor(win.start + i), "node": n} for i, n in enumerate(nodes)]
    return {
        "page": {
            "edges": edges,
            "pageInfo": {
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
                "hasPreviousPage": win.has_previous_page,
                "hasNextPage": win.has_next_page,
            },
        },
        "pageData": {
            "count": count,
            "limit": asked if asked is not None else len(edges),
            "offset": win.start,
        },
    }

"""The sandbox's one clock: wall-clock time plus an offset the admin API can advance.

The store's rules (interval, daily window) and the token checks read ``Clock.now()``, so
a test or the dashboard can pass an interval, a daily window or a token's life without
waiting. With no offset (the default) it is exactly ``time.time()``.
"""

from __future__ import annotations

import math
import time


class Clock:
    """Wall-clock seconds since the epoch, shifted by ``offset`` (never negative)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """The sandbox's current time, in seconds since the epoch."""
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward; return the new offset."""
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("the clock only moves forward, by a finite number of seconds")
        self.offset += seconds
        return self.offset

    def reset(self) -> None:
        """Back to wall-clock time."""
        self.offset = 0.0

    def __repr__(self) -> str:
        return f"Clock(offset={self.offset:g})"

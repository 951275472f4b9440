"""Progress of a batch on stderr: a rich bar on a terminal, periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Protocol

# A plain-progress line at most this often (seconds).
PLAIN_EVERY = 5.0


class Progress(Protocol):
    """What the batch command reports progress to."""

    def note(self, message: str) -> None:
        """Print a message (a bad row, a notice) without disturbing the progress."""

    def start(self, total: int) -> None:
        """Begin counting ``total`` rows."""

    def advance(self) -> None:
        """One more row is settled."""

    def stop(self) -> None:
        """Finish (print the last state)."""


def rows(n: int) -> str:
    """``1 row``, ``2 rows``."""
    return f"{n} row" if n == 1 else f"{n} rows"


def make_progress(mode: str) -> Progress:
    """``bar``, ``plain`` or ``none``; ``auto`` is a bar when stderr is a terminal."""
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "plain"
    if mode == "bar":
        return BarProgress()
    return PlainProgress(quiet=mode == "none")


def _eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class PlainProgress:
    """A line like ``batch: 12/40 rows (3.1 rows/s, ETA 9 s)`` every few seconds."""

    def __init__(self, *, quiet: bool = False, every: float = PLAIN_EVERY) -> None:
        self.quiet = quiet
        self.every = every
        self.total = 0
        self.done = 0
        self._started = 0.0
        self._last = 0.0

    def note(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def start(self, total: int) -> None:
        self.total = total
        self._started = self._last = time.monotonic()
        if not self.quiet and total:
            print(f"batch: {rows(total)} to issue", file=sys.stderr, flush=True)

    def line(self) -> str:
        """The current state as one line."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = f", ETA {_eta(left / rate)}" if rate and left > 0 else ""
        return f"batch: {self.done}/{self.total} rows ({rate:.1f} rows/s{eta})"

    def advance(self) -> None:
        self.done += 1
        now = time.monotonic()
        if not self.quiet and now - self._last >= self.every and self.done < self.total:
            self._last = now
            print(self.line(), file=sys.stderr, flush=True)

    def stop(self) -> None:
        if not self.quiet and self.total:
            print(self.line(), file=sys.stderr, flush=True)


class BarProgress:
    """A rich progress bar: done/total, rate, elapsed time and ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            ProgressColumn,
            Task,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:.1f} rows/s" if speed else "- rows/s", style="cyan")

        self._console = Console(stderr=True, highlight=False)
        self._bar = RichProgress(
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self._console,
        )
        self._task = self._bar.add_task("batch", total=0, start=False)

    def note(self, message: str) -> None:
        self._console.print(message, markup=False, highlight=False, soft_wrap=True)

    def start(self, total: int) -> None:
        self._bar.update(self._task, total=total)
        self._bar.start_task(self._task)
        self._bar.start()

    def advance(self) -> None:
        self._bar.advance(self._task)

    def stop(self) -> None:
        self._bar.stop()

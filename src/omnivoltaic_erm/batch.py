"""Batch issuance: a CSV of ``item,type,days`` rows, each row's code issued exactly once.

Three steps, each testable on its own:

- ``parse_batch(data)`` is pure: the file's bytes in, valid ``Row``s and ``BadRow``s (with
  their line numbers) out. A bad line never stops the others from being read.
- ``plan(parsed, journal)`` splits the rows into those already settled (done in an
  earlier run, or invalid) and those still to send.
- ``run_rows(client, journal, rows)`` issues the pending rows: rows of different items
  concurrently, rows of one item in file order. Before a row is sent its intent and a
  fresh request id are written to the journal; the code is written on return. A row the
  journal knows from an earlier run but without a code goes first, with the same request
  id: the client settles that id from the item's code history before sending (found,
  the code is returned ``recovered``). So a row is never issued twice, even across
  ``kill -9``; a row whose outcome stays unknown ends ``unknown`` and the next run
  settles it.

``write_results`` writes the results CSV: the input columns plus code_dec, code_hex,
status and error, one line per input row, in file order.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import _constants as c
from ._request_ids import note_pending
from .errors import ErmError, InvalidInputError, NotFoundError, OutcomeUnknownError

if TYPE_CHECKING:
    from .journal import Entry, Journal
    from .kinds import CodeKind
    from .models import CodeTypes, IssuedCode, Item


def row_kind(row_type: str) -> CodeKind:
    """The code kind of a parsed row's type word (its row in ``kinds``, imported on use,
    as it brings the generated client): rows are parsed against the same table."""
    from .kinds import kind_named

    kind = kind_named(row_type)
    assert kind is not None
    return kind


def _type_words() -> str:
    """``days, free or reset``: the type words a row may use."""
    from .kinds import listing, words

    return listing(words(), "or")


HEADER = ("item", "type", "days")

# Row statuses, in the order a summary lists them.
ISSUED = "issued"
RECOVERED = "recovered"
SKIPPED_DONE = "skipped-done"
INVALID = "invalid"
FAILED = "failed"
# The client could not settle the row's request (``OutcomeUnknownError``): a code may
# have been issued. The next run settles it from the item's history before anything.
UNKNOWN = "unknown"
STATUSES = (ISSUED, RECOVERED, SKIPPED_DONE, INVALID, FAILED, UNKNOWN)
# A row left unfinished by Ctrl-C; listed by a summary only when there is one.
INTERRUPTED = "interrupted"
# A row asking for the same code as an earlier row, not issued under ``--unique``; listed
# by a summary only when there is one.
DUPLICATE = "skipped-duplicate"

RESULT_COLUMNS = ("line", *HEADER, "code_dec", "code_hex", "status", "error")

_DIGITS = re.compile(r"[0-9]+")
_MAX_ITEM_LENGTH = 128  # as the client enforces for any item id


@dataclass(frozen=True, slots=True)
class Row:
    """A valid input row.

    ``key`` identifies the row in the journal: its item, type and days, and how many
    identical rows come before it in the file, so that two identical rows are two codes
    and a resumed run matches each to its own journal entry.
    """

    line: int
    item: str
    type: str
    days: int
    cells: tuple[str, ...]
    key: str


@dataclass(frozen=True, slots=True)
class BadRow:
    """An input line that cannot be issued, and why."""

    line: int
    cells: tuple[str, ...]
    error: str


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """A parsed input file: valid rows and bad rows (file order), and its SHA-256."""

    rows: list[Row]
    bad: list[BadRow]
    sha256: str
    has_header: bool


@dataclass(frozen=True, slots=True)
class RowResult:
    """The outcome of one input row, as written to the results CSV."""

    line: int
    cells: tuple[str, ...]
    status: str
    code_dec: str = ""
    code_hex: str = ""
    error: str = ""

    def as_csv_row(self) -> list[str]:
        """The row of the results CSV."""
        padded = (*self.cells[:3], "", "", "")[:3]
        return [str(self.line), *padded, self.code_dec, self.code_hex, self.status, self.error]


def sha256_of(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _is_header(cells: list[str]) -> bool:
    return tuple(cell.strip().lower() for cell in cells) == HEADER


def _parse_days(kind: CodeKind, raw: str, min_days: int, max_days: int) -> int:
    """The days of a row, or ValueError with the reason."""
    text = raw.strip()
    if not kind.takes_days:
        if text in ("", "0"):
            return 0
        raise ValueError(f"a {kind.label} takes no days: leave the days column empty or 0")
    if not text:
        raise ValueError(f"a {kind.label} needs days from {min_days} to {max_days}")
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"days must be a whole number from {min_days} to {max_days}")
    days = int(text) if len(text) <= 9 else max_days + 1
    if not min_days <= days <= max_days:
        shown = text if len(text) <= 12 else text[:12] + "..."
        raise ValueError(f"days must be from {min_days} to {max_days}; got {shown}")
    return days


def _check_item(item: str) -> None:
    if not item:
        raise ValueError("the item column is empty")
    if len(item) > _MAX_ITEM_LENGTH:
        raise ValueError(f"an item id has at most {_MAX_ITEM_LENGTH} characters")
    if not item.isprintable():
        raise ValueError("an item id cannot hold control characters")


def parse_batch(
    data: bytes,
    *,
    min_days: int = c.MIN_CODE_DAYS,
    max_days: int = c.MAX_CODE_DAYS,
) -> ParsedBatch:
    """Parse a batch file (pure).

    Each physical line is one row, ``item,type,days`` (CSV quoting allowed within a
    line). A header ``item,type,days`` may open the file; a header anywhere else is a bad
    row. Blank lines are ignored. Every other line is either a ``Row`` or a ``BadRow``.
    """
    from .kinds import kind_named

    rows: list[Row] = []
    bad: list[BadRow] = []
    seen: dict[tuple[str, str, int], int] = {}
    has_header = False
    first = True
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    for number, raw_line in enumerate(body.split(b"\n"), start=1):
        raw = raw_line.removesuffix(b"\r")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
            cells = next(csv.reader([text], strict=True))
        except (UnicodeDecodeError, csv.Error) as exc:
            reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
            shown = raw.decode("utf-8", "replace")
            bad.append(BadRow(number, (shown[:200],), f"malformed line ({reason})"))
            first = False
            continue
        if _is_header(cells):
            if first:
                has_header = True
            else:
                why = "a second header" if has_header else "a header line after the first row"
                bad.append(BadRow(number, tuple(cells), f"duplicate header: {why}"))
            first = False
            continue
        first = False
        if len(cells) != 3:
            bad.append(
                BadRow(
                    number,
                    tuple(cells),
                    f"wrong column count: expected 3 (item,type,days), got {len(cells)}",
                )
            )
            continue
        item, kind_raw, days_raw = (cell.strip() for cell in cells)
        kind = kind_raw.lower()
        try:
            _check_item(item)
            row_type = kind_named(kind)
            if row_type is None:
                raise ValueError(f"unknown type {kind_raw[:20]!r}: expected {_type_words()}")
            days = _parse_days(row_type, days_raw, min_days, max_days)
        except ValueError as exc:
            bad.append(BadRow(number, tuple(cells), str(exc)))
            continue
        occurrence = seen.get((item, kind, days), 0)
        seen[(item, kind, days)] = occurrence + 1
        key = "\x1f".join((item, kind, str(days), str(occurrence)))
        rows.append(Row(number, item, kind, days, tuple(cells), key))
    return ParsedBatch(rows, bad, sha256_of(data), has_header)


class BatchClient(Protocol):
    """What the runner needs of a client; ``AsyncErmClient`` has it all."""

    async def prefetch(self, items: list[Item | str]) -> None:
        """Learn many items' code histories in few requests."""

    async def issue(
        self,
        kind: CodeTypes,
        item: Item | str,
        days: int | None = None,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        """Issue one code of ``kind``."""
        ...


@dataclass(frozen=True, slots=True)
class Plan:
    """Rows settled before anything is sent, and the rows still to send."""

    settled: list[RowResult]
    pending: list[Row]


def plan(parsed: ParsedBatch, journal: Journal) -> Plan:
    """Settle bad rows and rows the journal holds a code for; the rest are pending."""
    settled = [RowResult(b.line, b.cells, INVALID, error=b.error) for b in parsed.bad]
    pending: list[Row] = []
    for row in parsed.rows:
        entry = journal.get(row.key)
        if entry is not None and entry.done:
            settled.append(
                RowResult(row.line, row.cells, SKIPPED_DONE, entry.code_dec, entry.code_hex)
            )
        else:
            pending.append(row)
    return Plan(settled, pending)


def duplicates(rows: Iterable[Row]) -> list[list[Row]]:
    """Groups of rows that ask for the same code (item, type and days), in file order;
    only groups of two or more rows."""
    groups: dict[tuple[str, str, int], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.item, row.type, row.days), []).append(row)
    return [group for group in groups.values() if len(group) > 1]


def drop_duplicates(todo: Plan, groups: list[list[Row]], journal: Journal) -> Plan:
    """``todo`` with each repeated row after the first set aside as ``DUPLICATE``.

    A repeat the journal already knows (issued, or in doubt from an earlier run without
    ``--unique``) stays: its code is shown, or its request settled, never forgotten.
    """
    first = {row.key: group[0] for group in groups for row in group[1:]}
    pending: list[Row] = []
    dropped: list[RowResult] = []
    for row in todo.pending:
        original = first.get(row.key)
        if original is None or journal.get(row.key) is not None:
            pending.append(row)
            continue
        error = f"the same code as line {original.line}; not issued (--unique)"
        dropped.append(RowResult(row.line, row.cells, DUPLICATE, error=error))
    return Plan(todo.settled + dropped, pending)


def in_doubt(entry: Entry) -> bool:
    """Whether a journal row's latest attempt may have been executed without its code
    being known: sent when the run stopped, or ended with an unknown outcome."""
    from . import journal

    return entry.state == journal.SENT or (
        entry.state == journal.FAILED and entry.error.startswith(OutcomeUnknownError.__name__)
    )


def group_by_item(rows: Iterable[Row]) -> list[list[Row]]:
    """Rows grouped by item, each group in file order, groups in order of first row."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.item, []).append(row)
    return list(groups.values())


def not_found(item: str) -> str:
    """The one wording of an unknown item, in every command and in the results file."""
    return f"no item {item!r:.70} among this distributor's items"


def _is_invalid(exc: ErmError) -> bool:
    """Whether a row failed because it can never be issued as written (nothing was)."""
    return isinstance(exc, NotFoundError | InvalidInputError)


def error_text(exc: BaseException) -> str:
    """One line describing ``exc`` for a results file."""
    message = exc.message if isinstance(exc, ErmError) else str(exc)
    return " ".join(f"{type(exc).__name__}: {message}".split())


class BatchRunner:
    """Issues pending rows through a client, recording each step in a journal."""

    def __init__(
        self,
        client: BatchClient,
        journal: Journal,
        *,
        description: str | None = None,
        on_start: Callable[[int], None] | None = None,
        on_result: Callable[[RowResult], None] | None = None,
        new_request_id: Callable[[], str] | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.description = description
        self.on_start = on_start or (lambda _total: None)
        self.on_result = on_result or (lambda _result: None)
        if new_request_id is None:
            from ._request_ids import new_request_id as fresh

            new_request_id = fresh
        self.new_request_id = new_request_id
        self.results: list[RowResult] = []

    async def run(self, rows: list[Row]) -> list[RowResult]:
        """Issue ``rows``; return their results in file order.

        The item histories are fetched first in a few requests, so that the client
        knows each item's limits without asking once per item; a failure there (the
        server is down, the sign-in is refused) is raised before any row is touched.
        ``on_start(len(rows))`` is called then, and ``on_result`` for each row settled.
        """
        if rows:
            items: list[Item | str] = list(dict.fromkeys(row.item for row in rows))
            await self.client.prefetch(items)
        self.on_start(len(rows))
        # Kept on the runner, so that an interrupted run's settled rows stay readable.
        results = self.results
        async with asyncio.TaskGroup() as group:
            for item_rows in group_by_item(rows):
                group.create_task(self._item(item_rows, results))
        return sorted(results, key=lambda r: r.line)

    async def _item(self, rows: list[Row], results: list[RowResult]) -> None:
        # Rows an earlier run sent (their outcome may be unknown) are settled first.
        journal = self.journal
        rows = sorted(rows, key=lambda row: journal.get(row.key) is None)
        for row in rows:
            result = await self.issue(row)
            results.append(result)
            self.on_result(result)

    async def issue(self, row: Row) -> RowResult:
        """Settle one row: send it once, or, if an earlier run sent it, settle its request
        id first (the client reads the item's history before sending: found, the code is
        returned ``recovered`` and nothing is sent)."""
        journal = self.journal
        entry = journal.get(row.key)
        try:
            if entry is not None:
                request_id = entry.request_id
                if in_doubt(entry):
                    # Its latest attempt may still land: the client sends it again only
                    # on evidence that this cannot make a second code (see may_resend).
                    note_pending(request_id, entry.updated_at)
                journal.record_attempt(row.key, row.line)
            else:
                request_id = self.new_request_id()
                journal.record_intent(row.key, row.line, row.item, row.type, row.days, request_id)
            code = await self._send(row, request_id)
        except ErmError as exc:
            invalid = _is_invalid(exc)
            text = error_text(exc)
            if isinstance(exc, NotFoundError):
                # The client's own wording, whether the server or the client found it out.
                text = not_found(row.item)
            journal.record_failure(row.key, text, invalid=invalid)
            status = INVALID if invalid else FAILED
            if isinstance(exc, OutcomeUnknownError):
                status = UNKNOWN
            return RowResult(row.line, row.cells, status, error=text)
        journal.record_code(row.key, code.code_hex, code.code_dec, recovered=code.recovered)
        status = RECOVERED if code.recovered else ISSUED
        return RowResult(row.line, row.cells, status, code.code_dec, code.code_hex)

    def _send(self, row: Row, request_id: str) -> Awaitable[IssuedCode]:
        kind = row_kind(row.type)
        days = row.days if kind.takes_days else None
        return self.client.issue(
            kind.member, row.item, days, self.description, request_id=request_id
        )


def unfinished(
    rows: Iterable[Row], settled: Iterable[RowResult], journal: Journal
) -> list[RowResult]:
    """The rows of an interrupted run that have no result, as ``INTERRUPTED`` results:
    in doubt (the journal holds their intent, so a request may have been sent) or not
    sent. Either way the same command run again settles them, never issuing twice."""
    done = {r.line for r in settled}
    left: list[RowResult] = []
    for row in rows:
        if row.line in done:
            continue
        entry = journal.get(row.key)
        if entry is not None and not entry.done:
            error = (
                f"a code may have been issued (request {entry.request_id}); "
                "run the same command again to settle it from the item's history"
            )
        else:
            error = "not sent: run the same command again to issue it"
        left.append(RowResult(row.line, row.cells, INTERRUPTED, error=error))
    return left


def counts(results: Iterable[RowResult]) -> dict[str, int]:
    """How many rows ended in each status (every status listed, zeros included)."""
    totals = dict.fromkeys(STATUSES, 0)
    for result in results:
        totals[result.status] = totals.get(result.status, 0) + 1
    return totals


def results_csv(results: Iterable[RowResult]) -> str:
    """The results CSV text: a header, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for result in sorted(results, key=lambda r: r.line):
        writer.writerow(result.as_csv_row())
    return buffer.getvalue()


def write_results(path: Path, results: Iterable[RowResult]) -> None:
    """Write the results CSV atomically, readable by its owner only (it holds codes)."""
    text = results_csv(results)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)

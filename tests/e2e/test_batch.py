"""Batch parsing, the journal and the batch runner, without a server.

The runner is driven by an in-memory client that keeps per-item histories the way the
server does, so that crashes at each step can be staged exactly. The same behaviour
over the wire, with a real ``kill -9``, is in ``test_cli_batch.py``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from omnivoltaic_erm._request_ids import clear_pending, pending_at
from omnivoltaic_erm.batch import (
    DUPLICATE,
    FAILED,
    INTERRUPTED,
    INVALID,
    ISSUED,
    RECOVERED,
    RESULT_COLUMNS,
    SKIPPED_DONE,
    UNKNOWN,
    BatchRunner,
    Row,
    RowResult,
    counts,
    drop_duplicates,
    duplicates,
    error_text,
    group_by_item,
    parse_batch,
    plan,
    results_csv,
    unfinished,
    write_results,
)
from omnivoltaic_erm.errors import (
    CodeLimitError,
    ErmTimeoutError,
    NotFoundError,
    OutcomeUnknownError,
)
from omnivoltaic_erm.journal import (
    DONE,
    SENT,
    Entry,
    Identity,
    Journal,
    JournalBusyError,
    JournalError,
    JournalMismatchError,
)
from omnivoltaic_erm.journal import (
    FAILED as JOURNAL_FAILED,
)
from omnivoltaic_erm.models import CodeTypes, IssuedCode, Item

# -- parsing ------------------------------------------------------------------------


def test_parse_valid_rows_with_header() -> None:
    parsed = parse_batch(b"item,type,days\nA1,days,7\nA2,free,\nA3,reset,0\nA1,DAYS, 30 \n")
    assert parsed.has_header
    assert parsed.bad == []
    assert [(r.line, r.item, r.type, r.days) for r in parsed.rows] == [
        (2, "A1", "days", 7),
        (3, "A2", "free", 0),
        (4, "A3", "reset", 0),
        (5, "A1", "days", 30),
    ]


def test_header_is_optional_and_crlf_bom_and_blank_lines_are_accepted() -> None:
    parsed = parse_batch(b"\xef\xbb\xbfA1,days,7\r\n\r\n\nA2,free,\r\n")
    assert not parsed.has_header
    assert parsed.bad == []
    assert [(r.line, r.item) for r in parsed.rows] == [(1, "A1"), (4, "A2")]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b"A1,weekly,7", "unknown type 'weekly'"),
        (b"A1,days,0", "days must be from 1 to 1096; got 0"),
        (b"A1,days,1097", "days must be from 1 to 1096; got 1097"),
        (b"A1,days,1000000000000", "days must be from 1 to 1096"),
        (b"A1,days,7.5", "whole number"),
        (b"A1,days,-1", "whole number"),
        (b"A1,days,+7", "whole number"),
        (b"A1,days,", "a days code needs days"),
        (b"A1,free,3", "a free code takes no days"),
        (b"A1,reset,1", "a reset code takes no days"),
        (b"A1,days", "wrong column count: expected 3 (item,type,days), got 2"),
        (b"A1,days,7,extra", "wrong column count: expected 3 (item,type,days), got 4"),
        (b",days,7", "the item column is empty"),
        (b'"A1,days,7', "malformed line"),
        (b"A1\x00,days,7", "control characters"),
        (b"\xff\xfe,days,7", "malformed line (not UTF-8 text)"),
        (b"item,type,days", "duplicate header"),
        (b"X" * 129 + b",days,7", "at most 128 characters"),
    ],
)
def test_bad_rows_are_reported_by_line_and_the_rest_parse(line: bytes, error: str) -> None:
    data = b"item,type,days\nA1,days,7\n" + line + b"\nA2,free,\n"
    parsed = parse_batch(data)
    assert [(r.line, r.item) for r in parsed.rows] == [(2, "A1"), (4, "A2")]
    assert len(parsed.bad) == 1
    assert parsed.bad[0].line == 3
    assert error in parsed.bad[0].error


def test_a_header_after_the_first_row_is_a_bad_row() -> None:
    parsed = parse_batch(b"A1,days,7\nitem,type,days\n")
    assert not parsed.has_header
    assert [(b.line, b.error) for b in parsed.bad] == [
        (2, "duplicate header: a header line after the first row")
    ]


def test_identical_rows_are_distinct_journal_keys_stable_across_edits() -> None:
    one = parse_batch(b"A1,days,7\nA1,days,7\nA2,free,\n")
    keys = [r.key for r in one.rows]
    assert len(set(keys)) == 3
    # Inserting a line above shifts line numbers but not the keys of matching rows.
    two = parse_batch(b"B9,reset,\nA1,days,7\nA1,days,7\nA2,free,\n")
    assert [r.key for r in two.rows][1:] == keys
    assert one.sha256 != two.sha256


def test_group_by_item_keeps_file_order() -> None:
    rows = parse_batch(b"A,days,1\nB,days,2\nA,days,3\nC,free,\nB,reset,\n").rows
    assert [[(r.item, r.line) for r in g] for g in group_by_item(rows)] == [
        [("A", 1), ("A", 3)],
        [("B", 2), ("B", 5)],
        [("C", 4)],
    ]


def test_rows_asking_for_the_same_code_are_grouped_in_file_order() -> None:
    # Same item, type and days (as parsed: type in any case, days with blanks); a group
    # of two is a group, a row alone is none.
    parsed = parse_batch(
        b"A1,days,7\nA1,days,8\nA2,days,7\nA1,free,\nA1,DAYS, 7\nA2,free,\nA2,free,0\nA1,days,7\n"
    )
    groups = duplicates(parsed.rows)
    assert [[row.line for row in group] for group in groups] == [[1, 5, 8], [6, 7]]
    assert duplicates(parsed.rows[:4]) == []


# -- journal ------------------------------------------------------------------------


def identity(sha: str = "a" * 64, path: str = "/tmp/in.csv") -> Identity:
    return Identity(path, sha, "http://127.0.0.1:1/graphql", "d@example.test")


def test_journal_records_survive_reopening_and_use_wal_full(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, identity()) as journal:
        journal.record_intent("k1", 2, "A1", "days", 7, "0123456789abcdef")
        journal.record_intent("k2", 3, "A2", "free", 0, "fedcba9876543210")
        journal.record_code("k1", "ABCDEF0123456789", "*123 456#", recovered=False)
        journal.record_failure("k2", "TimeoutError: no answer")
        sync = journal._db.execute("PRAGMA synchronous").fetchone()[0]
        assert sync == 2  # FULL
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with Journal.open(path, identity()) as journal:
        k1, k2 = journal.get("k1"), journal.get("k2")
        assert k1 is not None and k1.done and k1.code_dec == "*123 456#"
        assert k2 is not None and k2.state == "failed" and k2.request_id == "fedcba9876543210"
        journal.record_attempt("k2", 3)
        again = journal.get("k2")
        assert again is not None and again.state == SENT and again.attempts == 2
        assert journal.get("missing") is None
        assert [e.key for e in journal.entries()] == ["k1", "k2"]


def test_journal_refuses_another_file_or_account_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, identity()):
        pass
    with pytest.raises(JournalMismatchError, match=r"different content.*--force"):
        Journal.open(path, identity(sha="b" * 64, path="/tmp/other.csv"))
    other_account = Identity("/tmp/in.csv", "a" * 64, "http://127.0.0.1:1/graphql", "x@y.z")
    with pytest.raises(JournalMismatchError, match=r"issues for d@example\.test"):
        Journal.open(path, other_account)
    with Journal.open(path, identity(sha="b" * 64), force=True) as journal:
        assert journal.notices and "--force" in journal.notices[0]
        assert journal.meta()["input_sha256"] == "b" * 64
    # Same content at another path: resumed, with a notice.
    with Journal.open(path, identity(sha="b" * 64, path="/tmp/moved.csv")) as journal:
        assert "moved" in journal.notices[0]


def test_journal_is_held_by_one_run_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with (
        Journal.open(path, identity()),
        pytest.raises(JournalBusyError, match="in use by another erm batch"),
    ):
        Journal.open(path, identity())
    with Journal.open(path, identity()):
        pass


def test_a_file_that_is_not_a_journal_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(JournalError, match="not an erm batch journal"):
        Journal.open(junk, identity())
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="not an erm batch journal"):
        Journal.open(other, identity())


# -- runner -------------------------------------------------------------------------


class Crash(BaseException):
    """Stands for the process dying: not an ErmError, so nothing handles it."""


class FakeServer:
    """Items with code histories; codes carry the request id like the real server."""

    def __init__(self, items: list[str]) -> None:
        self.history: dict[str, list[IssuedCode]] = {i: [] for i in items}
        self.counter = itertools.count(1)


class FakeClient:
    """The ``BatchClient`` surface over a FakeServer.

    ``crash_after_commit`` / ``crash_before_send`` name request numbers (1-based) at
    which the process "dies" after the server committed the code, or before it sent.
    """

    def __init__(
        self,
        server: FakeServer,
        crash_after_commit: set[int] | None = None,
        crash_before_send: set[int] | None = None,
        fail: dict[int, Exception] | None = None,
    ) -> None:
        self.server = server
        self.crash_after_commit = crash_after_commit or set()
        self.crash_before_send = crash_before_send or set()
        self.fail = fail or {}
        self.sends = 0
        self.recovers = 0
        self.prefetched: list[str] = []
        # (code type, days) of each issue call, as the runner made it.
        self.calls: list[tuple[str, int | None]] = []

    async def prefetch(self, items: list[Item | str]) -> None:
        self.prefetched.extend(str(i) for i in items)

    def _item(self, item: Item | str) -> str:
        key = str(item)
        if key not in self.server.history:
            raise NotFoundError(f"no item {key!r}")
        return key

    async def recover(self, item: Item | str, request_id: str) -> IssuedCode | None:
        self.recovers += 1
        for code in self.server.history[self._item(item)]:
            if code.request_id == request_id:
                return code.model_copy(update={"recovered": True})
        return None

    async def _issue(self, item: Item | str, kind: str, days: int, rid: str | None) -> IssuedCode:
        key = self._item(item)
        assert rid is not None
        # As the real client does with an id it did not mint: settle it first.
        found = await self.recover(key, rid)
        if found is not None:
            return found
        self.sends += 1
        n = self.sends
        await asyncio.sleep(0)
        if n in self.crash_before_send:
            raise Crash()
        if n in self.fail:
            raise self.fail[n]
        serial = next(self.server.counter)
        code = IssuedCode(
            item_id=key,
            code_type=kind,
            code_hex=f"{serial:016X}",
            code_dec=f"*{serial:03d}#",
            code_days=days,
            description=None,
            request_id=rid,
        )
        self.server.history[key].append(code)
        if n in self.crash_after_commit:
            raise Crash()
        return code

    async def issue(
        self,
        kind: CodeTypes,
        item: Item | str,
        days: int | None = None,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        self.calls.append((kind.value, days))
        return await self._issue(item, kind.value, days or 0, request_id)


CSV = b"""item,type,days
I0,days,1
I1,days,2
I2,days,3
I0,free,
I1,days,5
I2,reset,0
I0,days,7
I1,free,
I2,days,9
I0,reset,
I1,days,2
I2,days,3
"""


def run_once(
    path: Path, client: FakeClient, data: bytes = CSV
) -> tuple[list[object], dict[str, int]]:
    parsed = parse_batch(data)
    with Journal.open(path, identity(parsed.sha256)) as journal:
        todo = plan(parsed, journal)
        runner = BatchRunner(client, journal)
        results = todo.settled + asyncio.run(runner.run(todo.pending))
    return sorted(results, key=lambda r: r.line), counts(results)  # type: ignore[return-value]


class JournalReadingClient(FakeClient):
    """A FakeClient that, as each request leaves, reads the journal as another process
    would (its own read-only connection) and keeps the state it finds for the request id.
    """

    def __init__(self, server: FakeServer, journal: Path) -> None:
        super().__init__(server)
        self.journal = journal
        self.seen: dict[str, str | None] = {}

    async def _issue(self, item: Item | str, kind: str, days: int, rid: str | None) -> IssuedCode:
        reader = sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True)
        try:
            row = reader.execute("SELECT state FROM rows WHERE request_id = ?", (rid,)).fetchone()
        finally:
            reader.close()
        self.seen[str(rid)] = None if row is None else str(row[0])
        return await super()._issue(item, kind, days, rid)


def test_each_intent_is_committed_before_its_request_leaves(tmp_path: Path) -> None:
    # The fast twin of the kill -9 tests: what a crash at the moment of sending leaves on
    # disk is what another connection reads then.
    path = tmp_path / "j.db"
    server = FakeServer(["I0", "I1", "I2"])
    client = JournalReadingClient(server, path)
    client.fail = {2: ErmTimeoutError("no answer"), 5: CodeLimitError("daily limit reached")}
    results, _ = run_once(path, client)
    assert len(client.seen) == len(results) == 12
    assert set(client.seen.values()) == {SENT}
    # The next run sends the two failed rows again: each attempt is on disk first too.
    again = JournalReadingClient(server, path)
    _, totals = run_once(path, again)
    assert totals[ISSUED] == 2 and len(again.seen) == 2
    assert set(again.seen.values()) == {SENT}


def test_runner_issues_each_row_once_and_a_rerun_skips_them(tmp_path: Path) -> None:
    server = FakeServer(["I0", "I1", "I2"])
    client = FakeClient(server)
    results, totals = run_once(tmp_path / "j.db", client)
    assert totals[ISSUED] == 12 and client.sends == 12
    assert sum(len(h) for h in server.history.values()) == 12
    # Rows of one item were sent in file order: the server's history of each item (in
    # the order it issued them) holds the codes of that item's rows by line.
    for item, codes in server.history.items():
        rows = [r for r in results if r.cells[0] == item]  # type: ignore[attr-defined]
        assert [c.code_hex for c in codes] == [r.code_hex for r in rows]  # type: ignore[attr-defined]
        assert [c.code_days for c in codes] == [int(r.cells[2] or 0) for r in rows]  # type: ignore[attr-defined]
    again = FakeClient(server)
    results2, totals2 = run_once(tmp_path / "j.db", again)
    assert totals2[SKIPPED_DONE] == 12 and again.sends == 0 and again.recovers == 0
    assert [r.code_hex for r in results2] == [r.code_hex for r in results]  # type: ignore[attr-defined]


def test_crash_after_commit_is_recovered_from_history_not_sent_again(tmp_path: Path) -> None:
    server = FakeServer(["I0", "I1", "I2"])
    with pytest.raises(BaseExceptionGroup):
        run_once(tmp_path / "j.db", FakeClient(server, crash_after_commit={5}))
    issued_before = sum(len(h) for h in server.history.values())
    resumed = FakeClient(server)
    results, totals = run_once(tmp_path / "j.db", resumed)
    assert totals[RECOVERED] >= 1
    assert totals[FAILED] == totals[INVALID] == 0
    assert sum(totals.values()) == 12
    # Exactly one code per row in the server's histories, and the journal agrees.
    all_codes = [c for h in server.history.values() for c in h]
    assert len(all_codes) == 12
    assert len({c.request_id for c in all_codes}) == 12
    assert resumed.sends == 12 - issued_before
    with Journal.open(tmp_path / "j.db", identity(parse_batch(CSV).sha256)) as journal:
        entries = journal.entries()
    assert all(e.state == DONE for e in entries)
    assert {e.request_id for e in entries} == {c.request_id for c in all_codes}
    assert {e.code_hex for e in entries} == {c.code_hex for c in all_codes}
    assert {r.code_hex for r in results} == {c.code_hex for c in all_codes}  # type: ignore[attr-defined]


def test_crash_before_send_is_sent_again_with_the_same_request_id(tmp_path: Path) -> None:
    server = FakeServer(["I0", "I1", "I2"])
    with pytest.raises(BaseExceptionGroup):
        run_once(tmp_path / "j.db", FakeClient(server, crash_before_send={1}))
    with Journal.open(tmp_path / "j.db", identity(parse_batch(CSV).sha256)) as journal:
        pending = [e for e in journal.entries() if e.state == SENT]
    assert pending, "the intent is on disk before the request is sent"
    rid = pending[0].request_id
    resumed = FakeClient(server)
    _, totals = run_once(tmp_path / "j.db", resumed)
    assert totals[ISSUED] + totals[SKIPPED_DONE] == 12
    assert totals[FAILED] == totals[INVALID] == 0
    codes = [c for h in server.history.values() for c in h]
    assert len(codes) == 12
    assert [c.request_id for c in codes].count(rid) == 1


def test_failed_rows_are_reported_kept_and_settled_on_the_next_run(tmp_path: Path) -> None:
    server = FakeServer(["I0", "I1", "I2"])
    client = FakeClient(
        server,
        fail={2: CodeLimitError("daily limit reached"), 3: ErmTimeoutError("no answer in 30 s")},
    )
    results, totals = run_once(tmp_path / "j.db", client)
    assert totals[FAILED] == 2 and totals[ISSUED] == 10
    errors = sorted(r.error for r in results if r.status == FAILED)  # type: ignore[attr-defined]
    assert errors == ["CodeLimitError: daily limit reached", "ErmTimeoutError: no answer in 30 s"]
    _, totals2 = run_once(tmp_path / "j.db", FakeClient(server))
    assert totals2[SKIPPED_DONE] == 10 and totals2[ISSUED] == 2
    assert sum(len(h) for h in server.history.values()) == 12


def test_unknown_items_and_bad_rows_are_invalid_and_the_rest_issue(tmp_path: Path) -> None:
    data = b"I0,days,7\nNOPE,days,7\nI1,weekly,3\nI1,free,\n"
    server = FakeServer(["I0", "I1"])
    results, totals = run_once(tmp_path / "j.db", FakeClient(server), data)
    assert totals == {
        ISSUED: 2,
        RECOVERED: 0,
        SKIPPED_DONE: 0,
        INVALID: 2,
        FAILED: 0,
        UNKNOWN: 0,
    }
    by_line = {r.line: r for r in results}  # type: ignore[attr-defined]
    assert by_line[2].status == INVALID
    assert by_line[2].error == "no item 'NOPE' among this distributor's items"
    assert by_line[3].status == INVALID and "unknown type 'weekly'" in by_line[3].error
    assert by_line[1].code_hex and by_line[4].code_hex


def test_results_csv_has_input_columns_codes_status_and_error(tmp_path: Path) -> None:
    data = b"item,type,days\nI0,days,7\nI0,bogus,1\nonly-one-column\n"
    server = FakeServer(["I0"])
    results, _ = run_once(tmp_path / "j.db", FakeClient(server), data)
    out = tmp_path / "out.csv"
    write_results(out, results)  # type: ignore[arg-type]
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == RESULT_COLUMNS
    assert [(r["line"], r["item"], r["type"], r["days"], r["status"]) for r in rows] == [
        ("2", "I0", "days", "7", ISSUED),
        ("3", "I0", "bogus", "1", INVALID),
        ("4", "only-one-column", "", "", INVALID),
    ]
    assert rows[0]["code_dec"] == "*001#" and rows[0]["code_hex"] == "0000000000000001"
    assert "unknown type" in rows[1]["error"] and "got 1" in rows[2]["error"]
    assert results_csv([]) == ",".join(RESULT_COLUMNS) + "\n"


# Written by a process whose locale is not UTF-8 (C, without Python's UTF-8 mode): the
# same copy of the package as this test's (under `make mutation`, the mutated one).
_WRITE_UNDER_C_LOCALE = """
import locale, sys
from pathlib import Path
from omnivoltaic_erm.batch import ISSUED, RowResult, write_results
assert locale.getpreferredencoding(False).lower() not in ("utf-8", "utf8"), "a UTF-8 locale"
row = RowResult(2, ("Z\\u00e4hler-\\u8bbe\\u5907", "days", "7"), ISSUED, "*1#", "00ff")
write_results(Path(sys.argv[1]), [row])
"""


def test_results_are_utf_8_whatever_the_locale(tmp_path: Path) -> None:
    import subprocess
    import sys

    import omnivoltaic_erm

    out = tmp_path / "out.csv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHON"))}
    env.update(
        LC_ALL="C",
        PYTHONCOERCECLOCALE="0",
        PYTHONUTF8="0",
        PYTHONPATH=str(Path(omnivoltaic_erm.__file__).parent.parent),
    )
    done = subprocess.run(
        [sys.executable, "-c", _WRITE_UNDER_C_LOCALE, str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))
    assert rows[1][:2] == ["2", "Zähler-设备"]
    # The same file as this process writes (which also tells `make mutation` that this
    # test runs write_results: it records calls made in process only).
    here = tmp_path / "here.csv"
    write_results(here, [RowResult(2, ("Zähler-设备", "days", "7"), ISSUED, "*1#", "00ff")])
    assert out.read_bytes() == here.read_bytes()


def test_row_keys_used_by_the_runner_match_the_journal(tmp_path: Path) -> None:
    server = FakeServer(["I0"])
    data = b"I0,days,7\nI0,days,7\n"
    run_once(tmp_path / "j.db", FakeClient(server), data)
    rows: list[Row] = parse_batch(data).rows
    with Journal.open(tmp_path / "j.db", identity(parse_batch(data).sha256)) as journal:
        assert [journal.get(r.key) is not None for r in rows] == [True, True]
    assert len(server.history["I0"]) == 2


# -- exact texts and boundaries (each case here failed a planted bug in `make mutation`)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (b",days,7", "the item column is empty"),
        (b"A1\x00,days,7", "an item id cannot hold control characters"),
        (b"X" * 129 + b",days,7", "an item id has at most 128 characters"),
        (b'"A1,days,7', "malformed line (unexpected end of data)"),
        (b"\xff,days,7", "malformed line (not UTF-8 text)"),
        (b"A1," + b"w" * 25 + b",7", f"unknown type {'w' * 20!r}: expected days, free or reset"),
        # More than 9 digits is out of range whatever the value; the text is shown as
        # written, cut after 12 characters.
        (b"A1,days,0000000007", "days must be from 1 to 1096; got 0000000007"),
        (b"A1,days,000000000007", "days must be from 1 to 1096; got 000000000007"),
        (b"A1,days,0000000000007", "days must be from 1 to 1096; got 000000000000..."),
        (b"A1,days,1097", "days must be from 1 to 1096; got 1097"),
    ],
)
def test_bad_row_messages_are_exact(line: bytes, error: str) -> None:
    [bad] = parse_batch(line + b"\n").bad
    assert bad.error == error


@pytest.mark.parametrize(
    ("line", "days"), [(b"A1,days,000000007", 7), (b"A1,days,1096", 1096), (b"A1,days,1", 1)]
)
def test_days_at_the_edges_are_accepted(line: bytes, days: int) -> None:
    [row] = parse_batch(line).rows
    assert row.days == days


def test_an_item_id_of_128_characters_is_accepted() -> None:
    [row] = parse_batch(b"X" * 128 + b",days,7\n").rows
    assert row.item == "X" * 128


def test_bad_rows_keep_their_cells() -> None:
    long_line = b'"' + b"y" * 300
    parsed = parse_batch(b"item,type,days\nitem,type,days\n" + long_line + b"\n")
    assert [(b.line, b.cells) for b in parsed.bad] == [
        (2, ("item", "type", "days")),
        (3, ('"' + "y" * 199,)),
    ]
    assert parsed.bad[0].error == "duplicate header: a second header"


def test_a_header_after_a_malformed_first_line_is_a_bad_row() -> None:
    parsed = parse_batch(b'"broken\nitem,type,days\nA1,days,7\n')
    assert parsed.has_header is False
    assert [(b.line, b.error) for b in parsed.bad] == [
        (1, "malformed line (unexpected end of data)"),
        (2, "duplicate header: a header line after the first row"),
    ]
    assert parse_batch(b"A1,days,7\n").has_header is False


def test_crlf_is_not_part_of_the_last_cell() -> None:
    [row] = parse_batch(b"A1,days,7\r\n").rows
    assert row.cells == ("A1", "days", "7")


def test_row_keys_are_stable_across_versions() -> None:
    # Keys are stored in journals: a resumed batch must find its rows under them.
    rows = parse_batch(b"A1,days,7\nA1,days,7\nA1,free,\n").rows
    assert [r.key for r in rows] == [
        "A1\x1fdays\x1f7\x1f0",
        "A1\x1fdays\x1f7\x1f1",
        "A1\x1ffree\x1f0\x1f0",
    ]


def test_results_rows_have_three_input_columns_exactly() -> None:
    results = [
        RowResult(2, ("A1", "days", "7", "extra"), INVALID, error="wrong column count"),
        RowResult(3, ("A2",), INVALID, error="short"),
        RowResult(4, (), INVALID, error="empty"),
    ]
    assert results_csv(results).splitlines()[1:] == [
        "2,A1,days,7,,,invalid,wrong column count",
        "3,A2,,,,,invalid,short",
        "4,,,,,,invalid,empty",
    ]


def test_error_text_and_counts() -> None:
    assert error_text(NotFoundError("no item 'X'")) == "NotFoundError: no item 'X'"
    assert error_text(ValueError("bad\n  value")) == "ValueError: bad value"
    totals = counts([RowResult(1, (), ISSUED), RowResult(2, (), "other")])
    assert totals == {
        ISSUED: 1,
        RECOVERED: 0,
        SKIPPED_DONE: 0,
        INVALID: 0,
        FAILED: 0,
        UNKNOWN: 0,
        "other": 1,
    }


def test_plan_reports_done_rows_with_their_codes(tmp_path: Path) -> None:
    parsed = parse_batch(b"A1,days,7\nA2,free,\n")
    with Journal.open(tmp_path / "j.db", identity(parsed.sha256)) as journal:
        first = parsed.rows[0]
        journal.record_intent(first.key, 1, "A1", "days", 7, "0123456789abcdef")
        journal.record_code(first.key, "ABCDEF0123456789", "*123 456#", recovered=False)
        todo = plan(parsed, journal)
    assert todo.settled == [
        RowResult(1, ("A1", "days", "7"), SKIPPED_DONE, "*123 456#", "ABCDEF0123456789")
    ]
    assert todo.pending == [parsed.rows[1]]


def test_unique_sets_each_repeat_aside_unless_the_journal_knows_it(tmp_path: Path) -> None:
    data = b"A1,days,7\nA2,free,\nA1,days,7\nA1,days,7\nA1,days,7\nA3,reset,\nA4,weekly,1\n"
    parsed = parse_batch(data)
    rows = {row.line: row for row in parsed.rows}
    with Journal.open(tmp_path / "j.db", identity(parsed.sha256)) as journal:
        # An earlier run without --unique: line 2 has its code; line 4, a repeat, was
        # sent and its outcome is not known.
        journal.record_intent(rows[2].key, 2, "A2", "free", 0, "00000000000000a2")
        journal.record_code(rows[2].key, "00000000000000A2", "*002#", recovered=False)
        journal.record_intent(rows[4].key, 4, "A1", "days", 7, "00000000000000a4")
        todo = plan(parsed, journal)
        unique = drop_duplicates(todo, duplicates(parsed.rows), journal)
    same = "the same code as line 1; not issued (--unique)"
    assert [r.line for r in todo.settled] == [7, 2]
    assert unique.settled == [
        *todo.settled,
        RowResult(3, ("A1", "days", "7"), DUPLICATE, error=same),
        RowResult(5, ("A1", "days", "7"), DUPLICATE, error=same),
    ]
    # Line 4 stays: its request is settled from the history, never forgotten.
    assert unique.pending == [rows[1], rows[4], rows[6]]


def test_journal_entries_meta_and_repr(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, identity()) as journal:
        assert repr(journal) == f"Journal({str(path)!r})"
        assert journal.path == path
        meta = journal.meta()
        assert set(meta) == {"format", "created_at", "input_path", "input_sha256", "url", "email"}
        assert (meta["format"], meta["input_path"], meta["input_sha256"]) == (
            "erm-batch-journal/1",
            "/tmp/in.csv",
            "a" * 64,
        )
        assert (meta["url"], meta["email"]) == ("http://127.0.0.1:1/graphql", "d@example.test")
        journal.record_intent("k1", 2, "A1", "days", 7, "0123456789abcdef")
        journal.record_intent("k2", 3, "A2", "free", 0, "fedcba9876543210")
        journal.record_intent("k3", 4, "A3", "reset", 0, "00000000000000aa")
        journal.record_failure("k2", "NotFoundError: no item", invalid=True)
        journal.record_failure("k3", "TimeoutError: slow")
        k1, k2, k3 = journal.entries()
    assert k1 == Entry("k1", 2, "A1", "days", 7, "0123456789abcdef", SENT, "", "", False, "", 1)
    assert (k2.state, k2.error, k2.type, k2.item) == (
        "invalid",
        "NotFoundError: no item",
        "free",
        "A2",
    )
    assert (k3.state, k3.error) == ("failed", "TimeoutError: slow")


def test_closing_a_journal_twice_is_harmless(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "j.db", identity())
    journal.close()
    journal.close()
    os.fstat(1)  # the second close closed nothing else
    with Journal.open(tmp_path / "j.db", identity()):
        pass


def test_journal_mismatch_messages_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, identity()):
        pass
    other = Identity("/tmp/other.csv", "b" * 64, "http://127.0.0.1:2/graphql", "x@y.z")
    with pytest.raises(JournalMismatchError) as info:
        Journal.open(path, other)
    assert info.value.message == (
        f"journal {path} does not match this run: it was written for /tmp/in.csv "
        f"(sha256 {'a' * 12}), and /tmp/other.csv has different content "
        f"(sha256 {'b' * 12}); it issues for d@example.test at http://127.0.0.1:1/graphql, "
        "not x@y.z at http://127.0.0.1:2/graphql. Use a new --journal for a new batch, or "
        "--force to resume with this file (rows the journal already holds are not issued "
        "again)"
    )
    moved = Identity("/tmp/moved.csv", "a" * 64, "http://127.0.0.1:1/graphql", "d@example.test")
    with Journal.open(path, moved) as journal:
        assert journal.notices == [
            "the input moved from /tmp/in.csv to /tmp/moved.csv (same content); resuming"
        ]
        assert journal.meta()["input_path"] == "/tmp/moved.csv"


def test_journal_errors_say_which_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir" / "j.db"
    with pytest.raises(JournalError) as info:
        Journal.open(missing, identity())
    assert info.value.message.startswith(f"cannot open journal {missing}: ")
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    db.commit()
    db.close()
    with pytest.raises(JournalError) as info:
        Journal.open(other, identity())
    assert info.value.message == (
        f"{other} is not an erm batch journal (format 'something-else'); "
        "give --journal a new file name"
    )


def test_a_resumed_run_records_what_it_recovered_and_resent(tmp_path: Path) -> None:
    server = FakeServer(["I0", "I1", "I2"])
    # Request 2 dies after the server issued it; request 3, in flight beside it, is
    # cancelled before it reaches the server.
    with pytest.raises(BaseExceptionGroup):
        run_once(tmp_path / "j.db", FakeClient(server, crash_after_commit={2}))
    with Journal.open(tmp_path / "j.db", identity(parse_batch(CSV).sha256)) as journal:
        before = {e.key: e for e in journal.entries()}
    in_doubt = {k for k, e in before.items() if e.state == SENT}
    assert len(in_doubt) >= 2
    results, totals = run_once(tmp_path / "j.db", FakeClient(server))
    with Journal.open(tmp_path / "j.db", identity(parse_batch(CSV).sha256)) as journal:
        after = {e.key: e for e in journal.entries()}
    by_line = {r.line: r for r in results}  # type: ignore[attr-defined]
    codes = {c.request_id: c for h in server.history.values() for c in h}
    assert len(codes) == 12
    recovered = [k for k in in_doubt if after[k].recovered]
    resent = [k for k in in_doubt if not after[k].recovered]
    assert recovered and resent
    for key in in_doubt:
        entry = after[key]
        code = codes[entry.request_id]
        assert entry.request_id == before[key].request_id, "the same id across runs"
        assert (entry.state, entry.code_hex, entry.code_dec) == (DONE, code.code_hex, code.code_dec)
        result = by_line[entry.line]
        assert result.cells == tuple(CSV.decode().splitlines()[entry.line - 1].split(","))
        assert (result.code_dec, result.code_hex) == (code.code_dec, code.code_hex)
        assert result.status == (RECOVERED if entry.recovered else ISSUED)
    for key in resent:
        assert after[key].attempts == 2
    assert totals[RECOVERED] == len(recovered)


def test_failed_and_invalid_rows_are_journaled_with_their_error(tmp_path: Path) -> None:
    data = b"I0,days,7\nNOPE,free,\nI0,reset,\n"
    server = FakeServer(["I0"])
    client = FakeClient(server, fail={2: ErmTimeoutError("no answer in 30 s")})
    results, _ = run_once(tmp_path / "j.db", client, data)
    with Journal.open(tmp_path / "j.db", identity(parse_batch(data).sha256)) as journal:
        entries = {e.line: e for e in journal.entries()}
    unknown = "no item 'NOPE' among this distributor's items"
    assert (entries[2].state, entries[2].error) == ("invalid", unknown)
    assert (entries[3].state, entries[3].error) == ("failed", "ErmTimeoutError: no answer in 30 s")
    assert results[1] == RowResult(2, ("NOPE", "free", ""), INVALID, error=unknown)
    assert results[2] == RowResult(
        3, ("I0", "reset", ""), FAILED, error="ErmTimeoutError: no answer in 30 s"
    )


def test_runner_reports_start_and_each_result(tmp_path: Path) -> None:
    parsed = parse_batch(CSV)
    started: list[int] = []
    seen: list[RowResult] = []
    with Journal.open(tmp_path / "j.db", identity(parsed.sha256)) as journal:
        runner = BatchRunner(
            FakeClient(FakeServer(["I0", "I1", "I2"])),
            journal,
            on_start=started.append,
            on_result=seen.append,
        )
        results = asyncio.run(runner.run(parsed.rows))
    assert started == [12]
    assert sorted(seen, key=lambda r: r.line) == results


class InDoubtReadingClient(FakeClient):
    """A FakeClient that keeps, for each request id it is asked to issue, what the
    process holds about an earlier attempt of it: when it was sent, if it may still
    land (``pending_at``), else None."""

    def __init__(self, server: FakeServer) -> None:
        super().__init__(server)
        self.pending: dict[str, float | None] = {}
        self.order: list[str] = []

    async def issue(
        self,
        kind: CodeTypes,
        item: Item | str,
        days: int | None = None,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        assert request_id is not None
        self.pending[request_id] = pending_at(request_id)
        self.order.append(request_id)
        return await super().issue(kind, item, days, description, request_id=request_id)


def test_a_row_an_earlier_run_left_unknown_is_handed_over_as_in_doubt(tmp_path: Path) -> None:
    # Line 1 was sent and its outcome stayed unknown; line 2 was refused (nothing was
    # issued); line 3 was sent when the run stopped. Lines 1 and 3 may still land: the
    # client is told when each was sent, so that it sends again only on evidence.
    data = b"I0,days,1\nI1,days,2\nI2,days,3\n"
    parsed = parse_batch(data)
    rids = {1: "1d0000000000000a", 2: "1d0000000000000b", 3: "1d0000000000000c"}
    with Journal.open(tmp_path / "j.db", identity(parsed.sha256)) as journal:
        for row in parsed.rows:
            journal.record_intent(row.key, row.line, row.item, row.type, row.days, rids[row.line])
        unknown = OutcomeUnknownError("no answer", request_id=rids[1], item_id="I0")
        journal.record_failure(parsed.rows[0].key, error_text(unknown))
        journal.record_failure(parsed.rows[1].key, error_text(CodeLimitError("daily limit")))
        sent = {row.line: journal.get(row.key) for row in parsed.rows}
        client = InDoubtReadingClient(FakeServer(["I0", "I1", "I2"]))
        try:
            results = asyncio.run(BatchRunner(client, journal).run(parsed.rows))
        finally:
            for rid in rids.values():
                clear_pending(rid)
    assert [entry.state if entry else None for entry in sent.values()] == [
        JOURNAL_FAILED,
        JOURNAL_FAILED,
        SENT,
    ]
    assert sent[1] is not None and sent[3] is not None
    assert client.pending == {
        rids[1]: sent[1].updated_at,
        rids[2]: None,
        rids[3]: sent[3].updated_at,
    }
    assert [r.status for r in results] == [ISSUED] * 3


def test_rows_an_earlier_run_sent_go_first_within_their_item(tmp_path: Path) -> None:
    # Line 3 was sent by an earlier run: it is settled before lines 1 and 2 of its item
    # are sent, so that a late original is known before anything new goes out.
    data = b"I0,days,1\nI0,days,2\nI0,days,3\n"
    parsed = parse_batch(data)
    earlier = "5e0000000000000c"
    seen: list[int] = []
    with Journal.open(tmp_path / "j.db", identity(parsed.sha256)) as journal:
        row = parsed.rows[2]
        journal.record_intent(row.key, row.line, row.item, row.type, row.days, earlier)
        client = InDoubtReadingClient(FakeServer(["I0"]))
        try:
            asyncio.run(
                BatchRunner(client, journal, on_result=lambda r: seen.append(r.line)).run(
                    parsed.rows
                )
            )
        finally:
            clear_pending(earlier)
    assert seen == [3, 1, 2]
    assert client.order[0] == earlier and len(set(client.order)) == 3


def test_a_malformed_crlf_line_is_shown_without_its_line_end() -> None:
    parsed = parse_batch(b'"A1,days,7\r\n\xffA2,free,\r\n')
    assert [b.cells for b in parsed.bad] == [('"A1,days,7',), ("\ufffdA2,free,",)]


def test_reopening_for_the_same_file_gives_no_notice(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db", identity()):
        pass
    with Journal.open(tmp_path / "j.db", identity()) as journal:
        assert journal.notices == []


def test_days_go_with_days_codes_only(tmp_path: Path) -> None:
    client = FakeClient(FakeServer(["I0"]))
    run_once(tmp_path / "j.db", client, b"I0,days,7\nI0,free,\nI0,reset,0\n")
    assert client.calls == [("DAYSCODE", 7), ("FREECODE", None), ("RESETCODE", None)]


class StallingClient(FakeClient):
    """Sends the rows in ``stall`` (item, type) and never answers them, like a server
    that has gone quiet, until the run is interrupted."""

    def __init__(self, server: FakeServer, stall: set[tuple[str, str]]) -> None:
        super().__init__(server)
        self.stall = stall
        self.stalled: list[str] = []
        self.all_stalled = asyncio.Event()

    async def issue(
        self,
        kind: CodeTypes,
        item: Item | str,
        days: int | None = None,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        if (str(item), kind.value) in self.stall:
            self.stalled.append(str(item))
            if len(self.stalled) == len(self.stall):
                self.all_stalled.set()
            await asyncio.Event().wait()
        return await super().issue(kind, item, days, description, request_id=request_id)


def test_an_interrupted_run_lists_its_unfinished_rows_in_doubt_or_unsent(tmp_path: Path) -> None:
    # I0: its days code is issued, its free code stalls. I1: its days code stalls, so its
    # reset code is never sent. Then the run is interrupted, as Ctrl-C does.
    data = b"I0,days,1\nI0,free,\nI1,days,2\nI1,reset,\n"
    parsed = parse_batch(data)

    async def interrupted(journal: Journal) -> list[RowResult]:
        client = StallingClient(FakeServer(["I0", "I1"]), {("I0", "FREECODE"), ("I1", "DAYSCODE")})
        runner = BatchRunner(client, journal)
        task = asyncio.ensure_future(runner.run(parsed.rows))
        # A few steps of the event loop take both items to their stall. Should the run end
        # early or stop short, the test fails here rather than waiting forever.
        for _ in range(1000):
            if client.all_stalled.is_set() or task.done():
                break
            await asyncio.sleep(0)
        if task.done():
            task.result()
        assert sorted(client.stalled) == ["I0", "I1"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [r.line for r in runner.results] == [1]
        return unfinished(parsed.rows, runner.results, journal)

    with Journal.open(tmp_path / "j.db", identity(parsed.sha256)) as journal:
        left = asyncio.run(interrupted(journal))
        rid = {row.line: entry.request_id for row in parsed.rows if (entry := journal.get(row.key))}
    assert sorted(rid) == [1, 2, 3]
    assert left == [
        RowResult(
            2,
            ("I0", "free", ""),
            INTERRUPTED,
            error=f"a code may have been issued (request {rid[2]}); "
            "run the same command again to settle it from the item's history",
        ),
        RowResult(
            3,
            ("I1", "days", "2"),
            INTERRUPTED,
            error=f"a code may have been issued (request {rid[3]}); "
            "run the same command again to settle it from the item's history",
        ),
        RowResult(
            4,
            ("I1", "reset", ""),
            INTERRUPTED,
            error="not sent: run the same command again to issue it",
        ),
    ]

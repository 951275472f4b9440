"""The batch journal: a SQLite file that makes ``erm batch`` resumable after any crash.

Every row passes through at most three records, each committed on its own with
``synchronous=FULL`` in WAL mode, so that it is on disk before the next step starts:

1. ``record_intent``: the row and the request id it is about to be sent with. Written
   *before* the request leaves, so a crash at any later point leaves a trace.
2. ``record_code``: the code, once the client returns it.
3. ``record_failure``: the error, when the client gave up (the request id is kept, so a
   later run first looks for that id in the item's history before sending again).

The journal also records what it belongs to: the input file (path and SHA-256) and the
endpoint and account. Opening it for a different file or account is refused unless
``force`` is given. Only one process may hold a journal at a time (an advisory lock,
released by the kernel even on ``kill -9``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from ._constants import JOURNAL_BUSY_TIMEOUT
from .errors import ErmError

FORMAT = "erm-batch-journal/1"

# States of a journal entry.
SENT = "sent"  # intent recorded; the outcome is unknown until a code is recorded
DONE = "done"  # the code is recorded
FAILED = "failed"  # the client gave up; the request may still have been issued
INVALID = "invalid"  # the server refused the row as written (unknown item, bad input)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rows (
    key        TEXT PRIMARY KEY,
    line       INTEGER NOT NULL,
    item       TEXT NOT NULL,
    type       TEXT NOT NULL,
    days       INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('sent', 'done', 'failed', 'invalid')),
    code_hex   TEXT,
    code_dec   TEXT,
    recovered  INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    attempts   INTEGER NOT NULL DEFAULT 1,
    intent_at  REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""


class JournalError(ErmError):
    """The journal cannot be used: unreadable, not a journal, or held by another run."""


class JournalBusyError(JournalError):
    """Another process is running a batch with this journal."""


class JournalMismatchError(JournalError):
    """The journal belongs to another input file or account; pass ``force`` to override."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a journal belongs to: the input file and the account it issues for."""

    input_path: str
    input_sha256: str
    url: str
    email: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One row as the journal knows it."""

    key: str
    line: int
    item: str
    type: str
    days: int
    request_id: str
    state: str
    code_hex: str
    code_dec: str
    recovered: bool
    error: str
    attempts: int
    # When the row was last recorded (epoch seconds): for a row in doubt, its latest
    # attempt was sent at this time or just after. Not part of a row's identity.
    updated_at: float = field(default=0.0, compare=False)

    @property
    def done(self) -> bool:
        """Whether the row's code is recorded."""
        return self.state == DONE


class Journal:
    """A batch journal file; use ``Journal.open(...)`` as a context manager."""

    def __init__(self, path: Path, db: sqlite3.Connection, lock_fd: int) -> None:
        self.path = path
        self._db = db
        # None once closed: any descriptor number, 0 included, is a held lock.
        self._lock_fd: int | None = lock_fd
        self.notices: list[str] = []

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @classmethod
    def open(cls, path: Path, identity: Identity, *, force: bool = False) -> Journal:
        """Open (or create) the journal at ``path`` for ``identity``.

        Raises ``JournalMismatchError`` if it was written for another input file
        (different SHA-256), endpoint or account, unless ``force``; ``JournalBusyError``
        if another process holds it; ``JournalError`` if it is not a journal, if ``path``
        names no file (``:memory:``) or if it cannot be opened (too many open files).
        """
        _refuse_unnamed(path)
        lock_fd = _lock(path)
        try:
            db = _connect(path)
        except BaseException:
            os.close(lock_fd)
            raise
        journal = cls(path, db, lock_fd)
        try:
            journal._claim(identity, force)
        except BaseException:
            journal.close()
            raise
        return journal

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database, then release the lock (in that order: see ``_lock``)."""
        if self._lock_fd is None:
            return
        self._db.close()
        os.close(self._lock_fd)
        self._lock_fd = None

    # -- identity -------------------------------------------------------------------

    def meta(self) -> dict[str, str]:
        """The journal's metadata (format, input file, account, creation time)."""
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def _claim(self, identity: Identity, force: bool) -> None:
        meta = self.meta()
        wanted = {
            "input_path": identity.input_path,
            "input_sha256": identity.input_sha256,
            "url": identity.url,
            "email": identity.email,
        }
        if not meta:
            self._set_meta({"format": FORMAT, "created_at": f"{time.time():.3f}", **wanted})
            return
        if meta.get("format") != FORMAT:
            raise JournalError(
                f"{self.path} is not an erm batch journal (format {meta.get('format')!r}); "
                "give --journal a new file name"
            )
        problems = []
        if meta.get("input_sha256") != identity.input_sha256:
            problems.append(
                f"it was written for {meta.get('input_path')} "
                f"(sha256 {meta.get('input_sha256', '')[:12]}), and {identity.input_path} "
                f"has different content (sha256 {identity.input_sha256[:12]})"
            )
        if (meta.get("url"), meta.get("email")) != (identity.url, identity.email):
            problems.append(
                f"it issues for {meta.get('email')} at {meta.get('url')}, not "
                f"{identity.email} at {identity.url}"
            )
        if problems and not force:
            raise JournalMismatchError(
                f"journal {self.path} does not match this run: {'; '.join(problems)}. "
                "Use a new --journal for a new batch, or --force to resume with this file "
                "(rows the journal already holds are not issued again)"
            )
        if problems:
            self.notices.append(f"--force: resuming journal {self.path} although {problems[0]}")
        elif meta.get("input_path") != identity.input_path:
            self.notices.append(
                f"the input moved from {meta.get('input_path')} to {identity.input_path} "
                "(same content); resuming"
            )
        self._set_meta(wanted)

    def _set_meta(self, values: dict[str, str]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    # -- rows -----------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        """The entry of the row ``key``, or None if the row was never sent."""
        row = self._db.execute(_SELECT + " WHERE key = ?", (key,)).fetchone()
        return _entry(row) if row is not None else None

    def entries(self) -> list[Entry]:
        """Every entry, in line order."""
        return [_entry(r) for r in self._db.execute(_SELECT + " ORDER BY line, key")]

    def record_intent(
        self, key: str, line: int, item: str, kind: str, days: int, request_id: str
    ) -> None:
        """Record that row ``key`` is about to be sent with ``request_id`` (durable)."""
        now = time.time()
        with self._db:
            self._db.execute(
                "INSERT INTO rows (key, line, item, type, days, request_id, state, "
                "intent_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (key, line, item, kind, days, request_id, SENT, now, now),
            )

    def record_attempt(self, key: str, line: int) -> None:
        """Record that row ``key`` is sent again with its recorded request id (durable)."""
        with self._db:
            self._db.execute(
                "UPDATE rows SET state = ?, line = ?, error = NULL, attempts = attempts + 1, "
                "updated_at = ? WHERE key = ? AND state != ?",
                (SENT, line, time.time(), key, DONE),
            )

    def record_code(self, key: str, code_hex: str, code_dec: str, *, recovered: bool) -> None:
        """Record the code issued for row ``key`` (durable)."""
        with self._db:
            self._db.execute(
                "UPDATE rows SET state = ?, code_hex = ?, code_dec = ?, recovered = ?, "
                "error = NULL, updated_at = ? WHERE key = ?",
                (DONE, code_hex, code_dec, int(recovered), time.time(), key),
            )

    def record_failure(self, key: str, error: str, *, invalid: bool = False) -> None:
        """Record that row ``key`` failed; its request id stays for the next run."""
        with self._db:
            self._db.execute(
                "UPDATE rows SET state = ?, error = ?, updated_at = ? WHERE key = ? AND state != ?",
                (INVALID if invalid else FAILED, error, time.time(), key, DONE),
            )


_SELECT = (
    "SELECT key, line, item, type, days, request_id, state, code_hex, code_dec, recovered, "
    "error, attempts, updated_at FROM rows"
)


def _entry(row: tuple[object, ...]) -> Entry:
    key, line, item, kind, days, rid, state, code_hex, code_dec, recovered, error, attempts, at = (
        row
    )
    return Entry(
        key=str(key),
        line=int(str(line)),
        item=str(item),
        type=str(kind),
        days=int(str(days)),
        request_id=str(rid),
        state=str(state),
        code_hex=str(code_hex or ""),
        code_dec=str(code_dec or ""),
        recovered=bool(recovered),
        error=str(error or ""),
        attempts=int(str(attempts)),
        updated_at=float(str(at)),
    )


def _refuse_unnamed(path: Path) -> None:
    """Refuse a path that SQLite would not keep on disk (``:memory:``).

    Such a journal would vanish with the process, and with it every code issued and the
    request id of every row in doubt.
    """
    if str(path) == ":memory:":
        raise JournalError(
            "--journal :memory: keeps nothing after the run, so an interrupted batch could "
            "not be resumed; give --journal a file name"
        )


def _above_stdio(fd: int) -> int:
    """``fd``, moved above the standard descriptors (0, 1, 2) if it is one of them.

    A process started with standard input (or output) closed gets the lowest free
    descriptor for the journal; a later read of standard input, or a stray write to
    standard output, would then reach the database file.
    """
    if fd > 2:
        return fd
    import fcntl

    try:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        os.close(fd)
    return moved


def _lock(path: Path) -> int:
    """Create the file (0600: it will hold codes) and lock it for this process.

    The lock is ``flock`` on a descriptor of the database file itself, so there is no
    lock file to leave behind; ``flock`` locks are independent of SQLite's own ``fcntl``
    locks. The descriptor stays open until after the database is closed, because closing
    any descriptor of the file would drop SQLite's ``fcntl`` locks.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise JournalError(f"cannot open journal {path}: {exc.strerror}") from None
    try:
        import fcntl
    except ImportError:  # not POSIX: no cross-process guard
        return fd
    try:
        fd = _above_stdio(fd)
    except OSError as exc:
        raise JournalError(f"cannot open journal {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise JournalBusyError(
            f"journal {path} is in use by another erm batch; wait for it to finish"
        ) from None
    return fd


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, isolation_level=None, timeout=JOURNAL_BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open journal {path}: {exc}") from None
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"journal {path}: SQLite refused WAL mode ({mode})")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(_SCHEMA)
    except sqlite3.OperationalError as exc:
        # The file is there but SQLite cannot use it: its -wal or -shm file cannot be
        # opened (no descriptor left, a read-only directory), or another program holds
        # it locked for longer than the busy timeout.
        db.close()
        raise JournalError(f"cannot open journal {path}: {exc}") from None
    except sqlite3.DatabaseError as exc:
        db.close()
        raise JournalError(
            f"{path} is not an erm batch journal ({exc}); give --journal a new file name"
        ) from None
    # ``with db:`` commits each record as one transaction; in autocommit mode that
    # needs explicit BEGIN, which the context manager does not issue, so switch to the
    # default deferred mode now that the pragmas (which refuse a transaction) are set.
    db.isolation_level = "DEFERRED"
    return db

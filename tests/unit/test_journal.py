"""The batch journal at the edges of its environment: names SQLite keeps in memory, no
descriptor left, standard input closed, another program holding the write lock, and a
first run interrupted while it writes the journal's identity.

Each case must end in a ``JournalError`` with a message (which the command line prints
on one line) or in a journal that works, never in another exception.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnivoltaic_erm._constants import JOURNAL_BUSY_TIMEOUT
from omnivoltaic_erm.journal import Journal, JournalError, JournalMismatchError, _connect, _lock
from tests.e2e.test_batch import identity

RID = "0123456789abcdef"


def test_memory_is_refused_and_no_file_of_that_name_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(JournalError) as info:
        Journal.open(Path(":memory:"), identity())
    assert info.value.message == (
        "--journal :memory: keeps nothing after the run, so an interrupted batch could not "
        "be resumed; give --journal a file name"
    )
    assert list(tmp_path.iterdir()) == []


def test_sqlite_refusing_wal_is_a_journal_error_with_a_message() -> None:
    # SQLite keeps ":memory:" in memory and refuses WAL for it, as it does on file
    # systems without shared memory: the message is what the command line prints.
    with pytest.raises(JournalError) as info:
        _connect(Path(":memory:"))
    assert info.value.message == "journal :memory:: SQLite refused WAL mode (memory)"


@contextlib.contextmanager
def descriptors_left(free: int) -> Iterator[list[int]]:
    """Exactly ``free`` descriptors left to this process while the block runs; yields the
    descriptors it holds (a test may close one of them to choose which one is free)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    # A low limit keeps the number of descriptors to fill small.
    in_use = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, in_use + 64), hard))
    try:
        with contextlib.suppress(OSError):
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        for _ in range(free):
            os.close(held.pop())
        yield held
    finally:
        for fd in held:
            with contextlib.suppress(OSError):
                os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("free", [0, 1, 2, 3])
def test_running_out_of_descriptors_is_a_journal_error_naming_the_file(
    tmp_path: Path, free: int
) -> None:
    # 0: the lock's open fails; 1: SQLite's open of the database; 2 and 3: its -wal or
    # -shm file, which WAL mode opens.
    path = tmp_path / "j.db"
    with descriptors_left(free), pytest.raises(JournalError) as info:
        Journal.open(path, identity())
    assert info.value.message.startswith(f"cannot open journal {path}: "), info.value.message
    # Nothing stays held: the journal opens once descriptors are back.
    with Journal.open(path, identity()) as journal:
        journal.record_intent("k1", 2, "A1", "days", 7, RID)


@contextlib.contextmanager
def closed(*fds: int) -> Iterator[None]:
    """Standard descriptors ``fds`` closed while the block runs, as in a process started
    with ``<&-`` (standard input) or ``>&-`` (output) by a shell or a service manager."""
    saved: dict[int, int] = {}
    for fd in fds:
        with contextlib.suppress(OSError):  # already closed
            saved[fd] = os.dup(fd)
    for fd in saved:
        os.close(fd)
    try:
        yield
    finally:
        for fd, copy in saved.items():
            with contextlib.suppress(OSError):
                os.close(fd)
            os.dup2(copy, fd)
            os.close(copy)


def stdin_closed() -> contextlib.AbstractContextManager[None]:
    """Descriptor 0 closed while the block runs."""
    return closed(0)


def is_journal(fd: int, path: Path) -> bool:
    """Whether descriptor ``fd`` is open on the file at ``path``."""
    try:
        found = os.fstat(fd)
    except OSError:
        return False
    return os.path.samestat(found, os.stat(path))


def test_with_standard_input_closed_the_journal_keeps_off_descriptor_0(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with stdin_closed():
        journal = Journal.open(path, identity())
        # Descriptor 0 is not the journal's (SQLite puts /dev/null there): reading
        # standard input cannot reach the database.
        assert not is_journal(0, path)
        journal.record_intent("k1", 2, "A1", "days", 7, RID)
        journal.close()
        # Closed for good: the lock is released, so the journal opens again at once.
        with Journal.open(path, identity()) as again:
            assert again.get("k1") is not None
            assert not is_journal(0, path)


@pytest.mark.parametrize("fds", [(2,), (0, 1), (0, 1, 2)], ids=["stderr", "stdin+out", "all"])
def test_with_standard_descriptors_closed_the_journal_keeps_off_them(
    tmp_path: Path, fds: tuple[int, ...]
) -> None:
    # Nothing may print into the journal (stdout, stderr) or read it (stdin). pytest's
    # own capture is on other descriptors while these are closed.
    path = tmp_path / "j.db"
    with closed(*fds):
        with Journal.open(path, identity()) as journal:
            assert not any(is_journal(fd, path) for fd in (0, 1, 2))
            journal.record_intent("k1", 2, "A1", "days", 7, RID)
        with Journal.open(path, identity()) as again:
            assert again.get("k1") is not None


def test_no_descriptor_left_to_move_the_lock_above_2_is_a_journal_error(
    tmp_path: Path,
) -> None:
    # Standard input closed and every other descriptor taken: the journal's file opens
    # on 0, and there is none to move it to.
    path = tmp_path / "j.db"
    with stdin_closed(), descriptors_left(0) as held:
        assert held[0] == 0
        os.close(0)
        with pytest.raises(JournalError) as info:
            Journal.open(path, identity())
    assert info.value.message.startswith(f"cannot open journal {path}: "), info.value.message
    with Journal.open(path, identity()):
        pass


def test_a_lock_descriptor_of_0_is_released_on_close(tmp_path: Path) -> None:
    # A descriptor number 0 is a lock like any other (the journal moves its own above 2,
    # but close must not tell "closed" by the number).
    path = tmp_path / "j.db"
    with stdin_closed():
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        assert fd == 0
        journal = Journal(path, _connect(path), fd)
        journal.close()
        assert not is_journal(0, path)
    with Journal.open(path, identity()):
        pass


def test_a_write_waits_for_another_program_holding_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, identity()) as journal:
        waits = journal._db.execute("PRAGMA busy_timeout").fetchone()[0]
        assert waits == int(JOURNAL_BUSY_TIMEOUT * 1000)
        # Another program (an sqlite3 shell, a backup) takes the write lock, and lets go
        # of it a little later: the journal's write waits for it instead of failing.
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO meta (key, value) VALUES ('note', 'backup')")
        release = threading.Thread(target=lambda: (time.sleep(0.3), other.execute("COMMIT")))
        release.start()
        try:
            journal.record_intent("k1", 2, "A1", "days", 7, RID)
        finally:
            release.join()
            other.close()
        entry = journal.get("k1")
        assert entry is not None and entry.request_id == RID
        assert journal.meta()["note"] == "backup"


def first_claim_steps(path: Path) -> int:
    """How many SQLite progress steps a new journal's first identity write takes."""
    journal = Journal(path, _connect(path), _lock(path))
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    try:
        journal._db.set_progress_handler(count, 1)
        journal._claim(identity(), False)
    finally:
        journal.close()
    return steps


def test_a_first_run_interrupted_while_writing_its_identity_resumes_cleanly(
    tmp_path: Path,
) -> None:
    total = first_claim_steps(tmp_path / "probe.db")
    assert total > 4
    for stop_at in range(1, total, max(1, total // 25)):
        path = tmp_path / f"j{stop_at}.db"
        journal = Journal(path, _connect(path), _lock(path))
        steps = 0

        def interrupt(stop_at: int = stop_at) -> int:
            nonlocal steps
            steps += 1
            return 1 if steps >= stop_at else 0

        journal._db.set_progress_handler(interrupt, 1)
        with pytest.raises(sqlite3.OperationalError, match="interrupted"):
            journal._claim(identity(), False)
        journal.close()
        # Either nothing of the identity was kept, or all of it: never a part that
        # makes the same batch look like another one.
        with Journal.open(path, identity()) as again:
            assert again.notices == []
            meta = again.meta()
            assert meta["input_sha256"] == identity().input_sha256
            assert meta["email"] == identity().email


def test_a_journal_missing_its_input_hash_is_refused_with_a_message(tmp_path: Path) -> None:
    # Edited by hand, or cut short by a program other than erm: the journal does not
    # say which file it was written for, so it is another batch's, not a crash.
    path = tmp_path / "j.db"
    with Journal.open(path, identity()):
        pass
    db = sqlite3.connect(path)
    with db:
        db.execute("DELETE FROM meta WHERE key = 'input_sha256'")
    db.close()
    with pytest.raises(JournalMismatchError) as info:
        Journal.open(path, identity())
    assert info.value.message.startswith(
        f"journal {path} does not match this run: it was written for /tmp/in.csv "
        f"(sha256 ), and /tmp/in.csv has different content (sha256 {'a' * 12}). "
    )

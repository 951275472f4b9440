"""Interrupting a code request never hides a code, on both faces and in ``erm code``.

Three places, against a sandbox that holds answers after committing them: before the
request is sent (waiting out the item's code interval), while the answer is held, and
after the answer has returned. Each case checks what the caller sees (the error and its
request id), that nothing more reaches the server (the sandbox counts every
authorised request as a ``delay`` fault: ``delay=1:0`` to count, ``delay=1:120`` to
hold), and that ``recover(item, request_id)`` returns the issued code, if any.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from omnivoltaic_erm import AsyncErmClient, ErmClient, IssuedCode, Limits
from omnivoltaic_erm.client import request_id_of
from omnivoltaic_erm.sandbox import Sandbox
from tests.support.cli_helpers import Cli

COUNT, HOLD = "delay=1:0", "delay=1:120"
# ``erm code ... --request-id`` recovering a code: the item's history, read to learn the
# item, then searched for the request id.
READS_TO_RECOVER = 2
LONG_INTERVAL = 120  # seconds: a second code for an item waits this long in the client
SENT = re.compile(
    r"^interrupted: a days code for (\S+) may have been issued \(request ([0-9a-f]{16})\); "
    r"recover it with recover\('\1', '\2'\)$"
)
NOT_SENT = re.compile(
    r"^interrupted before request ([0-9a-f]{16}) was sent: no days code was issued for (\S+)$"
)
ISSUED = re.compile(
    r"^interrupted: a days code for (\S+) was issued \(request ([0-9a-f]{16})\); "
    r"recover it with recover\('\1', '\2'\)$"
)


def requests(sb: Sandbox) -> int:
    """Authorised requests the sandbox has received since its faults were set to count."""
    return sb.fault_counts["delay"]


def notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", ()))


class _WaitsForInterval(logging.Handler):
    """Sets ``seen`` when the issuing machine starts waiting out an item's interval."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "waits" in record.getMessage():
            self.seen.set()


@pytest.fixture
def waiting() -> Iterator[threading.Event]:
    logger = logging.getLogger("omnivoltaic_erm.issuing")
    handler, level = _WaitsForInterval(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.seen
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def sb(erm_sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return erm_sandbox_factory(items=3, code_interval=LONG_INTERVAL)


def key_of(sb: Sandbox) -> str:
    return str(sb.items()[0]["oemItemID"])


def new_event(sb: Sandbox, key: str, before: int) -> Callable[[], bool]:
    return lambda: len(sb.history(key)) > before


@contextmanager
def ctrl_c_when(condition: Callable[[], bool]) -> Iterator[None]:
    """Ctrl-C (SIGINT to this process, which Linux gives the main thread) once
    ``condition`` holds; the default handler raises ``KeyboardInterrupt``."""
    assert threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            if condition():
                os.kill(os.getpid(), signal.SIGINT)
                return
            stop.wait(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        signal.signal(signal.SIGINT, previous)


# -- the sync face: Ctrl-C in the calling thread -------------------------------------


def sync_client(sb: Sandbox) -> ErmClient:
    return ErmClient(sb.url, sb.email, sb.password, limits=Limits(code_interval=2.0))


def test_sync_ctrl_c_before_sending(sb: Sandbox, waiting: threading.Event) -> None:
    key = key_of(sb)
    with sync_client(sb) as erm:
        erm.generate_days_code(key, days=1)  # the second code must wait out the interval
        sb.faults = COUNT
        with ctrl_c_when(waiting.is_set), pytest.raises(KeyboardInterrupt) as info:
            erm.generate_days_code(key, days=7)
        assert requests(sb) == 0
    assert requests(sb) == 0  # nothing was sent, not even after the interruption
    (note,) = notes(info.value)
    match = NOT_SENT.match(note)
    assert match is not None, note
    assert match.group(2) == key
    assert len(sb.history(key)) == 1
    with sync_client(sb) as erm:
        assert erm.recover(key, match.group(1)) is None


def test_sync_ctrl_c_while_the_answer_is_held(sb: Sandbox) -> None:
    key = key_of(sb)
    with sync_client(sb) as erm:
        erm.item_limits(key)  # signed in, history and limits read: next is the code
        sb.faults = HOLD
        with ctrl_c_when(new_event(sb, key, 0)), pytest.raises(KeyboardInterrupt) as info:
            erm.generate_days_code(key, days=7)
        assert requests(sb) == 1
    assert requests(sb) == 1  # the held request only: nothing was sent afterwards
    (event,) = sb.history(key)
    rid = request_id_of(event["description"])
    (note,) = notes(info.value)
    match = SENT.match(note)
    assert match is not None, note
    assert match.groups() == (key, rid)
    sb.faults = ""
    with sync_client(sb) as erm:
        found = erm.recover(key, match.group(2))
    assert found is not None and found.code_hex == event["codeHexString"]
    assert len(sb.history(key)) == 1


def test_sync_ctrl_c_after_the_answer_returned(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The answer is in, but the call has not returned yet: the interrupt must still say
    # that the code was issued. The Ctrl-C is sent from the loop thread once the code is
    # in hand, and the loop waits until the main thread has taken it.
    key = key_of(sb)
    taken = threading.Event()
    with sync_client(sb) as erm:
        erm.item_limits(key)
        sb.faults = COUNT
        original = erm.aio.issue

        async def answered_then_ctrl_c(*args: Any, **kwargs: Any) -> IssuedCode:
            code = await original(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGINT)
            assert taken.wait(30)
            return code

        def on_sigint(signum: int, frame: FrameType | None) -> None:
            taken.set()
            raise KeyboardInterrupt

        monkeypatch.setattr(erm.aio, "issue", answered_then_ctrl_c)
        previous = signal.signal(signal.SIGINT, on_sigint)
        try:
            with pytest.raises(KeyboardInterrupt) as info:
                erm.generate_days_code(key, days=7)
        finally:
            signal.signal(signal.SIGINT, previous)
        assert requests(sb) == 1
    assert requests(sb) == 1
    (event,) = sb.history(key)
    (note,) = notes(info.value)
    match = ISSUED.match(note)
    assert match is not None, note
    found_key, rid = match.groups()
    assert rid == request_id_of(event["description"])
    with sync_client(sb) as erm:
        found = erm.recover(found_key, rid)
    assert found is not None and found.code_hex == event["codeHexString"]


# -- the async face: task cancellation -----------------------------------------------


def async_client(sb: Sandbox) -> AsyncErmClient:
    return AsyncErmClient(sb.url, sb.email, sb.password, limits=Limits(code_interval=2.0))


async def until(condition: Callable[[], bool]) -> None:
    while not await asyncio.to_thread(condition):
        await asyncio.sleep(0.02)


def test_async_cancel_before_sending(sb: Sandbox, waiting: threading.Event) -> None:
    key = key_of(sb)

    async def run() -> tuple[asyncio.CancelledError, str | None]:
        async with async_client(sb) as erm:
            await erm.generate_days_code(key, days=1)
            sb.faults = COUNT
            task = asyncio.create_task(erm.generate_days_code(key, days=7))
            await until(waiting.is_set)
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as info:
                await task
            assert requests(sb) == 0
            match = NOT_SENT.match(notes(info.value)[0])
            assert match is not None, notes(info.value)
            assert match.group(2) == key
            sb.faults = ""
            return info.value, await erm.recover(key, match.group(1))

    error, recovered = asyncio.run(run())
    assert len(notes(error)) == 1
    assert recovered is None
    assert len(sb.history(key)) == 1


def test_async_cancel_while_the_answer_is_held(sb: Sandbox) -> None:
    key = key_of(sb)

    async def run() -> str:
        async with async_client(sb) as erm:
            await erm.item_limits(key)
            sb.faults = HOLD
            task = asyncio.create_task(erm.generate_days_code(key, days=7))
            await until(new_event(sb, key, 0))
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as info:
                await task
            (note,) = notes(info.value)
            return note

    note = asyncio.run(run())
    assert requests(sb) == 1  # the client is closed: nothing more can come
    (event,) = sb.history(key)
    match = SENT.match(note)
    assert match is not None, note
    assert match.groups() == (key, request_id_of(event["description"]))
    sb.faults = ""

    async def recover() -> IssuedCode | None:
        async with async_client(sb) as erm:
            return await erm.recover(key, match.group(2))

    found = asyncio.run(recover())
    assert found is not None and found.code_hex == event["codeHexString"]


def test_async_cancel_after_the_answer_returned(sb: Sandbox) -> None:
    key = key_of(sb)

    async def run() -> IssuedCode:
        async with async_client(sb) as erm:
            await erm.item_limits(key)
            sb.faults = COUNT
            task = asyncio.create_task(erm.generate_days_code(key, days=7))
            await asyncio.wait({task})
            assert not task.cancel()  # too late: the code stands
            code = task.result()
            sb.faults = ""
            assert await erm.recover(key, code.request_id) == code.model_copy(
                update={"recovered": True}
            )
            return code

    code = asyncio.run(run())
    assert requests(sb) == 1
    assert [e["codeHexString"] for e in sb.history(key)] == [code.code_hex]


# -- erm code: SIGINT to the process ---------------------------------------------------


@pytest.fixture
def cli(sb: Sandbox, tmp_path: Path) -> Cli:
    return Cli(sb, tmp_path / "cache")


def _interrupt(cli: Cli, ready: Callable[[list[str]], bool], *args: str) -> tuple[int, str]:
    """Run ``erm --debug args``, SIGINT it once ``ready(stderr lines so far)``; return
    its exit code and its stderr without the debug lines."""
    proc = cli.popen("--debug", "--timeout", "60", *args)
    assert proc.stderr is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    while proc.poll() is None and not ready(lines):
        threading.Event().wait(0.02)
    assert proc.poll() is None, "".join(lines)
    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    reader.join(10)
    shown = "".join(line for line in lines if not line.startswith("debug: "))
    return proc.returncode, shown.strip()


@pytest.mark.slow
def test_cli_ctrl_c_while_the_answer_is_held(cli: Cli, sb: Sandbox) -> None:
    key = key_of(sb)
    # Every authorised request is held 8 s (the item's history and limits are read
    # first); SIGINT once the code is committed and its answer held.
    sb.faults = "delay=1:8"
    proc_code, err = _interrupt(
        cli, lambda _lines: bool(sb.history(key)), "code", "days", key, "--days", "7"
    )
    assert proc_code == 130, err
    (event,) = sb.history(key)
    rid = request_id_of(event["description"])
    assert err == (
        f"error: interrupted: a days code for {key} may have been issued (request {rid}); "
        f"recover it with: erm code days {key} --days 7 --request-id {rid}"
    )
    sb.faults = COUNT
    before = requests(sb)
    again = cli.run("--json", "code", "days", key, "--days", "7", "--request-id", str(rid))
    assert again.code == 0, again.err
    assert again.json()["code_hex"] == event["codeHexString"]
    assert again.json()["recovered"] is True
    assert len(sb.history(key)) == 1
    # Reads only (the item's history, found in it): no code request was sent.
    assert requests(sb) - before == READS_TO_RECOVER


@pytest.mark.slow
def test_cli_ctrl_c_before_sending(cli: Cli, sb: Sandbox) -> None:
    key = key_of(sb)
    first = cli.run("code", "days", key, "--days", "1")
    assert first.code == 0, first.err
    sb.faults = COUNT
    proc_code, err = _interrupt(
        cli,
        lambda lines: any("waits" in line for line in lines),
        "code",
        "days",
        key,
        "--days",
        "7",
    )
    assert proc_code == 130, err
    match = re.fullmatch(
        rf"error: interrupted before request ([0-9a-f]{{16}}) was sent: no days code was "
        rf"issued for {key}",
        err,
    )
    assert match is not None, err
    # Three reads (the item's history, the distributor's settings and the item's fleet
    # limits) before the wait; no code request.
    assert requests(sb) == 3
    assert len(sb.history(key)) == 1


@pytest.mark.slow
def test_cli_batch_ctrl_c_prints_the_summary_and_a_rerun_settles_every_row(
    erm_sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sb = erm_sandbox_factory(items=6, code_interval=0.2)
    cli = Cli(sb, tmp_path / "cache")
    items = [str(i["oemItemID"]) for i in sb.items()]
    src = tmp_path / "codes.csv"
    src.write_text("".join(f"{item},days,{n + 1}\n" for n, item in enumerate(items)))
    journal, out = tmp_path / "codes.db", tmp_path / "codes.out.csv"
    args = ["--json", "batch", str(src), "--journal", str(journal), "--out", str(out)]
    sb.faults = "delay=1:8"  # every answer held: SIGINT once a code is committed

    def committed() -> bool:
        return any(sb.history(item) for item in items)

    proc = cli.popen("--timeout", "60", *args)
    assert proc.stdout is not None and proc.stderr is not None
    while proc.poll() is None and not committed():
        threading.Event().wait(0.02)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout)  # the summary is the one document on stdout
    assert summary["interrupted"] is True and summary["rows"] == 6
    left = summary["counts"]["interrupted"]
    assert left >= 1
    assert sum(summary["counts"].values()) == 6
    assert f"error: interrupted: {left} row" in stderr
    in_doubt = [p for p in summary["problems"] if "may have been issued" in p["error"]]
    assert in_doubt, summary["problems"]

    sb.faults = ""
    again = cli.run(*args)
    assert again.code == 0, again.err
    counts = again.json()["counts"]
    assert counts["recovered"] >= 1  # in doubt and committed: found, not issued again
    assert counts["issued"] + counts["recovered"] + counts["skipped-done"] == 6
    assert [len(sb.history(item)) for item in items] == [1] * 6


def test_cli_interruption_messages_name_the_request_and_the_command() -> None:
    from omnivoltaic_erm._issuing import CodeRequest, Progress, noting_interruption
    from omnivoltaic_erm.cli.codes_cmd import interrupted_message
    from omnivoltaic_erm.models import CodeTypes

    rid, item = "0123456789abcdef", "DVAV2501000001"

    def interrupt(sent: bool) -> KeyboardInterrupt:
        # As asyncio.run raises it: a fresh KeyboardInterrupt over the noted cancellation.
        request = CodeRequest(CodeTypes.DAYSCODE, item, 7, None, rid)
        try:
            try:
                with noting_interruption(request, Progress(maybe_sent=sent)):
                    raise asyncio.CancelledError
            except asyncio.CancelledError:
                raise KeyboardInterrupt from None  # the cancellation stays its __context__
        except KeyboardInterrupt as exc:
            return exc

    def message(exc: BaseException, issued: bool, description: str | None = None) -> str:
        return interrupted_message(exc, "days", item, 7, description, rid, issued)

    assert message(interrupt(True), False, "week 1") == (
        f"interrupted: a days code for {item} may have been issued (request {rid}); "
        f"recover it with: erm code days {item} --days 7 --description 'week 1' "
        f"--request-id {rid}"
    )
    assert message(interrupt(False), False) == (
        f"interrupted before request {rid} was sent: no days code was issued for {item}"
    )
    assert message(KeyboardInterrupt(), False) == (
        f"interrupted before request {rid} was sent: no days code was issued for {item}"
    )
    assert message(KeyboardInterrupt(), True) == (
        f"interrupted after a days code for {item} was issued (request {rid}); show it "
        f"with: erm code days {item} --days 7 --request-id {rid}"
    )

"""``ErmClient``: the synchronous face of ``AsyncErmClient``, for scripts and notebooks.

It runs the asynchronous client's coroutines on an event loop of its own, in a daemon
thread started on the first call, so both faces share one implementation of every rule.
It works from any thread, and inside a running event loop too (a notebook): the caller's
loop is never used. A client that is never closed does not keep the interpreter alive
(an exit hook closes it), and a forked child starts a loop of its own.

Interrupted (Ctrl-C: ``KeyboardInterrupt`` in the calling thread), a call cancels its
work on the loop, waits for it to stop, and re-raises the ``KeyboardInterrupt`` with the
notes the work left: for a code request, its request id, whether it may have been sent,
and how to ``recover()`` it. Nothing is sent after the interruption.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from omnivoltaic_erm_gql import SyncClient

from . import _constants as c
from ._issuing import issued_note
from ._limits import LimitReport
from .client import TRANSPORT_DEPRECATED, AsyncErmClient, ItemRef
from .config import ClientConfig, Limits, RetryPolicy
from .errors import ClientClosedError
from .models import CodeEvent, CodeTypes, IssuedCode, Item, QueryOrder

T = TypeVar("T")


class _Outcome:
    """How a coroutine run on the loop ended, readable from the calling thread."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None


async def _tracked(coro: Coroutine[Any, Any, T], outcome: _Outcome) -> T:
    try:
        # A checkpoint first: a call cancelled before it started never starts its work,
        # which could otherwise write a request before its first suspension.
        await asyncio.sleep(0)
        outcome.result = result = await coro
        return result
    except BaseException as exc:
        outcome.error = exc
        raise
    finally:
        coro.close()
        outcome.done.set()


# In a forked child: the parent's loop and connections, kept unclosed and unused.
_ABANDONED: list[object] = []


class _LoopThread:
    """An event loop on a daemon thread of its own, started on first use.

    A daemon thread never keeps the interpreter alive: a script that never closes its
    client still exits (an exit hook closes every open client first, boundedly). In a
    child made by ``os.fork()`` the parent's thread does not exist: the first call there
    starts a fresh loop, and ``on_fork`` lets the client drop what belonged to the
    parent's loop (its connections).

    ``run`` starts the work on the loop and, on ``KeyboardInterrupt``, cancels it and
    waits (boundedly) for it to stop before re-raising.
    """

    def __init__(self, on_fork: Callable[[], None] = lambda: None) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._on_fork = on_fork
        self.closed = False

    @property
    def state(self) -> str:
        """``unopened`` (no loop yet), ``open`` or ``closed``."""
        if self.closed:
            return "closed"
        return "open" if self._loop is not None and self._pid == os.getpid() else "unopened"

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.closed:
                raise ClientClosedError("this ErmClient is closed; make a new one")
            if self._loop is not None and self._pid != os.getpid():
                # A forked child: the parent's loop thread is not here. Its loop and
                # connections are the parent's; start afresh. The old loop is kept, never
                # closed: closing it here would remove the parent's registrations from
                # the event-polling object that parent and child share after a fork.
                _ABANDONED.append(self._loop)
                self._loop, self._thread, self._pid = None, None, os.getpid()
                self._on_fork()
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="erm-sync", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result; see the class docstring."""
        try:
            loop = self._ensure_loop()
        except ClientClosedError:
            coro.close()
            raise
        outcome = _Outcome()
        future: Future[T] = asyncio.run_coroutine_threadsafe(_tracked(coro, outcome), loop)
        try:
            return future.result()
        except KeyboardInterrupt as interrupt:
            self._stop_work(future, outcome, interrupt)
            raise

    def _stop_work(self, future: Future[Any], outcome: _Outcome, interrupt: BaseException) -> None:
        future.cancel()
        # Wait for the work to unwind, so that nothing is sent after the interruption and
        # its notes are known; bounded, so that Ctrl-C always returns control.
        if not outcome.done.wait(c.SYNC_CANCEL_GRACE):
            interrupt.add_note("interrupted: the cancelled work had not stopped in time")
            return
        for note in getattr(outcome.error, "__notes__", ()):
            interrupt.add_note(note)
        if outcome.error is None and isinstance(outcome.result, IssuedCode):
            # The answer had arrived, but not yet reached the caller.
            interrupt.add_note(issued_note(outcome.result))

    def stop(self, aclose: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``aclose`` (boundedly), cancel whatever still runs, and end the thread."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            loop, thread = self._loop, self._thread
            ours = self._pid == os.getpid()
        if loop is None or thread is None or not ours or not thread.is_alive():
            return

        async def bounded() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(c.SYNC_CLOSE_TIMEOUT):
                    await aclose()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            # Let them unwind (a renewal in flight among them), boundedly.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(c.SYNC_CLOSE_TIMEOUT):
                    await asyncio.gather(*others, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(bounded(), loop).result(c.SYNC_CLOSE_TIMEOUT + 1.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(c.SYNC_CLOSE_TIMEOUT)
        if not thread.is_alive():
            loop.close()


class ErmClient:
    """Synchronous client of the ERM API; the same arguments as ``AsyncErmClient``.

    Use it as ``with ErmClient() as erm: ...`` or call ``close()``. It has every public
    member of ``AsyncErmClient``, synchronous, with ``close`` for ``aclose`` and ``aio``
    for the asynchronous client underneath. Ctrl-C during a call cancels the call's work
    and raises ``KeyboardInterrupt``; for a code request, with notes giving its request
    id and how to ``recover()`` the code if it may have been issued.
    """

    def __init__(
        self,
        url: str | None = None,
        email: str | None = None,
        password: str | None = None,
        *,
        config: ClientConfig | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        token_cache: bool | str | Path | None = None,
        allow_insecure: bool | None = None,
        proxy: str | None = None,
        max_hold: float | None = None,
        record: str | Path | None = None,
    ) -> None:
        self._async = AsyncErmClient(
            url,
            email,
            password,
            config=config,
            limits=limits,
            retry=retry,
            timeout=timeout,
            token_cache=token_cache,
            allow_insecure=allow_insecure,
            proxy=proxy,
            max_hold=max_hold,
            record=record,
        )
        self._runner = _LoopThread(on_fork=self._async._forget_connections)
        self._api = SyncClient(self._async.api, self._runner)
        # Dropped unclosed, it is closed when collected, and at the latest at interpreter
        # exit (a finaliser runs then too), boundedly: a script never hangs on it.
        weakref.finalize(self, self._runner.stop, self._async.aclose)

    def __repr__(self) -> str:
        return f"ErmClient(url={self._async.url!r}, email={self._async.email!r})"

    def __enter__(self) -> ErmClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def aio(self) -> AsyncErmClient:
        """The asynchronous client underneath."""
        return self._async

    @property
    def api(self) -> SyncClient:
        """Every generated operation, synchronous, through the same pipeline as
        ``AsyncErmClient.api``: typed, authenticated, queries retried."""
        return self._api

    @property
    def transport(self) -> SyncClient:
        """Deprecated: use ``api``, the same object. Warns with ``DeprecationWarning``;
        to be removed in the next release."""
        warnings.warn(TRANSPORT_DEPRECATED.format(cls="ErmClient"), DeprecationWarning, 2)
        return self._api

    @property
    def config(self) -> ClientConfig:
        """The settings in force: defaults, ``config=`` and the keyword arguments."""
        return self._async.config

    @property
    def url(self) -> str:
        """The endpoint URL."""
        return self._async.url

    @property
    def email(self) -> str:
        """The account's email."""
        return self._async.email

    @property
    def sign_ins(self) -> int:
        """How many times this client has signed in with the password."""
        return self._async.sign_ins

    @property
    def refreshes(self) -> int:
        """How many times this client has renewed its token with the refresh token."""
        return self._async.refreshes

    @property
    def server_refusals(self) -> int:
        """How many code requests the server refused for speed (each sent again)."""
        return self._async.server_refusals

    def close(self) -> None:
        """Close the connection pool and stop the background loop; idempotent, bounded.

        Work still running from other threads is cancelled. A closed client refuses
        every call with ``ClientClosedError``.
        """
        self._runner.stop(self._async.aclose)

    @property
    def state(self) -> str:
        """``unopened`` (no call made yet), ``open`` or ``closed``."""
        return self._runner.state

    def find_item(self, item_id: str) -> Item:
        """See ``AsyncErmClient.find_item``."""
        return self._runner.run(self._async.find_item(item_id))

    def iter_items(
        self,
        search: str | None = None,
        order: QueryOrder | str = "DESC",
        page_size: int | None = None,
    ) -> Iterator[Item]:
        """See ``AsyncErmClient.iter_items``."""
        pages = self._async.iter_items(search=search, order=order, page_size=page_size)

        async def step() -> tuple[bool, Item | None]:
            try:
                return True, await anext(pages)
            except StopAsyncIteration:
                return False, None

        try:
            while True:
                more, item = self._runner.run(step())
                if not more or item is None:
                    return
                yield item
        finally:
            if not self._runner.closed:
                self._runner.run(pages.aclose())

    def item_limits(self, item: ItemRef) -> Limits:
        """See ``AsyncErmClient.item_limits``."""
        return self._runner.run(self._async.item_limits(item))

    def limit_report(self, item: ItemRef) -> LimitReport:
        """See ``AsyncErmClient.limit_report``."""
        return self._runner.run(self._async.limit_report(item))

    def prefetch(self, items: list[ItemRef]) -> None:
        """See ``AsyncErmClient.prefetch``."""
        self._runner.run(self._async.prefetch(items))

    def code_history(self, item: ItemRef) -> list[CodeEvent]:
        """See ``AsyncErmClient.code_history``."""
        return self._runner.run(self._async.code_history(item))

    def issue(
        self,
        kind: CodeTypes,
        item: ItemRef,
        days: int | None = None,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        """See ``AsyncErmClient.issue``."""
        return self._runner.run(
            self._async.issue(kind, item, days, description, request_id=request_id)
        )

    def generate_days_code(
        self,
        item: ItemRef,
        days: int,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        """See ``AsyncErmClient.generate_days_code``."""
        return self.issue(CodeTypes.DAYSCODE, item, days, description, request_id=request_id)

    def generate_free_code(
        self, item: ItemRef, description: str | None = None, *, request_id: str | None = None
    ) -> IssuedCode:
        """See ``AsyncErmClient.generate_free_code``."""
        return self.issue(CodeTypes.FREECODE, item, None, description, request_id=request_id)

    def generate_reset_code(
        self, item: ItemRef, description: str | None = None, *, request_id: str | None = None
    ) -> IssuedCode:
        """See ``AsyncErmClient.generate_reset_code``."""
        return self.issue(CodeTypes.RESETCODE, item, None, description, request_id=request_id)

    def recover(self, item: ItemRef, request_id: str) -> IssuedCode | None:
        """See ``AsyncErmClient.recover``."""
        return self._runner.run(self._async.recover(item, request_id))

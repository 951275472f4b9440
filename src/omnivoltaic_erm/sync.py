"""``ErmClient``: the synchronous face of ``AsyncErmClient``, for scripts and notebooks.

It runs the asynchronous client's coroutines on an event loop of its own, in a thread
(anyio's blocking portal), so both faces share one implementation of every rule. It
works from any thread, and inside a running event loop too (a notebook): the caller's
loop is never used.

Interrupted (Ctrl-C: ``KeyboardInterrupt`` in the calling thread), a call cancels its
work on the loop, waits for it to stop, and re-raises the ``KeyboardInterrupt`` with the
notes the work left: for a code request, its request id, whether it may have been sent,
and how to ``recover()`` it. Nothing is sent after the interruption.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from omnivoltaic_erm_gql import SyncClient

from . import _constants as c
from ._issuing import issued_note
from .client import AsyncErmClient, ItemRef
from .config import ClientConfig, Limits, RetryPolicy
from .models import CodeEvent, CodeTypes, IssuedCode, Item, QueryOrder

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

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


class _LoopThread:
    """An event loop on a thread of its own: anyio's blocking portal.

    ``portal.call`` alone would leave the work running when the caller is interrupted,
    so ``run`` starts the work with ``start_task_soon`` and, on ``KeyboardInterrupt``,
    cancels it and waits (boundedly) for it to stop before re-raising.
    """

    def __init__(self) -> None:
        from anyio.from_thread import start_blocking_portal

        self._manager: AbstractContextManager[BlockingPortal] = start_blocking_portal(
            name="erm-sync"
        )
        self._portal = self._manager.__enter__()
        self._lock = threading.Lock()
        self.closed = False

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and return its result; see the class docstring."""
        if self.closed:
            coro.close()
            raise RuntimeError("this ErmClient is closed")
        outcome = _Outcome()
        future: Future[T] = self._portal.start_task_soon(_tracked, coro, outcome)
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

        async def bounded() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(c.SYNC_CLOSE_TIMEOUT):
                    await aclose()

        try:
            self._portal.call(bounded)
        finally:
            with contextlib.suppress(RuntimeError):  # the portal has stopped already
                self._portal.call(self._portal.stop, True)
            self._manager.__exit__(None, None, None)


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
        clock: Callable[[], float] = time.time,
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
            clock=clock,
        )
        self._runner = _LoopThread()
        self._api = SyncClient(self._async.api, self._runner)

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
        """The generated client underneath, synchronous (the same object as ``api``)."""
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

        Work still running from other threads is cancelled.
        """
        self._runner.stop(self._async.aclose)

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

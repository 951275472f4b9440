"""``ErmClient``: the synchronous face of ``AsyncErmClient``, for scripts and notebooks.

It owns an event loop on a background thread and runs the asynchronous client's
coroutines there, so both faces share one implementation of every rule.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from omnivoltaic_erm_gql import SyncClient

from .client import AsyncErmClient, ItemRef
from .config import ClientConfig, Limits, RetryPolicy
from .models import CodeEvent, CodeTypes, IssuedCode, Item, QueryOrder

T = TypeVar("T")


class _LoopThread:
    """An event loop running on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="erm-sync", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class ErmClient:
    """Synchronous client of the ERM API; the same arguments as ``AsyncErmClient``.

    Use it as ``with ErmClient() as erm: ...`` or call ``close()``.
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runner = _LoopThread()
        try:
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
                clock=clock,
            )
        except BaseException:
            self._runner.stop()
            raise
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

    def close(self) -> None:
        """Close the connection pool and stop the background loop."""
        if self._runner.loop.is_closed():
            return
        self._runner.run(self._async.aclose())
        self._runner.stop()

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
            if not self._runner.loop.is_closed():
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

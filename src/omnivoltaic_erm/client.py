"""The asynchronous ERM client: the facade over the generated operations.

``AsyncErmClient`` signs in lazily, keeps its token fresh, spaces code requests per item
so that the server never has to refuse, retries queries on transient failures, and never
issues a code twice: every code request carries a request id in its description, and
when the outcome of a request is unknown the item's code history settles it before
anything is sent again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import secrets
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from omnivoltaic_erm_gql import Client as GeneratedClient
from omnivoltaic_erm_gql import (
    CodeFields,
    GetAllClientItems,
    GetItemLimits,
    GetItemsForDownloadById,
)

from . import _constants as c
from ._auth import Grant, TokenCache, TokenManager
from ._limits import limits_from_fleet, missing_limits
from ._logging import get_logger, register_secret
from ._ratelimit import DAYS, FREE, RESET, ItemLedger, check_code_request, validate_days
from ._retry import outcome_unknown, retry_delay, should_retry
from .config import ClientConfig, Limits, RetryPolicy
from .errors import (
    AuthenticationError,
    ConfigurationError,
    ErmError,
    InvalidInputError,
    NotFoundError,
    RateLimitError,
    TransportError,
)
from .models import CodeEvent, IssuedCode, Item, QueryOrder

log = get_logger("omnivoltaic_erm.client")

T = TypeVar("T")
Headers = dict[str, str]

MAX_ID_LENGTH = 128
_REQUEST_TAG = re.compile(r"\[req:([0-9a-f]{16})\]")
# Set on an error that a retry loop has given up on.
_GAVE_UP = "_erm_retries_exhausted"


def validate_url(url: str, allow_insecure: bool = False) -> str:
    """The endpoint URL, or ConfigurationError: https, or http to a loopback host only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"not an http(s) URL: {url!r:.80}")
    if parts.scheme == "http" and not allow_insecure and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"refusing plain http:// to {parts.hostname}: use https, or allow_insecure=True "
            "(--insecure) if you really mean it"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_item_id(item_id: object) -> str:
    """An item id as sent: a non-empty string of printable characters, not too long."""
    if not isinstance(item_id, str):
        raise InvalidInputError(f"an item id is a string, not {type(item_id).__name__}")
    if not item_id or len(item_id) > MAX_ID_LENGTH:
        raise InvalidInputError(
            f"an item id has 1 to {MAX_ID_LENGTH} characters; got {len(item_id)}", field="item"
        )
    if not item_id.isprintable():
        raise InvalidInputError("an item id cannot hold control characters", field="item")
    return item_id


def new_request_id() -> str:
    """A fresh client request id: 16 hex digits."""
    return secrets.token_hex(8)


def tag_description(description: str | None, request_id: str) -> str:
    """The description sent with a code: the user's text, then ``[req:<id>]``."""
    tag = f"[req:{request_id}]"
    return f"{description} {tag}" if description else tag


def untag_description(stored: str | None) -> str | None:
    """The user's description from a stored one, without the request tag."""
    text = _REQUEST_TAG.sub("", stored or "").strip()
    return text or None


def request_id_of(description: str | None) -> str | None:
    """The request id carried in a stored description, if any."""
    match = _REQUEST_TAG.search(description or "")
    return match.group(1) if match else None


@dataclass
class _ItemState:
    """What the client knows of one item: its ledger, its limits once learned, and a lock
    for its code requests."""

    item_id: str
    ledger: ItemLedger
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    limits: Limits | None = None


ItemRef = Item | str


class AsyncErmClient:
    """Asynchronous client of the ERM API.

    ``url``, ``email`` and ``password`` default to ERM_URL, ERM_EMAIL and ERM_PASSWORD.
    Use it as ``async with AsyncErmClient() as erm: ...``. Any default can be overridden
    with ``config=ClientConfig(...)`` or the keyword arguments.
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        cfg = config or ClientConfig()
        overrides: dict[str, Any] = {
            "limits": limits,
            "retry": retry,
            "timeout": timeout,
            "token_cache": token_cache,
            "allow_insecure": allow_insecure,
        }
        cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
        self.config = cfg
        url = url or os.environ.get(c.ENV_URL)
        email = email or os.environ.get(c.ENV_EMAIL)
        password = password or os.environ.get(c.ENV_PASSWORD)
        if not url:
            raise ConfigurationError(f"no ERM URL: pass url= or set {c.ENV_URL}")
        if not email or not password:
            raise ConfigurationError(
                f"no credentials: pass email= and password=, or set {c.ENV_EMAIL} and "
                f"{c.ENV_PASSWORD}"
            )
        self.url = validate_url(url, cfg.allow_insecure)
        self.email = email
        self.__password = password
        register_secret(password)
        self._clock = clock
        self._gql = GeneratedClient(
            url=self.url,
            timeout=cfg.timeout,
            connect_timeout=cfg.connect_timeout,
            max_response_bytes=cfg.max_response_bytes,
            connection_limit=max(cfg.max_concurrency, 1) * 2,
        )
        cache = None
        if cfg.token_cache:
            cache = (
                TokenCache(Path(cfg.token_cache))
                if isinstance(cfg.token_cache, str | Path)
                else TokenCache.for_account(self.url, email)
            )
        self._tokens = TokenManager(
            self._sign_in,
            refresh=self._refresh,
            refresh_margin=cfg.token_refresh_margin,
            cache=cache,
            clock=clock,
        )
        self._sem = asyncio.Semaphore(cfg.max_concurrency)
        self._items: dict[str, _ItemState] = {}
        self._aliases: dict[str, str] = {}
        self.server_refusals = 0

    def __repr__(self) -> str:
        return f"AsyncErmClient(url={self.url!r}, email={self.email!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._gql.close()

    @property
    def transport(self) -> GeneratedClient:
        """The generated client underneath (for inspection, e.g. of its session)."""
        return self._gql

    @property
    def sign_ins(self) -> int:
        """How many times this client has signed in with the password."""
        return self._tokens.sign_ins

    @property
    def refreshes(self) -> int:
        """How many times this client has renewed its token with the refresh token."""
        return self._tokens.refreshes

    # -- calls --------------------------------------------------------------------------

    async def _sign_in(self) -> Grant:
        async def attempt() -> Grant:
            result = await self._gql.sign_in_user(email=self.email, password=self.__password)
            return _grant(result.sign_in_user.access_token, result.sign_in_user.refresh_token)

        return await self._with_retries("SignInUser", attempt)

    async def _refresh(self, refresh_token: str) -> Grant:
        # One attempt: a refresh token is spent when used, so a retry could only fail;
        # the token manager signs in instead.
        result = await self._gql.refresh_access_token(refresh_token=refresh_token)
        tokens = result.refresh_access_token
        return _grant(tokens.access_token, tokens.refresh_token)

    async def _with_retries(self, name: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run a call that is safe to repeat, retrying transient failures."""
        policy = self.config.retry
        n = 0
        while True:
            n += 1
            started = time.perf_counter()
            try:
                result = await attempt()
            except ErmError as exc:
                if getattr(exc, _GAVE_UP, False) or not should_retry(exc, n, policy):
                    # Marked, so that an enclosing loop (a query around its sign-in) does
                    # not repeat what this one gave up on: 5 x 5 attempts, 40 s and more.
                    setattr(exc, _GAVE_UP, True)
                    raise
                delay = retry_delay(n, policy, getattr(exc, "retry_after", None))
                log.info(
                    "%s attempt %d failed (%s); retrying in %.2f s",
                    name,
                    n,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            log.debug("%s ok on attempt %d in %.1f ms", name, n, _ms(started))
            return result

    async def _authed(self, call: Callable[[Headers], Awaitable[T]]) -> T:
        """One authenticated call; if the token is refused, sign in again once and repeat.

        Repeating is safe: a refused token means the server executed nothing. Only the
        HTTP call itself holds a slot of the concurrency bound, never a sign-in or a wait.
        """
        token = await self._tokens.token()
        try:
            async with self._sem:
                return await call({"Authorization": f"Bearer {token}"})
        except AuthenticationError:
            self._tokens.invalidate(token)
            token = await self._tokens.token()
            async with self._sem:
                return await call({"Authorization": f"Bearer {token}"})

    async def _query(self, name: str, call: Callable[[Headers], Awaitable[T]]) -> T:
        return await self._with_retries(name, lambda: self._authed(call))

    # -- items --------------------------------------------------------------------------

    async def iter_items(
        self,
        search: str | None = None,
        order: QueryOrder | str = "DESC",
        page_size: int | None = None,
    ) -> AsyncGenerator[Item, None]:
        """Every item of the distributor, page by page, in constant memory."""
        size = page_size or self.config.page_size
        if not 1 <= size <= 1000:
            raise InvalidInputError("page_size must be from 1 to 1000", field="page_size")
        try:
            queryorder = QueryOrder(order)
        except ValueError:
            raise InvalidInputError(f"order must be ASC or DESC, not {order!r:.20}") from None
        after: str | None = None
        while True:
            cursor = after

            def fetch(h: Headers, cursor: str | None = cursor) -> Awaitable[GetAllClientItems]:
                return self._gql.get_all_client_items(
                    queryorder=queryorder,
                    first=size,
                    after=cursor,
                    search=search,
                    assetaccount=False,
                    headers=h,
                )

            page = (await self._query("GetAllClientItems", fetch)).get_all_client_items.page
            edges = page.edges or []
            for edge in edges:
                if edge.node is not None:
                    yield edge.node
            info = page.page_info
            if not edges or info is None or not info.has_next_page:
                return
            after = info.end_cursor or edges[-1].cursor

    async def find_item(self, item_id: str) -> Item:
        """The item whose ``_id``, ``oemItemID`` or ``sellerItemID`` is ``item_id``."""
        key = validate_item_id(item_id)

        def search(h: Headers) -> Awaitable[GetAllClientItems]:
            return self._gql.get_all_client_items(
                queryorder=QueryOrder.DESC, first=25, search=key, assetaccount=False, headers=h
            )

        page = (await self._query("GetAllClientItems", search)).get_all_client_items.page
        for edge in page.edges or []:
            node = edge.node
            if node is not None and key in (node.id, node.oem_item_id, node.seller_item_id):
                return node
        if page.page_info is not None and page.page_info.has_next_page:
            item, _ = await self._download(key)
            return item
        raise NotFoundError(f"no item {key!r:.70} among this distributor's items")

    async def _download(self, key: str) -> tuple[Item, list[CodeEvent]]:
        def fetch(h: Headers) -> Awaitable[GetItemsForDownloadById]:
            return self._gql.get_items_for_download_by_id(ids=[key], headers=h)

        result = await self._query("GetItemsForDownloadById", fetch)
        entries = result.get_items_for_download_by_id
        if not entries:
            raise NotFoundError(f"no item {key!r:.70} among this distributor's items")
        entry = entries[0]
        return entry.item, list(entry.code_history or ())

    async def code_history(self, item: ItemRef) -> list[CodeEvent]:
        """The item's code events, oldest first."""
        found, events = await self._download(self._key(item))
        self._learn(found.id, events)
        return events

    async def prefetch(self, items: list[ItemRef]) -> None:
        """Learn the code histories of many items in few requests (before bulk issuance)."""
        keys = [self._key(i) for i in items if self._key(i) not in self._aliases]
        for start in range(0, len(keys), 100):
            chunk = keys[start : start + 100]

            def fetch(h: Headers, chunk: list[str] = chunk) -> Awaitable[GetItemsForDownloadById]:
                return self._gql.get_items_for_download_by_id(ids=chunk, headers=h)

            try:
                result = await self._query("GetItemsForDownloadById", fetch)
            except NotFoundError:
                continue  # an unknown id in the chunk; each item is resolved on its own later
            for entry in result.get_items_for_download_by_id:
                state = self._learn(entry.item.id, list(entry.code_history or ()))
                for alias in (entry.item.oem_item_id, entry.item.seller_item_id):
                    if alias:
                        self._aliases[alias] = state.item_id

    def _key(self, item: ItemRef) -> str:
        return item.id if isinstance(item, Item) else validate_item_id(item)

    def _learn(self, item_id: str, events: list[CodeEvent]) -> _ItemState:
        """Record an item's history as the authority on its code events."""
        ledger = ItemLedger.from_history((e.code_type, e.created_at, e.code_days) for e in events)
        state = self._items.get(item_id)
        if state is None:
            state = self._items[item_id] = _ItemState(item_id, ledger)
        else:
            state.ledger = ledger
        self._aliases[item_id] = item_id
        return state

    async def _state(self, item: ItemRef) -> _ItemState:
        key = self._key(item)
        canonical = self._aliases.get(key)
        if canonical is not None and canonical in self._items:
            return self._items[canonical]
        found, events = await self._download(key)
        state = self._items.get(found.id) or self._learn(found.id, events)
        self._aliases[key] = found.id
        return state

    async def item_limits(self, item: ItemRef) -> Limits:
        """The limits the client applies to ``item``: its fleet's, read from the server
        once, or the configured ``Limits`` where the server gives none."""
        state = await self._state(item)
        return await self._limits_of(state)

    async def _limits_of(self, state: _ItemState) -> Limits:
        if state.limits is not None:
            return state.limits
        base = self.config.limits
        if not self.config.learn_limits:
            state.limits = base
            return base

        def fetch(h: Headers) -> Awaitable[GetItemLimits]:
            return self._gql.get_item_limits(item_id=state.item_id, headers=h)

        try:
            fleet = (await self._query("GetItemLimits", fetch)).get_specific_item.item_fleet
        except ErmError as exc:
            # Permissions, a server without the field, a refusal: never a reason to fail.
            log.debug(
                "item %s: fleet limits unavailable (%s); the configured limits apply",
                state.item_id,
                type(exc).__name__,
            )
            fleet = None
        else:
            missing = missing_limits(fleet)
            if missing:
                log.debug(
                    "item %s: %s gives no %s; the configured limits apply for %s",
                    state.item_id,
                    "no fleet" if fleet is None else f"fleet {fleet.fleet_name!r}",
                    "limits" if fleet is None else ", ".join(missing),
                    "it" if fleet is None else "those",
                )
        state.limits = limits_from_fleet(fleet, base)
        return state.limits

    # -- codes --------------------------------------------------------------------------

    async def generate_days_code(
        self,
        item: ItemRef,
        days: int,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        """Issue a code that adds ``days`` days of use (1 to 1096) to ``item``."""
        checked = validate_days(days, self.config.limits)
        return await self._issue(DAYS, item, checked, description, request_id)

    async def generate_free_code(
        self, item: ItemRef, description: str | None = None, *, request_id: str | None = None
    ) -> IssuedCode:
        """Issue a code that unlocks ``item`` for good."""
        return await self._issue(FREE, item, 0, description, request_id)

    async def generate_reset_code(
        self, item: ItemRef, description: str | None = None, *, request_id: str | None = None
    ) -> IssuedCode:
        """Issue a code that sets ``item``'s remaining days to zero."""
        return await self._issue(RESET, item, 0, description, request_id)

    async def recover(self, item: ItemRef, request_id: str) -> IssuedCode | None:
        """The code issued for ``request_id``, found in the item's history, or None."""
        state = await self._state(item)
        return await self._recover(state, request_id, None)

    async def _recover(
        self, state: _ItemState, request_id: str, description: str | None
    ) -> IssuedCode | None:
        _, events = await self._download(state.item_id)
        self._learn(state.item_id, events)
        for event in events:
            if request_id_of(event.description) == request_id:
                text = (
                    description if description is not None else untag_description(event.description)
                )
                return IssuedCode.from_event(state.item_id, event, text, request_id)
        return None

    async def _send_code(self, kind: str, item_id: str, days: int, tagged: str) -> CodeFields:
        async def send(h: Headers) -> CodeFields:
            if kind == DAYS:
                r = await self._gql.generate_days_code(
                    item_id=item_id, code_days=days, description=tagged, headers=h
                )
                return r.generate_days_code
            if kind == FREE:
                f = await self._gql.generate_free_code(
                    item_id=item_id, description=tagged, headers=h
                )
                return f.generate_free_code
            s = await self._gql.generate_reset_code(item_id=item_id, description=tagged, headers=h)
            return s.generate_reset_code

        return await self._authed(send)

    async def _issue(
        self,
        kind: str,
        item: ItemRef,
        days: int,
        description: str | None,
        request_id: str | None,
    ) -> IssuedCode:
        rid = request_id or new_request_id()
        if not re.fullmatch(r"[0-9a-f]{16}", rid):
            raise InvalidInputError("request_id must be 16 lowercase hex digits")
        tagged = tag_description(description, rid)
        state = await self._state(item)
        policy = self.config.retry
        name = {DAYS: "GenerateDaysCode", FREE: "GenerateFreeCode"}.get(kind, "GenerateResetCode")
        async with state.lock:
            limits = await self._limits_of(state)
            attempt = 0
            while True:
                attempt += 1
                wait = check_code_request(kind, state.ledger, limits, self._clock(), days)
                if wait > 0:
                    log.debug("%s req:%s waits %.2f s for the item interval", name, rid, wait)
                    await asyncio.sleep(wait)
                started = time.perf_counter()
                try:
                    code = await self._send_code(kind, state.item_id, days, tagged)
                except RateLimitError as exc:
                    # A refusal: nothing was issued, so the same request may go again.
                    self.server_refusals += 1
                    if attempt > policy.max_retries:
                        raise
                    await asyncio.sleep(retry_delay(attempt, policy, exc.retry_after))
                    continue
                except ErmError as exc:
                    issued = await self._settle(state, exc, name, rid, attempt, description)
                    if issued is not None:
                        return issued
                    await asyncio.sleep(retry_delay(attempt, policy))
                    continue
                state.ledger.record(kind, self._clock(), days)
                log.info("%s req:%s issued in %.1f ms", name, rid, _ms(started))
                return IssuedCode.from_response(state.item_id, code, days, description, rid)

    async def _settle(
        self,
        state: _ItemState,
        exc: ErmError,
        name: str,
        rid: str,
        attempt: int,
        description: str | None,
    ) -> IssuedCode | None:
        """After a failed code request: the recovered code, None to send again, or raise."""
        policy = self.config.retry
        if outcome_unknown(exc):
            log.warning("%s req:%s outcome unknown (%s); reading history", name, rid, exc.message)
            try:
                found = await self._recover(state, rid, description)
            except ErmError as lookup_error:
                raise TransportError(
                    f"{name}: the outcome of request {rid} is unknown and the item's code "
                    f"history could not be read ({lookup_error.message}); check the history "
                    "before issuing again"
                ) from exc
            if found is not None:
                log.info("%s req:%s recovered from history", name, rid)
                return found
            if attempt > policy.max_retries:
                raise exc
            log.info("%s req:%s was not issued; sending again", name, rid)
            return None
        if (
            isinstance(exc, TransportError)
            and not exc.sent
            and exc.retryable
            and not getattr(exc, _GAVE_UP, False)
            and attempt <= policy.max_retries
        ):
            return None
        raise exc


def _grant(access: str | None, refresh: str | None) -> Grant:
    for secret in (access, refresh):
        if secret:
            register_secret(secret)
    return Grant(access or "", refresh)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000

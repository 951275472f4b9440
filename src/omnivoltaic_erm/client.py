"""The asynchronous ERM client: domain behaviour on top of ``erm.api``.

``AsyncErmClient.api`` is the generated client with the request pipeline applied
(``_pipeline``): every operation, present and future, typed and authenticated, with
queries retried. On top of it the facade keeps only what the API does not know: the
items' pagination and look-up, the per-item rate-limit policy, and issuing codes
exactly once (``issue``: request ids reconciled with the item's code history, in
``_issuing``).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import warnings
from collections import Counter
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from omnivoltaic_erm_gql import Client as GeneratedClient
from omnivoltaic_erm_gql import CodeFields

from . import _constants as c
from . import _issuing
from ._auth import Grant, TokenCache, TokenManager, jwt_claim
from ._inputs import validate_item_id, validate_url
from ._issuing import CodeRequest
from ._items import ItemBook, ItemState
from ._limits import (
    DistributorLimitFields,
    FleetLimitFields,
    LimitReport,
    limit_sources,
    limits_from_levels,
    missing_limits,
    not_enforced,
)
from ._logging import get_logger, register_secret
from ._pipeline import AUTHORIZATION, Pipeline, deadline_var
from ._ratelimit import validate_days
from ._recording import recorder_from
from ._request_ids import (
    REQUEST_ID,
    new_request_id,
    record_use,
    request_id_of,
    tag_description,
    untag_description,
)
from .config import ClientConfig, Limits, RetryPolicy
from .errors import (
    ConfigurationError,
    DuplicateCodeWarning,
    ErmError,
    ErmTimeoutError,
    InvalidInputError,
    NotFoundError,
    OutcomeUnknownError,
    SignInRequiredError,
    TransportError,
)
from .kinds import issuable, kind_of, type_value
from .models import CodeEvent, CodeTypes, IssuedCode, Item, QueryOrder

log = get_logger("omnivoltaic_erm.client")

__all__ = [
    "AsyncErmClient",
    "ItemRef",
    "new_request_id",
    "request_id_of",
    "tag_description",
    "untag_description",
    "validate_item_id",
    "validate_url",
]

# ``transport`` was a second name of ``api``; it warns for one release, then goes.
TRANSPORT_DEPRECATED = (
    "{cls}.transport is deprecated and will be removed in the next release; "
    "use {cls}.api, the same object"
)

ItemRef = Item | str


def _history_rows(events: list[CodeEvent]) -> list[tuple[str, datetime | None, int]]:
    return [(type_value(e.code_type), e.created_at, e.code_days) for e in events]


class AsyncErmClient:
    """Asynchronous client of the ERM API.

    ``url``, ``email`` and ``password`` default to ERM_URL, ERM_EMAIL and ERM_PASSWORD.
    Use it as ``async with AsyncErmClient() as erm: ...``. Any default can be overridden
    with ``config=ClientConfig(...)`` or the keyword arguments.

    With ``token_cache`` on, the password may be left out: the client then runs on the
    cached token alone (renewing it with its refresh token) and raises
    ``SignInRequiredError`` where it would have to sign in.
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
        cfg = config or ClientConfig()
        overrides: dict[str, Any] = {
            "limits": limits,
            "retry": retry,
            "timeout": timeout,
            "token_cache": token_cache,
            "allow_insecure": allow_insecure,
            "proxy": proxy,
            "max_hold": max_hold,
            "record": record,
        }
        cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
        self.config = cfg
        """The settings in force: ``config`` with the keyword arguments applied."""
        url = url or os.environ.get(c.ENV_URL)
        email = email or os.environ.get(c.ENV_EMAIL)
        password = password or os.environ.get(c.ENV_PASSWORD)
        if not url:
            raise ConfigurationError(f"no ERM URL: pass url= or set {c.ENV_URL}")
        if not email or (not password and not cfg.token_cache):
            raise ConfigurationError(
                f"no credentials: pass email= and password=, or set {c.ENV_EMAIL} and "
                f"{c.ENV_PASSWORD}"
            )
        self.url = validate_url(url, cfg.allow_insecure)
        """The GraphQL endpoint (from ``url`` or ERM_URL)."""
        self.email = email
        """The distributor account (from ``email`` or ERM_EMAIL)."""
        # None: a client on a cached token alone, which never signs in (token_cache on).
        self.__password = password or None
        if password:
            register_secret(password)
        # The wall clock of token expiry and item intervals; tests replace it.
        self._clock: Callable[[], float] = time.time
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
            clock=lambda: self._clock(),
        )
        self._api = GeneratedClient(
            url=self.url,
            timeout=cfg.timeout,
            connect_timeout=cfg.connect_timeout,
            max_response_bytes=cfg.max_response_bytes,
            connection_limit=max(cfg.max_concurrency, 1) * 2,
            proxy=cfg.proxy or os.environ.get(c.ENV_PROXY) or None,
            recorder=recorder_from(cfg),
            pipeline=Pipeline(
                tokens=self._tokens,
                retry=cfg.retry,
                max_concurrency=cfg.max_concurrency,
                call_timeout=cfg.timeout if cfg.call_timeout is None else cfg.call_timeout,
            ),
        )
        self._port = _Port(
            self._api,
            self._tokens,
            history=self._history_learned,
            limits=self._limits_of,
            clock=lambda: self._clock(),
            refused=self._count_refusal,
        )
        self._book = ItemBook(cfg.max_items)
        # (item, request id) pairs already reported as executed more than once.
        self._reported: set[tuple[str, str]] = set()
        # The distributor's limit settings, read once per client (``_distributor_limits``).
        self._distributor: DistributorLimitFields | None = None
        self._distributor_read = False
        self._distributor_lock = asyncio.Lock()
        self._closed = False
        self.server_refusals = 0
        """How many code requests the server refused for speed (each sent again once the
        wait it gave is over); the client's own spacing makes them rare."""

    def __repr__(self) -> str:
        return f"AsyncErmClient(url={self.url!r}, email={self.email!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; idempotent. The client then refuses every call with
        ``ClientClosedError``."""
        self._closed = True
        await self._tokens.aclose()
        await self._api.close()

    @property
    def state(self) -> str:
        """``unopened`` (nothing sent yet), ``open`` or ``closed``."""
        if self._closed:
            return "closed"
        return "open" if self._api.session is not None else "unopened"

    def _forget_connections(self) -> None:
        """In a forked child: drop the parent's connections and loop-bound state (item
        locks, the concurrency bound, a renewal in flight); what is known of items and
        tokens stays."""
        self._api.forget_session()
        self._tokens.forget_renewal()
        self._book.reset_locks()

    @property
    def api(self) -> GeneratedClient:
        """Every generated operation, typed, authenticated and retried (queries only).

        An operation added under ``queries/`` and generated with ``make generate`` is here
        with no further code: ``await erm.api.my_operation(...)``.
        """
        return self._api

    @property
    def transport(self) -> GeneratedClient:
        """Deprecated: use ``api``, the same object. Warns with ``DeprecationWarning``;
        to be removed in the next release."""
        warnings.warn(TRANSPORT_DEPRECATED.format(cls="AsyncErmClient"), DeprecationWarning, 2)
        return self._api

    @property
    def sign_ins(self) -> int:
        """How many times this client has signed in with the password."""
        return self._tokens.sign_ins

    @property
    def refreshes(self) -> int:
        """How many times this client has renewed its token with the refresh token."""
        return self._tokens.refreshes

    async def _sign_in(self) -> Grant:
        # The pipeline owns the sign-in's one retry loop (SignInUser is retried like a
        # query) and raises its own typed error when it gives up.
        if self.__password is None:
            raise SignInRequiredError(
                "the cached token was refused or has expired, and this client has no "
                f"password to sign in again: pass password= or set {c.ENV_PASSWORD}"
            )
        result = await self._api.sign_in_user(email=self.email, password=self.__password)
        return Grant(result.sign_in_user.access_token or "", result.sign_in_user.refresh_token)

    async def _refresh(self, refresh_token: str) -> Grant:
        # One attempt (the pipeline never re-sends a refresh): a refresh token is spent
        # when used, so a retry could only fail; the token manager signs in instead.
        result = await self._api.refresh_access_token(refresh_token=refresh_token)
        tokens = result.refresh_access_token
        return Grant(tokens.access_token or "", tokens.refresh_token)

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
            result = await self._api.get_all_client_items(
                queryorder=queryorder, first=size, after=after, search=search, assetaccount=False
            )
            page = result.get_all_client_items.page
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
        result = await self._api.get_all_client_items(
            queryorder=QueryOrder.DESC, first=25, search=key, assetaccount=False
        )
        page = result.get_all_client_items.page
        for edge in page.edges or []:
            node = edge.node
            if node is not None and key in (node.id, node.oem_item_id, node.seller_item_id):
                return node
        if page.page_info is not None and page.page_info.has_next_page:
            item, _ = await self._download(key)
            return item
        raise NotFoundError(f"no item {key!r:.70} among this distributor's items")

    async def _download(self, key: str) -> tuple[Item, list[CodeEvent]]:
        result = await self._api.get_items_for_download_by_id(ids=[key])
        entries = result.get_items_for_download_by_id
        if not entries:
            raise NotFoundError(f"no item {key!r:.70} among this distributor's items")
        entry = entries[0]
        return entry.item, list(entry.code_history or ())

    async def code_history(self, item: ItemRef) -> list[CodeEvent]:
        """The item's code events, oldest first.

        For an item the client knows, the read is sent while holding the item's lock, so
        it waits for a code request of the item under way, and the history it learns
        holds that request's event.
        """
        key = self._key(item)
        state = self._book.get(key)
        if state is None:
            found, events = await self._download(key)
            if not self._book.known(found.id):
                self._record_read(found, events)  # new to the client: it is the truth
                return events
            state = self._record_read(found, events)  # known meanwhile: read again
        async with state.lock:
            _, events = await self._download(state.item_id)
            self._learn(state.item_id, events)
        return events

    async def prefetch(self, items: list[ItemRef]) -> None:
        """Learn the code histories of many items in few requests (before bulk issuance).

        Only items the client does not know yet are read; an item that became known while
        the read was on its way keeps what it knows (its code requests may have recorded
        events the read does not show)."""
        keys = list(dict.fromkeys(k for k in map(self._key, items) if not self._book.known(k)))
        for start in range(0, len(keys), 100):
            chunk = keys[start : start + 100]
            try:
                result = await self._api.get_items_for_download_by_id(ids=chunk)
            except NotFoundError:
                continue  # an unknown id in the chunk; each item is resolved on its own later
            learned = [
                self._record_read(entry.item, list(entry.code_history or ()))
                for entry in result.get_items_for_download_by_id
            ]
            if self.config.learn_limits:
                await self._prefetch_limits([s.item_id for s in learned])

    async def _prefetch_limits(self, ids: list[str]) -> None:
        """Learn the fleet limits of many items in one request. Best effort: an item left
        out learns its limits on its own before its first code."""
        todo = [
            i
            for i in dict.fromkeys(ids)
            if (s := self._book.get(i)) is not None and s.limits is None
        ]
        if not todo:
            return
        settings = await self._distributor_limits()
        try:
            result = await self._api.get_items_limits(ids=todo)
        except ErmError as exc:
            log.debug("fleet limits of %d items unavailable (%s)", len(todo), type(exc).__name__)
            return
        for entry in result.get_items_for_download_by_id:
            state = self._book.get(entry.item.id)
            if state is not None and state.limits is None:
                self._apply_fleet(state, entry.item.item_fleet, settings)

    def _key(self, item: ItemRef) -> str:
        return item.id if isinstance(item, Item) else validate_item_id(item)

    async def _history_learned(self, item_id: str) -> list[CodeEvent]:
        """The item's history, read and learned (the issuing machine's reads, under the
        item's lock)."""
        _, events = await self._download(item_id)
        self._learn(item_id, events)
        return events

    def _count_refusal(self) -> None:
        self.server_refusals += 1

    def _learn(self, item_id: str, events: list[CodeEvent]) -> ItemState:
        """Record an item's history as the authority on its code events (the caller
        holds the item's lock, or the item is new), and report any request id that it
        shows under two or more events."""
        self._report_duplicates(item_id, events)
        return self._book.learn(item_id, _history_rows(events))

    def _record_read(self, found: Item, events: list[CodeEvent]) -> ItemState:
        """What a read sent without the item's lock teaches: the item's history if the
        client did not know it (else what it knows stays), and its other ids: a caller
        names an item by its ``_id``, ``oemItemID`` or ``sellerItemID``."""
        self._report_duplicates(found.id, events)
        state = self._book.fill(found.id, _history_rows(events))
        for alias in (found.oem_item_id, found.seller_item_id):
            self._book.alias(alias, found.id)
        return state

    def _report_duplicates(self, item_id: str, events: list[CodeEvent]) -> None:
        counts = Counter(request_id_of(e.description) for e in events)
        for rid, n in counts.items():
            if rid is None or n < 2 or (item_id, rid) in self._reported:
                continue
            self._reported.add((item_id, rid))
            message = (
                f"item {item_id}: {n} code events carry request id {rid}; the request was "
                "executed more than once (a gateway or proxy that re-sent it)"
            )
            log.warning("%s", message)
            warnings.warn(message, DuplicateCodeWarning, stacklevel=2)

    async def _state(self, item: ItemRef) -> ItemState:
        key = self._key(item)
        state = self._book.get(key)
        if state is not None:
            return state
        found, events = await self._download(key)
        return self._record_read(found, events)

    async def item_limits(self, item: ItemRef) -> Limits:
        """The limits the client applies to ``item``: its fleet's over its distributor's
        (both read from the server once), or the configured ``Limits`` where the server
        gives none."""
        state = await self._state(item)
        return await self._limits_of(state)

    async def limit_report(self, item: ItemRef) -> LimitReport:
        """The limits the client applies to ``item`` and where each rule comes from
        (fleet, distributor, configured, or off by the fleet's switch), with the fleet's
        settings whose rules are not public, shown but not enforced."""
        state = await self._state(item)
        limits = await self._limits_of(state)
        settings = self._distributor if self.config.learn_limits else None
        return LimitReport(
            item_id=state.item_id,
            limits=limits,
            sources=limit_sources(settings, state.fleet),
            fleet_name=getattr(state.fleet, "fleet_name", None),
            not_enforced=not_enforced(state.fleet),
        )

    async def _distributor_limits(self) -> DistributorLimitFields | None:
        """The signed-in distributor's limit settings, read once per client. The access
        token names the distributor; None when it does not, or the server gives none."""
        async with self._distributor_lock:
            if self._distributor_read:
                return self._distributor
            distributor_id = jwt_claim(await self._tokens.token(), "distributorId")
            if not isinstance(distributor_id, str) or not distributor_id:
                log.debug("the access token names no distributor; its settings are not read")
                self._distributor_read = True
                return None
            try:
                result = await self._api.get_distributor_setting(distributor_id=distributor_id)
            except TransportError as exc:
                # Read again for the next item: the network, not the server, failed.
                log.debug("distributor settings unavailable (%s)", type(exc).__name__)
                return None
            except ErmError as exc:
                log.debug("distributor settings unavailable (%s)", type(exc).__name__)
                self._distributor_read = True
                return None
            self._distributor = result.get_specific_distributor_setting
            self._distributor_read = True
            return self._distributor

    async def _limits_of(self, state: ItemState) -> Limits:
        if state.limits is not None:
            return state.limits
        if not self.config.learn_limits:
            state.limits = self.config.limits
            return state.limits
        # A token first, outside the fallback: a failed sign-in is the call's error (it
        # would fail the code request too), never "limits unavailable".
        await self._tokens.token()
        settings = await self._distributor_limits()
        try:
            result = await self._api.get_item_limits(item_id=state.item_id)
        except ErmError as exc:
            # Permissions, a server without the field, a refusal: never a reason to fail.
            return self._apply_fleet(state, None, settings, type(exc).__name__)
        return self._apply_fleet(state, result.get_specific_item.item_fleet, settings)

    def _apply_fleet(
        self,
        state: ItemState,
        fleet: FleetLimitFields | None,
        settings: DistributorLimitFields | None,
        error: str | None = None,
    ) -> Limits:
        """Record the limits of ``state``'s item from its fleet over its distributor's
        settings (None: none given), with one debug line for whatever the configured
        limits fill in."""
        if error is not None:
            log.debug(
                "item %s: fleet limits unavailable (%s); the distributor's or the configured "
                "limits apply",
                state.item_id,
                error,
            )
        else:
            missing = missing_limits(fleet)
            if missing:
                log.debug(
                    "item %s: %s gives no %s; the distributor's or the configured limits "
                    "apply for %s",
                    state.item_id,
                    "no fleet" if fleet is None else f"fleet {getattr(fleet, 'fleet_name', '?')!r}",
                    "limits" if fleet is None else ", ".join(missing),
                    "it" if fleet is None else "those",
                )
        state.fleet = fleet
        state.limits = limits_from_levels(settings, fleet, self.config.limits)
        return state.limits

    # -- codes --------------------------------------------------------------------------

    async def issue(
        self,
        kind: CodeTypes,
        item: ItemRef,
        days: int | None = None,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        """Issue one code of ``kind`` for ``item``, exactly once.

        ``days`` (1 to 1096) goes with ``CodeTypes.DAYSCODE`` only. ``request_id`` (16
        hex digits, made up when omitted) is the call's idempotency key: a call with an id
        of your own first looks for it in the item's history, and returns the code already
        issued under it, marked ``recovered``, instead of a second one; the same id with
        another kind, other days or another item raises ``RequestIdConflictError`` and
        sends nothing. Request-tag text in ``description`` (``[req:``) is stored as
        ``(req:``: only the client's own tag is ever read back.

        When an answer is lost the history settles it; a request still unsettled is sent
        again only where that cannot make a second code (``max_hold`` has passed, or the
        item's fleet enforces a longer interval, so a late original is refused), else
        ``OutcomeUnknownError`` names the request id: ``recover(item, request_id)`` finds
        the code once the server has executed it. Cancelled (or
        interrupted), it lets the ``CancelledError`` go on with a note giving the request
        id and whether the request may have been sent.
        """
        request = self._code_request(kind, self._key(item), days, description, request_id)
        progress = _issuing.Progress()
        bound = self.config.call_timeout
        if bound is None or not math.isfinite(bound):
            return await self._issue(request, item, progress)
        # call_timeout set: the whole issuance, settling included, ends by then; the
        # operations inside end by then too.
        scope = deadline_var.set(asyncio.get_running_loop().time() + bound)
        try:
            async with asyncio.timeout(bound):
                return await self._issue(request, item, progress)
        except TimeoutError as exc:
            if isinstance(exc, ErmError):
                raise
            what = f"{request.kind.value}: the call's {bound:g} s ran out"
            if progress.maybe_sent:
                raise OutcomeUnknownError(
                    f"{what} with request {request.request_id} possibly sent; call "
                    f"recover({request.item_id!r}, {request.request_id!r}) later, or issue "
                    "again with the same request_id",
                    request_id=request.request_id,
                    item_id=request.item_id,
                ) from None
            raise ErmTimeoutError(f"{what} before the request was sent", sent=False) from None
        finally:
            deadline_var.reset(scope)

    async def _issue(
        self, request: CodeRequest, item: ItemRef, progress: _issuing.Progress
    ) -> IssuedCode:
        with _issuing.noting_interruption(request, progress):
            state = await self._state(item)
            sent = replace(request, item_id=state.item_id)
            earlier = record_use(f"{self.url} {self.email}", sent.request_id, sent.what)
            if earlier is not None:
                raise _issuing.conflict(sent, earlier)
            return await _issuing.issue(
                self._port,
                state,
                sent,
                self.config.retry,
                progress,
                grace=self._settle_grace,
                max_hold=self.config.max_hold,
            )

    @property
    def _settle_grace(self) -> float:
        grace = self.config.settle_grace
        return self.config.timeout if grace is None else grace

    def _code_request(
        self,
        kind: CodeTypes,
        item_id: str,
        days: int | None,
        description: str | None,
        request_id: str | None,
    ) -> CodeRequest:
        """Validate everything that can be checked before sending."""
        row = issuable(kind)
        if row.takes_days:
            checked = validate_days(days, self.config.limits)
        elif days:
            raise InvalidInputError(f"a {row.label} takes no days", field="days")
        else:
            checked = 0
        rid = request_id or new_request_id()
        if not REQUEST_ID.fullmatch(rid):
            raise InvalidInputError("request_id must be 16 lowercase hex digits")
        return CodeRequest(row.member, item_id, checked, description, rid)

    async def generate_days_code(
        self,
        item: ItemRef,
        days: int,
        description: str | None = None,
        *,
        request_id: str | None = None,
    ) -> IssuedCode:
        """Issue a code that adds ``days`` days of use (1 to 1096) to ``item``."""
        return await self.issue(CodeTypes.DAYSCODE, item, days, description, request_id=request_id)

    async def generate_free_code(
        self, item: ItemRef, description: str | None = None, *, request_id: str | None = None
    ) -> IssuedCode:
        """Issue a code that unlocks ``item`` for good."""
        return await self.issue(CodeTypes.FREECODE, item, None, description, request_id=request_id)

    async def generate_reset_code(
        self, item: ItemRef, description: str | None = None, *, request_id: str | None = None
    ) -> IssuedCode:
        """Issue a code that sets ``item``'s remaining days to zero."""
        return await self.issue(CodeTypes.RESETCODE, item, None, description, request_id=request_id)

    async def recover(self, item: ItemRef, request_id: str) -> IssuedCode | None:
        """The code issued for ``request_id``, found in the item's history, or None.

        None means the server has not executed the request *yet*: one held on the way may
        still arrive. To get the code either way, issue again with the same
        ``request_id``: that call settles the id first and never issues a second code for
        it.
        """
        state = await self._state(item)
        return await _issuing.settle(self._port, state.item_id, request_id)


class _Port:
    """The issuing state machine's I/O: the generated client, the token manager and the
    client's item reads, each handed over by the client that builds it (the port reaches
    into nothing). Requests go out as the table row of their kind says (``kinds``)."""

    def __init__(
        self,
        api: GeneratedClient,
        tokens: TokenManager,
        *,
        history: Callable[[str], Awaitable[list[CodeEvent]]],
        limits: Callable[[ItemState], Awaitable[Limits]],
        clock: Callable[[], float],
        refused: Callable[[], None],
    ) -> None:
        self._api = api
        self._tokens = tokens
        self._history = history
        self._limits = limits
        self._clock = clock
        self._refused = refused

    async def token(self) -> str:
        return await self._tokens.token()

    def invalidate(self, token: str) -> None:
        self._tokens.invalidate(token)

    async def send(self, request: CodeRequest, token: str) -> CodeFields:
        # The token goes explicitly: the pipeline then neither signs in nor re-sends, and
        # the machine knows that a sign-in failure happened before anything was sent.
        kind = kind_of(request.kind)
        if kind is None:  # ``issue`` refuses a kind without a row before this
            raise InvalidInputError(f"this client does not issue {request.kind.value}s")
        arguments: dict[str, Any] = {"item_id": request.item_id, "description": request.tagged}
        if kind.takes_days:
            arguments["code_days"] = request.days
        operation = getattr(self._api, kind.operation)
        answer = await operation(**arguments, headers={AUTHORIZATION: f"Bearer {token}"})
        code: CodeFields = getattr(answer, kind.operation)
        return code

    async def history(self, item_id: str) -> list[CodeEvent]:
        # Called by the issuing machine while it holds the item's lock.
        return await self._history(item_id)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def now(self) -> float:
        return self._clock()

    async def limits(self, state: _issuing.ItemState) -> Limits:
        assert isinstance(state, ItemState)
        return await self._limits(state)

    def refused(self) -> None:
        self._refused()

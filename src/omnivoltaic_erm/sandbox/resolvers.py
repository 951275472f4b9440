"""Resolvers of the sandbox schema, as ariadne bindables.

Only the root fields need code: every other field is read from plain dicts keyed by
the schema's field names, so a field the code does not know (for example in a test
that serves a modified schema) simply resolves to None. Binding skips root fields the
loaded schema lacks, for the same reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ariadne import ObjectType
from graphql import GraphQLObjectType, GraphQLResolveInfo

from ..errors import CODE_FORBIDDEN
from .auth import (
    ROLE_DISTRIBUTOR,
    bearer_token,
    issue_token,
    new_token_id,
    verify_refresh_token,
    verify_token,
)
from .errors import ApiError, bad_input, invalid_credentials, not_found, unauthorized
from .pagination import PageRequest, connection
from .store import DAYSCODE, FREECODE, RESETCODE, Distributor, Store

log = logging.getLogger("omnivoltaic_erm.sandbox")


@dataclass
class RequestContext:
    """Per-request state: the store and the request's ``Authorization`` header."""

    store: Store
    authorization: str | None
    _distributor: Distributor | None = field(default=None, repr=False)

    def distributor(self) -> Distributor:
        """The distributor the bearer token names; raises the handbook's Unauthorized."""
        if self._distributor is None:
            token = bearer_token(self.authorization)
            claims = verify_token(self.store.secret, token, time.time()) if token else None
            found = self.store.distributor(claims.distributor_id) if claims else None
            if found is None:
                raise unauthorized()
            self._distributor = found
        return self._distributor


class _ObjectType(ObjectType):
    """An ``ObjectType`` that binds only the fields the loaded schema defines."""

    def bind_resolvers_to_graphql_type(
        self, graphql_type: GraphQLObjectType, replace_existing: bool = True
    ) -> None:
        for name, resolver in self._resolvers.items():
            target = graphql_type.fields.get(name)
            if target is not None and (target.resolve is None or replace_existing):
                target.resolve = resolver


query = _ObjectType("Query")
mutation = _ObjectType("Mutation")
item_type = _ObjectType("Item")
code_event_type = _ObjectType("CodeEvent")


def _context(info: GraphQLResolveInfo) -> RequestContext:
    context = info.context
    assert isinstance(context, RequestContext)
    return context


# -- sign-in -------------------------------------------------------------------------


def _sign_in(info: GraphQLResolveInfo, credentials: dict[str, Any]) -> dict[str, Any]:
    ctx = _context(info)
    email = str(credentials.get("email", ""))
    distributor = ctx.store.authenticate(email, str(credentials.get("password", "")))
    if distributor is None:
        log.info("sign-in refused for %s", email[:100])
        raise invalid_credentials()
    log.info("signed in %s", distributor.email)
    return _tokens(ctx.store, distributor)


def _tokens(store: Store, distributor: Distributor) -> dict[str, Any]:
    """A fresh access token and a fresh single-use refresh token, with the profile."""
    cfg = store.config
    now = time.time()
    jti = new_token_id()
    refresh = issue_token(store.secret, distributor.id, cfg.refresh_ttl, now, refresh=True, jti=jti)
    store.save_refresh_token(jti, distributor.id)
    return {
        "_id": distributor.id,
        "accessToken": issue_token(store.secret, distributor.id, cfg.token_ttl, now),
        "refreshToken": refresh,
        "deleteStatus": False,
        "deleteAt": None,
        "createdAt": distributor.created_at,
        "updatedAt": distributor.updated_at,
        "email": distributor.email,
        "type": ROLE_DISTRIBUTOR,
        "name": distributor.name,
        "roleName": ROLE_DISTRIBUTOR,
        # Values of the printed enums AgentTypes, PersonalIDTypes and ActionScope.
        "agentType": "SALES",
        "idType": "OFFICIAL_ID",
        "actionScope": "CLIENT",
    }


def _refresh(info: GraphQLResolveInfo, refresh_token: str) -> dict[str, Any]:
    ctx = _context(info)
    claims = verify_refresh_token(ctx.store.secret, refresh_token, time.time())
    distributor = ctx.store.distributor(claims[0]) if claims else None
    if claims is None or distributor is None:
        raise unauthorized()
    if not ctx.store.use_refresh_token(claims[1], distributor.id):
        log.info("refused a used or unknown refresh token for %s", distributor.email)
        raise unauthorized()
    log.info("refreshed the tokens of %s", distributor.email)
    return _tokens(ctx.store, distributor)


@mutation.field("refreshAccessToken")
def resolve_refresh_access_token(
    _: Any, info: GraphQLResolveInfo, refreshToken: str
) -> dict[str, Any]:
    """``refreshAccessToken``: new tokens for a refresh token, which is used up."""
    return _refresh(info, refreshToken)


@mutation.field("refreshClientAccessToken")
def resolve_refresh_client_access_token(
    _: Any, info: GraphQLResolveInfo, refreshToken: str
) -> dict[str, Any]:
    """``refreshClientAccessToken``: the same for ``signInClient`` tokens."""
    return _refresh(info, refreshToken)


@mutation.field("signInUser")
def resolve_sign_in_user(
    _: Any, info: GraphQLResolveInfo, signInCredentials: dict[str, Any]
) -> dict[str, Any]:
    """``signInUser``: the token and the distributor's profile."""
    return _sign_in(info, signInCredentials)


@mutation.field("signInClient")
def resolve_sign_in_client(
    _: Any, info: GraphQLResolveInfo, signInCredentialsInput: dict[str, Any]
) -> dict[str, Any]:
    """``signInClient``: the distributor's id and access token."""
    return _sign_in(info, signInCredentialsInput)


# -- items ---------------------------------------------------------------------------


@query.field("getAllClientItems")
def resolve_get_all_client_items(
    _: Any,
    info: GraphQLResolveInfo,
    queryorder: str,
    assetaccount: bool | None = None,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    search: str | None = None,
    pagination: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
    clientId: str | None = None,
    searchByOemItemId: str | None = None,
    isOpenTokenSimulator: bool | None = None,
) -> dict[str, Any]:
    """``getAllClientItems``: the distributor's items, as a Relay array connection or, with
    ``pagination: OFFSET``, by ``limit`` and ``offset``.

    ``clientId`` must be the caller's own id. ``searchByOemItemId`` matches the
    ``oemItemID`` alone. ``assetaccount`` and ``isOpenTokenSimulator`` are accepted and
    have no effect: the sandbox has no asset accounts and no simulator.
    """
    ctx = _context(info)
    distributor = ctx.distributor()
    if clientId is not None and clientId != distributor.id:
        raise ApiError("Forbidden resource", CODE_FORBIDDEN, 403)
    count = ctx.store.count_items(distributor.id, search, searchByOemItemId)
    paging = PageRequest(pagination, first, last, after, before, limit, offset)
    try:
        win, asked = paging.window(count)
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    nodes = ctx.store.list_items(
        distributor.id,
        search,
        descending=queryorder == "DESC",
        offset=win.start,
        limit=win.size,
        oem_search=searchByOemItemId,
    )
    return connection(win, nodes, count, asked)


@query.field("getItemsForDownloadById")
def resolve_get_items_for_download_by_id(
    _: Any, info: GraphQLResolveInfo, ids: list[str]
) -> list[dict[str, Any]]:
    """``getItemsForDownloadById``: each distinct item named, with its code history.

    Any id may be an ``_id``, ``oemItemID`` or ``sellerItemID``; an id the distributor
    does not own is NOT_FOUND, and fails the whole field.
    """
    ctx = _context(info)
    distributor = ctx.distributor()
    found: dict[str, dict[str, Any]] = {}
    for item_id in ids:
        item = ctx.store.find_item(item_id, distributor.id)
        if item is None:
            raise not_found(item_id)
        found.setdefault(item["_id"], item)
    return [{"item": item, "codeHistory": ctx.store.history(key)} for key, item in found.items()]


@query.field("getSpecificItem")
def resolve_get_specific_item(_: Any, info: GraphQLResolveInfo, itemId: str) -> dict[str, Any]:
    """``getSpecificItem``: one of the distributor's items by its ``_id``."""
    return _owned_item(_context(info), "id", itemId)


@query.field("getItembyOemItemId")
def resolve_get_item_by_oem_item_id(
    _: Any, info: GraphQLResolveInfo, oemItemId: str
) -> dict[str, Any]:
    """``getItembyOemItemId``: one of the distributor's items by its ``oemItemID``."""
    return _owned_item(_context(info), "oem_item_id", oemItemId)


def _owned_item(ctx: RequestContext, column: str, value: str) -> dict[str, Any]:
    """One of the signed-in distributor's items by ``_id`` or ``oemItemID``, or NOT_FOUND."""
    item = ctx.store.item_by(column, value, ctx.distributor().id)
    if item is None:
        raise not_found(value)
    return item


@query.field("getAllCodeEventsForSpecificItemByDistributor")
def resolve_code_events(
    _: Any,
    info: GraphQLResolveInfo,
    itemId: str,
    pagination: str | None = "CURSOR",
    limit: int | None = None,
    offset: int | None = None,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    distributorId: str | None = None,
) -> dict[str, Any]:
    """``getAllCodeEventsForSpecificItemByDistributor``: an item's code events, newest
    first, paged by Relay cursors (``pagination: CURSOR``) or by ``limit``/``offset``."""
    ctx = _context(info)
    distributor = ctx.distributor()
    if distributorId is not None and distributorId != distributor.id:
        raise ApiError("Forbidden resource", CODE_FORBIDDEN, 403)
    item = _owned_item(ctx, "id", itemId)
    count = ctx.store.event_count(item["_id"])
    paging = PageRequest(pagination, first, last, after, before, limit, offset)
    try:
        win, asked = paging.window(count)
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    return connection(win, ctx.store.events_page(item["_id"], win.start, win.size), count, asked)


def _code_generator(obj: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    # Counted on demand: a listing that does not select it pays nothing.
    item_id = obj.get("_itemId") or obj.get("_id")
    return _context(info).store.code_generator(str(item_id)) if item_id else None


item_type.set_field("codeGenerator", _code_generator)
code_event_type.set_field("codeGenerator", _code_generator)


# -- codes ---------------------------------------------------------------------------


def _generate(info: GraphQLResolveInfo, data: dict[str, Any], code_type: str) -> dict[str, Any]:
    ctx = _context(info)
    distributor = ctx.distributor()
    item_id = str(data["itemId"])
    item = ctx.store.find_item(item_id, distributor.id)
    if item is None:
        raise not_found(item_id)
    days = int(data["codeDays"]) if code_type == DAYSCODE else 0
    result = ctx.store.record_code(item, code_type, days, data.get("description"))
    log.info("issued %s for item %s", code_type, item["_id"])
    return result


@mutation.field("generateDaysCode")
def resolve_generate_days_code(
    _: Any, info: GraphQLResolveInfo, generateDaysCodeInput: dict[str, Any]
) -> dict[str, Any]:
    """``generateDaysCode``: a code adding ``codeDays`` days of use."""
    return _generate(info, generateDaysCodeInput, DAYSCODE)


@mutation.field("generateFreeCode")
def resolve_generate_free_code(
    _: Any, info: GraphQLResolveInfo, generateFreeCodeInput: dict[str, Any]
) -> dict[str, Any]:
    """``generateFreeCode``: a code unlocking the item for good."""
    return _generate(info, generateFreeCodeInput, FREECODE)


@mutation.field("generateResetCode")
def resolve_generate_reset_code(
    _: Any, info: GraphQLResolveInfo, generateResetCodeInput: dict[str, Any]
) -> dict[str, Any]:
    """``generateResetCode``: a code setting the item's remaining days to zero."""
    return _generate(info, generateResetCodeInput, RESETCODE)


BINDABLES = [query, mutation, item_type, code_event_type]


def served_root_fields() -> frozenset[str]:
    """The root fields the sandbox implements; every other one answers "not served"."""
    return frozenset(query._resolvers) | frozenset(mutation._resolvers)

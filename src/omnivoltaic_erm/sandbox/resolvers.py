"""Resolvers of the sandbox schema, as ariadne bindables.

Only the root fields need code: every other field is read from plain dicts keyed by
the schema's field names, so a field the code does not know (for example in a test
that serves a modified schema) simply resolves to None. Binding skips root fields the
loaded schema lacks, for the same reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ariadne import ObjectType
from graphql import GraphQLError, GraphQLObjectType, GraphQLResolveInfo

from ..errors import CODE_FORBIDDEN, CODE_NOT_FOUND
from . import demo
from .auth import (
    ROLE_DISTRIBUTOR,
    bearer_token,
    issue_token,
    new_token_id,
    verify_refresh_token,
    verify_token,
)
from .errors import (
    ApiError,
    bad_input,
    invalid_credentials,
    not_found,
    shorten,
    unauthorized,
)
from .events import EventQuery, date_range
from .pagination import PageRequest, Window, connection
from .sessions import Session, token_fingerprint
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
            if token and self.store.sessions.refused(token):
                raise unauthorized()
            now = self.store.clock.now()
            claims = verify_token(self.store.secret, token, now) if token else None
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
code_generator_type = _ObjectType("CodeGenerator")
open_token_generator_type = _ObjectType("OpenTokenCodeGen")
access_token_type = _ObjectType("AccessToken")


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


def _tokens(store: Store, distributor: Distributor, parent: str | None = None) -> dict[str, Any]:
    """A fresh access token and a fresh single-use refresh token, with the profile;
    ``parent``: the refresh token's id these replace (the rotation chain)."""
    cfg = store.config
    now = store.clock.now()
    jti = new_token_id()
    refresh = issue_token(store.secret, distributor.id, cfg.refresh_ttl, now, refresh=True, jti=jti)
    store.save_refresh_token(jti, distributor.id)
    access = issue_token(store.secret, distributor.id, cfg.token_ttl, now)
    store.sessions.add(
        Session(
            session=token_fingerprint(access),
            jti=jti,
            parent=parent,
            email=distributor.email,
            issued_at=now,
            access_expires_at=now + cfg.token_ttl,
            refresh_expires_at=now + cfg.refresh_ttl,
        )
    )
    return {
        "_id": distributor.id,
        "accessToken": access,
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
        **demo.distributor_profile(distributor.id, distributor.index, distributor.created_at),
    }


def _related_id(field_name: str) -> Any:
    """``AccessToken`` types ``role``, ``officeAddress``, ... as ``ID``: the object's id."""

    def resolve(obj: dict[str, Any], _: GraphQLResolveInfo) -> str | None:
        related = obj.get(field_name)
        return None if related is None else str(related["_id"])

    return resolve


for _name in ("role", "officeAddress", "authenticationInstance", "subrole"):
    access_token_type.set_field(_name, _related_id(_name))


def _refresh(info: GraphQLResolveInfo, refresh_token: str) -> dict[str, Any]:
    ctx = _context(info)
    claims = verify_refresh_token(ctx.store.secret, refresh_token, ctx.store.clock.now())
    distributor = ctx.store.distributor(claims[0]) if claims else None
    if claims is None or distributor is None:
        raise unauthorized()
    if not ctx.store.use_refresh_token(claims[1], distributor.id):
        log.info("refused a used or unknown refresh token for %s", distributor.email)
        raise unauthorized()
    log.info("refreshed the tokens of %s", distributor.email)
    return _tokens(ctx.store, distributor, parent=claims[1])


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


def _forbidden() -> ApiError:
    """Another distributor's id where the caller's own is expected."""
    return ApiError("Forbidden resource", CODE_FORBIDDEN, 403)


def _own_id(distributor: Distributor, given: str | None) -> None:
    """Refuse a ``clientId``/``distributorId`` that is not the caller's own."""
    if given is not None and given != distributor.id:
        raise _forbidden()


def _window(paging: PageRequest, count: int) -> tuple[Window, int | None]:
    try:
        return paging.window(count)
    except ValueError as exc:
        raise bad_input(str(exc)) from None


def _item_page(
    ctx: RequestContext,
    paging: PageRequest,
    *,
    search: str | None,
    descending: bool,
    oem_search: str | None = None,
    fleet: int | None = None,
) -> dict[str, Any]:
    """A page of the signed-in distributor's matching items, as ``GetAllItemsResponse``."""
    owner = ctx.distributor().id
    count = ctx.store.count_items(owner, search, oem_search, fleet)
    win, asked = _window(paging, count)
    nodes = ctx.store.list_items(
        owner,
        search,
        descending=descending,
        offset=win.start,
        limit=win.size,
        oem_search=oem_search,
        fleet=fleet,
    )
    return connection(win, nodes, count, asked)


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
    _own_id(ctx.distributor(), clientId)
    paging = PageRequest(pagination, first, last, after, before, limit, offset)
    return _item_page(
        ctx, paging, search=search, descending=queryorder == "DESC", oem_search=searchByOemItemId
    )


@query.field("getAllItems")
def resolve_get_all_items(
    _: Any,
    info: GraphQLResolveInfo,
    queryorder: str,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    """``getAllItems``: like ``getAllClientItems`` by cursor, over the caller's own items
    (a distributor never sees another's)."""
    paging = PageRequest(None, first, last, after, before)
    return _item_page(_context(info), paging, search=search, descending=queryorder == "DESC")


@query.field("getAllClientItemsInItemFleet")
def resolve_get_all_client_items_in_item_fleet(
    _: Any,
    info: GraphQLResolveInfo,
    getAllClientItemsInItemFleet: dict[str, Any],
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    """``getAllClientItemsInItemFleet``: the caller's items in one of its fleets, oldest
    first. ``clientId`` must be the caller's own id; a fleet id that is not one of the
    caller's fleets selects no items."""
    ctx = _context(info)
    distributor = ctx.distributor()
    _own_id(distributor, str(getAllClientItemsInItemFleet["clientId"]))
    fleet_id = str(getAllClientItemsInItemFleet["itemFleetId"])
    fleet = ctx.store.fleet_index(fleet_id, distributor.id)
    paging = PageRequest(None, first, last, after, before)
    if fleet is None:
        win, asked = _window(paging, 0)
        return connection(win, [], 0, asked)
    return _item_page(ctx, paging, search=search, descending=False, fleet=fleet)


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
    """``getItembyOemItemId``: one of the distributor's items by its ``oemItemID``.

    An unknown (or another distributor's) OEM id answers as the real server does: the
    error graphql-core gives a non-null field that resolves to null, "Cannot return null
    for non-nullable field Query.getItembyOemItemId.", with ``data`` null (not the
    sandbox's own NOT_FOUND).
    """
    ctx = _context(info)
    item = ctx.store.item_by("oem_item_id", oemItemId, ctx.distributor().id)
    if item is None:
        raise _null_for_non_null(info)
    return item


def _null_for_non_null(info: GraphQLResolveInfo) -> GraphQLError:
    """graphql-core's own error for a null in a non-null field, raised as a GraphQL error:
    the same message, path and locations, without being taken for a sandbox failure."""
    return GraphQLError(
        f"Cannot return null for non-nullable field {info.parent_type.name}.{info.field_name}."
    )


def _owned_item(ctx: RequestContext, column: str, value: str) -> dict[str, Any]:
    """One of the signed-in distributor's items by ``_id`` or ``oemItemID``, or NOT_FOUND."""
    item = ctx.store.item_by(column, value, ctx.distributor().id)
    if item is None:
        raise not_found(value)
    return item


@query.field("getSpecificDistributorSetting")
def resolve_get_specific_distributor_setting(
    _: Any, info: GraphQLResolveInfo, distributorId: str
) -> dict[str, Any]:
    """``getSpecificDistributorSetting``: the caller's own ``DistributorSetting``; another
    distributor's id is FORBIDDEN."""
    ctx = _context(info)
    distributor = ctx.distributor()
    if distributorId != distributor.id:
        raise _forbidden()
    return ctx.store.setting_object(distributor.id)


# -- code events ---------------------------------------------------------------------


def _event_page(ctx: RequestContext, events: EventQuery, paging: PageRequest) -> dict[str, Any]:
    """A page of the code events ``events`` selects, as ``GetAllCodeEventsResponse``."""
    count = ctx.store.count_events(events)
    win, asked = _window(paging, count)
    return connection(win, ctx.store.list_events(events, win.start, win.size), count, asked)


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
    _own_id(distributor, distributorId)
    item = _owned_item(ctx, "id", itemId)
    events = EventQuery(distributor.id, item_id=item["_id"])
    return _event_page(
        ctx, events, PageRequest(pagination, first, last, after, before, limit, offset)
    )


@query.field("getAllCodeEventsBetweenDates")
def resolve_code_events_between_dates(
    _: Any,
    info: GraphQLResolveInfo,
    itemId: str,
    startDate: str,
    endDate: str,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    distributorId: str | None = None,
    codeType: str | None = None,
) -> dict[str, Any]:
    """``getAllCodeEventsBetweenDates``: an item's code events created from ``startDate``
    to ``endDate`` (both included; a date alone as the end includes its whole day),
    optionally of one ``codeType``, newest first."""
    ctx = _context(info)
    distributor = ctx.distributor()
    _own_id(distributor, distributorId)
    item = _owned_item(ctx, "id", itemId)
    try:
        since, until = date_range(startDate, endDate)
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    events = EventQuery(
        distributor.id, item_id=item["_id"], since=since, before=until, code_type=codeType
    )
    return _event_page(ctx, events, PageRequest(None, first, last, after, before))


@query.field("getAllCodeEvents")
def resolve_get_all_code_events(
    _: Any,
    info: GraphQLResolveInfo,
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    search: str | None = None,
) -> dict[str, Any]:
    """``getAllCodeEvents``: the code events of all the caller's items, newest first;
    ``search`` matches the item's ids, the event's ``_id``, ``codeType`` or description."""
    ctx = _context(info)
    events = EventQuery(ctx.distributor().id, search=search)
    return _event_page(ctx, events, PageRequest(None, first, last, after, before))


@query.field("getCodeEventsByCodeGeneratorIds")
def resolve_code_events_by_code_generator_ids(
    _: Any, info: GraphQLResolveInfo, ids: list[str]
) -> list[dict[str, Any]]:
    """``getCodeEventsByCodeGeneratorIds``: the code events of each named code generator
    (``CodeGenerator._id``), generator by generator in the order given, each oldest
    first. Ids that are not the caller's generators add nothing."""
    ctx = _context(info)
    item_ids = ctx.store.items_by_generator(ids, ctx.distributor().id)
    return [event for item_id in item_ids for event in ctx.store.history(item_id)]


@query.field("getSpecificCodeEvent")
def resolve_get_specific_code_event(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
    """``getSpecificCodeEvent``: one of the caller's code events by its ``_id``, or
    NOT_FOUND."""
    ctx = _context(info)
    event = ctx.store.event_by_id(id, ctx.distributor().id)
    if event is None:
        raise ApiError(f"Code event not found: {shorten(id)!r}", CODE_NOT_FOUND, 404)
    return event


def _code_generator(obj: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any] | None:
    # Counted on demand: a listing that does not select it pays nothing.
    item_id = obj.get("_itemId") or obj.get("_id")
    return _context(info).store.code_generator(str(item_id)) if item_id else None


item_type.set_field("codeGenerator", _code_generator)
code_event_type.set_field("codeGenerator", _code_generator)


@item_type.field("openTokencodeGen")
def resolve_open_token_code_gen(
    obj: dict[str, Any], info: GraphQLResolveInfo
) -> dict[str, Any] | None:
    """An OpenToken item's ``OpenTokenCodeGen``; null on an item that uses OVES codes."""
    if obj.get("codeGenUsed") != demo.OPENTOKEN:
        return None
    return _context(info).store.open_token_generator(str(obj["_id"]))


@open_token_generator_type.field("openTokenCodeHistory")
def resolve_open_token_code_history(
    obj: dict[str, Any], info: GraphQLResolveInfo
) -> list[dict[str, Any]]:
    """An OpenToken generator's tokens, one per code event of its item, oldest first."""
    history = _context(info).store.history(str(obj["_itemId"]))
    return [demo.open_token_event(event) for event in history]


@code_generator_type.field("codeHistory")
def resolve_code_history(obj: dict[str, Any], info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    """A code generator's events, oldest first (read only when selected)."""
    return _context(info).store.history(str(obj["_itemId"]))


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


BINDABLES = [
    query,
    mutation,
    item_type,
    code_event_type,
    code_generator_type,
    open_token_generator_type,
    access_token_type,
]


def served_root_fields() -> frozenset[str]:
    """The root fields the sandbox implements; every other one answers "not served"."""
    return frozenset(query._resolvers) | frozenset(mutation._resolvers)

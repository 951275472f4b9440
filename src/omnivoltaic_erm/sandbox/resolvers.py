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

from .auth import ROLE_DISTRIBUTOR, bearer_token, issue_token, verify_token
from .errors import bad_input, invalid_credentials, not_found, unauthorized
from .pagination import offset_to_cursor, window
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
    cfg = ctx.store.config
    now = time.time()
    log.info("signed in %s", distributor.email)
    return {
        "_id": distributor.id,
        "accessToken": issue_token(ctx.store.secret, distributor.id, cfg.token_ttl, now),
        "refreshToken": issue_token(
            ctx.store.secret, distributor.id, cfg.token_ttl * 7, now, refresh=True
        ),
        "deleteStatus": False,
        "deleteAt": None,
        "createdAt": distributor.created_at,
        "updatedAt": distributor.updated_at,
        "email": distributor.email,
        "type": ROLE_DISTRIBUTOR,
        "name": distributor.name,
        "roleName": ROLE_DISTRIBUTOR,
    }


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
    first: int | None = None,
    last: int | None = None,
    after: str | None = None,
    before: str | None = None,
    search: str | None = None,
    assetaccount: bool | None = None,
) -> dict[str, Any]:
    """``getAllClientItems``: a Relay array connection over the distributor's items.

    ``assetaccount`` is accepted and has no effect: the sandbox has no asset accounts.
    """
    ctx = _context(info)
    distributor = ctx.distributor()
    count = ctx.store.count_items(distributor.id, search)
    try:
        win = window(count, first=first, last=last, after=after, before=before)
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    nodes = ctx.store.list_items(
        distributor.id, search, descending=queryorder == "DESC", offset=win.start, limit=win.size
    )
    edges = [
        {"cursor": offset_to_cursor(win.start + i), "node": node} for i, node in enumerate(nodes)
    ]
    asked = first if first is not None else last
    return {
        "page": {
            "edges": edges,
            "pageInfo": {
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
                "hasPreviousPage": win.has_previous_page,
                "hasNextPage": win.has_next_page,
            },
        },
        "pageData": {
            "count": count,
            "limit": asked if asked is not None else len(edges),
            "offset": win.start,
        },
    }


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


BINDABLES = [query, mutation]

"""Plain-HTTP helpers for the sandbox tests: each call is one aiohttp request."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import pytest


class Endpoint(Protocol):
    """A sandbox, in-process (``Sandbox``) or a process started by a test."""

    @property
    def url(self) -> str: ...
    @property
    def email(self) -> str: ...
    @property
    def password(self) -> str: ...


@dataclass
class Reply:
    """An HTTP answer: status, content type, raw text and (if JSON) the decoded body."""

    status: int
    content_type: str
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)


async def apost(
    url: str,
    body: Any,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
) -> Reply:
    """POST ``body`` (JSON-encoded unless bytes) to ``url``."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await apost(url, data, None, all_headers, own)
    async with session.post(url, data=data, headers=all_headers) as response:
        return Reply(response.status, response.content_type, await response.text())


def post(url: str, body: Any, token: str | None = None, **kwargs: Any) -> Reply:
    """Synchronous ``apost``."""
    return asyncio.run(apost(url, body, token, **kwargs))


def gql(
    sb: Endpoint, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    """Run one GraphQL request; assert HTTP 200 and return the JSON body."""
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    reply = post(sb.url, body, token)
    assert reply.status == 200, reply.text
    result: dict[str, Any] = reply.json
    return result


SIGN_IN = """
mutation ($email: String!, $password: String!) {
  signInUser(signInCredentials: {email: $email, password: $password}) { _id accessToken }
}"""


def sign_in(sb: Endpoint, email: str | None = None, password: str | None = None) -> str:
    """An access token for the demo distributor (or the given credentials)."""
    result = gql(sb, SIGN_IN, {"email": email or sb.email, "password": password or sb.password})
    token: str = result["data"]["signInUser"]["accessToken"]
    return token


DAYS = """
mutation ($itemId: ID!, $codeDays: Int!, $description: String) {
  generateDaysCode(generateDaysCodeInput: {
    itemId: $itemId, codeDays: $codeDays, description: $description
  }) { codeType codeHex codeDec }
}"""

FREE = """
mutation ($itemId: ID!, $description: String) {
  generateFreeCode(generateFreeCodeInput: {itemId: $itemId, description: $description}) {
    codeType codeHex codeDec
  }
}"""

RESET = """
mutation ($itemId: ID!, $description: String) {
  generateResetCode(generateResetCodeInput: {itemId: $itemId, description: $description}) {
    codeType codeHex codeDec
  }
}"""

HISTORY = """
query ($ids: [ID!]!) {
  getItemsForDownloadById(ids: $ids) {
    item { _id oemItemID sellerItemID }
    codeHistory {
      _id codeType codeDays codeNumber codeHexString codeDecString description
      hashIndex createdAt deleteStatus deleteAt
    }
  }
}"""

ITEMS = """
query ($order: QueryOrder!, $first: Int, $last: Int, $after: String, $before: String,
       $search: String) {
  getAllClientItems(queryorder: $order, first: $first, last: $last, after: $after,
                    before: $before, search: $search, assetaccount: false) {
    page {
      edges { cursor node { _id oemItemID sellerItemID createdAt } }
      pageInfo { startCursor endCursor hasPreviousPage hasNextPage }
    }
    pageData { count limit offset }
  }
}"""


def error_of(result: dict[str, Any]) -> dict[str, Any]:
    """The single error of a result whose data is null."""
    assert result.get("data") is None, result
    errors = result["errors"]
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    return error


def refusal_of(error: dict[str, Any]) -> tuple[str, int]:
    """What refused a request, and its HTTP status, from a sandbox error in the current
    shape: the sandbox's rule where it names one (``extensions.rule``), else the code."""
    extensions = error["extensions"]
    return extensions.get("rule", extensions["code"]), extensions["originalError"]["statusCode"]


def served(caplog: pytest.LogCaptureFixture, operation: str) -> int:
    """How many ``operation`` requests the in-process sandbox executed (its debug log)."""
    return sum(
        1
        for r in caplog.records
        if r.name == "omnivoltaic_erm.sandbox"
        and isinstance(r.args, tuple)
        and len(r.args) > 1
        and r.args[1] == operation
    )

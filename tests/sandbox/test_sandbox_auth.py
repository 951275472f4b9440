"""Sandbox sign-in, tokens and isolation between distributors, over HTTP."""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import jwt
import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.support.sandbox_http import DAYS, FREE, HISTORY, ITEMS, RESET, error_of, gql, sign_in

# The real server's current shape (public client code of 2026-05).
UNAUTHORIZED_EXTENSIONS = {
    "code": "UNAUTHENTICATED",
    "originalError": {"message": "Unauthorized", "error": "Unauthorized", "statusCode": 401},
}
INVALID_CREDENTIALS_EXTENSIONS = {
    "code": "UNAUTHENTICATED",
    "originalError": {
        "message": "Invalid Credentials",
        "error": "Unauthorized",
        "statusCode": 401,
    },
}

SIGN_IN_USER = """
mutation ($e: String!, $p: String!) {
  signInUser(signInCredentials: {email: $e, password: $p}) {
    _id accessToken refreshToken email type name roleName deleteStatus deleteAt createdAt
  }
}"""
SIGN_IN_CLIENT = """
mutation ($e: String!, $p: String!) {
  signInClient(signInCredentialsInput: {email: $e, password: $p}) { _id accessToken }
}"""


@pytest.fixture(scope="module")
def sb() -> Any:
    with Sandbox(items=4, code_interval=0.05) as sandbox:
        yield sandbox


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_sign_in_user_returns_profile_and_a_24_hour_jwt(sb: Sandbox) -> None:
    user = gql(sb, SIGN_IN_USER, {"e": sb.email, "p": sb.password})["data"]["signInUser"]
    assert user["email"] == sb.email
    assert user["roleName"] == "DISTRIBUTOR" and user["type"] == "DISTRIBUTOR"
    assert user["deleteStatus"] is False and user["deleteAt"] is None
    assert re.fullmatch(r"[0-9a-f]{24}", user["_id"]), user["_id"]
    assert jwt.get_unverified_header(user["accessToken"])["alg"] == "HS256"
    claims = _claims(user["accessToken"])
    assert claims["distributorId"] == user["_id"]
    assert claims["roleName"] == "DISTRIBUTOR"
    assert isinstance(claims["iat"], int) and claims["exp"] - claims["iat"] == 86400
    assert abs(claims["iat"] - time.time()) < 5
    assert user["refreshToken"] and user["refreshToken"] != user["accessToken"]


def test_sign_in_client_token_opens_protected_queries(sb: Sandbox) -> None:
    result = gql(sb, SIGN_IN_CLIENT, {"e": sb.email, "p": sb.password})
    client = result["data"]["signInClient"]
    assert set(client) == {"_id", "accessToken"}
    assert _claims(client["accessToken"])["distributorId"] == client["_id"]
    items = gql(sb, ITEMS, {"order": "ASC", "first": 2}, client["accessToken"])
    assert "errors" not in items
    assert len(items["data"]["getAllClientItems"]["page"]["edges"]) == 2


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("distributor@sandbox.test", "wrong-password"),
        ("nobody@sandbox.test", "sandbox-password"),
        ("distributor@sandbox.test", ""),
        ("other@sandbox.test", "sandbox-password"),
    ],
)
def test_wrong_credentials_are_invalid_credentials(sb: Sandbox, email: str, password: str) -> None:
    user = gql(sb, SIGN_IN_USER, {"e": email, "p": password})
    # signInUser is non-null (AuthToken!), so its error nulls the whole of data.
    assert error_of(user)["message"] == "Invalid Credentials"
    assert error_of(user)["extensions"] == INVALID_CREDENTIALS_EXTENSIONS
    client = gql(sb, SIGN_IN_CLIENT, {"e": email, "p": password})
    assert error_of(client)["extensions"] == INVALID_CREDENTIALS_EXTENSIONS


def test_refresh_token_is_not_an_access_token(sb: Sandbox) -> None:
    user = gql(sb, SIGN_IN_USER, {"e": sb.email, "p": sb.password})["data"]["signInUser"]
    result = gql(sb, ITEMS, {"order": "ASC", "first": 1}, user["refreshToken"])
    assert error_of(result)["message"] == "Unauthorized"


PROTECTED: list[tuple[str, dict[str, Any]]] = [
    (ITEMS, {"order": "DESC", "first": 1}),
    (HISTORY, {"ids": ["DVAV2501000001"]}),
    (DAYS, {"itemId": "DVAV2501000001", "codeDays": 1}),
    (FREE, {"itemId": "DVAV2501000001"}),
    (RESET, {"itemId": "DVAV2501000001"}),
]


def _assert_unauthorized(result: dict[str, Any]) -> None:
    assert result["data"] is None
    [error] = result["errors"]
    assert error["message"] == "Unauthorized"
    assert error["extensions"] == UNAUTHORIZED_EXTENSIONS


def _tamper(token: str) -> list[str]:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 10**6
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    other_secret = jwt.encode(claims, "not-the-sandbox-secret-" + "x" * 32, algorithm="HS256")
    unsigned = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    return [f"{header}.{forged}.{signature}", f"{header}.{payload}.{flipped}", other_secret,
            unsigned, "not-a-jwt", ""]  # fmt: skip


@pytest.mark.parametrize(("query", "variables"), PROTECTED)
def test_protected_operations_need_a_valid_token(
    sb: Sandbox, query: str, variables: dict[str, Any]
) -> None:
    _assert_unauthorized(gql(sb, query, variables))
    for bad in _tamper(sign_in(sb)):
        _assert_unauthorized(gql(sb, query, variables, bad))
    assert sb.history("DVAV2501000001") == []


def test_non_bearer_authorization_is_unauthorized(sb: Sandbox) -> None:
    from tests.support.sandbox_http import post

    token = sign_in(sb)
    body = {"query": ITEMS, "variables": {"order": "ASC", "first": 1}}
    reply = post(sb.url, body, headers={"Authorization": f"Basic {token}"})
    assert reply.status == 200
    _assert_unauthorized(reply.json)


@pytest.mark.slow
def test_token_expires_after_its_ttl(erm_sandbox_factory: Any) -> None:
    sb = erm_sandbox_factory(items=2, token_ttl=1.5)
    token = sign_in(sb)
    claims = _claims(token)
    assert claims["exp"] - claims["iat"] == pytest.approx(1.5)
    assert "errors" not in gql(sb, ITEMS, {"order": "ASC", "first": 1}, token)
    time.sleep(max(0.0, claims["exp"] - time.time()) + 0.05)
    _assert_unauthorized(gql(sb, ITEMS, {"order": "ASC", "first": 1}, token))
    fresh = sign_in(sb)
    assert "errors" not in gql(sb, ITEMS, {"order": "ASC", "first": 1}, fresh)


def test_each_distributor_sees_and_codes_only_its_own_items(sb: Sandbox) -> None:
    mine, theirs = sign_in(sb), sign_in(sb, sb.other_email, sb.other_password)
    listed = {
        token: [
            e["node"]["_id"]
            for e in gql(sb, ITEMS, {"order": "ASC"}, token)["data"]["getAllClientItems"]["page"][
                "edges"
            ]
        ]
        for token in (mine, theirs)
    }
    assert listed[mine] == [i["_id"] for i in sb.items()]
    assert listed[theirs] == [i["_id"] for i in sb.items(sb.other_email)]
    assert not set(listed[mine]) & set(listed[theirs])

    other_item = sb.items(sb.other_email)[0]
    for item_id in (other_item["_id"], other_item["oemItemID"]):
        for query, variables in PROTECTED[1:]:
            variables = {**variables, **({"ids": [item_id]} if "ids" in variables else {})}
            if "itemId" in variables:
                variables["itemId"] = item_id
            error = error_of(gql(sb, query, variables, mine))
            assert error["extensions"]["code"] == "NOT_FOUND"
            assert error["extensions"]["originalError"]["statusCode"] == 404
        search = gql(sb, ITEMS, {"order": "ASC", "search": item_id}, mine)
        assert search["data"]["getAllClientItems"]["pageData"]["count"] == 0
    assert sb.history(other_item["_id"]) == []
    # The owner can code it.
    owned = gql(sb, DAYS, {"itemId": other_item["oemItemID"], "codeDays": 2}, theirs)
    assert owned["data"]["generateDaysCode"]["codeType"] == "DAYSCODE"
    assert len(sb.history(other_item["_id"])) == 1

"""The real server's error shapes, each generation of them, and what the user reads.

Each answer below is the shape public client code reads from the real API (see the
Errors section of the sandbox docs): the current one (NestJS behind an Apollo gateway,
the detail in ``extensions.originalError``), the handbook's capture
(``extensions.response``) and the oldest (``extensions.exception.response``); the
"Cannot return null" answer to a look-up of an unknown id; and the HTML pages gateways
and the content network answer with. For each, the class the client raises and the
message the user sees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnivoltaic_erm._retry import outcome_unknown
from omnivoltaic_erm._transport import error_from_response
from omnivoltaic_erm.errors import (
    AuthenticationError,
    CodeLimitError,
    ErmError,
    GraphQLError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    error_from_graphql,
    server_reasons,
)

DATA = Path(__file__).resolve().parent.parent / "data"

VALIDATION = ["codeDays must not be greater than 1095", "itemId should not be empty"]


def _answer(error: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"locations": [{"line": 2, "column": 3}], "path": ["generateDaysCode"], **error}]


# (name, error dict, expected class, expected message)
SHAPES: list[tuple[str, dict[str, Any], type[ErmError], str]] = [
    (
        "current, a list of reasons",
        {
            "message": "Bad Request Exception",
            "extensions": {
                "code": "BAD_REQUEST",
                "originalError": {"message": VALIDATION, "error": "Bad Request", "statusCode": 400},
            },
        },
        InvalidInputError,
        "codeDays must not be greater than 1095; itemId should not be empty",
    ),
    (
        "current, one reason",
        {
            "message": "Item has no code generator",
            "extensions": {
                "code": "BAD_REQUEST",
                "originalError": {
                    "message": "Item has no code generator",
                    "error": "Bad Request",
                    "statusCode": 400,
                },
            },
        },
        InvalidInputError,
        "Item has no code generator",
    ),
    (
        "current, invalid credentials",
        {
            "message": "Invalid Credentials",
            "extensions": {
                "code": "UNAUTHENTICATED",
                "originalError": {
                    "message": "Invalid Credentials",
                    "error": "Unauthorized",
                    "statusCode": 401,
                },
            },
        },
        AuthenticationError,
        "Invalid Credentials",
    ),
    (
        "current of 2026-04, the detail in originalError.error",
        {
            "message": "Bad Request Exception",
            "extensions": {"code": "BAD_REQUEST", "originalError": {"error": "Item not assigned"}},
        },
        InvalidInputError,
        "Item not assigned",
    ),
    (
        "current, forbidden",
        {
            "message": "Forbidden resource",
            "extensions": {
                "code": "FORBIDDEN",
                "originalError": {
                    "message": "Forbidden resource",
                    "error": "Forbidden",
                    "statusCode": 403,
                },
            },
        },
        PermissionDeniedError,
        "Forbidden resource",
    ),
    (
        "current, too many requests",
        {
            "message": "ThrottlerException: Too Many Requests",
            "extensions": {
                "code": "TOO_MANY_REQUESTS",
                "originalError": {
                    "message": "ThrottlerException: Too Many Requests",
                    "statusCode": 429,
                },
            },
        },
        RateLimitError,
        "ThrottlerException: Too Many Requests",
    ),
    (
        "handbook, a list in response.message",
        {
            "message": "Bad Request Exception",
            "extensions": {
                "code": "BAD_USER_INPUT",
                "response": {"statusCode": 400, "message": VALIDATION, "error": "Bad Request"},
                "serviceName": "10.0.101.253:3101/graphql",
            },
        },
        InvalidInputError,
        "codeDays must not be greater than 1095; itemId should not be empty",
    ),
    (
        "legacy, every refusal labelled INTERNAL_SERVER_ERROR",
        {
            "message": "Bad Request Exception",
            "extensions": {
                "code": "INTERNAL_SERVER_ERROR",
                "exception": {
                    "response": {"statusCode": 400, "message": VALIDATION, "error": "Bad Request"},
                    "status": 400,
                    "message": "Bad Request Exception",
                },
            },
        },
        InvalidInputError,
        "codeDays must not be greater than 1095; itemId should not be empty",
    ),
    (
        "legacy, not found by its status alone",
        {
            "message": "Item not found",
            "extensions": {
                "code": "INTERNAL_SERVER_ERROR",
                "exception": {"status": 404, "message": "Item not found"},
            },
        },
        NotFoundError,
        "Item not found",
    ),
    (
        "the sandbox's rule beside the current shape",
        {
            "message": "This item has used all 5 of its free codes",
            "extensions": {
                "code": "BAD_REQUEST",
                "originalError": {
                    "message": "This item has used all 5 of its free codes",
                    "error": "Bad Request",
                    "statusCode": 400,
                },
                "rule": "FREE_CODE_LIMIT",
            },
        },
        CodeLimitError,
        "This item has used all 5 of its free codes",
    ),
]


@pytest.mark.parametrize(
    ("error", "cls", "message"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
def test_each_shape_gives_its_class_and_the_servers_own_words(
    error: dict[str, Any], cls: type[ErmError], message: str
) -> None:
    err = error_from_graphql(_answer(error), None, 200)
    assert type(err) is cls
    assert err.message == message
    assert "Bad Request Exception" not in str(err)
    assert err.extensions == error["extensions"]  # the raw extensions, kept
    assert "; ".join(err.reasons) == message
    # A refusal of a code request: nothing was issued, whatever the generation.
    assert outcome_unknown(err) is False


def test_every_entry_of_a_list_reaches_the_user_and_blank_ones_do_not() -> None:
    error = {
        "message": "Bad Request Exception",
        "extensions": {"originalError": {"message": ["first", "  ", 7, "second"]}},
    }
    assert server_reasons(error) == ("first", "second")
    # The newest shape wins where several are present.
    both = {
        "message": "Bad Request Exception",
        "extensions": {"originalError": {"message": "new"}, "response": {"message": "old"}},
    }
    assert server_reasons(both) == ("new",)
    # No detail anywhere: the top-level message.
    assert server_reasons({"message": "plain"}) == ("plain",)


def test_the_handbooks_unauthorized_is_an_authentication_error() -> None:
    answer = json.loads((DATA / "handbook_unauthorized.json").read_text())
    err = error_from_graphql(answer["errors"], answer["data"], 200)
    assert type(err) is AuthenticationError
    assert err.message == "Unauthorized"
    assert err.reported_status == 401  # type: ignore[attr-defined]


@pytest.mark.parametrize("field", ["getItembyOemItemId", "getSpecificItem"])
def test_a_look_up_of_an_unknown_id_is_not_found(field: str) -> None:
    errors = [
        {
            "message": f"Cannot return null for non-nullable field Query.{field}.",
            "locations": [{"line": 2, "column": 3}],
            "path": [field],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    err = error_from_graphql(errors, None, 200)
    assert type(err) is NotFoundError
    assert err.message == f"Cannot return null for non-nullable field Query.{field}."


def test_a_null_deeper_in_the_answer_is_not_a_missing_item() -> None:
    errors = [
        {
            "message": "Cannot return null for non-nullable field Item.oemItemID.",
            "path": ["getItembyOemItemId", "oemItemID"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]
    err = error_from_graphql(errors, None, 200)
    assert type(err) is GraphQLError
    # A server failure: a code request answered so has an unknown outcome.
    assert outcome_unknown(err) is True


PAGES = {
    502: b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    504: b"<html><head><title>504 Gateway Timeout</title></head><body>nginx</body></html>",
    521: (
        b"<!DOCTYPE html><html><head><title>api.example | 521: Web server is down</title>"
        b"</head><body><h1>Web server is down</h1></body></html>"
    ),
}


@pytest.mark.parametrize("status", sorted(PAGES))
def test_an_html_gateway_page_is_a_server_error_with_its_title(status: int) -> None:
    err = error_from_response(status, {"Content-Type": "text/html"}, PAGES[status])
    assert type(err) is ServerError
    title = PAGES[status].split(b"<title>")[1].split(b"</title>")[0].decode()
    assert err.message == f"HTTP {status} from the ERM API: {title}"
    assert err.http_status == status
    assert outcome_unknown(err) is True

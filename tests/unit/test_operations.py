"""Root fields and token roles read from operation documents, whatever they are called."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import OperationDefinitionNode, parse

from omnivoltaic_erm._operations import REFRESH, SIGN_IN, root_fields, token_role

ROOT = Path(__file__).resolve().parent.parent.parent

# Sign-ins and refreshes as real front ends write them, under their own names.
DOCUMENTS = [
    (
        "mutation SignInLoginUser($email: String!, $password: String!) {\n"
        "  signInUser(signInCredentials: {email: $email, password: $password}) {\n"
        "    _id accessToken refreshToken role { _id name }\n  }\n}",
        None,
        {"signInUser"},
        SIGN_IN,
    ),
    (
        'mutation Login($input: SignInCredentialsInput! = {email: "a{b", password: "}"}) {'
        " session: signInClient(signInCredentialsInput: $input) { accessToken } }",
        "Login",
        {"signInClient"},
        SIGN_IN,
    ),
    (
        "# a comment with signInUser { inside }\n"
        'mutation RenewToken($t: String!) @traced(by: {who: "x"}) {\n'
        "  refreshClientAccessToken(refreshToken: $t) @include(if: true) { accessToken }\n}",
        "RenewToken",
        {"refreshClientAccessToken"},
        REFRESH,
    ),
    (
        "mutation Renew($t: String!) { ...Renewal }\n"
        "fragment Renewal on Mutation { refreshAccessToken(refreshToken: $t) { accessToken } }",
        None,
        {"refreshAccessToken"},
        REFRESH,
    ),
    (
        'mutation { ... on Mutation { signInUser(signInCredentials: {email: "e", password: "p"})'
        " { accessToken } } }",
        None,
        {"signInUser"},
        SIGN_IN,
    ),
    (
        'query GetItem { getSpecificItem(itemId: """a "quoted" { brace""")'
        " { _id signInUser: oemItemID } }",
        "GetItem",
        {"getSpecificItem"},
        None,
    ),
]


@pytest.mark.parametrize(("document", "name", "fields", "role"), DOCUMENTS)
def test_root_fields_and_role(
    document: str, name: str | None, fields: set[str], role: str | None
) -> None:
    assert root_fields(document, name) == fields
    assert token_role(document, name) == role


def test_the_named_operation_of_several_is_the_one_read() -> None:
    document = (
        "query Items { getAllClientItems(queryorder: DESC, assetaccount: false) { pageData"
        ' { count } } }\nmutation In { signInUser(signInCredentials: {email: "", password:'
        ' ""}) { accessToken } }'
    )
    assert token_role(document, "In") == SIGN_IN
    assert token_role(document, "Items") is None
    assert root_fields(document, None) == frozenset()  # ambiguous: no operation chosen
    assert root_fields(document, "Missing") == frozenset()


@pytest.mark.parametrize("document", ["", "{", "mutation { a(b: ) }", "%%% not graphql", "}"])
def test_an_unreadable_document_has_no_role(document: str) -> None:
    assert token_role(document) is None


def test_every_project_document_agrees_with_graphql_core() -> None:
    """The scanner against the real parser, on every operation in queries/."""
    for path in sorted((ROOT / "queries").glob("*.graphql")):
        text = path.read_text()
        fragments = (ROOT / "queries" / "fragments.graphql").read_text()
        document = text if path.name == "fragments.graphql" else text + "\n" + fragments
        for definition in parse(document).definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            assert definition.name is not None
            expected = {
                s.name.value  # type: ignore[attr-defined]
                for s in definition.selection_set.selections
            }
            assert root_fields(document, definition.name.value) == expected, path.name

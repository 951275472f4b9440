"""Front-end-style documents (``tests/data/frontend_documents``), one per read or mutation
that public front ends send: each validates against ``schema.graphql``, runs against the
sandbox with a signed-in token without any error (``NOT_SERVED_BY_SANDBOX`` included),
and every field it selects comes back non-null, every list non-empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import NonNullTypeNode, OperationDefinitionNode, build_schema, parse, validate

from omnivoltaic_erm.sandbox import Sandbox
from tests.conftest import ROOT
from tests.support.sandbox_http import DAYS, RESET, gql

DOCUMENTS = sorted((ROOT / "tests" / "data" / "frontend_documents").glob("*.graphql"))
SCHEMA = build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8"))
OPEN_TOKEN_INDEX = 6  # every seventh demo item uses OpenToken codes

SETUP = """
mutation ($e: String!, $p: String!) {
  signInUser(signInCredentials: {email: $e, password: $p}) { _id accessToken refreshToken }
}"""
ITEM = """
query ($id: ID!) { getSpecificItem(itemId: $id) { itemFleet { _id } codeGenerator { _id } } }
"""


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(items=12, code_interval=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def values(sb: Sandbox) -> dict[str, Any]:
    """Every variable the documents declare, from the sandbox's own answers."""
    user = gql(sb, SETUP, {"e": sb.email, "p": sb.password})["data"]["signInUser"]
    token = user["accessToken"]
    item = sb.items()[OPEN_TOKEN_INDEX]
    assert item["codeGenUsed"] == "OPENTOKEN"
    for document, variables in (
        (DAYS, {"itemId": item["_id"], "codeDays": 30, "description": "first"}),
        (RESET, {"itemId": item["_id"], "description": "reset"}),
        (DAYS, {"itemId": item["_id"], "codeDays": 7, "description": "top-up"}),
    ):
        assert "errors" not in gql(sb, document, variables, token)
    related = gql(sb, ITEM, {"id": item["_id"]}, token)["data"]["getSpecificItem"]
    return {
        "token": token,
        "email": sb.email,
        "password": sb.password,
        "refreshToken": user["refreshToken"],
        "itemId": item["_id"],
        "oemItemId": item["oemItemID"],
        "codeDays": 5,
        "description": "front-end document",
        "distributorId": user["_id"],
        "clientId": user["_id"],
        "itemFleetId": related["itemFleet"]["_id"],
        "ids": [related["codeGenerator"]["_id"]],
        "id": sb.history(item["_id"])[-1]["_id"],
        "first": 5,
        "search": item["oemItemID"],
        "limit": 5,
        "offset": 2,
        "startDate": "2020-01-01",
        "endDate": "2099-12-31",
    }


def _operation(path: Path) -> OperationDefinitionNode:
    operations = [
        d for d in parse(path.read_text()).definitions if isinstance(d, OperationDefinitionNode)
    ]
    assert len(operations) == 1, path.name
    return operations[0]


def _nulls(value: Any, path: str = "") -> list[str]:
    """The paths in ``value`` that are null or an empty list."""
    if value is None:
        return [path or "(root)"]
    if isinstance(value, list):
        if not value:
            return [f"{path}[]"]
        return [p for i, v in enumerate(value) for p in _nulls(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nulls(v, f"{path}.{k}" if path else k)]
    return []


def test_there_is_a_document_for_each_front_end_operation() -> None:
    roots = {_operation(p).selection_set.selections[0].name.value for p in DOCUMENTS}  # type: ignore[attr-defined]
    assert len(DOCUMENTS) >= 10
    assert {
        "signInUser",
        "signInClient",
        "refreshClientAccessToken",
        "generateDaysCode",
        "generateResetCode",
        "getAllClientItems",
        "getAllItems",
        "getAllClientItemsInItemFleet",
        "getAllCodeEvents",
        "getCodeEventsByCodeGeneratorIds",
        "getItembyOemItemId",
        "getAllCodeEventsForSpecificItemByDistributor",
        "getSpecificDistributorSetting",
        "getSpecificItem",
    } <= roots


def test_the_null_finder_finds_nulls_and_empty_lists() -> None:
    assert _nulls({"a": {"b": [{"c": 1}, {"c": None}]}, "d": []}) == ["a.b[1].c", "d[]"]
    assert _nulls({"a": [1, 2], "b": False, "c": 0}) == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=[p.stem for p in DOCUMENTS])
def test_a_front_end_document_validates_runs_and_reads_no_nulls(
    sb: Sandbox, values: dict[str, Any], path: Path
) -> None:
    document = path.read_text()
    assert validate(SCHEMA, parse(document)) == []
    variables: dict[str, Any] = {}
    for definition in _operation(path).variable_definitions:
        name = definition.variable.name.value
        if isinstance(definition.type, NonNullTypeNode) or name in values:
            variables[name] = values[name]  # a required one must be known
    result = gql(sb, document, variables, values["token"])
    codes = [e.get("extensions", {}).get("code") for e in result.get("errors", [])]
    assert "NOT_SERVED_BY_SANDBOX" not in codes
    assert "errors" not in result, result["errors"]
    assert _nulls(result["data"]) == []

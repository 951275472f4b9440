"""The query contracts: schema validity, operation validity, and snapshots of exactly
what the client sends for each operation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from graphql import DocumentNode, build_schema, parse, validate
from graphql.utilities import find_breaking_changes
from omnivoltaic_erm_gql import Client, PaginationEnum, QueryOrder

from omnivoltaic_erm.schema_tools import diff_sdl, normalise_sdl, sdl_body
from tests.conftest import PRINTED_SCHEMA, ROOT
from tests.support.real_api import real_item
from tests.support.replay import Canned, ReplayServer

OPERATIONS = [
    "SignInUser",
    "SignInClient",
    "GetAllClientItems",
    "GenerateDaysCode",
    "GenerateFreeCode",
    "GenerateResetCode",
    "GetItemsForDownloadById",
    "GetSpecificItem",
    "GetItemByOemItemId",
    "GetItemLimits",
    "GetItemsLimits",
    "GetDistributorSetting",
    "GetItemCodeEvents",
    "RefreshAccessToken",
    "RefreshClientAccessToken",
]
# Shown only by the handbook, so absent from the printed copy of the real schema.
HANDBOOK_ONLY = {"GetItemsForDownloadById", "GetItemsLimits"}


def _operations_document() -> str:
    return "\n".join(p.read_text() for p in sorted((ROOT / "queries").glob("*.graphql")))


def test_schema_is_valid_and_committed_sorted() -> None:
    sdl = (ROOT / "schema.graphql").read_text()
    schema = build_schema(sdl)  # raises on an invalid schema
    assert schema.query_type is not None and schema.mutation_type is not None
    body = sdl_body(sdl)
    assert sdl.startswith("# ") and "Provenance" in sdl[: len(sdl) - len(body)]
    assert normalise_sdl(body) == body, "schema.graphql must be committed as sorted SDL"


def test_every_operation_validates_against_the_schema() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    document = parse(_operations_document())
    assert validate(schema, document) == []
    names = {d.name.value for d in document.definitions if d.kind == "operation_definition"}
    assert names == set(OPERATIONS)


def test_validation_catches_an_unknown_field() -> None:
    schema = build_schema((ROOT / "schema.graphql").read_text())
    bad = parse("query Q { getAllClientItems(queryorder: DESC) { nosuchfield } }")
    assert validate(schema, bad), "a query selecting an unknown field must not validate"


def test_sorted_sdl_snapshot(graphql_snapshot: Any) -> None:
    sdl = sdl_body((ROOT / "schema.graphql").read_text())
    assert normalise_sdl(sdl) == graphql_snapshot


def test_schema_change_shows_as_breaking() -> None:
    sdl = (ROOT / "schema.graphql").read_text()
    old = build_schema(sdl)
    new = build_schema(sdl.replace("  codeHex: String!\n", "", 1))
    assert find_breaking_changes(old, new), "removing CodeResponse.codeHex must be breaking"


def _ok(data: dict[str, Any]) -> Canned:
    return Canned(json.dumps({"data": data}).encode())


CODE = {
    "codeType": "DAYSCODE",
    "codeHex": "0123456789ABCDEF",
    "codeDec": "*001 002 003 004 005 006 007#",
}
REAL_ITEM = real_item(1)


async def _call_each(client: Client) -> None:
    await client.sign_in_user(email="someone@example.test", password="pw")
    await client.sign_in_client(email="someone@example.test", password="pw")
    await client.get_all_client_items(
        queryorder=QueryOrder.DESC,
        first=100,
        after="YXJyYXljb25uZWN0aW9uOjk5",
        search="DVAV",
        assetaccount=False,
    )
    await client.generate_days_code(item_id="DVAV2501000001", code_days=7, description="week")
    await client.generate_free_code(item_id="DVAV2501000001")
    await client.generate_reset_code(item_id="DVAV2501000001", description="reset-note-42")
    await client.get_items_for_download_by_id(ids=["DVAV2501000001"])
    await client.get_specific_item(item_id="0" * 24)
    await client.get_item_by_oem_item_id(oem_item_id="DVAV2501000001")
    await client.get_item_limits(item_id="0" * 24)
    await client.get_items_limits(ids=["0" * 24])
    await client.get_distributor_setting(distributor_id="d" * 24)
    await client.get_item_code_events(
        item_id="0" * 24, pagination=PaginationEnum.OFFSET, limit=20, offset=40
    )
    await client.refresh_access_token(refresh_token="refresh-1")
    await client.refresh_client_access_token(refresh_token="refresh-1")


@pytest.fixture(scope="module")
def sent_requests() -> dict[str, dict[str, Any]]:
    replay = ReplayServer(
        answers={
            "SignInUser": _ok({"signInUser": {"accessToken": "t", "_id": "1"}}),
            "SignInClient": _ok({"signInClient": {"accessToken": "t", "_id": "1"}}),
            "RefreshAccessToken": _ok({"refreshAccessToken": {"accessToken": "t"}}),
            "RefreshClientAccessToken": _ok({"refreshClientAccessToken": {"accessToken": "t"}}),
            "GetAllClientItems": _ok({"getAllClientItems": {"page": {"edges": []}}}),
            "GetSpecificItem": _ok({"getSpecificItem": REAL_ITEM}),
            "GetItemByOemItemId": _ok({"getItembyOemItemId": REAL_ITEM}),
            "GetItemLimits": _ok({"getSpecificItem": {"_id": "0" * 24, "itemFleet": None}}),
            "GetItemsLimits": _ok({"getItemsForDownloadById": [{"item": {"_id": "0" * 24}}]}),
            "GetDistributorSetting": _ok(
                {
                    "getSpecificDistributorSetting": {
                        "_id": "s" * 24,
                        "maxCreditStackDays": 60,
                        "maxCreditStackCodeEvents": 5,
                    }
                }
            ),
            "GetItemCodeEvents": _ok(
                {"getAllCodeEventsForSpecificItemByDistributor": {"page": {"edges": []}}}
            ),
            "GenerateDaysCode": _ok({"generateDaysCode": CODE}),
            "GenerateFreeCode": _ok({"generateFreeCode": {**CODE, "codeType": "FREECODE"}}),
            "GenerateResetCode": _ok({"generateResetCode": {**CODE, "codeType": "RESETCODE"}}),
            "GetItemsForDownloadById": _ok(
                {"getItemsForDownloadById": [{"item": REAL_ITEM, "codeHistory": []}]}
            ),
        }
    )
    with replay.serve() as server:

        async def run() -> None:
            async with Client(url=f"{server.base_url}/graphql") as client:
                await _call_each(client)

        asyncio.run(run())
    return {r["operationName"]: r for r in replay.requests}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_operation_document_snapshot(
    operation: str, sent_requests: dict[str, dict[str, Any]], graphql_snapshot: Any
) -> None:
    assert sent_requests[operation]["query"] == graphql_snapshot


@pytest.mark.parametrize("operation", OPERATIONS)
def test_request_body_snapshot(
    operation: str, sent_requests: dict[str, dict[str, Any]], json_snapshot: Any
) -> None:
    assert sent_requests[operation] == json_snapshot


def test_values_travel_only_as_variables(sent_requests: dict[str, dict[str, Any]]) -> None:
    for request in sent_requests.values():
        for value in request["variables"].values():
            if isinstance(value, str):
                assert value not in request["query"]


def test_every_query_file_is_named(root: Path) -> None:
    for path in (root / "queries").glob("*.graphql"):
        for definition in parse(path.read_text()).definitions:
            if definition.kind == "operation_definition":
                assert definition.name is not None, f"anonymous operation in {path.name}"


def test_operations_validate_against_the_printed_real_schema() -> None:
    """Every operation that does not use the handbook-only root field is valid against the
    printed copy of the real schema, so it asks only for what the real API has."""
    printed = build_schema(PRINTED_SCHEMA.read_text())
    document = parse(_operations_document())
    fragments = [d for d in document.definitions if d.kind == "fragment_definition"]
    checked = 0
    for definition in document.definitions:
        if definition.kind != "operation_definition":
            continue
        name = definition.name.value if definition.name else ""
        if name in HANDBOOK_ONLY:
            continue
        single = DocumentNode(definitions=(definition, *fragments))
        errors = [e for e in validate(printed, single) if "is never used" not in e.message]
        assert errors == [], f"{name}: {errors}"
        checked += 1
    assert checked == len(OPERATIONS) - len(HANDBOOK_ONLY)


def test_schema_is_the_printed_copy_plus_the_handbook_additions() -> None:
    """Diffing the printed real schema against ours shows only the handbook's additions."""
    diff = diff_sdl(PRINTED_SCHEMA.read_text(), sdl_body((ROOT / "schema.graphql").read_text()))
    changes = [(c.severity, c.coordinate) for c in diff.changes]
    assert sorted(changes) == [
        ("safe", "ItemCodeHistory"),
        ("safe", "Query.getItemsForDownloadById"),
    ]

"""The schema workflow over the wire, against the sandbox.

- Pulling from the unmodified sandbox writes exactly the committed schema.graphql.
- A sandbox serving a changed schema (``tests/support/schema_changes.py``: an added enum value, an
  added field, a removed field, an argument made required): ``erm schema diff --url``
  classifies each change and names the broken operations; the current generated client
  still parses its answers, with the new enum value and the new field in them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from graphql import print_ast
from omnivoltaic_erm_gql import (
    Client,
    CodeTypes,
    GenerateDaysCode,
    GetItemsForDownloadById,
    QueryOrder,
)

from omnivoltaic_erm._open_enum import reset_warnings
from omnivoltaic_erm.cli import main
from omnivoltaic_erm.errors import ErmError
from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.schema_tools import load_operations, operation_files, sdl_body
from tests.conftest import ROOT
from tests.support.schema_changes import modified_sdl

# What a server prints: the committed file without its provenance header.
COMMITTED = sdl_body((ROOT / "schema.graphql").read_text()).encode()


@pytest.fixture(scope="module")
def changed_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    path = tmp_path_factory.mktemp("changed") / "schema.graphql"
    path.write_text(modified_sdl())
    with Sandbox(schema_path=path, code_interval=0.0) as sandbox:
        yield sandbox


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ERM_URL", raising=False)


def test_pulling_the_unmodified_sandbox_round_trips_byte_for_byte(
    in_repo: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schema.graphql"
    with Sandbox() as sandbox:
        assert main(["schema", "pull", "--url", sandbox.url, "--out", str(out)]) == 0
        assert f"wrote {out} from {sandbox.url}" in capsys.readouterr().out
        assert out.read_bytes() == COMMITTED
        # Pulling again over the same file changes nothing, and diff agrees.
        assert main(["schema", "pull", "--url", sandbox.url, "--out", str(out)]) == 0
        assert "is unchanged" in capsys.readouterr().out
        assert main(["schema", "diff", "--url", sandbox.url]) == 0
        assert "no changes" in capsys.readouterr().out
        assert main(["schema", "pull", "--url", sandbox.url, "--out", "-"]) == 0
    assert capsys.readouterr().out.encode() == COMMITTED


def test_diff_against_the_changed_sandbox_names_the_broken_operations(
    in_repo: None, changed_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    url = changed_sandbox.url
    assert main(["schema", "diff", "--url", url]) == 1
    out, err = capsys.readouterr()
    assert f"new:  {url}" in out
    assert "FIELD_REMOVED        AuthToken.subRoleName was removed." in out
    assert "ARG_CHANGED_KIND     Query.getAllClientItems arg search has changed type" in out
    assert "VALUE_ADDED_TO_ENUM  BONUSCODE was added to enum type CodeTypes." in out
    assert "FIELD_ADDED          CodeEvent.batteryLevel was added." in out
    assert "OPERATIONS THAT WOULD BREAK (2 of 15)" in out
    assert "  SignInUser (queries/sign_in.graphql)" in out
    assert "  GetAllClientItems (queries/items.graphql)" in out
    assert "warning: BONUSCODE was added to enum type CodeTypes." in err

    assert main(["schema", "diff", "--url", url, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {(c["severity"], c["kind"], tuple(c["breaks"])) for c in report["changes"]} == {
        ("breaking", "FIELD_REMOVED", ("SignInUser",)),
        ("breaking", "ARG_CHANGED_KIND", ("GetAllClientItems",)),
        ("dangerous", "VALUE_ADDED_TO_ENUM", ()),
        ("safe", "FIELD_ADDED", ()),
    }


def test_the_changed_server_really_rejects_the_broken_operations(changed_sandbox: Sandbox) -> None:
    # What the diff predicted, confirmed by the server itself.
    sandbox = changed_sandbox

    async def run() -> list[str]:
        failures = []
        async with Client(url=sandbox.url) as client:
            try:
                await client.sign_in_user(email=sandbox.email, password=sandbox.password)
            except ErmError as exc:
                failures.append(str(exc))
            try:
                await client.get_all_client_items(
                    queryorder=QueryOrder.DESC, first=1, assetaccount=False
                )
            except ErmError as exc:
                failures.append(str(exc))
        return failures

    sign_in, listing = asyncio.run(run())
    assert "subRoleName" in sign_in
    assert "$search" in listing


def test_the_generated_client_parses_the_changed_servers_answers(
    changed_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = changed_sandbox
    caplog.set_level(logging.WARNING, logger="omnivoltaic_erm")
    reset_warnings()
    item = sandbox.items()[0]
    # A code of the kind the server added since we generated, written straight to its store.
    sandbox.store.record_code(item, "BONUSCODE", 0, "promo")

    async def run() -> tuple[GenerateDaysCode, GetItemsForDownloadById, GetItemsForDownloadById]:
        async with Client(url=sandbox.url) as anonymous:
            token = await anonymous.sign_in_client(email=sandbox.email, password=sandbox.password)
        auth = {"Authorization": f"Bearer {token.sign_in_client.access_token}"}
        async with Client(url=sandbox.url, headers=auth) as client:
            code = await client.generate_days_code(item_id=item["_id"], code_days=7)
            history = await client.get_items_for_download_by_id(ids=[item["_id"]])
            # The same operation, also selecting the field the server added: the answer
            # carries it, and the current model still parses that answer.
            with_new_field = await client.execute_typed(
                query=_history_query_with_new_field(),
                operation_name="GetItemsForDownloadById",
                variables={"ids": [item["_id"]]},
                result_type=GetItemsForDownloadById,
            )
        return code, history, with_new_field

    code, history, with_new_field = asyncio.run(run())
    assert code.generate_days_code.code_type is CodeTypes.DAYSCODE
    for result in (history, with_new_field):
        bonus, days = result.get_items_for_download_by_id[0].code_history
        assert bonus.code_type == "BONUSCODE" and type(bonus.code_type) is str
        assert days.code_type is CodeTypes.DAYSCODE
        assert "batteryLevel" not in bonus.model_dump(by_alias=True)
    warnings = [r.getMessage() for r in caplog.records if r.name == "omnivoltaic_erm"]
    assert len(warnings) == 1 and warnings[0].startswith("unknown CodeTypes value 'BONUSCODE'")


def _history_query_with_new_field() -> str:
    (operation,) = [
        op
        for op in load_operations(operation_files(ROOT / "queries"), ROOT)
        if op.name == "GetItemsForDownloadById"
    ]
    document = print_ast(operation.document)
    assert document.count("  hashIndex\n") == 1
    return document.replace("  hashIndex\n", "  hashIndex\n  batteryLevel\n")

"""Contracts from recorded traffic: record through the pipeline (redacted before the
disk), verify against the models and the schema, lint for secrets, replay as a fixture.

Everything here runs against a sandbox on loopback; the recordings are then edited the
way a changed server would answer, and the checks must name each change with its path
and recording.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from omnivoltaic_erm import AsyncErmClient, ConfigurationError, ErmError, Limits, contracts
from omnivoltaic_erm.sandbox import Sandbox
from tests.conftest import ROOT
from tests.support.cli_helpers import Cli

NO_WAIT = Limits(code_interval=0.0, interval_margin=0.0)
SCHEMA = (ROOT / "schema.graphql").read_text()


async def _traffic(url: str, email: str, password: str, record: Path | None) -> dict[str, Any]:
    """What a service does: list items, issue a code, read the history."""
    async with AsyncErmClient(url, email, password, limits=NO_WAIT, record=record) as erm:
        items = [i async for i in erm.iter_items()]
        code = await erm.generate_days_code(items[0], 7, description="week")
        history = await erm.code_history(items[0])
        tokens = (erm._tokens._token.value, erm._tokens._token.refresh)  # type: ignore[union-attr]
        return {
            "items": [i.id for i in items],
            "code": (code.code_hex, code.code_dec),
            "history": [(e.code_type, e.code_days) for e in history],
            "tokens": tokens,
        }


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Sandbox]:
    directory = tmp_path_factory.mktemp("recordings")
    sb = Sandbox(items=3, code_interval=0).start()
    seen = asyncio.run(_traffic(sb.url, sb.email, sb.password, directory))
    yield directory, seen, sb
    sb.stop()


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))


def test_recordings_hold_no_secret_and_verify_clean(
    recorded: tuple[Path, dict[str, Any], Sandbox],
) -> None:
    directory, seen, sb = recorded
    files = _files(directory)
    names = {json.loads(f.read_text())["operation"] for f in files}
    assert {"SignInUser", "GetAllClientItems", "GenerateDaysCode"} <= names
    raw = "".join(f.read_text() for f in files)
    access, refresh = seen["tokens"]
    for secret in (sb.password, access, refresh, *seen["code"]):
        assert secret and secret not in raw
    assert oct((directory / ".erm-recording-key").stat().st_mode & 0o777) == "0o600"
    # One value, one placeholder, in every file of the set.
    code = json.loads(next(f for f in files if "GenerateDaysCode" in f.name).read_text())
    placeholder = code["answer"]["data"]["generateDaysCode"]["codeHex"]
    assert placeholder.startswith("<redacted:code:") and raw.count(placeholder) >= 2
    assert contracts.lint(directory, [sb.password]) == []
    results = contracts.verify(directory, SCHEMA)
    assert all(r.clean for r in results), [f.line() for r in results for f in r.findings]
    entry = json.loads(files[0].read_text())
    assert entry["client_version"] and len(entry["schema_sha256"]) == 64
    assert entry["recorded_at"] and entry["timings"]["elapsed_ms"] >= 0


def _edit(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_changed_answer_is_named_with_its_path_and_recording(
    recorded: tuple[Path, dict[str, Any], Sandbox], tmp_path: Path
) -> None:
    directory, _, _ = recorded
    for f in _files(directory):
        (tmp_path / f.name).write_text(f.read_text())
    files = _files(tmp_path)
    items = next(f for f in files if "GetAllClientItems" in f.name)
    history = [f for f in files if "GetItemsForDownloadById" in f.name][-1]  # after the code

    def items_change(data: dict[str, Any]) -> None:
        node = data["answer"]["data"]["getAllClientItems"]["page"]["edges"][0]["node"]
        node["oemItemID"] = None  # non-null in the schema
        node["lifeCycle"] = 7  # a String
        node["newField"] = "x"  # not selected
        del node["sellerID"]  # selected, missing

    def history_change(data: dict[str, Any]) -> None:
        data["answer"]["data"]["getItemsForDownloadById"][0]["codeHistory"][0]["codeType"] = (
            "MEGACODE"
        )

    _edit(items, items_change)
    _edit(history, history_change)
    by_op = {r.operation: r for r in contracts.verify(tmp_path, SCHEMA)}
    found = {(f.recording, f.check, f.path, f.message) for f in by_op["GetAllClientItems"].findings}
    node = "getAllClientItems.page.edges.0.node"
    assert (
        items.name,
        "schema",
        f"{node}.oemItemID",
        "null in the non-null field Item.oemItemID",
    ) in found
    assert (items.name, "schema", f"{node}.newField", "in the answer but not selected") in found
    assert (
        items.name,
        "schema",
        f"{node}.sellerID",
        "selected but missing from the answer",
    ) in found
    assert any(f[1] == "schema" and f[2] == f"{node}.lifeCycle" for f in found)
    assert any(f[1] == "models" and "oemItemID" in f[3] for f in found)
    history_findings = by_op["GetItemsForDownloadById"].findings
    assert any(
        f.check == "schema"
        and f.path.endswith("codeHistory.0.codeType")
        and "MEGACODE" in f.message
        for f in history_findings
    )
    assert by_op["SignInUser"].clean


def test_stale_recordings_fail_with_max_age(
    recorded: tuple[Path, dict[str, Any], Sandbox], tmp_path: Path
) -> None:
    directory, _, _ = recorded
    first = _files(directory)[0]
    old = tmp_path / first.name
    old.write_text(first.read_text())
    _edit(old, lambda d: d.update(recorded_at="2020-01-01T00:00:00+00:00"))
    [result] = contracts.verify(tmp_path, SCHEMA, max_age=timedelta(days=30))
    assert [f.check for f in result.findings] == ["age"]
    assert contracts.verify(tmp_path, SCHEMA, now=datetime(2020, 1, 2, tzinfo=UTC))[0].clean


def test_lint_finds_each_kind_of_secret(tmp_path: Path) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJkaXN0cmlidXRvcklkIjoiMSJ9.c2lnbmF0dXJl"
    (tmp_path / "a.json").write_text(json.dumps({"operation": "X", "answer": {"t": jwt}}))
    (tmp_path / "b.json").write_text(
        json.dumps({"operation": "X", "variables": {"d": "*016 035 001 460 213 591 464#"}})
    )
    (tmp_path / "c.json").write_text(
        json.dumps({"operation": "X", "answer": {"h": "9A8B7C6D5E4F3A2B"}})
    )
    (tmp_path / "d.json").write_text(json.dumps({"operation": "X", "note": "pw is hunter22"}))
    (tmp_path / "e.json").write_text(
        json.dumps({"operation": "X", "id": "677b8d8094b6ff62814d50f1"})
    )
    found = {(f.recording, f.message) for f in contracts.lint(tmp_path, ["hunter22"])}
    assert found == {
        ("a.json", "holds a JWT"),
        ("b.json", "holds a keypad code"),
        ("c.json", "holds a 16-hex code"),
        ("d.json", "holds a value given as secret"),
    }


def test_replay_answers_the_recorded_traffic(
    recorded: tuple[Path, dict[str, Any], Sandbox],
) -> None:
    directory, seen, sb = recorded
    with Sandbox(replay=directory) as replay:
        again = asyncio.run(_traffic(replay.url, sb.email, sb.password, None))
    assert again["items"] == seen["items"]
    assert again["history"] == seen["history"]
    # The codes come back as their placeholders: never the real ones.
    assert all(c.startswith("<redacted:code:") for c in again["code"])
    # A request that was never recorded (another password) is named, not invented.
    with Sandbox(replay=directory) as replay:
        wrong = asyncio.run(_refused(replay.url, sb.email))
    assert wrong == "no recording of SignInUser with these variables"


async def _refused(url: str, email: str) -> str:
    async with AsyncErmClient(url, email, "another-password") as erm:
        with pytest.raises(ErmError) as refused:
            await erm.find_item("x")
    return refused.value.message


def test_sampling_and_its_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox(items=1) as sb:
        monkeypatch.setenv("ERM_RECORD", str(tmp_path / "none"))
        monkeypatch.setenv("ERM_RECORD_SAMPLE", "0")
        asyncio.run(_list(sb))
        assert _files(tmp_path / "none") == []
        monkeypatch.setenv("ERM_RECORD_SAMPLE", "2")
        with pytest.raises(ConfigurationError, match="from 0 to 1"):
            AsyncErmClient(sb.url, sb.email, sb.password)
        monkeypatch.setenv("ERM_RECORD_SAMPLE", "1")
        asyncio.run(_list(sb))
        assert {json.loads(f.read_text())["operation"] for f in _files(tmp_path / "none")} == {
            "SignInUser",
            "GetAllClientItems",
        }


async def _list(sb: Sandbox) -> None:
    async with AsyncErmClient(sb.url, sb.email, sb.password) as erm:
        [i async for i in erm.iter_items()]


@pytest.mark.slow
def test_the_command_line(recorded: tuple[Path, dict[str, Any], Sandbox], tmp_path: Path) -> None:
    directory, _, sb = recorded
    cli = Cli(sb, tmp_path / "cache")
    ok = cli.run("contract", "verify", str(directory))
    assert ok.code == 0, ok.err
    assert "GenerateDaysCode: 1 recordings, clean" in ok.out
    assert cli.run("contract", "lint", str(directory)).code == 0
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "x.json").write_text(json.dumps({"operation": "X", "note": sb.password}))
    refused = cli.run("contract", "lint", str(planted))
    assert (
        refused.code == 1 and "x.json: secret at note: holds a value given as secret" in refused.out
    )
    report = cli.run("--json", "contract", "verify", str(directory))
    assert report.code == 0 and report.json()["clean"] is True
    assert os.path.isdir(directory)


def test_the_pytest_fixture_serves_a_recording_set(
    recorded: tuple[Path, dict[str, Any], Sandbox], erm_replay: Any
) -> None:
    directory, seen, sb = recorded
    replay = erm_replay(directory)
    assert replay.config.replay == directory
    again = asyncio.run(_traffic(replay.url, sb.email, sb.password, None))
    assert again["items"] == seen["items"]

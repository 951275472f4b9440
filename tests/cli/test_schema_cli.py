"""``erm schema diff`` and ``erm schema pull`` from the command line: exit codes, the human
and JSON reports, one-line errors, and header values that never show up anywhere."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web

from omnivoltaic_erm.cli import main
from omnivoltaic_erm.testing import BackgroundServer
from tests.conftest import ROOT
from tests.support.replay import Canned, ReplayServer
from tests.support.schema_changes import COMMITTED_SDL, additive_sdl, modified_sdl

TOKEN = "planted-secret-token-7f3a9c"


@pytest.fixture
def modified(tmp_path: Path) -> Path:
    path = tmp_path / "modified.graphql"
    path.write_text(modified_sdl())
    return path


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ERM_URL", raising=False)


def test_diff_names_the_broken_operations_and_exits_1(
    in_repo: None, modified: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "diff", "--schema", str(modified)]) == 1
    out, err = capsys.readouterr()
    assert "base: schema.graphql" in out
    assert "checked 15 operations in queries" in out
    assert "BREAKING (2)" in out and "DANGEROUS (1)" in out and "SAFE (1)" in out
    assert "FIELD_REMOVED" in out and "AuthToken.subRoleName was removed." in out
    assert "breaks: SignInUser" in out and "breaks: GetAllClientItems" in out
    assert "OPERATIONS THAT WOULD BREAK (2 of 15)" in out
    assert "queries/sign_in.graphql:22:5: Cannot query field 'subRoleName'" in out
    assert "warning: BONUSCODE was added to enum type CodeTypes." in err
    assert "error: 2 of 15 operations would break" in err


def test_diff_of_additive_changes_exits_0_with_warnings(
    in_repo: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "additive.graphql"
    new.write_text(additive_sdl())
    assert main(["schema", "diff", "--schema", str(new)]) == 0
    out, err = capsys.readouterr()
    assert "none of the 15 operations breaks" in out
    assert "warning: BONUSCODE was added to enum type CodeTypes." in err


def test_diff_json_report(
    in_repo: None, modified: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "diff", "--schema", str(modified), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["base"] == "schema.graphql" and report["new"] == str(modified)
    assert report["summary"]["broken_operations"] == ["GetAllClientItems", "SignInUser"]
    severities = {c["coordinate"]: c["severity"] for c in report["changes"]}
    assert severities == {
        "AuthToken.subRoleName": "breaking",
        "Query.getAllClientItems(search:)": "breaking",
        "CodeTypes.BONUSCODE": "dangerous",
        "CodeEvent.batteryLevel": "safe",
    }


def test_the_global_json_flag_works_too(
    in_repo: None, modified: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--json", "schema", "diff", "--schema", str(modified)]) == 1
    assert json.loads(capsys.readouterr().out)["summary"]["breaking"] == 2


def test_diff_with_explicit_base_and_queries(
    tmp_path: Path, modified: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = tmp_path / "ops"
    queries.mkdir()
    (queries / "one.graphql").write_text(
        "mutation Tok($e: String!, $p: String!) {\n"
        "  signInClient(signInCredentialsInput: {email: $e, "
        "password: $p}) { accessToken }\n}\n"
    )
    base = tmp_path / "base.graphql"
    base.write_text(COMMITTED_SDL)
    argv = ["schema", "diff", "--base", str(base), "--queries", str(queries)]
    assert main([*argv, "--schema", str(modified)]) == 0
    assert "none of the 1 operations breaks" in capsys.readouterr().out


def test_usage_errors_exit_2_on_one_line(
    in_repo: None, modified: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schema", "diff", "--schema", str(modified), "--url", "http://127.0.0.1:1/"]) == 2
    assert capsys.readouterr().err.strip() == "error: give --url or --schema, not both"
    assert main(["schema", "diff"]) == 2
    assert capsys.readouterr().err.strip() == "error: give --url (or set ERM_URL)"
    assert main(["schema", "pull", "--url", "http://example.com/graphql"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refusing plain http:// to example.com") and "\n" not in err
    assert main(["schema", "diff", "--schema", "no/such/file.graphql"]) == 2


def test_a_bad_base_schema_is_a_usage_error(
    tmp_path: Path, modified: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.graphql"
    bad.write_text("type Query { a: Missing }\n")
    queries = str(ROOT / "queries")
    assert (
        main(
            ["schema", "diff", "--base", str(bad), "--queries", queries, "--schema", str(modified)]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the base schema is not a valid GraphQL schema")
    assert "Traceback" not in err


def test_a_malformed_header_is_refused_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["schema", "pull", "--url", "http://127.0.0.1:1/", "--header", f"Bearer {TOKEN}"])
    assert code == 2
    out, err = capsys.readouterr()
    assert "expected 'Name: value'" in err
    assert TOKEN not in out + err


def _refusing_server() -> ReplayServer:
    body = json.dumps({"errors": [{"message": "Unauthorized"}]}).encode()
    # gql sends the introspection query without an operationName.
    return ReplayServer(answers={"": Canned(body, status=401)})


def test_an_http_error_without_graphql_errors_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    replay = ReplayServer(answers={"": Canned(b"<html>bad gateway</html>", 502, "text/html")})
    with replay.serve() as server:
        code = main(["schema", "pull", "--url", f"{server.base_url}/graphql", "--out", "-"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        "error: the request failed (HTTP 502 from the ERM API); try again later"
    )


def test_a_refused_pull_is_one_line_and_never_shows_the_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    replay = _refusing_server()
    out_file = tmp_path / "schema.graphql"
    with replay.serve() as server:
        url = f"{server.base_url}/graphql"
        argv = ["schema", "pull", "--url", url, "--out", str(out_file)]
        code = main([*argv, "--header", f"Authorization: Bearer {TOKEN}"])
    assert code == 1
    out, err = capsys.readouterr()
    assert err.strip() == (
        f"error: the ERM API refused the request: introspecting {url}: Unauthorized "
        "(is introspection disabled, or is a token needed?)"
    )
    # The header did go out; it shows up nowhere else.
    assert replay.headers[0]["Authorization"] == f"Bearer {TOKEN}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in out + err + logged
    assert not out_file.exists()


@pytest.mark.slow
def test_a_server_that_never_answers_times_out_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_post("/graphql", hang)
    with BackgroundServer(app) as server:
        url = f"{server.base_url}/graphql"
        code = main(["schema", "pull", "--url", url, "--timeout", "0.3", "--out", "-"])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        f"error: the request timed out (introspecting {url}: no answer within 0.3 s); "
        "try again later"
    )


def test_debug_adds_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["schema", "pull", "--url", "http://127.0.0.1:1/graphql", "--out", str(tmp_path / "s")]
    assert main(argv) == 1
    assert "Traceback" not in capsys.readouterr().err
    assert main(["--debug", *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ClientConnectorError" in err
    assert err.rstrip().splitlines()[-1].startswith("error: cannot connect to")


def test_json_errors_are_json_too(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schema", "pull", "--json", "--url", "http://127.0.0.1:1/graphql", "--out", "-"])
    assert code == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "TransportError" and error["exit_code"] == 1


def test_make_schema_calls_erm_schema_pull() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nschema:", 1)[1].split("\n\n", 1)[0]
    assert 'erm schema pull --url "$(ERM_URL)" --out schema.graphql' in recipe
    assert "usage: make schema ERM_URL=" in recipe

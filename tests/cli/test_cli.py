"""The ``erm`` command line, run as a subprocess against the sandbox on 127.0.0.1.

Every command with and without ``--json``, the error paths (wrong password, unknown item,
days out of range, server down, unsafe URL), the token cache, and secrets hygiene.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnivoltaic_erm import errors
from omnivoltaic_erm.cli._run import describe
from omnivoltaic_erm.client import request_id_of
from omnivoltaic_erm.errors import SignInRequiredError
from omnivoltaic_erm.journal import JournalBusyError, JournalMismatchError
from omnivoltaic_erm.sandbox import Sandbox
from tests.support.cli_helpers import Cli, closed_port

KEYPAD = re.compile(r"^\*\d{3}( \d{3})*#$")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(items=12, code_interval=0.2) as sb:
        yield sb


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path) -> Cli:
    return Cli(sandbox, tmp_path / "cache")


def oem_ids(sandbox: Sandbox) -> list[str]:
    return [str(i["oemItemID"]) for i in sandbox.items()]


# -- login and the token cache -------------------------------------------------------


@pytest.mark.slow
def test_login_caches_a_token_that_later_commands_use_without_a_password(cli: Cli) -> None:
    r = cli.run("login")
    assert r.code == 0, r.err
    assert f"Signed in to {cli.sandbox.url} as {cli.sandbox.email}." in r.out
    caches = list((cli.cache / "omnivoltaic-erm").glob("token-*.json"))
    assert len(caches) == 1
    assert caches[0].stat().st_mode & 0o777 == 0o600
    token = json.loads(caches[0].read_text())["token"]
    assert token not in r.out + r.err

    # No password anywhere: the cached token does the work.
    r = cli.run("--json", "items", "--limit", "1", ERM_PASSWORD=None)
    assert r.code == 0, r.err
    assert len(r.json()) == 1

    # A cached token the server refuses: one line saying to log in again.
    caches[0].write_text(json.dumps({"token": "not-a-token", "expires_at": time.time() + 9e4}))
    r = cli.run("items", ERM_PASSWORD=None)
    r.assert_one_line_error(1, "run `erm login` again")


def test_login_json(cli: Cli) -> None:
    r = cli.run("--json", "login")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["url"] == cli.sandbox.url and doc["email"] == cli.sandbox.email
    assert doc["token_expires_at"].endswith("+00:00")
    assert Path(doc["token_cache"]).is_file()


@pytest.mark.slow
def test_login_with_a_wrong_password_fails_in_one_line(cli: Cli) -> None:
    r = cli.run("login", ERM_PASSWORD="not-the-password")
    r.assert_one_line_error(1, "sign-in refused", "Invalid Credentials", "ERM_PASSWORD")
    assert "not-the-password" not in r.out + r.err
    r = cli.run("--json", "items", ERM_PASSWORD="not-the-password")
    assert r.code == 1
    assert r.json()["error"]["type"] == "AuthenticationError"


@pytest.mark.slow
def test_login_checks_the_password_even_with_a_cached_token(cli: Cli) -> None:
    assert cli.run("login").code == 0
    cli.run("login", ERM_PASSWORD="wrong-password").assert_one_line_error(1, "sign-in refused")


def test_no_password_and_no_cached_token_is_a_usage_error(cli: Cli) -> None:
    cli.run("items", ERM_PASSWORD=None).assert_one_line_error(2, "no password", "erm login")


# -- items ---------------------------------------------------------------------------


@pytest.mark.slow
def test_items_table_and_json(cli: Cli, sandbox: Sandbox) -> None:
    r = cli.run("items", "--limit", "5")
    assert r.code == 0, r.err
    newest = oem_ids(sandbox)[::-1][:5]
    for oem in newest:
        assert oem in r.out
    assert oem_ids(sandbox)[0] not in r.out
    assert "5 items (limit reached" in r.out

    r = cli.run("--json", "items", "--limit", "0")
    assert r.code == 0, r.err
    listed = r.json()
    assert [i["oemItemID"] for i in listed] == oem_ids(sandbox)[::-1]
    assert set(listed[0]) >= {"_id", "oemItemID", "sellerItemID", "description"}


@pytest.mark.slow
def test_items_search(cli: Cli, sandbox: Sandbox) -> None:
    target = sandbox.items()[3]
    r = cli.run("--json", "items", "--search", target["_id"])
    assert r.code == 0, r.err
    assert [i["_id"] for i in r.json()] == [target["_id"]]
    r = cli.run("items", "--search", "NO-SUCH-THING")
    assert r.code == 0 and "0 items" in r.out


@pytest.mark.slow
def test_item_by_each_id_kind(cli: Cli, sandbox: Sandbox) -> None:
    target = sandbox.items()[2]
    for key in (target["_id"], target["oemItemID"], target["sellerItemID"]):
        r = cli.run("--json", "item", key)
        assert r.code == 0, r.err
        assert r.json()["_id"] == target["_id"]
    r = cli.run("item", target["oemItemID"])
    assert r.code == 0
    assert target["_id"] in r.out and "sellerItemID" in r.out


@pytest.mark.slow
def test_unknown_item_fails_in_one_line(cli: Cli, sandbox: Sandbox) -> None:
    cli.run("item", "NOPE0000000000").assert_one_line_error(1, "no item 'NOPE0000000000'")
    other = sandbox.items(email=sandbox.other_email)[0]["oemItemID"]
    cli.run("history", other).assert_one_line_error(1, other, "erm items --search")
    r = cli.run("code", "days", "NOPE0000000000", "--days", "7")
    r.assert_one_line_error(1, "NOPE0000000000", "erm items --search")
    r = cli.run("--json", "code", "free", "NOPE0000000000")
    assert r.code == 1 and r.json()["error"]["type"] == "NotFoundError"


# -- codes and history ---------------------------------------------------------------


@pytest.mark.slow
def test_days_free_reset_codes_then_history(cli: Cli, sandbox: Sandbox) -> None:
    item = oem_ids(sandbox)[0]
    r = cli.run("code", "days", item, "--days", "7", "--description", "first")
    assert r.code == 0, r.err
    history = sandbox.history(item)
    assert len(history) == 1 and history[0]["codeDays"] == 7
    dec = history[0]["codeDecString"]
    assert KEYPAD.match(dec)
    assert dec in r.out.splitlines()[2], "the keypad code stands on its own line"
    assert history[0]["codeHexString"] in r.out

    r = cli.run("--json", "code", "free", item)
    assert r.code == 0, r.err
    free = r.json()
    assert free["code_type"] == "FREECODE" and KEYPAD.match(free["code_dec"])
    assert free["item_id"] == sandbox.items()[0]["_id"] and free["recovered"] is False

    r = cli.run("--json", "code", "reset", item, "-d", "after the free code")
    assert r.code == 0, r.err
    reset = r.json()
    assert reset["code_type"] == "RESETCODE"

    r = cli.run("code", "reset", item)
    assert r.code == 0, r.err
    assert "Reset code" in r.out

    events = sandbox.history(item)
    assert [e["codeType"] for e in events] == ["DAYSCODE", "FREECODE", "RESETCODE", "RESETCODE"]
    assert events[1]["codeDecString"] == free["code_dec"]
    assert events[2]["codeHexString"] == reset["code_hex"]

    r = cli.run("history", item)
    assert r.code == 0, r.err
    for event in events:
        assert event["codeDecString"] in r.out
    assert "first" in r.out and "[req:" not in r.out
    assert "4 code events" in r.out

    # A narrow terminal gets one block per event, never a cut or wrapped code.
    r = cli.run("history", item, COLUMNS="60")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    for event in events:
        assert f"codeDec        {event['codeDecString']}" in lines
        assert f"request        {request_id_of(event['description'])}" in lines

    r = cli.run("--json", "history", item)
    assert r.code == 0, r.err
    listed = r.json()
    assert [e["codeHexString"] for e in listed] == [e["codeHexString"] for e in events]
    assert listed[1]["requestId"] == free["request_id"]
    assert listed[0]["description"].startswith("first [req:")


@pytest.mark.slow
def test_a_request_id_makes_a_code_command_safe_to_repeat(cli: Cli, sandbox: Sandbox) -> None:
    item = oem_ids(sandbox)[1]
    rid = "00112233445566ff"
    first = cli.run("--json", "code", "days", item, "--days", "30", "--request-id", rid)
    assert first.code == 0, first.err
    again = cli.run("--json", "code", "days", item, "--days", "30", "--request-id", rid)
    assert again.code == 0, again.err
    assert again.json()["code_dec"] == first.json()["code_dec"]
    assert again.json()["recovered"] is True
    assert len(sandbox.history(item)) == 1
    r = cli.run("code", "days", item, "--days", "30", "--request-id", "XYZ")
    r.assert_one_line_error(2, "16 lowercase hex digits")


def test_history_of_an_item_without_codes(cli: Cli, sandbox: Sandbox) -> None:
    item = oem_ids(sandbox)[11]
    r = cli.run("history", item)
    assert r.code == 0 and f"No codes have been issued for {item}." in r.out
    r = cli.run("--json", "history", item)
    assert r.code == 0 and r.json() == []


@pytest.mark.parametrize("days", ["0", "1097", "-1", "7.5", "seven"])
def test_days_out_of_range_is_a_usage_error_and_nothing_is_sent(
    cli: Cli, sandbox: Sandbox, days: str
) -> None:
    item = oem_ids(sandbox)[10]
    r = cli.run("code", "days", item, "--days", days)
    r.assert_one_line_error(2, "--days")
    assert sandbox.history(item) == []


def test_usage_errors_are_one_line_with_exit_2(cli: Cli) -> None:
    cli.run("code", "days", "X").assert_one_line_error(2, "Missing option '--days'")
    cli.run("no-such-command").assert_one_line_error(2, "No such command")
    r = cli.run("--json", "item")
    r.assert_one_line_error(2, "Missing argument 'ID'")
    assert r.json()["error"]["exit_code"] == 2


# -- settings and the server ---------------------------------------------------------


@pytest.mark.slow
def test_server_down_fails_in_one_line(cli: Cli) -> None:
    url = f"http://127.0.0.1:{closed_port()}/graphql"
    r = cli.run("items", ERM_URL=url)
    r.assert_one_line_error(1, "cannot connect", "nothing was sent")
    r = cli.run("--json", "code", "days", "DVAV2501000001", "--days", "7", ERM_URL=url)
    assert r.code == 1
    assert r.json()["error"]["type"] == "TransportError"


@pytest.mark.slow
def test_missing_or_unsafe_settings_are_usage_errors(cli: Cli) -> None:
    cli.run("items", ERM_URL=None).assert_one_line_error(2, "no ERM URL", "--url")
    cli.run("items", ERM_EMAIL=None).assert_one_line_error(2, "--email")
    r = cli.run("items", ERM_URL="http://erm.example.com/graphql")
    r.assert_one_line_error(2, "refusing plain http://", "--insecure")
    cli.run("--url", "ftp://x/graphql", "items").assert_one_line_error(2, "not an http(s) URL")


def test_help_is_fast_and_documents_every_command(cli: Cli) -> None:
    started = time.perf_counter()
    r = cli.run("--help")
    assert r.code == 0
    assert time.perf_counter() - started < 5  # generous: a loaded CI machine
    for command in ("login", "items", "item", "code", "history", "batch", "sandbox"):
        assert re.search(rf"^\s+{command}\s+\S", r.out, re.M), command
    for sub in ("days", "free", "reset"):
        r = cli.run("code", sub, "--help")
        assert r.code == 0 and "--description" in r.out


def test_cli_imports_no_heavy_modules_for_help() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from omnivoltaic_erm.cli import main, _register; _register(); "
        "heavy = [m for m in ('rich', 'pydantic', 'aiohttp', 'omnivoltaic_erm.client', "
        "'asyncio', 'sqlite3') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import sys, omnivoltaic_erm; print([m for m in ('click', 'rich') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- secrets -------------------------------------------------------------------------


@pytest.mark.slow
def test_password_and_token_never_reach_the_output(cli: Cli, sandbox: Sandbox) -> None:
    item = oem_ids(sandbox)[9]
    runs = [
        cli.run("--debug", "login"),
        cli.run("--debug", "--json", "login"),
        cli.run("--debug", "code", "days", item, "--days", "3"),
        cli.run("--debug", "--json", "history", item),
        cli.run("--debug", "item", "NOPE0000000000"),
        cli.run("--debug", "--json", "item", "NOPE0000000000"),
    ]
    token_file = next((cli.cache / "omnivoltaic-erm").glob("token-*.json"))
    token = json.loads(token_file.read_text())["token"]
    runs += [
        cli.run("--debug", "login", ERM_PASSWORD="planted-Secret-9f3c"),
        cli.run("--debug", "--json", "items", ERM_PASSWORD="planted-Secret-9f3c"),
    ]
    assert any("Traceback" in r.err for r in runs), "--debug shows tracebacks"
    for r in runs:
        for secret in (sandbox.password, "planted-Secret-9f3c", token, token.split(".")[2]):
            assert secret not in r.out and secret not in r.err


# -- error mapping (pure) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "issuing", "code", "fragment"),
    [
        (errors.ConfigurationError("no ERM URL"), False, 2, "no ERM URL"),
        (errors.InvalidInputError("bad id"), True, 2, "nothing was issued"),
        (JournalMismatchError("journal x does not match"), False, 2, "does not match"),
        (errors.AuthenticationError("Invalid Credentials"), False, 1, "sign-in refused"),
        (SignInRequiredError("no password"), False, 1, "run `erm login` again"),
        (errors.NotFoundError("no item 'X'"), False, 1, "erm items --search"),
        (errors.PermissionDeniedError("FORBIDDEN"), False, 1, "permission denied"),
        (errors.CodeLimitError("all 5 free codes used"), True, 1, "all 5 free codes used"),
        (errors.RateLimitError("slow down", retry_after=4.0), True, 1, "try again in 4 s"),
        (errors.TransportError("refused", sent=False), True, 1, "nothing was sent"),
        (errors.ErmTimeoutError("no answer"), True, 1, "outcome is unknown: run `erm history"),
        (errors.ErmTimeoutError("no answer"), False, 1, "timed out (no answer); try again"),
        (errors.ServerError(502, "Bad Gateway"), False, 1, "try again later"),
        (errors.InvalidResponseError("truncated"), False, 1, "failed (truncated)"),
        (errors.GraphQLError("boom", errors=[{"extensions": {"code": "X"}}]), False, 1, "[X]"),
        (JournalBusyError("journal in use"), False, 1, "journal in use"),
        (FileNotFoundError(2, "No such file or directory", "out.csv"), False, 1, "out.csv"),
        (RuntimeError("bug"), False, 1, "unexpected RuntimeError: bug (run with --debug"),
    ],
)
def test_each_error_maps_to_an_exit_code_and_a_line_saying_what_to_do(
    error: Exception, issuing: bool, code: int, fragment: str
) -> None:
    got_code, message = describe(error, issuing=issuing)
    assert got_code == code
    assert fragment in message
    assert "\n" not in message

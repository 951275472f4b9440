"""The command line as a newcomer meets it: help, Ctrl-C at start-up, login, the wording
of errors, JSON output, settings; each case run as a subprocess against a sandbox."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from omnivoltaic_erm.cli import main
from omnivoltaic_erm.sandbox import Sandbox
from tests.support.cli_helpers import Cli


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(items=12, code_interval=0.2) as sb:
        yield sb


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path) -> Cli:
    return Cli(sandbox, tmp_path / "cache")


@pytest.mark.parametrize(
    ("argv", "usage", "listed"),
    [
        ([], "Usage: erm [OPTIONS] COMMAND", "  batch "),
        (["code"], "Usage: erm code [OPTIONS] COMMAND", "  days "),
        (["schema"], "Usage: erm schema [OPTIONS] COMMAND", "  diff "),
    ],
)
def test_a_group_without_its_command_prints_its_help_as_help(
    argv: list[str], usage: str, listed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == usage + " [ARGS]..."
    assert any(line.startswith(listed) for line in lines), "the commands are listed"
    assert not any(line.startswith("error: Usage:") for line in lines)
    assert max(map(len, lines)) <= 100, "the help is wrapped, not folded into one line"


def test_a_bare_group_under_json_says_so_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["--json", "code"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["error"] == {
        "type": "UsageError",
        "message": "missing command (see 'erm code --help')",
        "exit_code": 2,
    }
    assert err.startswith("Usage: erm code")


def test_ctrl_c_outside_a_commands_own_handling_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ctrl-C before the command reaches its own error handling (start-up imports, the
    # settings): click would make it "Aborted." and exit 1.
    from omnivoltaic_erm.cli import _run

    def interrupt(*_args: object, **_kwargs: object) -> NoReturn:
        raise KeyboardInterrupt

    monkeypatch.setattr(_run, "run_client", interrupt)
    assert main(["items"]) == 130
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == "error: interrupted"

    assert main(["--json", "items"]) == 130
    out, _ = capsys.readouterr()
    assert '"type": "Interrupted"' in out


@pytest.mark.slow
def test_ctrl_c_at_any_moment_of_start_up_exits_130_without_a_traceback(cli: Cli) -> None:
    # Ctrl-C sent at steps through the first second of `erm items`: imports, settings,
    # sign-in, the request. The command ends interrupted (130, or killed by SIGINT while
    # the interpreter itself starts or ends, which a shell reports as 130 too) or done.
    # Before the interpreter reaches the entry point (its own start-up and the import of
    # the package, some 50 ms unloaded) no code of ours can catch it: a traceback there
    # is the interpreter's, and it names no frame of the command line.
    outcomes = set()
    for step in range(20):
        proc = cli.popen("items")
        time.sleep(0.1 + step * 0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Aborted." not in err, (step, err)
        if "Traceback" in err:
            assert "__main__.py" not in err and "/cli/" not in err, (step, err)
            continue
        assert proc.returncode in (0, 130, -signal.SIGINT), (step, proc.returncode, err)
        if proc.returncode == 0:
            assert "items" in out
        elif err.strip():
            assert err.strip().splitlines()[-1] == "error: interrupted", (step, err)
        outcomes.add(proc.returncode)
    assert 130 in outcomes


@pytest.mark.slow
def test_a_failed_login_keeps_the_token_cached_before_it(cli: Cli) -> None:
    assert cli.run("login").code == 0
    caches = list((cli.cache / "omnivoltaic-erm").glob("token-*.json"))
    assert len(caches) == 1
    before = caches[0].read_text()

    r = cli.run("login", ERM_PASSWORD="not-the-password")
    r.assert_one_line_error(1, "sign-in refused")
    assert caches[0].read_text() == before, "the still-valid token is kept"
    assert sorted(p.name for p in caches[0].parent.glob("*.json*")) == [caches[0].name]

    # And it still works, without a password.
    r = cli.run("--json", "items", "--limit", "1", ERM_PASSWORD=None)
    assert r.code == 0, r.err

    # A login that works replaces it.
    assert cli.run("login").code == 0
    assert caches[0].read_text() != before


def _run_on_a_terminal(cli: Cli, *args: str, **env: str | None) -> tuple[int, str]:
    """Run ``erm args...`` with stderr on a pseudo-terminal; its exit code and stderr."""
    import os
    import pty
    import subprocess

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            cli.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            env=cli.env(**env),
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        return proc.wait(60), b"".join(chunks).decode()
    finally:
        os.close(master)


@pytest.mark.slow
def test_a_second_code_says_on_a_terminal_what_it_waits_for(tmp_path: Path) -> None:
    with Sandbox(items=2, code_interval=3) as sb:
        cli = Cli(sb, tmp_path / "cache")
        item = sb.items()[0]["oemItemID"]
        assert cli.run("code", "free", item, ERM_CODE_INTERVAL="3").code == 0
        code, err = _run_on_a_terminal(
            cli, "code", "days", item, "--days", "1", ERM_CODE_INTERVAL="3"
        )
        assert code == 0, err
        waits = [line for line in err.splitlines() if line.startswith("waiting ")]
        assert len(waits) == 1, err
        assert f"s: {item} had a code " in waits[0]
        assert waits[0].endswith("s ago, and the server allows one code per item every 3 s")
        assert len(sb.history(item)) == 2

        # Into a pipe (a script, a log) it stays quiet.
        r = cli.run("code", "reset", item, ERM_CODE_INTERVAL="3")
        assert r.code == 0, r.err
        assert "waiting" not in r.err


# -- the words ------------------------------------------------------------------------


@pytest.mark.slow
def test_an_unknown_item_has_one_wording_in_every_command(cli: Cli, tmp_path: Path) -> None:
    expected = (
        "error: no item 'NOPE0000000000' among this distributor's items; list the items "
        "you can use with `erm items --search ...`"
    )
    for args in (
        ("item", "NOPE0000000000"),
        ("history", "NOPE0000000000"),
        ("code", "days", "NOPE0000000000", "--days", "7"),
        ("code", "free", " NOPE0000000000 "),
    ):
        r = cli.run(*args)
        assert r.assert_one_line_error(1) == expected, args
        assert "NotFoundError" not in r.err


@pytest.mark.slow
def test_ids_are_trimmed_like_batch_rows_and_inner_blanks_shown_as_given(cli: Cli) -> None:
    item = cli.sandbox.items()[0]["oemItemID"]
    r = cli.run("--json", "item", f"  {item}\t")
    assert r.code == 0, r.err
    assert r.json()["oemItemID"] == item
    r = cli.run("history", f" {item} ")
    assert r.code == 0, r.err
    assert f"Code history of {item}" in r.out or f"for {item}." in r.out

    line = cli.run("item", "two  spaces").assert_one_line_error(1)
    assert "no item 'two  spaces'" in line, "the id as given, its blanks kept"


def test_a_bad_id_on_a_read_only_command_does_not_speak_of_issuing(cli: Cli) -> None:
    line = cli.run("item", " ").assert_one_line_error(2, "an item id has 1 to 128 characters")
    assert "issued" not in line
    r = cli.run("code", "free", " ")
    r.assert_one_line_error(2, "an item id has 1 to 128 characters", "nothing was issued")


def test_a_url_without_the_api_says_check_url(cli: Cli) -> None:
    for wrong in (
        cli.sandbox.url.replace("/graphql", "/wrong"),
        cli.sandbox.url[: -len("/graphql")],
    ):
        line = cli.run("--url", wrong, "items").assert_one_line_error(1, "HTTP 404")
        assert "check --url / ERM_URL" in line and "try again later" not in line


def test_an_empty_url_or_email_is_refused_not_replaced_by_the_environment(cli: Cli) -> None:
    cli.run("--url", "", "items").assert_one_line_error(2, "--url is empty")
    cli.run("--email", "", "items").assert_one_line_error(2, "--email is empty")


@pytest.mark.slow
def test_json_items_says_on_stderr_when_the_limit_cut_the_list(cli: Cli) -> None:
    r = cli.run("--json", "items", "--limit", "2")
    assert r.code == 0, r.err
    assert len(r.json()) == 2
    assert r.err.strip() == "limit reached: the first 2 items only (--limit 0 lists all)"
    r = cli.run("--json", "items", "--limit", "0")
    assert r.code == 0 and len(r.json()) == 12
    assert r.err == ""
    r = cli.run("--json", "items", "--limit", "12")
    assert r.code == 0 and len(r.json()) == 12
    assert r.err == "", "a limit that cut nothing says nothing"


@pytest.mark.slow
def test_a_one_day_code_is_one_day(cli: Cli) -> None:
    item = cli.sandbox.items()[6]["oemItemID"]
    r = cli.run("code", "days", item, "--days", "1")
    assert r.code == 0, r.err
    assert f"Days code, 1 day for {item}" in r.out


# -- schema tools outside a checkout --------------------------------------------------


def test_schema_diff_outside_a_checkout_uses_the_packaged_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)
    assert main(["schema", "diff", "--schema", str(ROOT / "schema.graphql")]) == 0
    out = capsys.readouterr().out
    assert "base: the packaged copy (" in out
    assert "no changes" in out


@pytest.mark.slow
def test_the_wheel_ships_the_schema_and_the_operations_schema_diff_uses(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import zipfile

    from tests.conftest import ROOT

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("omnivoltaic_erm-*.whl")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(unpacked)
    assert "omnivoltaic_erm/sandbox/schema.graphql" in names
    shipped = {n.removeprefix("omnivoltaic_erm/") for n in names if n.endswith(".graphql")}
    ours = {f"queries/{p.name}" for p in (ROOT / "queries").glob("*.graphql")}
    assert ours and ours <= shipped

    # The unpacked wheel first on the path, run where there is no checkout.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(unpacked)}
    done = subprocess.run(
        [sys.executable, "-m", "omnivoltaic_erm", "schema", "diff", "--schema",
         str(ROOT / "schema.graphql")],
        capture_output=True, text=True, cwd=elsewhere, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"base: the packaged copy ({unpacked}/omnivoltaic_erm/sandbox/schema.graphql)" in (
        done.stdout
    )
    assert f"operations in {unpacked}/omnivoltaic_erm/queries" in done.stdout


# -- erm sandbox on every address ----------------------------------------------------


@pytest.mark.slow
def test_a_sandbox_on_every_address_warns_and_prints_a_url_the_client_takes(
    tmp_path: Path,
) -> None:
    from tests.cli.test_sandbox_cli import _Url, erm_sandbox_process

    # erm_sandbox_process checks that the first line is an http://127.0.0.1 URL.
    with erm_sandbox_process("--host", "0.0.0.0", "--items", "2") as (proc, url):
        assert proc.stderr is not None
        warning = proc.stderr.readline()
        assert warning.startswith("warning: listening on every address of this machine")
        assert "--insecure" in warning
        r = Cli(_Url(url), tmp_path / "cache").run("--json", "items")  # type: ignore[arg-type]
        assert r.code == 0, r.err
        assert len(r.json()) == 2


def test_a_sandbox_on_a_public_address_is_said_to_need_insecure() -> None:
    from omnivoltaic_erm.sandbox.__main__ import reachable

    host, warning = reachable("192.0.2.7")
    assert host == "192.0.2.7"
    assert warning is not None and "not loopback" in warning and "--insecure" in warning
    assert reachable("127.0.0.1") == ("127.0.0.1", None)
    assert reachable("::")[0] == "::1"

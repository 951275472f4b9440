"""``erm sandbox`` as a process, introspection, and packaging of the sandbox."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from graphql import build_client_schema, build_schema, get_introspection_query, print_schema
from graphql.utilities import lexicographic_sort_schema

from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.sandbox.__main__ import build_parser, config_from_args, main
from tests.conftest import ROOT
from tests.support.sandbox_http import ITEMS, gql, post, sign_in

LISTENING = re.compile(r"^ERM sandbox listening on (http://127\.0\.0\.1:(\d+)/graphql)$")


@contextmanager
def erm_sandbox_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "omnivoltaic_erm", "sandbox", "--port", "0", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().rstrip("\n")
        match = LISTENING.match(first)
        assert match, (
            f"unexpected first line {first!r}; stderr: {proc.stderr and proc.stderr.read()}"
        )
        assert int(match.group(2)) > 0
        yield proc, match.group(1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


class _Url:
    """Just enough of a Sandbox for the HTTP helpers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.email, self.password = "distributor@sandbox.test", "sandbox-password"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_erm_sandbox_serves_until_signalled(tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "cli.sqlite3"
    args = ["--db", str(db), "--items", "3", "--code-interval", "0.2", "--token-ttl", "2"]
    with erm_sandbox_process(*args) as (proc, url):
        assert proc.stdout is not None
        credentials = proc.stdout.readline() + proc.stdout.readline()
        assert "distributor@sandbox.test / sandbox-password" in credentials
        assert "other@sandbox.test" in credentials
        target = _Url(url)
        token = sign_in(target)
        page = gql(target, ITEMS, {"order": "ASC"}, token)
        assert len(page["data"]["getAllClientItems"]["page"]["edges"]) == 3
        started = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(10) == 0
        assert time.monotonic() - started < 5
    assert db.is_file()


def test_erm_sandbox_faults_flag(tmp_path: Path) -> None:
    with erm_sandbox_process("--items", "1", "--faults", "502=1", "--seed", "3") as (proc, url):
        target = _Url(url)
        token = sign_in(target)
        assert post(url, {"query": ITEMS, "variables": {"order": "ASC"}}, token).status == 502
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_main_reports_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "--code-interval" in capsys.readouterr().out
    assert main(["--faults", "bogus=1"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main(["--items", "-1"]) == 2
    assert main(["--port", "not-a-port"]) == 2
    assert main(["--fleet", "Slow:speed=3"]) == 2
    assert "bad fleet setting" in capsys.readouterr().err


def test_erm_sandbox_prints_the_dashboard_and_takes_its_options() -> None:
    import requests

    token = "a-fixed-admin-token"
    args = ("--items", "1", "--admin-token", token, "--request-log-size", "2")
    with erm_sandbox_process(*args) as (proc, url):
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        base = url.removesuffix("/graphql")
        assert f"  dashboard:   {base}/dashboard?token={token}\n" in lines
        assert requests.get(f"{base}/admin/requests", timeout=10).status_code == 401
        for _ in range(3):
            sign_in(_Url(url))
        answer = requests.get(f"{base}/admin/requests?token={token}", timeout=10).json()
        assert answer["size"] == 2 and len(answer["requests"]) == 2
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    with erm_sandbox_process("--items", "1", "--no-dashboard") as (proc, url):
        assert proc.stdout is not None
        assert not any("dashboard" in proc.stdout.readline() for _ in range(3))
        base = url.removesuffix("/graphql")
        assert requests.get(f"{base}/dashboard", timeout=10).status_code == 404
    assert main(["--admin-token", "short"]) == 2


def test_help_documents_the_dashboard_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--no-dashboard", "--request-log-size", "--admin-token"):
        assert option in out


def test_fleet_flags_make_the_fleets() -> None:
    args = build_parser().parse_args(
        ["--code-interval", "2", "--fleet", "Fast:interval=1", "--fleet", "Slow:off=credit+daily"]
    )
    config = config_from_args(args)
    assert config.fleets is not None
    fast, slow = config.fleets
    assert (fast.name, fast.code_interval, slow.name, slow.code_interval) == ("Fast", 1, "Slow", 2)
    assert slow.disabled == {"credit", "daily"}
    assert config_from_args(build_parser().parse_args([])).fleets is None


def test_introspection_reproduces_schema_graphql() -> None:
    with Sandbox(items=1) as sb:
        result = post(sb.url, {"query": get_introspection_query(descriptions=True)}).json
    served = lexicographic_sort_schema(build_client_schema(result["data"]))
    source = lexicographic_sort_schema(build_schema((ROOT / "schema.graphql").read_text()))
    assert print_schema(served) == print_schema(source)


def test_import_omnivoltaic_erm_does_not_import_the_sandbox() -> None:
    code = (
        "import sys, omnivoltaic_erm; "
        "server = ('omnivoltaic_erm.sandbox', 'ariadne', 'jwt'); "
        "bad = [m for m in sys.modules if m.startswith(server)]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_schema_is_found_without_the_packaged_copy() -> None:
    from omnivoltaic_erm.sandbox.app import default_schema_text

    assert default_schema_text() == (ROOT / "schema.graphql").read_text()

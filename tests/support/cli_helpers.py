"""Running ``erm`` as a subprocess against a sandbox, for the CLI tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from omnivoltaic_erm.sandbox import Sandbox

# The sandboxes of the CLI tests allow a code every 0.2 s per item; the CLI is told so.
INTERVAL = "0.2"


@dataclass
class Cli:
    """``erm`` pointed at one sandbox, with its own token cache directory."""

    sandbox: Sandbox
    cache: Path

    def env(self, **overrides: str | None) -> dict[str, str]:
        """The environment of a run: the sandbox account, unless overridden (None: unset)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
        env.pop("COLUMNS", None)
        env.update(
            ERM_URL=self.sandbox.url,
            ERM_EMAIL=self.sandbox.email,
            ERM_PASSWORD=self.sandbox.password,
            ERM_CODE_INTERVAL=INTERVAL,
            # The sandbox runs each request as it arrives: unless a test holds requests on
            # the way (a ``late`` fault, which sets its own), nothing can land late.
            ERM_MAX_HOLD="0",
            XDG_CACHE_HOME=str(self.cache),
            PYTHONUNBUFFERED="1",
        )
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def argv(self, *args: str) -> list[str]:
        """The command line of ``erm args...``."""
        return [sys.executable, "-m", "omnivoltaic_erm", *args]

    def run(self, *args: str, timeout: float = 90, **env: str | None) -> Result:
        """Run ``erm args...`` to completion, stdin closed."""
        done = subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def run_here(
        self,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        *args: str,
        **env: str | None,
    ) -> Result:
        """Run ``erm args...`` in this process (``main``), with the environment of ``run``.

        A fraction of a subprocess's cost, and under ``make mutation`` it runs the mutated
        code, which a subprocess would not import.
        """
        from omnivoltaic_erm.cli import main

        wanted = self.env(**env)
        for key in [k for k in os.environ if k not in wanted]:
            monkeypatch.delenv(key)
        for key, value in wanted.items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    def popen(self, *args: str, **env: str | None) -> subprocess.Popen[str]:
        """Start ``erm args...`` in the background."""
        return subprocess.Popen(
            self.argv(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            preexec_fn=_default_sigint,
        )


def _default_sigint() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C gives it, whatever this process has.

    A shell starts a background job with SIGINT ignored, and a child inherits that, so a
    suite run in the background would otherwise send its Ctrl-C to a process that
    ignores it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class Result:
    """Exit code and output of one run."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        import json

        return json.loads(self.out)

    def assert_one_line_error(self, code: int, *fragments: str) -> str:
        """The run failed with ``code`` and one ``error:`` line holding ``fragments``."""
        assert self.code == code, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("error: "), lines[0]
        assert "Traceback" not in self.err + self.out
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
        return lines[0]


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

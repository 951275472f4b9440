"""Helpers shared by the benchmark sections: statistics, child processes, memory.

Every process the benchmarks start is a child of this one and is stopped on the way out,
even when a section fails: ``ChildProcess`` terminates (then kills) its process on exit,
and a child server also exits by itself when its stdin closes, so it cannot outlive a
parent that was killed.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
# Only loopback traffic: every server a benchmark starts binds here.
LOOPBACK = "127.0.0.1"


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (which must not be empty)."""
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> tuple[float, float]:
    """The lowest and highest of ``values``, to show how noisy a median is."""
    return float(min(values)), float(max(values))


def loopback_only() -> None:
    """Keep benchmark traffic on loopback even where the environment names a proxy.

    requests and httpx honour HTTP(S)_PROXY; NO_PROXY for the loopback names keeps them
    (and every child process, which inherits the environment) talking to 127.0.0.1.
    """
    for name in ("NO_PROXY", "no_proxy"):
        entries = [e for e in os.environ.get(name, "").split(",") if e.strip()]
        for host in ("127.0.0.1", "localhost"):
            if host not in entries:
                entries.append(host)
        os.environ[name] = ",".join(entries)


def child_env() -> dict[str, str]:
    """The environment for child Python processes: ``bench`` importable from the root.

    ``omnivoltaic_erm`` itself comes from the venv's editable install, as for users.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # A child's output is read line by line; no buffering surprises.
    env["PYTHONUNBUFFERED"] = "1"
    return env


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    """This process's resident set size now, in MiB (from /proc; Linux only)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE / 2**20


class Stopwatch:
    """Wall time and this process's CPU time (all threads) over a ``with`` block."""

    wall = 0.0
    cpu = 0.0

    def __enter__(self) -> Self:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


class ChildProcess:
    """A Python child process (``python -m module args``) that is always stopped.

    The child announces readiness by printing one line that starts with ``ready_prefix``;
    ``start()`` returns the rest of that line. The child's stdin is a pipe that stays open
    for the child's lifetime: a server child exits when it reads end-of-file.
    """

    def __init__(self, module: str, *args: str, ready_prefix: str = "READY ") -> None:
        self.argv = [sys.executable, "-m", module, *args]
        self.ready_prefix = ready_prefix
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: list[str] = []

    def start(self, timeout: float = 60.0) -> str:
        """Start the child and wait (at most ``timeout`` s) for its ready line."""
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        found: list[str] = []

        def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.startswith(self.ready_prefix):
                    found.append(line[len(self.ready_prefix) :].strip())
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            self.stop()
            raise RuntimeError(
                f"{' '.join(self.argv[1:])} did not start within {timeout:g} s: "
                + "".join(self._stderr)[-2000:]
            )
        return found[0]

    def _drain_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            if len(self._stderr) < 200:
                self._stderr.append(line)

    def stop(self) -> None:
        """Close the child's stdin, then terminate it, then kill it; never raises."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_json_child(
    module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300.0
) -> dict[str, Any]:
    """Run ``python -m module args`` to completion; return the JSON of its last stdout line.

    ``env`` adds variables to the child's environment (e.g. ERM_URL for a client).
    """
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**child_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{module} {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}"
        )
    result = json.loads(lines[-1])
    assert isinstance(result, dict)
    return result


def wait_for_stdin_eof_then(callback: Any) -> None:
    """In a child server: call ``callback()`` once the parent closes our stdin (or dies)."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            callback()

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()

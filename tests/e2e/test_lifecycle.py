"""The client's life cycle as scripts and services use it: states, use after close, a
script that never closes its client, a forked child (gunicorn, multiprocessing, celery)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from omnivoltaic_erm import AsyncErmClient, ClientClosedError, ErmClient
from omnivoltaic_erm.sandbox import Sandbox


def _script(sb: Sandbox, body: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``body`` in a fresh interpreter, with ``url``, ``email`` and ``password`` set."""
    head = f"url, email, password = {sb.url!r}, {sb.email!r}, {sb.password!r}\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
    return subprocess.run(
        [sys.executable, "-c", head + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_a_script_that_never_closes_its_client_exits_by_itself() -> None:
    with Sandbox(items=2) as sb:
        done = _script(
            sb,
            """
            from omnivoltaic_erm import ErmClient
            erm = ErmClient(url, email, password)  # at module level, never closed
            print(len(list(erm.iter_items())), "items")
            """,
        )
    # Before, the interpreter hung at shutdown in the client's loop thread.
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2 items"
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_childs_first_call_works() -> None:
    with Sandbox(items=2) as sb:
        done = _script(
            sb,
            """
            import os, sys
            from omnivoltaic_erm import ErmClient
            erm = ErmClient(url, email, password)
            first = erm.find_item("DVAV2501000001").id
            pid = os.fork()
            if pid == 0:  # the child: the parent's loop thread is not here
                try:
                    ok = erm.find_item("DVAV2501000002").id != first
                    erm.generate_days_code("DVAV2501000002", 3)
                    erm.close()
                except BaseException as exc:
                    print("child failed:", repr(exc), flush=True)
                    os._exit(1)
                os._exit(0 if ok else 2)
            _, status = os.waitpid(pid, 0)
            # The parent's client still works after the fork, and closes cleanly.
            print(os.waitstatus_to_exitcode(status), erm.find_item(first).id == first)
            erm.close()
            """,
        )
        events = sb.history("DVAV2501000002")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "True"], (done.stdout, done.stderr)
    assert len(events) == 1


def test_states_and_use_after_close_sync() -> None:
    with Sandbox(items=1) as sb:
        erm = ErmClient(sb.url, sb.email, sb.password)
        assert erm.state == "unopened"
        erm.find_item("DVAV2501000001")
        assert erm.state == "open"
        erm.close()
        assert erm.state == "closed"
        with pytest.raises(ClientClosedError, match="closed"):
            erm.find_item("DVAV2501000001")
        erm.close()  # idempotent
        assert isinstance(ClientClosedError("x"), RuntimeError)


def test_states_and_use_after_close_async() -> None:
    with Sandbox(items=1) as sb:

        async def run() -> None:
            erm = AsyncErmClient(sb.url, sb.email, sb.password)
            assert erm.state == "unopened"
            await erm.find_item("DVAV2501000001")
            assert erm.state == "open"
            await erm.aclose()
            assert erm.state == "closed"
            # Before, a closed client silently opened a new connection pool.
            with pytest.raises(ClientClosedError):
                await erm.find_item("DVAV2501000001")
            assert erm.api.session is None
            await erm.aclose()

        asyncio.run(run())

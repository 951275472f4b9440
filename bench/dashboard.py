"""The dashboard's cost: a 1,000-code batch with the dashboard off, on with nobody
watching, and on with a watcher streaming every request (``/admin/stream``).

Two sandboxes serve from the benchmark's process (code interval 0, 1,000 items each: one
with the dashboard, one without); the batch runs in a child process (``python -m
bench.dashboard batch PLAN.json``): signed in before timing, one days code per item with
the client's concurrency bound and a request tag in each description, as the client
sends. The watcher is another child (``python -m bench.dashboard watch URL TOKEN``) that
reads the event stream as the page does. Each repetition runs the three modes in a
rotating order and resets the sandbox first, so every batch starts from no code events.
The figures: per repetition, each mode's batch time (and the server's CPU time, the
benchmark process's, which hosts both sandboxes) over the time with the dashboard off;
the median of those ratios.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import ChildProcess, Stopwatch, median, run_json_child, wait_for_stdin_eof_then

BATCH = 1_000
MODES = ("off", "idle", "streaming")
_DAYS = """
mutation ($itemId: ID!, $description: String) {
  generateDaysCode(generateDaysCodeInput: {itemId: $itemId, codeDays: 1,
                                           description: $description}) { codeType codeHex }
}"""
_SIGN_IN = """
mutation ($email: String!, $password: String!) {
  signInUser(signInCredentials: {email: $email, password: $password}) { accessToken }
}"""


async def _batch(plan: dict[str, Any]) -> dict[str, Any]:
    """In the child: sign in, then time one days code per item, at most
    ``concurrency`` at once; count what was refused or failed."""
    import aiohttp

    failed = 0
    async with aiohttp.ClientSession() as session:
        credentials = {"email": plan["email"], "password": plan["password"]}
        async with session.post(
            plan["url"], json={"query": _SIGN_IN, "variables": credentials}
        ) as response:
            token = (await response.json())["data"]["signInUser"]["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        sem = asyncio.Semaphore(plan["concurrency"])

        async def one(item_id: str) -> None:
            nonlocal failed
            variables = {"itemId": item_id, "description": f"[req:{secrets.token_hex(8)}]"}
            async with (
                sem,
                session.post(
                    plan["url"], json={"query": _DAYS, "variables": variables}, headers=headers
                ) as response,
            ):
                body = await response.json()
                failed += response.status != 200 or bool(body.get("errors"))

        with Stopwatch() as sw:
            await asyncio.gather(*(one(i) for i in plan["items"]))
    return {"wall_s": sw.wall, "failed": failed}


async def _watch(url: str, token: str) -> None:
    """In the child: read the event stream until the parent closes our stdin."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        if response.status != 200:
            raise RuntimeError(f"the event stream answered {response.status}")
        await response.content.readline()  # ": connected"
        print("READY streaming", flush=True)
        async for _ in response.content:
            pass


def _one_batch(sandbox: Any, concurrency: int) -> dict[str, Any]:
    items = [item["_id"] for item in sandbox.items()][:BATCH]
    plan = {
        "url": sandbox.url,
        "email": sandbox.email,
        "password": sandbox.password,
        "items": items,
        "concurrency": concurrency,
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        path.write_text(json.dumps(plan))
        return run_json_child("bench.dashboard", "batch", str(path), timeout=600)


def _await_watcher(watchers: set[Any], timeout: float = 10.0) -> None:
    """Wait until the sandbox has the watcher's queue (its stream is open)."""
    deadline = time.monotonic() + timeout
    while len(watchers) != 1:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(watchers)} watchers on the event stream, not 1")
        time.sleep(0.05)


def run(repeats: int = 3) -> dict[str, Any]:
    """Time the batch ``repeats`` times in each mode; see the module's docstring."""
    from omnivoltaic_erm import ClientConfig
    from omnivoltaic_erm.sandbox import Sandbox
    from omnivoltaic_erm.sandbox.requestlog import REQUEST_LOG

    concurrency = ClientConfig().max_concurrency
    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    cpus: dict[str, list[float]] = {mode: [] for mode in MODES}
    failures = 0
    with (
        Sandbox(items=BATCH, code_interval=0, dashboard=False) as off,
        Sandbox(items=BATCH, code_interval=0) as on,
    ):
        for rep in range(repeats):
            order = MODES[rep % 3 :] + MODES[: rep % 3]
            for mode in order:
                sandbox = off if mode == "off" else on
                sandbox.store.reset()
                cpu = time.process_time()
                if mode != "streaming":
                    result = _one_batch(sandbox, concurrency)
                else:
                    stream_url = f"{on.base_url}/admin/stream"
                    with ChildProcess("bench.dashboard", "watch", stream_url, on.admin_token) as w:
                        w.start()
                        _await_watcher(on._app_state()[REQUEST_LOG].watchers)
                        result = _one_batch(sandbox, concurrency)
                cpus[mode].append(time.process_time() - cpu)
                walls[mode].append(result["wall_s"])
                failures += result["failed"]
    # Ratios per repetition (the modes of one repetition ran back to back, under the
    # same background load), then their median.
    rows = [
        {
            "mode": mode,
            "wall_s": median(walls[mode]),
            "codes_per_s": BATCH / median(walls[mode]),
            "vs_off": median([a / b for a, b in zip(walls[mode], walls["off"], strict=True)]),
            "server_cpu_s": median(cpus[mode]),
            "cpu_vs_off": median([a / b for a, b in zip(cpus[mode], cpus["off"], strict=True)]),
        }
        for mode in MODES
    ]
    return {
        "rows": rows,
        "codes": BATCH,
        "repeats": repeats,
        "concurrency": concurrency,
        "failed": failures,
        "samples": walls,
        "server_cpu_samples": cpus,
    }


def main(argv: list[str]) -> int:
    """``python -m bench.dashboard batch PLAN.json`` or ``watch URL TOKEN``."""
    if argv[:1] == ["batch"] and len(argv) == 2:
        plan = json.loads(Path(argv[1]).read_text())
        print(json.dumps(asyncio.run(_batch(plan))))
        return 0
    if argv[:1] == ["watch"] and len(argv) == 3:
        wait_for_stdin_eof_then(lambda: os._exit(0))
        asyncio.run(_watch(argv[1], argv[2]))
        return 0
    print("usage: python -m bench.dashboard batch PLAN.json | watch URL TOKEN", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

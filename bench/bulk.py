"""Bulk code issuance against the sandbox, against its theoretical floor.

The sandbox (code interval 0.2 s, with just the items the run needs: its item lookups
slow down with its size, which is not what this section measures) serves from the
benchmark's process; the client runs in a child process (``python -m bench.bulk
PLAN.json``) so that the two do not share an interpreter lock. Each repetition uses
fresh items and a fresh ``AsyncErmClient`` (signed in before any timing) and measures,
in this order:

1. ``latency``: single days codes on prefetched items, one after another: the per-call
   latency L of a code request through the client;
2. ``200x1``: ``prefetch`` of 200 items, then one days code each, all at once
   (``asyncio.gather``; the client bounds concurrency at ``max_concurrency``);
3. ``1x5``: five days codes for one item, one after another, from a cold client state
   (the first call reads the item's history, as a real first call does);
4. ``1x5 margin 0``: the same with ``Limits(interval_margin=0)``, to show what the
   client's safety margin costs and whether the server then refuses;
5. ``transport``: 200 more days codes sent straight through the generated client with
   the same concurrency bound and no policy at all: what the sandbox can serve. It runs
   first in every other repetition, so that drifting load favours neither side.

Floors, as issue 7 defines them: 1x5 is 4 x interval + L; 200x1 is 200 x L / concurrency.
``server_refusals`` counts the rate-limit refusals the server sent to the client.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import Stopwatch, median, run_json_child

BULK_ITEMS = 200
SINGLE_CODES = 5
LATENCY_CALLS = 5


async def _fresh_client(plan: dict[str, Any], margin: float | None = None) -> Any:
    """A signed-in client with the sandbox's interval (and optionally another margin)."""
    from omnivoltaic_erm import AsyncErmClient, Limits

    limits = Limits(code_interval=plan["interval"])
    if margin is not None:
        limits = Limits(code_interval=plan["interval"], interval_margin=margin)
    erm = AsyncErmClient(plan["url"], plan["email"], plan["password"], limits=limits)
    await erm.code_history(plan["warm_item"])  # signs in and opens a connection
    return erm


async def _repetition(
    plan: dict[str, Any], items: dict[str, list[str]], transport_first: bool
) -> dict[str, Any]:
    """One repetition; the two 200-code phases swap order every other time, so that
    drifting background load does not always favour the same one."""
    out: dict[str, Any] = {}
    if transport_first:
        out.update(await _transport_only(plan, items["transport"]))
    erm = await _fresh_client(plan)
    try:
        await erm.prefetch(items["latency"])
        latencies = []
        for item in items["latency"]:
            started = time.perf_counter()
            await erm.generate_days_code(item, 1)
            latencies.append(time.perf_counter() - started)
        out["latency_s"] = median(latencies)
        out["concurrency"] = erm.config.max_concurrency

        refused = erm.server_refusals
        started = time.perf_counter()
        await erm.prefetch(items["bulk"])
        prefetched = time.perf_counter()
        with Stopwatch() as sw:
            codes = await asyncio.gather(*(erm.generate_days_code(i, 1) for i in items["bulk"]))
        out["bulk_prefetch_s"] = prefetched - started
        out["bulk_issue_s"] = sw.wall
        out["bulk_issue_cpu_s"] = sw.cpu
        out["bulk_codes"] = len({c.code_dec for c in codes})
        out["bulk_refusals"] = erm.server_refusals - refused

        refused = erm.server_refusals
        started = time.perf_counter()
        for _ in range(SINGLE_CODES):
            await erm.generate_days_code(items["single"][0], 1)
        out["single_s"] = time.perf_counter() - started
        out["single_refusals"] = erm.server_refusals - refused
    finally:
        await erm.aclose()

    erm = await _fresh_client(plan, margin=0.0)
    try:
        started = time.perf_counter()
        for _ in range(SINGLE_CODES):
            await erm.generate_days_code(items["single"][1], 1)
        out["single_margin0_s"] = time.perf_counter() - started
        out["single_margin0_refusals"] = erm.server_refusals
    finally:
        await erm.aclose()

    if not transport_first:
        out.update(await _transport_only(plan, items["transport"]))
    return out


async def _transport_only(plan: dict[str, Any], item_ids: list[str]) -> dict[str, float]:
    """The same days codes through the generated client alone: no policy, no ledger, the
    client's concurrency bound, and a request tag in the description as the client sends."""
    from omnivoltaic_erm_gql import Client, QueryOrder

    from omnivoltaic_erm import ClientConfig

    client = Client(url=plan["url"], headers={"Authorization": f"Bearer {plan['token']}"})
    sem = asyncio.Semaphore(ClientConfig().max_concurrency)

    async def one(item_id: str) -> None:
        async with sem:
            tag = f"[req:{secrets.token_hex(8)}]"
            await client.generate_days_code(item_id=item_id, code_days=1, description=tag)

    try:
        # Open a connection with a query, so the warm item gets no extra code.
        await client.get_all_client_items(queryorder=QueryOrder.DESC, first=1, assetaccount=False)
        with Stopwatch() as sw:
            await asyncio.gather(*(one(i) for i in item_ids))
        return {"transport_s": sw.wall, "transport_cpu_s": sw.cpu}
    finally:
        await client.close()


async def _run_plan(plan: dict[str, Any]) -> dict[str, Any]:
    reps = [
        await _repetition(plan, items, transport_first=n % 2 == 1)
        for n, items in enumerate(plan["repetitions"])
    ]
    return {"warmup": reps[0], "measured": reps[1:]}


def items_needed(repeats: int) -> int:
    """How many sandbox items a run with ``repeats`` repetitions (plus a warm-up) uses."""
    return 1 + (LATENCY_CALLS + BULK_ITEMS + 2 + BULK_ITEMS) * (repeats + 1)


def _plan_items(item_ids: list[str], repeats: int) -> tuple[str, list[dict[str, list[str]]]]:
    """Split fresh item ids: one warm item, then one disjoint set per repetition."""
    need = items_needed(repeats)
    if len(item_ids) < need:
        raise RuntimeError(f"the bulk benchmark needs {need} items; the sandbox has fewer")
    pool = iter(item_ids[1:need])
    reps = []
    for _ in range(repeats + 1):
        reps.append(
            {
                "latency": [next(pool) for _ in range(LATENCY_CALLS)],
                "bulk": [next(pool) for _ in range(BULK_ITEMS)],
                "single": [next(pool) for _ in range(2)],
                "transport": [next(pool) for _ in range(BULK_ITEMS)],
            }
        )
    return item_ids[0], reps


def run(sandbox: Any, interval: float, repeats: int = 3) -> dict[str, Any]:
    """Run the plan in a child process against ``sandbox``; check the server's records."""
    warm, reps = _plan_items([item["_id"] for item in sandbox.items()], repeats)
    plan = {
        "url": sandbox.url,
        "email": sandbox.email,
        "password": sandbox.password,
        "token": sandbox.access_token(),
        "interval": interval,
        "warm_item": warm,
        "repetitions": reps,
    }
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        path = Path(tmp) / "plan.json"
        path.write_text(json.dumps(plan))
        result = run_json_child("bench.bulk", str(path), timeout=600)
    return _summarise(result["measured"], interval, repeats, _records_ok(sandbox, reps))


def _records_ok(sandbox: Any, reps: list[dict[str, list[str]]]) -> bool:
    """The server's own records: one code per bulk item, five per single item."""
    expected = {i: 1 for items in reps for i in items["bulk"] + items["transport"]}
    expected.update({i: SINGLE_CODES for items in reps for i in items["single"]})
    return all(len(sandbox.history(i)) == n for i, n in expected.items())


def _summarise(
    reps: list[dict[str, Any]], interval: float, repeats: int, recorded_ok: bool
) -> dict[str, Any]:
    def med(key: str) -> float:
        return median([r[key] for r in reps])

    latency = med("latency_s")
    concurrency = reps[0]["concurrency"]
    single_floor = (SINGLE_CODES - 1) * interval + latency
    bulk_floor = BULK_ITEMS * latency / concurrency
    rows = [
        {
            "case": f"{BULK_ITEMS} items x 1 code (issue only)",
            "wall_s": med("bulk_issue_s"),
            "floor_s": bulk_floor,
            "refusals": sum(r["bulk_refusals"] for r in reps),
        },
        {
            "case": f"{BULK_ITEMS} items x 1 code (prefetch + issue)",
            "wall_s": median([r["bulk_prefetch_s"] + r["bulk_issue_s"] for r in reps]),
            "floor_s": bulk_floor,
            "refusals": sum(r["bulk_refusals"] for r in reps),
        },
        {
            "case": f"{BULK_ITEMS} mutations, generated client only",
            "wall_s": med("transport_s"),
            "floor_s": bulk_floor,
            "refusals": 0,
        },
        {
            "case": f"1 item x {SINGLE_CODES} codes",
            "wall_s": med("single_s"),
            "floor_s": single_floor,
            "refusals": sum(r["single_refusals"] for r in reps),
        },
        {
            "case": f"1 item x {SINGLE_CODES} codes, interval_margin=0",
            "wall_s": med("single_margin0_s"),
            "floor_s": single_floor,
            "refusals": sum(r["single_margin0_refusals"] for r in reps),
        },
    ]
    served = med("transport_s")
    for row in rows:
        row["vs_floor"] = row["wall_s"] / row["floor_s"]
        if row["case"].startswith(f"{BULK_ITEMS} items"):
            row["vs_server_floor"] = row["wall_s"] / served
    return {
        "interval_s": interval,
        "repeats": repeats,
        "latency_ms": latency * 1000,
        "concurrency": concurrency,
        "prefetch_ms": med("bulk_prefetch_s") * 1000,
        # Client CPU per code: the client is not what limits the 200-code runs.
        "client_cpu_ms_per_code": med("bulk_issue_cpu_s") / BULK_ITEMS * 1000,
        "generated_cpu_ms_per_code": med("transport_cpu_s") / BULK_ITEMS * 1000,
        "server_records_as_expected": recorded_ok,
        "rows": rows,
        "samples": reps,
    }


def main(argv: list[str]) -> int:
    """Child entry point: ``python -m bench.bulk PLAN.json``; prints one JSON line."""
    if len(argv) != 1:
        print("usage: python -m bench.bulk PLAN.json", file=sys.stderr)
        return 2
    plan = json.loads(Path(argv[0]).read_text())
    print(json.dumps(asyncio.run(_run_plan(plan))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Streaming: ``AsyncErmClient.iter_items`` throughput and peak memory.

The sandbox serves from the benchmark's own process; each measurement runs the client
in a fresh child process (``python -m bench.streaming MODE LIMIT``), so that its peak RSS
is the client's alone and starts from the same baseline. Two loops over the same pages:

- ``stream``: ``async for item in erm.iter_items(): ...`` keeps nothing;
- ``hold``: the same loop appending every item to a list, as code that collects a whole
  listing before using it would.

Each runs for two item counts (the first 5,000 and all 20,000 items of one sandbox): if
streaming memory is flat, its peak RSS is the same for both counts, while holding grows
with the count. The child prints one JSON line: items, wall and CPU seconds, its RSS
before the loop, and the highest RSS seen during the loop (sampled every page, from
/proc; the process's lifetime peak ``ru_maxrss`` is dominated by imports, so it would
hide the loop's growth).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from typing import Any

from ._common import Stopwatch, median, peak_rss_mib, rss_mib, run_json_child

MODES = ("stream", "hold")
# RSS is sampled once a page (the default page is 100 items): a peak cannot hide.
SAMPLE_EVERY = 100


async def _consume(mode: str, limit: int) -> dict[str, Any]:
    from omnivoltaic_erm import AsyncErmClient

    held: list[Any] = []
    n = 0
    async with AsyncErmClient() as erm:  # ERM_URL, ERM_EMAIL, ERM_PASSWORD
        # Sign in and fetch one item before the baseline, so that the baseline holds the
        # client's fixed cost (imports, models, session) and the growth is the loop's.
        await _first_item(erm)
        gc.collect()
        baseline = peak = rss_mib()
        with Stopwatch() as sw:
            async for item in erm.iter_items():
                if mode == "hold":
                    held.append(item)
                n += 1
                if n % SAMPLE_EVERY == 0:
                    peak = max(peak, rss_mib())
                if n >= limit:
                    break
        peak = max(peak, rss_mib())
    return {
        "mode": mode,
        "items": n,
        "held": len(held),
        "wall_s": sw.wall,
        "cpu_s": sw.cpu,
        "baseline_rss_mib": baseline,
        "peak_rss_mib": peak,
        "process_peak_rss_mib": peak_rss_mib(),
    }


async def _first_item(erm: Any) -> Any:
    async for item in erm.iter_items(page_size=1):
        return item
    raise RuntimeError("the sandbox has no items")


def run(
    url: str, email: str, password: str, counts: tuple[int, ...], repeats: int = 3
) -> dict[str, Any]:
    """Run each mode for each count ``repeats`` times (one warm-up run first)."""
    env = {"ERM_URL": url, "ERM_EMAIL": email, "ERM_PASSWORD": password}
    run_json_child("bench.streaming", "stream", str(min(counts)), env=env)  # warm-up
    samples: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeats):
        for count in counts:
            for mode in MODES:
                result = run_json_child("bench.streaming", mode, str(count), env=env)
                if result["items"] != count:
                    raise RuntimeError(f"{mode} loop saw {result['items']} items, not {count}")
                samples.setdefault(f"{mode} {count}", []).append(result)
    rows = []
    for runs in samples.values():
        mode = runs[0]["mode"]
        rows.append(
            {
                "mode": mode,
                "items": runs[0]["items"],
                "items_per_s": median([r["items"] / r["wall_s"] for r in runs]),
                "cpu_us_per_item": median([r["cpu_s"] / r["items"] * 1e6 for r in runs]),
                "baseline_rss_mib": median([r["baseline_rss_mib"] for r in runs]),
                "peak_rss_mib": median([r["peak_rss_mib"] for r in runs]),
                "growth_mib": median([r["peak_rss_mib"] - r["baseline_rss_mib"] for r in runs]),
            }
        )
    return {"repeats": repeats, "rows": rows, "samples": samples}


def main(argv: list[str]) -> int:
    """Child entry point: ``python -m bench.streaming MODE LIMIT``; prints one JSON line."""
    mode, limit = argv[0], int(argv[1])
    if mode not in MODES or limit < 1:
        print(f"usage: python -m bench.streaming {{{','.join(MODES)}}} LIMIT", file=sys.stderr)
        return 2
    started = time.perf_counter()
    result = asyncio.run(_consume(mode, limit))
    result["process_s"] = time.perf_counter() - started
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

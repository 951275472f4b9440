"""Run the benchmarks, print the tables and write ``bench/RESULTS.md`` and ``results.json``.

    python -m bench                      # everything (what `make bench` runs)
    python -m bench --only percall,startup
    python -m bench --quick              # fewer repetitions: a smoke run, not figures

Sections run one after another, the cheap ones first; a section that fails is reported
and the others still run (the exit status is then 1). The sandbox sections need
``omnivoltaic_erm.sandbox`` (the ``sandbox`` extra); without it they are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import bulk, dashboard, percall, startup, streaming
from ._common import ROOT, loopback_only

SECTIONS = ("percall", "startup", "streaming", "bulk", "cli", "dashboard")
RESULTS = ROOT / "bench" / "results.json"
# The tables of the last full run, with its machine and commit; the docs' Performance page
# includes this file, so no figure there is copied by hand.
RESULTS_MD = ROOT / "bench" / "RESULTS.md"
TITLES = {
    "percall": "Per call",
    "startup": "Start-up",
    "streaming": "Streaming",
    "bulk": "Bulk issuance",
    "cli": "Command line",
    "dashboard": "Sandbox dashboard",
}
INTERVAL = 0.2
SANDBOX_ITEMS = 20_000
STREAM_COUNTS = (5_000, 20_000)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }


def git_revision() -> str:
    """The commit measured, with ``+dirty`` when the tree has uncommitted changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{rev}+dirty" if dirty else rev or "unknown"


# -- sections -------------------------------------------------------------------------


def run_sections(names: list[str], quick: bool) -> dict[str, Any]:
    """Run the chosen sections; each result or error lands under its name."""
    results: dict[str, Any] = {}
    plain: dict[str, Callable[[], dict[str, Any]]] = {
        "percall": lambda: percall.run(calls=10, rounds=5, warmup=10) if quick else percall.run(),
        "startup": lambda: startup.run(repeats=3 if quick else 9),
    }
    for name in (n for n in names if n in plain):
        results[name] = _guarded(name, plain[name])
    sandboxed = [n for n in names if n in ("streaming", "bulk", "cli", "dashboard")]
    if sandboxed:
        results.update(_sandbox_sections(sandboxed, quick))
    return results


def _guarded(name: str, section: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        result = section()
    except Exception as exc:
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = time.perf_counter() - started
    print(f"[bench] {name} done in {result['seconds']:.0f} s", file=sys.stderr, flush=True)
    return result


def _sandbox_sections(names: list[str], quick: bool) -> dict[str, Any]:
    try:
        from omnivoltaic_erm.sandbox import Sandbox
    except ImportError as exc:
        reason = f"skipped: the sandbox is not available ({exc})"
        return {name: {"skipped": reason} for name in names}
    items = 2_000 if quick else SANDBOX_ITEMS
    counts = (500, 2_000) if quick else STREAM_COUNTS
    # Bulk figures swing most with background load: more repetitions for them.
    stream_repeats, bulk_repeats = (1, 1) if quick else (3, 5)
    results: dict[str, Any] = {}
    if "streaming" in names:
        print(f"[bench] starting a {items}-item sandbox ...", file=sys.stderr, flush=True)
        with Sandbox(items=items, code_interval=INTERVAL) as sandbox:
            results["streaming"] = _guarded(
                "streaming",
                lambda: streaming.run(
                    sandbox.url, sandbox.email, sandbox.password, counts, repeats=stream_repeats
                ),
            )
    if "cli" in names:
        with Sandbox(items=50, code_interval=INTERVAL) as sandbox:
            results["cli"] = _guarded(
                "cli",
                lambda: startup.cli_items(
                    sandbox.url, sandbox.email, sandbox.password, repeats=3 if quick else 9
                ),
            )
    if "dashboard" in names:
        results["dashboard"] = _guarded(
            "dashboard", lambda: dashboard.run(repeats=1 if quick else 5)
        )
    if "bulk" in names:
        with Sandbox(items=bulk.items_needed(bulk_repeats), code_interval=INTERVAL) as sandbox:
            results["bulk"] = _guarded(
                "bulk", lambda: bulk.run(sandbox, INTERVAL, repeats=bulk_repeats)
            )
    return results


# -- report ---------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = [i > 0 for i in range(len(headers))]

    def fmt(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if r else "-" * (w + 2)
            for w, r in zip(widths, right, strict=True)
        )
        + "|"
    )
    return [fmt(headers), rule, *(fmt(r) for r in rows)]


def report(results: dict[str, Any]) -> list[str]:
    """The tables, in Markdown, and one line per target."""
    out: list[str] = []
    for name in SECTIONS:
        section = results.get(name)
        if section is None:
            continue
        out.append(f"\n### {TITLES[name]}\n")
        if "error" in section or "skipped" in section:
            out.append(section.get("error") or section["skipped"])
            continue
        out.extend(REPORTERS[name](section))
    out.append("\n### Targets (issues 7 and 12)\n")
    out.extend(targets(results))
    return out


def _report_percall(s: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["client"],
            f"{r['cpu_us']:.0f}",
            f"{r['wall_us']:.0f}",
            f"{r['cpu_ratio']:.2f}x",
            f"{r['wall_ratio']:.2f}x",
        ]
        for r in s["rows"]
    ]
    lines = [
        f"One {s['page_items']}-item getAllClientItems page from a canned server in another "
        f"process; median of {s['rounds']} interleaved rounds of {s['calls_per_round']} "
        f"calls, after {s['warmup_calls']} warm-up calls each. Ratios: median over rounds of "
        "the client's figure over raw aiohttp's in the same round.\n",
        *_table(["client", "CPU µs/call", "wall µs/call", "CPU vs raw", "wall vs raw"], rows),
    ]
    d = s["decode"]
    lines.append(
        f"\nDecoding alone, same bytes, no network: json.loads {d['json_loads_us']:.0f} µs; "
        f"our one-pass validation {d['validate_json_us']:.0f} µs "
        f"({d['validate_json_us'] / d['json_loads_us']:.2f}x); "
        f"json.loads + validate dicts {d['loads_then_validate_us']:.0f} µs. "
        f"HTTP alone (bytes, no decoding): raw aiohttp {d['raw_bytes_us']:.0f} µs, "
        f"our transport {d['ours_bytes_us']:.0f} µs."
    )
    return lines


def _report_startup(s: dict[str, Any]) -> list[str]:
    rows = [[r["command"], f"{r['wall_ms']:.0f}", f"{r['cpu_ms']:.0f}"] for r in s["rows"]]
    return [
        f"Whole processes, median of {s['repeats']} runs after a warm-up.\n",
        *_table(["command", "wall ms", "CPU ms"], rows),
    ]


def _report_streaming(s: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["mode"],
            f"{r['items']}",
            f"{r['items_per_s']:.0f}",
            f"{r['cpu_us_per_item']:.0f}",
            f"{r['baseline_rss_mib']:.1f}",
            f"{r['peak_rss_mib']:.1f}",
            f"{r['growth_mib']:.1f}",
        ]
        for r in s["rows"]
    ]
    return [
        "iter_items against the sandbox, client in its own process; median of "
        f"{s['repeats']} runs. RSS in MiB: before the loop, peak, and the growth.\n",
        *_table(
            ["loop", "items", "items/s", "client CPU µs/item", "RSS before", "peak RSS", "growth"],
            rows,
        ),
    ]


def _report_bulk(s: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["case"],
            f"{r['wall_s']:.3f}",
            f"{r['floor_s']:.3f}",
            f"{r['vs_floor']:.2f}x",
            f"{r['vs_server_floor']:.2f}x" if "vs_server_floor" in r else "",
            str(r["refusals"]),
        ]
        for r in s["rows"]
    ]
    return [
        f"Code interval {s['interval_s']:g} s; median of {s['repeats']} runs after a warm-up. "
        f"Single-code latency L = {s['latency_ms']:.1f} ms; concurrency "
        f"{s['concurrency']}; prefetch of 200 histories {s['prefetch_ms']:.0f} ms; client "
        f"CPU per code {s['client_cpu_ms_per_code']:.2f} ms (generated client alone "
        f"{s['generated_cpu_ms_per_code']:.2f} ms). "
        "Floors: 1x5 = 4 x interval + L; 200x1 = 200 x L / concurrency (issue 7) and, "
        '"vs served", the same mutations through the generated client alone. '
        f"Server records as expected: {s['server_records_as_expected']}.\n",
        *_table(["case", "wall s", "floor s", "vs floor", "vs served", "refusals"], rows),
    ]


def _report_cli(s: dict[str, Any]) -> list[str]:
    lo, hi = s["wall_ms_range"]
    return [
        f"Against a local sandbox, after `erm login`; median of {s['repeats']} runs after a "
        "warm-up.\n",
        *_table(
            ["command", "wall ms", "range", "CPU ms"],
            [[s["command"], f"{s['wall_ms']:.0f}", f"{lo:.0f}-{hi:.0f}", f"{s['cpu_ms']:.0f}"]],
        ),
    ]


def _report_dashboard(s: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["mode"],
            f"{r['wall_s']:.3f}",
            f"{r['codes_per_s']:.0f}",
            f"{r['vs_off']:.2f}x",
            f"{r['server_cpu_s']:.3f}",
            f"{r['cpu_vs_off']:.2f}x",
        ]
        for r in s["rows"]
    ]
    return [
        f"A {s['codes']}-code batch (one days code per item, {s['concurrency']} at once) from "
        "a child process; the dashboard off, on with nobody watching, and on with a watcher "
        f"streaming every request; median of {s['repeats']} runs each, modes rotated; "
        f"{s['failed']} requests failed. Ratios: the median over repetitions of each "
        "mode's figure over the dashboard-off figure of the same repetition.\n",
        *_table(["dashboard", "batch s", "codes/s", "vs off", "server CPU s", "CPU vs off"], rows),
    ]


REPORTERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "percall": _report_percall,
    "startup": _report_startup,
    "streaming": _report_streaming,
    "bulk": _report_bulk,
    "cli": _report_cli,
    "dashboard": _report_dashboard,
}


def targets(results: dict[str, Any]) -> list[str]:
    """One line per target of issue 7: met or missed, with the figures."""
    lines: list[str] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    pc = results.get("percall", {})
    if "rows" in pc:
        by = {r["client"]: r for r in pc["rows"]}
        ratio = by[percall.Typed.name]["cpu_ratio"]
        whole = by[percall.Facade.name]["cpu_ratio"]
        stock = by[percall.StockAriadne.name]["cpu_vs_ours"]
        gql = by[percall.Gql.name]["cpu_vs_ours"]
        lines += [
            f"- typed client <= 1.15x raw aiohttp CPU per 100-item page: {ratio:.2f}x, "
            f"{verdict(ratio <= 1.15)}; the whole path through erm.api (token, bound, "
            f"pipeline) {whole:.2f}x, {verdict(whole <= 1.15)}",
            f"- >= 2x cheaper than ariadne-codegen stock: {stock:.2f}x, {verdict(stock >= 2)}",
            f"- cheaper than gql: gql costs {gql:.2f}x ours, {verdict(gql > 1)}",
        ]
    bk = results.get("bulk", {})
    if "rows" in bk:
        for r in bk["rows"]:
            if r["case"].startswith("200 mutations"):
                continue
            line = (
                f"- bulk {r['case']}: {r['refusals']} refusals; {r['vs_floor']:.2f}x the "
                f"floor, {verdict(r['vs_floor'] <= 1.1 and r['refusals'] == 0)}"
            )
            if "vs_server_floor" in r:
                # 200 x L / concurrency assumes the server runs requests in parallel.
                ok = r["vs_server_floor"] <= 1.1 and r["refusals"] == 0
                line += (
                    f"; {r['vs_server_floor']:.2f}x what the sandbox serves the generated "
                    f"client alone, {verdict(ok)}"
                )
            lines.append(line)
    st = results.get("streaming", {})
    if "rows" in st:
        grow = {(r["mode"], r["items"]): r["peak_rss_mib"] for r in st["rows"]}
        counts = {r["items"] for r in st["rows"]}
        lo, hi = min(counts), max(counts)
        d_stream = grow[("stream", hi)] - grow[("stream", lo)]
        d_hold = grow[("hold", hi)] - grow[("hold", lo)]
        lines.append(
            f"- streaming peak RSS independent of item count: {lo} -> {hi} items adds "
            f"{d_stream:+.1f} MiB streaming vs {d_hold:+.1f} MiB holding, "
            f"{verdict(abs(d_stream) < 2.0)}"
        )
    su = results.get("startup", {})
    if "rows" in su:
        erm = next(r for r in su["rows"] if r["command"] == "erm --help")
        lines.append(
            f"- erm --help under 0.5 s: {erm['wall_ms']:.0f} ms, {verdict(erm['wall_ms'] < 500)}"
        )
        ratio = su["import_cpu_ratio"]
        lines.append(
            "- `from omnivoltaic_erm import AsyncErmClient` <= 1.15x `import aiohttp, "
            f"pydantic` CPU: {ratio:.2f}x, {verdict(ratio <= 1.15)}"
        )
    db = results.get("dashboard", {})
    if "rows" in db:
        row = next(r for r in db["rows"] if r["mode"] == "streaming")
        ratio = row["vs_off"]
        lines.append(
            f"- a {db['codes']}-code batch with the dashboard streaming within 10% of its time "
            f"without the dashboard: {ratio:.2f}x, {verdict(ratio <= 1.10 and not db['failed'])}"
            f" (server CPU {row['cpu_vs_off']:.2f}x)"
        )
    cl = results.get("cli", {})
    if "wall_ms" in cl:
        lines.append(
            f"- erm items --limit 5 with a cached token <= 0.5 s: {cl['wall_ms']:.0f} ms, "
            f"{verdict(cl['wall_ms'] <= 500)}"
        )
    return lines


def results_markdown(info: dict[str, Any], lines: list[str]) -> str:
    """The whole report as one Markdown document: the run, the machine, every table."""
    m = info["machine"]
    head = [
        "<!-- Written by `make bench` (python -m bench) from its own run; not edited by hand. -->",
        "",
        f"Commit `{info['revision']}`, started {info['started']}"
        + (" (a --quick run: few repetitions, not figures)" if info["quick"] else "")
        + ".",
        "",
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, Python {m['python']}, "
        f"{m['platform']}; load average {m['load_average'][0]:.2f} at start, "
        f"{m['load_average_end'][0]:.2f} at end; {info['seconds']:.0f} s in all.",
    ]
    return "\n".join([*head, *lines]) + "\n"


def main(argv: list[str]) -> int:
    """Entry point of ``python -m bench``."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few repetitions")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write JSON")
    parser.add_argument(
        "--markdown",
        type=Path,
        default=None,
        help=f"where to write the Markdown report (default: {RESULTS_MD.relative_to(ROOT)}, "
        "after a full run only)",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    loopback_only()
    started = time.perf_counter()
    info = {"machine": machine(), "revision": git_revision(), "quick": args.quick}
    info["started"] = datetime.now(UTC).isoformat(timespec="seconds")
    results = run_sections(names, args.quick)
    info["machine"]["load_average_end"] = os.getloadavg()
    info["seconds"] = time.perf_counter() - started
    markdown = results_markdown(info, report(results))
    print(markdown)
    args.output.write_text(json.dumps({**info, "results": results}, indent=2) + "\n")
    print(f"\n(written to {args.output})")
    # A partial or quick run would replace the figures of the last full run with fewer.
    markdown_path = args.markdown
    if markdown_path is None and not args.quick and names == list(SECTIONS):
        markdown_path = RESULTS_MD
    if markdown_path is not None:
        markdown_path.write_text(markdown)
        print(f"(written to {markdown_path})")
    failed = any("error" in r for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

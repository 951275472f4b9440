"""`make mutation`: mutmut over the money path, then the score and every survivor.

The modules mutated and the test files used are listed in ``[tool.mutmut]`` in
pyproject.toml, and which of their mutants are run and scored in ``[tool.erm-mutation]``
beside it. mutmut first runs those tests once, recording which test calls which
function; each mutant then runs only the tests that called the function it changes,
fastest first, until one fails.

Survivors listed in ``scripts/mutation_equivalents.toml`` are equivalent (no test can
tell them from the original) and leave the score; every other survivor is a test to
write. Each entry states the input space over which the claim holds (``holds_for``) and
why (``reason``); an entry without both, one that names no mutant (its function changed,
so mutmut numbers its mutants anew) or one outside the scope fails the run. The score is
killed / (mutants - equivalent); below ``--target`` the command exits 1. Everything
printed also goes to ``mutation-report.txt``.

A surviving mutant costs every test that calls its function, so the listed equivalents
are not run: the run has two steps. The first runs the mutants of the scope's first
glob (a small module), which makes mutmut write every mutant and record the tests; the
second runs the rest by name, less the listed equivalents. ``--check-equivalents`` runs
those too, to find entries that a new test now kills.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).with_name("mutmut")
EQUIVALENTS = ROOT / "scripts" / "mutation_equivalents.toml"
REPORT = ROOT / "mutation-report.txt"

# mutmut's verdicts: a timeout or a crash means a test noticed; "no tests" means none
# of the listed tests calls the function, which is a gap like a survivor.
DETECTED = {"killed", "timeout", "segfault", "caught by type check"}
UNDETECTED = {"survived", "no tests", "suspicious"}
NOT_RUN = "not run (listed equivalent)"


def mutmut(*args: str) -> str:
    done = subprocess.run(
        [str(MUTMUT), *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"mutmut {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def run_mutants(max_children: int, names: list[str]) -> int:
    """``mutmut run`` on these mutant names or globs; its exit code."""
    done = subprocess.run(
        [str(MUTMUT), "run", "--max-children", str(max_children), *names], cwd=ROOT, check=False
    )
    return done.returncode


def scope() -> list[str]:
    """The globs of the mutants that are run and scored."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(config["tool"]["erm-mutation"]["mutants"])


def narrow(scope_globs: list[str], only: list[str]) -> tuple[list[str], list[str]]:
    """The globs to run for ``--only``, and the ``--only`` globs outside the scope.

    A glob within one of the scope's (``...journal.xǁJournalǁclose__*``) is run as it
    is; a wider one (``omnivoltaic_erm.cli.*``) stands for the scope's globs it covers.
    """
    globs: list[str] = []
    outside: list[str] = []
    for glob in only:
        if any(fnmatch.fnmatchcase(glob, s) for s in scope_globs):
            covered = [glob]
        else:
            covered = [s for s in scope_globs if fnmatch.fnmatchcase(s, glob)]
        if not covered:
            outside.append(glob)
        globs += [g for g in covered if g not in globs]
    return globs, outside


def load_equivalents(text: str) -> dict[str, str]:
    """The listed equivalents, name to reason; SystemExit if an entry lacks its input
    space (``holds_for``) or its reason."""
    entries = tomllib.loads(text)["equivalent"]
    bad = [
        name
        for name, entry in entries.items()
        if not (
            isinstance(entry, dict)
            and str(entry.get("holds_for", "")).strip()
            and str(entry.get("reason", "")).strip()
        )
    ]
    if bad:
        sys.exit(
            f"{EQUIVALENTS.name}: each entry needs holds_for (the inputs over which it is "
            f"equivalent) and reason; not so for: {', '.join(bad)}"
        )
    return {name: str(entry["reason"]) for name, entry in entries.items()}


def misnamed(equivalent: list[str], mutants: set[str], globs: list[str]) -> list[str]:
    """Entries that name no mutant of the scope: each with why, for the report."""
    found = []
    for name in sorted(equivalent):
        if name not in mutants:
            found.append(f"{name}: names no mutant (its function changed? `mutmut show` it)")
        elif not any(fnmatch.fnmatchcase(name, g) for g in globs):
            found.append(f"{name}: outside the scope in [tool.erm-mutation]")
    return found


def verdicts(globs: list[str]) -> dict[str, str]:
    """Every mutant in scope, and mutmut's verdict."""
    found: dict[str, str] = {}
    for line in mutmut("results", "--all", "true").splitlines():
        name, sep, status = line.strip().partition(": ")
        if sep and any(fnmatch.fnmatchcase(name, g) for g in globs):
            found[name] = status.strip()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=90.0, help="minimum score, in %%")
    parser.add_argument(
        "--report-only", action="store_true", help="do not run; report the last run's results"
    )
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--check-equivalents",
        action="store_true",
        help="also run the mutants listed as equivalent, to find entries a test now kills",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="GLOB",
        help="run and score only the mutants of the scope that match GLOB (repeatable), "
        "e.g. 'omnivoltaic_erm._retry.*'",
    )
    args = parser.parse_args(argv)

    globs = scope()
    if args.only:
        globs, outside = narrow(globs, args.only)
        if outside:
            sys.exit(f"--only {outside} is outside the scope in [tool.erm-mutation]")
    equivalent = load_equivalents(EQUIVALENTS.read_text())
    started = time.monotonic()
    if not args.report_only:
        # A run starts from scratch, so that the score is that of the code as it is.
        subprocess.run(["rm", "-rf", str(ROOT / "mutants")], check=True)
        code = run_mutants(args.max_children, globs[:1])
        if code == 0 and len(globs) > 1:
            rest = [
                n
                for n, s in verdicts(globs[1:]).items()
                if s == "not checked" and (args.check_equivalents or n not in equivalent)
            ]
            code = run_mutants(args.max_children, rest) if rest else 0
        if code != 0:
            return code
    elapsed = time.monotonic() - started

    # Every entry must still name a mutant of the whole scope (mutmut writes them all,
    # whatever --only runs), or it is stale and hides nothing but a mistake.
    wrong = misnamed(list(equivalent), set(verdicts(["*"])), scope())
    # A listed equivalent that was not run is reported as such, not as unchecked.
    results = {
        n: NOT_RUN if s == "not checked" and n in equivalent else s
        for n, s in verdicts(globs).items()
    }
    counts = Counter(results.values())
    survivors = sorted(n for n, s in results.items() if s in UNDETECTED and n not in equivalent)
    in_scope = [n for n in equivalent if any(fnmatch.fnmatchcase(n, g) for g in globs)]
    # A listed equivalent that was run must still survive, or its entry is stale.
    listed = sorted(n for n in in_scope if results.get(n) in UNDETECTED | {NOT_RUN})
    stale = sorted(n for n in in_scope if n in results and n not in listed)
    unchecked = sorted(n for n, s in results.items() if s not in DETECTED | UNDETECTED | {NOT_RUN})
    detected = sum(counts[s] for s in DETECTED)
    considered = len(results) - len(listed) - len(unchecked)
    score = 100.0 * detected / considered if considered else 0.0

    lines = [
        f"mutants: {len(results)} in {', '.join(sorted({n.rsplit('.x', 1)[0] for n in results}))}",
        "verdicts: " + ", ".join(f"{s} {n}" for s, n in sorted(counts.items())),
        f"equivalent (scripts/mutation_equivalents.toml): {len(listed)}",
        f"score: {detected} killed of {considered} non-equivalent mutants = {score:.1f}%"
        f" (target {args.target:g}%)",
    ]
    if not args.report_only:
        lines.append(f"wall time: {elapsed / 60:.1f} min")
    if unchecked:
        lines.append(f"not checked (the run was interrupted?): {len(unchecked)}")
    if stale:
        lines.append("listed as equivalent but no longer surviving (remove from the list):")
        lines += [f"  {n}: {results.get(n, 'no such mutant')}" for n in stale]
    if wrong:
        lines.append(f"entries of {EQUIVALENTS.name} to fix or remove:")
        lines += [f"  {w}" for w in wrong]
    lines.append(f"surviving mutants: {len(survivors)}")
    for name in survivors:
        lines.append("")
        lines.append(mutmut("show", name).rstrip())
    text = "\n".join(lines) + "\n"
    print(text, end="")
    REPORT.write_text(text)
    print(f"(written to {REPORT.relative_to(ROOT)})")
    return 0 if score >= args.target and not unchecked and not wrong and not stale else 1


if __name__ == "__main__":
    # Started in the background of a shell without job control (`make mutation &`), the
    # process ignores SIGINT, and so would mutmut and its tests, whose Ctrl-C tests then
    # fail before any mutant. A handler here is reset to the default in every child.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())

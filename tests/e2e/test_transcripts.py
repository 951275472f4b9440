"""Every command-line transcript in the README and under ``docs/`` runs, and prints what the
page shows.

A transcript is a ``console`` block: lines ``$ COMMAND``, each followed by what it prints
(stdout and stderr, in the order written). The commands of a block run in order in one
``bash``, so ``export`` and ``echo $?`` work as on a terminal, against a fresh sandbox
with the default demo data (50 items for each distributor), in a scratch directory with
``erm`` on the PATH and the sandbox's URL and account in ERM_URL / ERM_EMAIL /
ERM_PASSWORD. The blocks of a page share the sandbox and the directory. The output must
match the page once the parts that differ on every run are masked: codes, request and
item ids, timestamps, durations, the sandbox's port and the token cache's path.

``$ cat FILE`` of a file that does not exist yet creates it with the text the page shows,
so a page can show its input files. ``$ erm sandbox`` is started on a free port; the
lines it prints on start are compared, then it is stopped. A block right after the line
``<!-- transcript: not run (REASON) -->`` is shown, not run (REASON says why).

``python -m tests.e2e.test_transcripts docs/PAGE.md ...`` rewrites the pages' transcripts
from a real run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.conftest import ROOT
from tests.e2e.test_docs import PAGES, Block, blocks, masked

# The URL and the cache folder the pages show; a run's own are put in their place.
SHOWN_URL = "http://127.0.0.1:8765/graphql"
SHOWN_CACHE = "/home/me/.cache"
NOT_RUN = re.compile(r"^<!-- transcript: not run \(.+\) -->$")
# The interval the transcripts' sandbox allows between two codes of an item (and the
# command line is told): the pages do not show it, and the API's 6 s would only be slow.
INTERVAL = "0.2"
# Pages whose transcripts run in the checkout (they read schema.graphql and queries/) and
# against a sandbox serving a changed schema (tests/support/schema_changes.py).
IN_CHECKOUT = {"schema-changes.md"}
_SEPARATOR = "\x1e"
_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|\+00:00)?"), "<time>"),
    (re.compile(r"token-[0-9a-f]{20}\.json"), "token-<key>.json"),
    (re.compile(r"\b\d+(?:\.\d+)? rows/s\b"), "<rate> rows/s"),
    (re.compile(r"\bETA [0-9:]+(?: s)?"), "ETA <eta>"),
    (re.compile(r"^time: \d+(?:\.\d+)? s$", re.MULTILINE), "time: <elapsed> s"),
)


@dataclass
class Step:
    """One command of a transcript and the lines the page shows for it."""

    command: str
    shown: list[str]


def transcripts(page: Path) -> list[Block]:
    """The page's ``console`` blocks that are run (not marked ``not run``)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    return [
        block
        for block in blocks(page)
        if block.lang == "console"
        and not (block.line >= 2 and NOT_RUN.match(lines[block.line - 2]))
    ]


def steps(block: Block) -> list[Step]:
    """The commands of a transcript, each with the lines shown after it."""
    found: list[Step] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            found.append(Step(line[2:], []))
        elif found:
            found[-1].shown.append(line)
        else:
            raise AssertionError(f"a transcript starts with a command: {line!r}")
    return found


def normal(text: str) -> str:
    """``text`` masked as the pages are compared: run-specific values and trailing blanks."""
    text = masked(text)
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


@dataclass
class Session:
    """The sandbox, directory and environment the transcripts of one page run in."""

    sandbox: Sandbox
    workdir: Path
    cache: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
        for name in ("COLUMNS", "LINES", "FORCE_COLOR"):
            env.pop(name, None)
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            ERM_URL=self.sandbox.url,
            ERM_EMAIL=self.sandbox.email,
            ERM_PASSWORD=self.sandbox.password,
            ERM_CODE_INTERVAL=INTERVAL,
            ERM_MAX_HOLD="0",
            XDG_CACHE_HOME=str(self.cache),
            PYTHONUNBUFFERED="1",
            NO_COLOR="1",
        )
        return env

    def shown(self, text: str) -> str:
        """What a run printed, with its URL and cache folder as the pages show them."""
        text = text.replace(_origin(self.sandbox.url), _origin(SHOWN_URL))
        return text.replace(str(self.cache), SHOWN_CACHE)

    def command(self, command: str) -> str:
        """A page's command as run here: against this sandbox, with this venv's erm."""
        command = command.replace(_origin(SHOWN_URL), _origin(self.sandbox.url))
        return re.sub(r"(?<![\w/])\.venv/bin/erm\b", "erm", command)

    def run(self, block: Block) -> list[str]:
        """Run a transcript; what each of its commands printed, as the page would show it."""
        todo = steps(block)
        serving = [s for s in todo if _is_sandbox(s.command)]
        if serving:
            assert len(todo) == 1, "`erm sandbox` runs in a transcript of its own"
            return [self.serve(todo[0])]
        for step in todo:
            for program in ("jq",):
                if re.search(rf"\|\s*{program}\b", step.command) and not shutil.which(program):
                    pytest.skip(f"{program} is not installed")
            cat = re.fullmatch(r"cat (\S+)", step.command)
            if cat and not (self.workdir / cat[1]).exists():
                (self.workdir / cat[1]).write_text("\n".join(step.shown) + "\n")
        script = ["exec 2>&1"]
        for step in todo:
            script += [
                self.command(step.command),
                f"__rc=$?; printf '{_SEPARATOR}\\n'; (exit $__rc)",
            ]
        done = subprocess.run(
            ["bash", "--norc", "--noprofile", "-c", "\n".join(script)],
            cwd=self.workdir,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
            timeout=300,
            check=False,
        )
        parts = done.stdout.split(f"{_SEPARATOR}\n")
        assert len(parts) == len(todo) + 1, done.stdout
        return [self.shown(part) for part in parts[:-1]]

    def serve(self, step: Step) -> str:
        """Start ``erm sandbox`` on a free port, read what it prints on start, stop it."""
        argv = shlex.split(self.command(step.command))
        assert argv[:2] == ["erm", "sandbox"], step.command
        argv = [sys.executable, "-m", "omnivoltaic_erm", *argv[1:], "--port", "0"]
        proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in step.shown or [""]]
        finally:
            proc.terminate()
            proc.wait(30)
            if proc.stdout is not None:
                proc.stdout.close()
        text = "".join(lines)
        return re.sub(r"http://127\.0\.0\.1:\d+/graphql", SHOWN_URL, text)


def _origin(url: str) -> str:
    """``http://HOST:PORT`` of a URL: the pages may show other paths on the sandbox."""
    return url.removesuffix("/graphql")


def _is_sandbox(command: str) -> bool:
    return re.match(r"(\S*/)?erm sandbox\b", command) is not None


@contextmanager
def session(page: Path) -> Iterator[Session]:
    """A fresh sandbox and a scratch directory for the transcripts of ``page``."""
    with tempfile.TemporaryDirectory(prefix="erm-transcript-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        schema = None
        if page.name in IN_CHECKOUT:
            from tests.support.schema_changes import modified_sdl

            schema = Path(tmp) / "changed.graphql"
            schema.write_text(modified_sdl())
            work = ROOT
        with Sandbox(code_interval=float(INTERVAL), schema_path=schema) as sb:
            yield Session(sb, work, Path(tmp) / "cache")


def with_transcripts() -> list[Path]:
    return [page for page in PAGES if transcripts(page)]


def test_the_masks_hide_only_run_specific_values() -> None:
    shown = "Token cached until 2026-12-02 10:45:44Z in /x/token-7bd977089172fe8be223.json"
    assert normal(shown) == "Token cached until <time> in /x/token-<key>.json"
    assert normal("batch: 5/5 rows (8.5 rows/s, ETA 3 s)\ntime: 0.6 s  ") == (
        "batch: 5/5 rows (<rate> rows/s, ETA <eta>)\ntime: <elapsed> s"
    )
    assert normal("│ 30 │ DVAV2501000003 │") == "│ 30 │ DVAV2501000003 │"


def test_transcripts_are_found_where_the_pages_have_them() -> None:
    names = {page.name for page in with_transcripts()}
    assert {"README.md", "getting-started.md", "cli.md", "batch.md"} <= names
    for page in PAGES:
        for block in blocks(page):
            if block.lang == "text" and re.search(r"(?m)^\$ erm ", block.text):
                raise AssertionError(
                    f"{page.name}:{block.line}: a transcript in a text block is never run; "
                    "make it a console block"
                )


@pytest.mark.slow
@pytest.mark.parametrize("page", with_transcripts(), ids=lambda p: p.name)
def test_transcripts_run_and_print_what_the_page_shows(page: Path) -> None:
    with session(page) as run:
        for block in transcripts(page):
            printed = run.run(block)
            for step, out in zip(steps(block), printed, strict=True):
                where = f"{page.name}:{block.line}: $ {step.command}"
                assert normal(out) == normal("\n".join(step.shown)), where


def rewrite(page: Path) -> None:
    """Replace the output of each command of ``page``'s transcripts with a real run's."""
    lines = page.read_text(encoding="utf-8").splitlines()
    replacements: list[tuple[int, int, list[str]]] = []
    with session(page) as run:
        for block in transcripts(page):
            printed = run.run(block)
            new: list[str] = []
            for step, out in zip(steps(block), printed, strict=True):
                new.append(f"$ {step.command}")
                new += [line.rstrip() for line in out.rstrip("\n").splitlines()]
            body = block.text.count("\n") + 1 if block.text else 0
            replacements.append((block.line, body, new))
    for line, body, new in reversed(replacements):
        lines[line : line + body] = new
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    # python -m tests.e2e.test_transcripts docs/PAGE.md ...: capture a real run's output.
    for name in sys.argv[1:]:
        rewrite(Path(name))

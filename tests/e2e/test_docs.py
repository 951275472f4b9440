"""Every Python example in the README and under ``docs/`` runs, and prints what the page shows.

Each page's ``python`` blocks run in order, in one namespace (a later block may use what an
earlier one defined), against a fresh sandbox on 127.0.0.1 whose URL and demo account are
in ERM_URL / ERM_EMAIL / ERM_PASSWORD. A block may ``await`` at top level, as in
``python -m asyncio``; the blocks of a page share one event loop. When a block is followed
by a ``text`` block titled ``Output``, the block's stdout must match it once the parts that
differ on every run (codes, request ids, item ids) are masked. A ``test_*`` function that a
page defines is called too, with the sandbox fixtures it names.

``python -m tests.e2e.test_docs docs/PAGE.md`` rewrites a page's ``Output`` blocks from a real
run.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)(?P<attrs>[^\n`]*)$")
_MASKS = (
    (re.compile(r"\*\d{3}(?: \d{3}){6}#"), "<code_dec>"),
    (re.compile(r"\b[0-9A-F]{16}\b"), "<code_hex>"),
    (re.compile(r"\b[0-9a-f]{24}\b"), "<item_id>"),
    (re.compile(r"\b[0-9a-f]{16}\b"), "<request_id>"),
)


@dataclass
class Block:
    """One fenced block: where it starts, its language and attributes, and its text."""

    line: int
    lang: str
    attrs: str
    text: str


def blocks(page: Path) -> list[Block]:
    """The page's fenced blocks at the left margin, in order."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i] != "```":
            body.append(lines[i])
            i += 1
        found.append(Block(start + 1, match["lang"], match["attrs"].strip(), "\n".join(body)))
        i += 1
    return found


def examples(page: Path) -> list[tuple[Block, Block | None]]:
    """Each ``python`` block, with the ``Output`` block that follows it, if any."""
    found = blocks(page)
    pairs = []
    for n, block in enumerate(found):
        if block.lang != "python":
            continue
        following = found[n + 1] if n + 1 < len(found) else None
        output = following if following and 'title="Output"' in following.attrs else None
        pairs.append((block, output))
    return pairs


def masked(text: str) -> str:
    """``text`` with the run-specific values replaced by placeholders."""
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return text.strip()


def run_block(block: Block, page: Path, namespace: dict[str, Any], loop: Any) -> str:
    """Run one block in ``namespace``; its stdout."""
    code = compile(
        block.text, f"{page.name}:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = eval(code, namespace)
        if asyncio.iscoroutine(result):
            loop.run_until_complete(result)
    return out.getvalue()


def test_the_masks_hide_only_run_specific_values() -> None:
    line = "days code *009 730 277 390 934 894 386# 8708E3BBDCB06732 [req:73906046f27b568f]"
    assert masked(line) == "days code <code_dec> <code_hex> [req:<request_id>]"
    assert masked("item 677b8d8094b6ff62814d50f1 DVAV2501000001") == "item <item_id> DVAV2501000001"


def test_the_reference_documents_every_public_name() -> None:
    import omnivoltaic_erm
    from omnivoltaic_erm import kinds

    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    # The code-kind table's names are public in their own module, ``omnivoltaic_erm.kinds``.
    in_kinds = set(re.findall(r"(?m)^::: omnivoltaic_erm\.kinds\.(\w+)$", reference))
    documented = set(re.findall(r"(?m)^::: [\w.]+\.(\w+)$", reference)) - in_kinds
    assert documented == set(omnivoltaic_erm.__all__) - {"__version__"}
    assert in_kinds == set(kinds.__all__) - {"KINDS"}


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert {p.name for p in (ROOT / "docs").glob("*.md")} == set(
        re.findall(r"(?m)^  - [^:]+: ([\w-]+\.md)$", nav)
    )


def test_every_page_with_examples_is_covered() -> None:
    with_examples = [p.name for p in PAGES if examples(p)]
    assert "README.md" in with_examples
    assert "getting-started.md" in with_examples
    assert "python-api.md" in with_examples


@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)], ids=lambda p: p.name)
def test_examples_run_and_print_what_the_page_shows(
    page: Path,
    erm_sandbox_factory: Callable[..., Sandbox],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = erm_sandbox_factory()  # the demo data `erm sandbox` serves
    for name in list(os.environ):
        if name.startswith("ERM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ERM_URL", sandbox.url)
    monkeypatch.setenv("ERM_EMAIL", sandbox.email)
    monkeypatch.setenv("ERM_PASSWORD", sandbox.password)
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    loop = asyncio.new_event_loop()
    try:
        for block, output in examples(page):
            printed = run_block(block, page, namespace, loop)
            if output is not None:
                assert masked(printed) == masked(output.text), f"{page.name}:{block.line}"
    finally:
        loop.close()
    fixtures = {
        "erm_sandbox": sandbox,
        "erm_sandbox_factory": erm_sandbox_factory,
        "erm_replay": lambda directory: erm_sandbox_factory(replay=Path(directory)),
    }
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value):
            value(**{p: fixtures[p] for p in inspect.signature(value).parameters})


def rewrite_outputs(page: Path) -> None:
    """Replace each ``Output`` block of ``page`` with what its example prints now."""
    lines = page.read_text(encoding="utf-8").splitlines()
    with Sandbox() as sandbox:
        os.environ.update(
            ERM_URL=sandbox.url, ERM_EMAIL=sandbox.email, ERM_PASSWORD=sandbox.password
        )
        namespace: dict[str, Any] = {"__name__": "__docs__"}
        loop = asyncio.new_event_loop()
        replacements = []
        for block, output in examples(page):
            printed = run_block(block, page, namespace, loop)
            if output is not None:
                body = output.text.count("\n") + 1 if output.text else 0
                replacements.append((output.line, body, printed.rstrip("\n").splitlines()))
        loop.close()
    for line, body, new in reversed(replacements):
        lines[line : line + body] = new
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    # python -m tests.e2e.test_docs docs/PAGE.md ...: capture the outputs of a real run.
    import sys

    for name in sys.argv[1:]:
        rewrite_outputs(Path(name))

"""One name for the generated client: ``erm.api``. ``erm.transport`` is its deprecated
alias for one release: it warns and returns the same object, and nothing of ours uses it.

The suite also runs with that warning as an error (``filterwarnings`` in
``pyproject.toml``), so a use reached by any test fails it; the scan below finds the uses
no test reaches.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

from omnivoltaic_erm import AsyncErmClient, ErmClient

ROOT = Path(__file__).resolve().parents[2]
URL = "http://127.0.0.1:1/graphql"  # never contacted
# Where our own Python lives, and the prose whose code a user copies.
PYTHON_TREES = ("src", "tests", "bench", "examples", "scripts", "codegen")
PROSE = ("README.md", "CONTRIBUTING.md", "docs")
# ``.transport`` reads that are not ours: aiohttp's request and asyncio's.
NOT_OURS = {"request.transport"}
# A client's ``.transport`` in prose: ``erm.transport``, ``client.transport``, ``.transport.x``.
PROSE_USE = re.compile(r"\b(?:erm|aio|client|c)\.transport\b|\.transport\.\w")


def transport_reads(source: str) -> list[str]:
    """Every ``X.transport`` read in ``source``, as ``X.transport``, minus ``NOT_OURS``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "transport":
            text = ast.unparse(node)
            if text not in NOT_OURS:
                found.append(text)
    return found


def test_the_async_alias_warns_naming_api_and_is_the_same_object() -> None:
    erm = AsyncErmClient(URL, "e@example.com", "pw")
    with pytest.warns(DeprecationWarning, match=r"AsyncErmClient\.api") as caught:
        alias = erm.transport
    assert alias is erm.api
    # Attributed to the caller's line, so that a filter on the caller's module finds it.
    assert [w.filename for w in caught] == [__file__]


def test_the_sync_alias_warns_naming_api_and_is_the_same_object() -> None:
    erm = ErmClient(URL, "e@example.com", "pw")
    try:
        with pytest.warns(DeprecationWarning, match=r"ErmClient\.api") as caught:
            alias = erm.transport
        assert alias is erm.api
        assert [w.filename for w in caught] == [__file__]
        assert "AsyncErmClient" not in str(caught[0].message)
    finally:
        erm.close()


def test_api_itself_does_not_warn() -> None:
    erm = ErmClient(URL, "e@example.com", "pw")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert erm.api is not None
            assert erm.aio.api is not None
    finally:
        erm.close()


def test_the_suite_turns_the_warning_into_an_error() -> None:
    # pyproject.toml's filterwarnings: outside pytest.warns, a use is a failing test.
    erm = AsyncErmClient(URL, "e@example.com", "pw")
    with pytest.raises(DeprecationWarning):
        _ = erm.transport


def test_the_scan_finds_a_use() -> None:
    # The scans below must be able to fail.
    assert transport_reads("x = erm.transport.session\nrequest.transport.close()") == [
        "erm.transport"
    ]
    assert PROSE_USE.search("page = await erm.transport.get_all_client_items()")
    assert not PROSE_USE.search("the transport's HTTP part; `_transport`")


def test_no_python_of_ours_uses_the_alias() -> None:
    uses = []
    for tree in PYTHON_TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            if path == Path(__file__) or "__snapshots__" in path.parts:
                continue
            for use in transport_reads(path.read_text(encoding="utf-8")):
                uses.append(f"{path.relative_to(ROOT)}: {use}")
    assert uses == []


def test_no_page_tells_users_to_use_the_alias() -> None:
    uses = []
    for name in PROSE:
        path = ROOT / name
        for page in sorted(path.rglob("*.md")) if path.is_dir() else [path]:
            for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
                if PROSE_USE.search(line) and "deprecat" not in line.lower():
                    uses.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert uses == []

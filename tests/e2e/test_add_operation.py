"""The schema-driven promise, as a new user meets it: in a copy of the project, add a
``.graphql`` operation, generate, and call it as ``erm.api.<name>()`` on both faces,
authenticated, against the sandbox, with no Python written for it; mypy sees its real
signature and result type on both faces."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.conftest import ROOT

OPERATION = """\
query MyItems($first: Int) {
  getAllClientItems(queryorder: DESC, first: $first, assetaccount: false) {
    page {
      edges {
        node {
          oemItemID
        }
      }
    }
  }
}
"""

# What a user writes to call it: no wrapper, only the generated method on erm.api.
USER_SCRIPT = """\
import asyncio
import sys

from omnivoltaic_erm import AsyncErmClient, ErmClient
from omnivoltaic_erm_gql import MyItems

url, email, password = sys.argv[1:4]


async def with_async() -> list[str]:
    async with AsyncErmClient(url, email, password) as erm:
        result: MyItems = await erm.api.my_items(first=3)
        return [e.node.oem_item_id or "" for e in result.get_all_client_items.page.edges or []
                if e.node is not None]


def with_sync() -> list[str]:
    with ErmClient(url, email, password) as erm:
        result: MyItems = erm.api.my_items(first=2)
        return [e.node.oem_item_id or "" for e in result.get_all_client_items.page.edges or []
                if e.node is not None]


print(len(asyncio.run(with_async())), len(with_sync()))
"""

# A wrong argument type on each face: mypy must report both.
TYPO_SCRIPT = """\
from omnivoltaic_erm import AsyncErmClient, ErmClient


async def wrong(erm: AsyncErmClient, sync: ErmClient) -> None:
    await erm.api.my_items(first="three")
    sync.api.my_items(first="two")
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    repo = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "schema.graphql", "README.md"):
        shutil.copy(ROOT / name, repo / name)
    for name in ("queries", "codegen", "generated"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "queries" / "my_items.graphql").write_text(OPERATION)
    done = subprocess.run(
        [sys.executable, str(repo / "codegen" / "run.py"), "generate"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    yield repo


def _env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERM_")}
    # The copy's generated package comes before the installed one.
    env["PYTHONPATH"] = str(repo / "generated")
    env["MYPYPATH"] = str(repo / "generated")
    return env


def test_generated_operation_is_on_both_faces_with_no_python(project: Path) -> None:
    assert (
        "async def my_items(" in (project / "generated/omnivoltaic_erm_gql/client.py").read_text()
    )
    script = project / "use_it.py"
    script.write_text(USER_SCRIPT)
    with Sandbox(items=5) as sb:
        done = subprocess.run(
            [sys.executable, str(script), sb.url, sb.email, sb.password],
            capture_output=True,
            text=True,
            env=_env(project),
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "2"]


def test_mypy_sees_the_new_operation_on_both_faces(project: Path) -> None:
    good, bad = project / "use_it_typed.py", project / "typo.py"
    good.write_text(USER_SCRIPT)
    bad.write_text(TYPO_SCRIPT)
    mypy = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(project / ".mypy")]
    ok = subprocess.run(
        [*mypy, str(good)], capture_output=True, text=True, env=_env(project), timeout=600
    )
    assert ok.returncode == 0, ok.stdout
    wrong = subprocess.run(
        [*mypy, str(bad)], capture_output=True, text=True, env=_env(project), timeout=600
    )
    assert wrong.returncode == 1, wrong.stdout
    assert wrong.stdout.count('Argument "first" to "my_items"') == 2, wrong.stdout

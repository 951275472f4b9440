"""generated/ is output only: it matches what the generator makes, and the check fails
when a query changes without regenerating. The wheel carries both packages, typed."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import pytest
from graphql import parse

from tests.conftest import ROOT


def _copy_repo(dest: Path) -> Path:
    for name in ("pyproject.toml", "schema.graphql", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    for name in ("queries", "codegen", "generated"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "codegen" / "run.py"), "check"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_check_generated_passes_on_the_committed_tree(tmp_path: Path) -> None:
    result = _check(_copy_repo(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in sync" in result.stdout


@pytest.mark.slow
def test_check_generated_fails_when_a_query_changes(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    codes = repo / "queries" / "codes.graphql"
    codes.write_text(codes.read_text().replace("    ...CodeFields\n", "    codeHex\n", 1))
    result = _check(repo)
    assert result.returncode == 1
    assert "stale" in result.stderr
    assert "+" in result.stdout and "codeHex" in result.stdout


@pytest.mark.slow
def test_generation_is_deterministic(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "codegen"))
    try:
        import run  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "codegen"))
    a = run._tree(run.generate(tmp_path / "a"))
    b = run._tree(run.generate(tmp_path / "b"))
    assert a == b


@pytest.mark.slow
def test_wheel_contains_both_typed_packages(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("omnivoltaic_erm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "omnivoltaic_erm/py.typed" in names
    assert "omnivoltaic_erm_gql/py.typed" in names
    assert "omnivoltaic_erm_gql/client.py" in names
    assert "omnivoltaic_erm/__init__.py" in names


def _plugin_module() -> Any:
    sys.path.insert(0, str(ROOT / "codegen"))
    try:
        import erm_codegen_plugin
    finally:
        sys.path.remove(str(ROOT / "codegen"))
    return erm_codegen_plugin


def _method(source: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    node = ast.parse(textwrap.dedent(source)).body[0]
    assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    return node


STOCK_METHOD = """
async def my_items(self, first: int, **kwargs: Any) -> MyItems:
    query = gql("query MyItems { x }")
    variables: dict[str, object] = {"first": first}
    response = await self.execute(
        query=query, operation_name="MyItems", variables=variables, **kwargs
    )
    data = self.get_data(response)
    return MyItems.model_validate(data)
"""


@pytest.mark.parametrize(
    ("source", "operation", "routed"),
    [
        (STOCK_METHOD, "query MyItems { x }", "query"),
        (STOCK_METHOD, "mutation MyItems { x }", "mutation"),
        (STOCK_METHOD.replace("async def", "def").replace("await ", ""), "query Q { x }", None),
        (STOCK_METHOD.replace("self.execute(", "self.run("), "query Q { x }", None),
        (STOCK_METHOD.replace("MyItems.model_validate(data)", "data"), "query Q { x }", None),
        (STOCK_METHOD, "subscription MyItems { x }", None),
    ],
)
def test_plugin_routes_every_method_or_stops_generation(
    source: str, operation: str, routed: str | None
) -> None:
    plugin_module = _plugin_module()
    plugin = plugin_module.TypedExecutePlugin(schema=None, config_dict={})
    definition = parse(operation).definitions[0]
    method = _method(source)
    if routed is None:
        with pytest.raises(plugin_module.UnroutedOperationError, match="my_items"):
            plugin.generate_client_method(method, definition)
        return
    out = ast.unparse(plugin.generate_client_method(method, definition))
    assert "self.execute_typed(" in out
    assert f"operation_type='{routed}'" in out
    assert "result_type=MyItems" in out


def test_a_name_collision_in_queries_is_one_line_naming_both_files(tmp_path: Path) -> None:
    repo = _copy_repo(tmp_path)
    (repo / "queries" / "front_end.graphql").write_text(
        "query GetAllClientItems($first: Int) {\n"
        "  getAllClientItems(queryorder: DESC, assetaccount: false, first: $first) {\n"
        "    ...CodeEventFields\n  }\n}\n"
        "fragment CodeEventFields on GetAllItemsResponse { pageData { count } }\n"
    )
    result = _check(repo)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "make check: operation 'GetAllClientItems' is defined in queries/front_end.graphql and "
        "queries/items.graphql: rename one (operation names are unique; each becomes a method "
        "of the generated client)",
        "make check: fragment 'CodeEventFields' is defined in queries/fragments.graphql and "
        "queries/front_end.graphql: rename one, or delete the copy and use the one in "
        "queries/fragments.graphql",
    ]


def test_document_problems_name_the_file_and_line() -> None:
    sys.path.insert(0, str(ROOT / "codegen"))
    from documents import problems

    found = problems(
        {
            "queries/a.graphql": "query GetItems { a }\nfragment PageData on X { b }",
            "queries/b.graphql": "query getItems { a }\nfragment PageData on X { b }",
            "queries/c.graphql": "query { a }\n\nquery Broken {",
        }
    )
    assert found == [
        "queries/c.graphql:3: Syntax Error: Expected Name, found <EOF>.",
        "operations 'GetItems' and 'getItems' (in queries/a.graphql, queries/b.graphql) would "
        "both generate get_items.py: rename one",
        "fragment 'PageData' is defined in queries/a.graphql and queries/b.graphql: rename one, "
        "or keep one copy in queries/fragments.graphql for both",
    ]
    assert problems({"queries/d.graphql": "query { a }"}) == [
        "queries/d.graphql: an operation has no name: name it (its name becomes the generated "
        "method's)"
    ]

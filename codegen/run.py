"""Generate the typed client into ``generated/``, or check that it is in sync.

    python codegen/run.py generate          # regenerate generated/omnivoltaic_erm_gql
    python codegen/run.py check             # regenerate into a temporary directory and diff

The configuration is ``[tool.ariadne-codegen]`` in pyproject.toml; paths in it are
relative to the repository root, so the output does not depend on where the clone is.
"""

from __future__ import annotations

import difflib
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_config() -> dict[str, object]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def generate(
    target_dir: Path, *, schema_path: Path | None = None, queries_path: Path | None = None
) -> Path:
    """Run the generator with its output under ``target_dir``; return the package path.

    ``schema_path`` and ``queries_path`` replace the configured ones (a test generates a
    client for an operation that is not in ``queries/``)."""
    import os

    from ariadne_codegen.main import client

    sys.path.insert(0, str(ROOT / "codegen"))
    config = load_config()
    tool = config["tool"]
    assert isinstance(tool, dict)
    settings = dict(tool["ariadne-codegen"])
    settings["target_package_path"] = str(target_dir)
    settings["files_to_include"] = ["codegen/py.typed"]
    if schema_path is not None:
        settings["schema_path"] = str(schema_path)
    if queries_path is not None:
        settings["queries_path"] = str(queries_path)
    tool["ariadne-codegen"] = settings
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        client(config)
    finally:
        os.chdir(cwd)
    return target_dir / str(settings["target_package_name"])


def _tree(package: Path) -> dict[str, str]:
    return {
        str(p.relative_to(package)): p.read_text()
        for p in sorted(package.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def check() -> int:
    """Exit 0 when generated/ is exactly what schema.graphql and queries/ produce."""
    committed = ROOT / "generated" / "omnivoltaic_erm_gql"
    with tempfile.TemporaryDirectory() as tmp:
        fresh = _tree(generate(Path(tmp)))
    current = _tree(committed) if committed.exists() else {}
    if fresh == current:
        print("generated/ is in sync with schema.graphql and queries/")
        return 0
    for name in sorted(set(fresh) | set(current)):
        old, new = current.get(name, ""), fresh.get(name, "")
        if old != new:
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"generated/omnivoltaic_erm_gql/{name}",
                    f"regenerated/{name}",
                )
            )
    print("\ngenerated/ is stale: run `make generate` and commit the result", file=sys.stderr)
    return 1


def regenerate() -> None:
    """Replace the generated package wholesale, so no file of an earlier run survives."""
    import shutil

    target = ROOT / "generated"
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        committed = target / fresh.name
        if committed.exists():
            shutil.rmtree(committed)
        shutil.copytree(fresh, committed, ignore=shutil.ignore_patterns("__pycache__"))


def document_problems() -> list[str]:
    """What in queries/ would stop the generator, one line each (see documents.py)."""
    sys.path.insert(0, str(ROOT / "codegen"))
    from documents import problems, read

    tool = load_config()["tool"]
    assert isinstance(tool, dict)
    queries = str(tool["ariadne-codegen"]["queries_path"])
    return problems(read(ROOT, queries), f"{queries}/fragments.graphql")


def main(argv: list[str]) -> int:
    if argv in (["generate"], ["check"]):
        found = document_problems()
        if found:
            for line in found:
                print(f"make {argv[0]}: {line}", file=sys.stderr)
            return 1
    if argv == ["generate"]:
        regenerate()
        return 0
    if argv == ["check"]:
        return check()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Checks of the operation documents in queries/ before the generator reads them.

The generator reads every ``.graphql`` file under queries/ as one document, so two
operations of one name, two fragments of one name, or two names that become the same
generated module stop it with a traceback that names no file. ``problems`` reports each
as one line naming the files and the name, with what to do; ``run.py`` prints them and
stops before generating. Pure but for reading the files.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ariadne_codegen.utils import str_to_snake_case
from graphql import FragmentDefinitionNode, GraphQLSyntaxError, OperationDefinitionNode, parse


def _where(paths: list[str]) -> str:
    unique = sorted(set(paths))
    if len(unique) == 1:
        return f"twice in {unique[0]}"
    return "in " + " and ".join(unique)


def problems(files: dict[str, str], fragments_file: str = "queries/fragments.graphql") -> list[str]:
    """One line per problem among ``files`` (path → text): a syntax error, a name used
    twice, two operations that generate the same module (pure)."""
    lines: list[str] = []
    operations: dict[str, list[str]] = defaultdict(list)
    modules: dict[str, list[tuple[str, str]]] = defaultdict(list)
    fragments: dict[str, list[str]] = defaultdict(list)
    for path, text in sorted(files.items()):
        try:
            document = parse(text)
        except GraphQLSyntaxError as exc:
            where = f"{path}:{exc.locations[0].line}" if exc.locations else path
            lines.append(f"{where}: {exc.message}")
            continue
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if definition.name is None:
                    lines.append(
                        f"{path}: an operation has no name: name it (its name becomes the "
                        "generated method's)"
                    )
                    continue
                name = definition.name.value
                operations[name].append(path)
                modules[str_to_snake_case(name)].append((name, path))
            elif isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value].append(path)
    for name, paths in sorted(operations.items()):
        if len(paths) > 1:
            lines.append(
                f"operation {name!r} is defined {_where(paths)}: rename one (operation names "
                "are unique; each becomes a method of the generated client)"
            )
    for module, named in sorted(modules.items()):
        names = sorted({n for n, _ in named})
        if len(names) > 1:
            lines.append(
                f"operations {' and '.join(repr(n) for n in names)} (in "
                f"{', '.join(sorted({p for _, p in named}))}) would both generate {module}.py: "
                "rename one"
            )
    for name, paths in sorted(fragments.items()):
        if len(paths) > 1:
            lines.append(
                f"fragment {name!r} is defined {_where(paths)}: rename one, or delete the "
                f"copy and use the one in {fragments_file}"
                if fragments_file in paths
                else f"fragment {name!r} is defined {_where(paths)}: rename one, or keep one "
                f"copy in {fragments_file} for both"
            )
    return lines


def read(root: Path, queries: str) -> dict[str, str]:
    """Every ``.graphql`` file under ``root / queries``, by its path relative to ``root``."""
    return {
        str(path.relative_to(root)): path.read_text(encoding="utf-8")
        for path in sorted((root / queries).rglob("*.graphql"))
    }

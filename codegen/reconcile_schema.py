"""Build ``schema.graphql`` from the printed real schema and the handbook's additions.

    python codegen/reconcile_schema.py [PRINTED_SDL]    # writes schema.graphql

The printed copy of the real federated schema is the authority on every type it has
(rule of evidence: the handbook wins where it shows a shape, the printed schema wins
elsewhere). ``handbook_additions.graphql`` adds what only the handbook shows. The result is
printed as the server prints it, sorted, so that ``erm schema pull`` from an unchanged
server gives no diff, under a header that records where each part came from.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import build_schema, lexicographic_sort_schema, print_schema

ROOT = Path(__file__).resolve().parent.parent
ADDITIONS = ROOT / "codegen" / "handbook_additions.graphql"
DEFAULT_PRINTED = ROOT.parent / "shared" / "reference" / "erm-federated-schema-2024-12.graphql"
TARGET = ROOT / "schema.graphql"

HEADER = """\
# The ERM GraphQL schema, as the real server prints it, plus the handbook's additions.
#
# Provenance:
# - Every type, field, argument and description not named below is the printed copy of
#   the real federated schema as of 2024-12-12 (474 types), taken from a public front-end
#   project that calls the same API. Types are exactly as printed there.
# - From the ERM API handbook (newer than that copy): Query.getItemsForDownloadById and
#   the type ItemCodeHistory (codegen/handbook_additions.graphql).
# Rebuilt by `make reconcile-schema`; refreshed from a live endpoint by `make schema`.
# Sorted SDL below; these comment lines are not part of the schema.

"""


def reconcile(printed_sdl: str, additions_sdl: str) -> str:
    """The merged schema as sorted SDL, without the header."""
    schema = build_schema(printed_sdl + "\n" + additions_sdl)
    return print_schema(lexicographic_sort_schema(schema)) + "\n"


def main(argv: list[str]) -> int:
    printed = Path(argv[0]) if argv else DEFAULT_PRINTED
    if not printed.is_file():
        print(f"no printed schema at {printed}", file=sys.stderr)
        return 2
    sdl = reconcile(printed.read_text(encoding="utf-8"), ADDITIONS.read_text(encoding="utf-8"))
    TARGET.write_text(HEADER + sdl, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} from {printed.name} and {ADDITIONS.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

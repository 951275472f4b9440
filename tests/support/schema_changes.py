"""A server-side schema change, as SDL edits of the committed schema.

``modified_sdl`` makes the change the issue describes, one of each kind:

- ``CodeTypes`` gains ``BONUSCODE``                        (dangerous: added enum value)
- ``CodeEvent`` gains ``batteryLevel: Int``                (safe: added field)
- ``AuthToken.subRoleName`` is removed; SignInUser selects it (breaking)
- ``getAllClientItems(search:)`` becomes ``String!``       (breaking: GetAllClientItems
  declares ``$search: String``)

The removed field is one that only SignInUser selects, so that GetItemsForDownloadById
still validates against the changed server and can carry the new enum value back.
"""

from __future__ import annotations

from omnivoltaic_erm.schema_tools import sdl_body
from tests.conftest import ROOT

# The committed schema as a server prints it (without the provenance header).
COMMITTED_SDL = sdl_body((ROOT / "schema.graphql").read_text())


def edit(sdl: str, old: str, new: str) -> str:
    """``sdl`` with the one occurrence of ``old`` replaced (fails loudly if it moved)."""
    assert sdl.count(old) == 1, f"expected exactly one {old!r} in the schema"
    return sdl.replace(old, new)


def add_enum_value(sdl: str) -> str:
    """``CodeTypes`` gains ``BONUSCODE``."""
    return edit(
        sdl,
        "enum CodeTypes {\n  DAYSCODE\n",
        'enum CodeTypes {\n  """A promotional code (added after the client was generated)."""\n'
        "  BONUSCODE\n  DAYSCODE\n",
    )


def add_field(sdl: str) -> str:
    """``CodeEvent`` gains ``batteryLevel``."""
    head = "type CodeEvent {\n  _id: ID!\n  actionScope: ActionScope!\n  actorName: String!\n"
    return edit(
        sdl,
        head,
        head
        + '\n  """Battery charge when the code was made, in percent."""\n  batteryLevel: Int\n',
    )


def remove_field(sdl: str) -> str:
    """``AuthToken.subRoleName`` is removed."""
    return edit(sdl, "  subRoleName: String\n  subrole: SubRoles\n", "  subrole: SubRoles\n")


def require_argument(sdl: str) -> str:
    """``Query.getAllClientItems(search:)`` becomes required."""
    return edit(
        sdl,
        "    search: String\n    searchByOemItemId: String\n  ): GetAllItemsResponse!",
        "    search: String!\n    searchByOemItemId: String\n  ): GetAllItemsResponse!",
    )


def modified_sdl(base: str = COMMITTED_SDL) -> str:
    """The committed schema with all four changes."""
    return require_argument(remove_field(add_field(add_enum_value(base))))


def additive_sdl(base: str = COMMITTED_SDL) -> str:
    """Only the changes our operations survive: the enum value and the field."""
    return add_field(add_enum_value(base))

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

from tests.conftest import ROOT

COMMITTED_SDL = (ROOT / "schema.graphql").read_text()


def edit(sdl: str, old: str, new: str) -> str:
    """``sdl`` with the one occurrence of ``old`` replaced (fails loudly if it moved)."""
    assert sdl.count(old) == 1, f"expected exactly one {old!r} in the schema"
    return sdl.replace(old, new)


def add_enum_value(sdl: str) -> str:
    """``CodeTypes`` gains ``BONUSCODE``."""
    return edit(
        sdl,
        '  """Adds a number of days of use to the device."""\n  DAYSCODE\n',
        '  """A promotional code (added after the client was generated)."""\n  BONUSCODE\n\n'
        '  """Adds a number of days of use to the device."""\n  DAYSCODE\n',
    )


def add_field(sdl: str) -> str:
    """``CodeEvent`` gains ``batteryLevel``."""
    return edit(
        sdl,
        '  _id: ID!\n\n  """Days the code adds;',
        (
            '  _id: ID!\n\n  """Battery charge when the code was made, in percent."""\n'
            '  batteryLevel: Int\n\n  """Days the code adds;'
        ),
    )


def remove_field(sdl: str) -> str:
    """``AuthToken.subRoleName`` is removed."""
    return edit(sdl, "  subRoleName: String\n", "")


def require_argument(sdl: str) -> str:
    """``Query.getAllClientItems(search:)`` becomes required."""
    return edit(
        sdl,
        "    search: String\n  ): GetAllItemsResponse!",
        "    search: String!\n  ): GetAllItemsResponse!",
    )


def modified_sdl(base: str = COMMITTED_SDL) -> str:
    """The committed schema with all four changes."""
    return require_argument(remove_field(add_field(add_enum_value(base))))


def additive_sdl(base: str = COMMITTED_SDL) -> str:
    """Only the changes our operations survive: the enum value and the field."""
    return add_field(add_enum_value(base))

"""The version has one source, ``omnivoltaic_erm.__version__``; the metadata reads it."""

from __future__ import annotations

from importlib.metadata import version

import omnivoltaic_erm


def test_the_installed_metadata_carries_the_package_version() -> None:
    assert version("omnivoltaic-erm") == omnivoltaic_erm.__version__

"""pytest fixtures for testing against the ERM sandbox.

Enable them in a ``conftest.py``::

    pytest_plugins = ["omnivoltaic_erm.sandbox.pytest_plugin"]

``erm_sandbox`` is a running sandbox with the default rules; ``erm_sandbox_factory``
starts one with overrides, e.g. ``erm_sandbox_factory(code_interval=0.2, items=5)``;
``erm_replay(directory)`` starts one that answers from a recording set (your own
recorded traffic, see the Contracts page). Every sandbox a test starts is stopped when
the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import Sandbox


@pytest.fixture
def erm_sandbox_factory() -> Iterator[Callable[..., Sandbox]]:
    """A function that starts a ``Sandbox(**overrides)`` and returns it."""
    started: list[Sandbox] = []

    def start(**overrides: Any) -> Sandbox:
        sandbox = Sandbox(**overrides).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in reversed(started):
        sandbox.stop()


@pytest.fixture
def erm_sandbox(erm_sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A running sandbox with the default rules and demo data."""
    return erm_sandbox_factory()


@pytest.fixture
def erm_replay(erm_sandbox_factory: Callable[..., Sandbox]) -> Callable[[str | Path], Sandbox]:
    """A function that starts a sandbox answering from the recording set in a directory."""

    def start(directory: str | Path) -> Sandbox:
        return erm_sandbox_factory(replay=Path(directory))

    return start

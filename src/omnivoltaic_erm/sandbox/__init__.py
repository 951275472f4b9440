"""A local server that behaves like the Omnivoltaic ERM API, for development and tests.

Schema-first: it serves the project's ``schema.graphql`` with ariadne on aiohttp, keeps
its state in SQLite, issues HS256 JWTs and enforces the handbook's code-generation
rules. Start it with ``erm sandbox`` (or ``python -m omnivoltaic_erm.sandbox``), in
process with ``Sandbox``, or in pytest with the ``erm_sandbox`` fixture
(``pytest_plugins = ["omnivoltaic_erm.sandbox.pytest_plugin"]``).

Needs the ``sandbox`` extra (``pip install 'omnivoltaic-erm[sandbox]'``);
``import omnivoltaic_erm`` never imports this package.
"""

from __future__ import annotations

from .app import create_app
from .config import FaultSpec, SandboxConfig
from .server import Sandbox

__all__ = ["FaultSpec", "Sandbox", "SandboxConfig", "create_app"]

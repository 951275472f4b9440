"""``Sandbox``: the sandbox served in-process on a free loopback port.

Used by this project's tests and demo, and by users' tests (directly or through the
pytest plugin). The server runs on its own event loop in a background thread, so sync
and async test code can both talk to it; the inspection helpers read the SQLite state
directly, without HTTP.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from ..testing import BackgroundServer
from .app import STATE, create_app
from .auth import issue_token
from .config import FAULT_KINDS, FaultSpec, SandboxConfig
from .faults import FAULTS
from .store import Store

# The code-event fields ``Sandbox.history`` returns (the ones the handbook's history shows
# and the client reads).
_HISTORY_FIELDS = (
    "_id",
    "codeType",
    "codeDays",
    "codeNumber",
    "codeHexString",
    "codeDecString",
    "description",
    "hashIndex",
    "createdAt",
    "deleteStatus",
    "deleteAt",
)


class Sandbox:
    """An ERM sandbox on ``127.0.0.1`` and a free port; use it as a context manager.

    ``Sandbox(config, **overrides)`` takes a ``SandboxConfig`` and/or any of its fields
    as keywords, e.g. ``Sandbox(code_interval=0.2, items=5)``. Without ``db_path`` the
    database is a temporary file, removed on ``stop()``; with one, state survives a
    restart.
    """

    def __init__(self, config: SandboxConfig | None = None, **overrides: Any) -> None:
        unknown = set(overrides) - SandboxConfig.field_names()
        if unknown:
            raise TypeError(f"unknown sandbox setting(s): {', '.join(sorted(unknown))}")
        config = config or SandboxConfig()
        self.config: SandboxConfig = dataclasses.replace(config, **overrides)
        self._server: BackgroundServer | None = None
        self._app: web.Application | None = None

    # -- life cycle -------------------------------------------------------------

    def start(self) -> Sandbox:
        """Create the database (if new) and start serving; return once it listens."""
        if self._server is not None:
            return self
        self._app = create_app(self.config)
        self._server = BackgroundServer(self._app, self.config.host, self.config.port).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the database; a temporary one is deleted."""
        if self._server is not None:
            self._server.stop()  # runs the application's cleanup, which closes the store
            self._server = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "stopped"
        return f"Sandbox({where})"

    # -- where and who ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The GraphQL endpoint, ``http://127.0.0.1:PORT/graphql``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return f"{self._server.base_url}/graphql"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return self._server.base_url

    @property
    def admin_token(self) -> str:
        """The token the dashboard and the admin API require (RuntimeError when the
        sandbox runs with ``dashboard=False``)."""
        from .dashboard import ADMIN_TOKEN

        app = self._app_state()
        if ADMIN_TOKEN not in app:
            raise RuntimeError("the sandbox runs without its dashboard (dashboard=False)")
        return app[ADMIN_TOKEN]

    @property
    def dashboard_url(self) -> str:
        """The dashboard's address, with the admin token (keep it to yourself)."""
        return f"{self.base_url}/dashboard?token={self.admin_token}"

    @property
    def db_path(self) -> Path:
        """The SQLite database file (``config.db_path``, or the temporary one)."""
        return self.store.path

    @property
    def email(self) -> str:
        """The demo distributor's e-mail."""
        return self.config.email

    @property
    def password(self) -> str:
        """The demo distributor's password."""
        return self.config.password

    @property
    def other_email(self) -> str:
        """The second distributor's e-mail (for isolation tests)."""
        return self.config.other_email

    @property
    def other_password(self) -> str:
        """The second distributor's password."""
        return self.config.other_password

    # -- faults -----------------------------------------------------------------

    @property
    def faults(self) -> FaultSpec:
        """The fault probabilities; assigning a new ``FaultSpec`` applies from the next
        request on."""
        return self._app_state()[FAULTS].spec

    @faults.setter
    def faults(self, spec: FaultSpec | str) -> None:
        self._app_state()[FAULTS].spec = FaultSpec.parse(spec) if isinstance(spec, str) else spec

    @property
    def fault_counts(self) -> dict[str, int]:
        """How many of each fault (``error_502``, ``error_504``, ``drop``, ``delay``,
        ``late``, ``twice``, ``reset``) have fired."""
        counts = self._app_state()[FAULTS].counts
        return {kind: counts[kind] for kind in FAULT_KINDS}

    @property
    def fault_log(self) -> list[tuple[str, str | None]]:
        """The faults fired, oldest first, as ``(kind, request id)``: the id of the code
        request a fault hit (None for other requests)."""
        return list(self._app_state()[FAULTS].log)

    # -- inspection -------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The live store (for tests that need more than the helpers below)."""
        return self._app_state()[STATE].store

    def items(self, email: str | None = None) -> list[dict[str, Any]]:
        """A distributor's items (default: the demo distributor's), oldest first, with
        every ``Item`` field (``_id``, ``oemItemID``, ``sellerItemID``, ...)."""
        return self.store.list_items(self._distributor_id(email))

    def history(self, item_id: str) -> list[dict[str, Any]]:
        """An item's code events, oldest first; ``item_id`` may be any of its three ids.

        Each event has ``_id``, ``codeType``, ``codeDays``, ``codeNumber``,
        ``codeHexString``, ``codeDecString``, ``description``, ``hashIndex`` and
        ``createdAt``.
        """
        item = self.store.find_item(item_id, None)
        if item is None:
            raise KeyError(f"no item {item_id[:64]!r}")
        return [
            {key: event[key] for key in _HISTORY_FIELDS}
            for event in self.store.history(item["_id"])
        ]

    def access_token(self, email: str | None = None, ttl: float | None = None) -> str:
        """A valid access token for a distributor, minted without signing in."""
        ttl = self.config.token_ttl if ttl is None else ttl
        now = self.store.clock.now()
        return issue_token(self.store.secret, self._distributor_id(email), ttl, now)

    def _distributor_id(self, email: str | None) -> str:
        distributor_id = self.store.distributor_id(email or self.email)
        if distributor_id is None:
            raise KeyError(f"no distributor {email!r}")
        return distributor_id

    def _app_state(self) -> web.Application:
        if self._app is None:
            raise RuntimeError("the sandbox has not been started")
        return self._app

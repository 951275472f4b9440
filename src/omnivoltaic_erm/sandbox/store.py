"""The sandbox's state in SQLite: distributors, items and code events.

One connection, guarded by a lock. A code event is checked against every rule and
inserted inside one ``BEGIN IMMEDIATE`` transaction, committed before the caller
answers, so two concurrent requests (even from two processes sharing the file) cannot
both pass a limit, and a rejected request records nothing. WAL mode lets readers (the
test helpers) look in while the server writes; ``synchronous=NORMAL`` keeps every
commit safe from a crash or kill of the sandbox process (not from power loss, which a
sandbox does not need).

Item fields that are the same for every demo item (type, profile, ...) are not stored;
``DEMO_ITEM_FIELDS`` fills them in.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import (
    CODE_CREDIT_LIMIT,
    CODE_DAILY_LIMIT,
    CODE_FREE_LIMIT,
    CODE_RATE_LIMITED,
    CODE_RESET_LIMIT,
    CODE_TOTAL_LIMIT,
)
from . import codes, demo
from .auth import check_password, hash_password, new_secret
from .clock import Clock
from .config import SandboxConfig
from .demo import iso, object_id
from .errors import ApiError, bad_input
from .events import EventQuery
from .fleets import (
    CREDIT,
    DAILY,
    ENFORCED_RULES,
    FREE,
    INTERVAL,
    RESET,
    TOTAL,
    Fleet,
    credit_exceeded,
    demo_fleet_index,
)
from .sessions import Sessions
from .settings import DistributorSetting, EffectiveLimits, effective_limits, setting_object
from .trace import TRACE_SINK, Usage, decision_trace, level_of, next_allowed_in

DAYSCODE, FREECODE, RESETCODE = "DAYSCODE", "FREECODE", "RESETCODE"

# Demo items: (product code, first createdAt) per demo distributor, so the two
# distributors' ids never collide. Items are created 30 s apart: createdAt is distinct.
# The second batch's first oemItemID, 06AH2502000001, is the handbook's search example.
_DEMO_BATCHES = (
    ("DVAV", datetime(2025, 1, 6, 8, 0, tzinfo=UTC).timestamp()),
    ("06AH", datetime(2025, 2, 3, 8, 0, tzinfo=UTC).timestamp()),
)
_DEMO_SPACING = 30.0
# Every third demo item, from the second on, carries the distributor's own label as its
# sellerItemID, which shares no prefix with its oemItemID (a look-up must match either).
_SELLER_PREFIX = "SL"
_JOINED = datetime(2024, 12, 2, 11, 10, 58, 663000, tzinfo=UTC).timestamp()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS distributors (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    distributor_id TEXT NOT NULL REFERENCES distributors(id),
    oem_item_id TEXT NOT NULL,
    seller_item_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    creation_date TEXT NOT NULL,
    fleet INTEGER NOT NULL,
    life_cycle TEXT NOT NULL,
    code_gen_used TEXT NOT NULL,
    legacy_item_id REAL
);
CREATE INDEX IF NOT EXISTS items_by_owner ON items(distributor_id, created_at, seq);
CREATE INDEX IF NOT EXISTS items_by_oem ON items(oem_item_id);
CREATE INDEX IF NOT EXISTS items_by_seller ON items(seller_item_id);
CREATE TABLE IF NOT EXISTS code_events (
    id TEXT PRIMARY KEY,
    item_seq INTEGER NOT NULL REFERENCES items(seq),
    code_number INTEGER NOT NULL,
    code_type TEXT NOT NULL,
    code_days INTEGER NOT NULL,
    hash_index INTEGER NOT NULL,
    chain_link TEXT NOT NULL,
    code_hex TEXT NOT NULL,
    code_dec TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    created_ts REAL NOT NULL,
    UNIQUE (item_seq, code_number)
);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    jti TEXT PRIMARY KEY,
    distributor_id TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
"""

_ITEM_FIELDS = (
    "id, oem_item_id, seller_item_id, created_at, updated_at, creation_date,"
    " fleet, life_cycle, code_gen_used, legacy_item_id"
)
_ITEM_COLUMNS = f"seq, distributor_id, {_ITEM_FIELDS}"


def _seller_item_id(serial: str, yymm: str, index: int) -> str:
    """The demo item's sellerItemID: its oemItemID, or for every third item a label of
    the seller's own (``SL2501000002``)."""
    return f"{_SELLER_PREFIX}{yymm}{index + 1:06d}" if index % 3 == 1 else serial


def _duration(seconds: float) -> str:
    return "24 hours" if seconds == 86400 else f"{seconds:g} seconds"


@dataclass(frozen=True, slots=True)
class Distributor:
    """A signed-in distributor's record."""

    id: str
    email: str
    name: str
    created_at: str
    updated_at: str
    index: int = 0  # 0: the first demo distributor, 1: the other


def _event(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "_id": row["id"],
        "codeType": row["code_type"],
        "codeDays": row["code_days"],
        "codeNumber": row["code_number"],
        "codeHexString": row["code_hex"],
        "codeDecString": row["code_dec"],
        "description": row["description"],
        "hashIndex": row["hash_index"],
        # The generator's count and chain position right after this event.
        "codeCount": row["code_number"],
        "hashTop": codes.hash_of(row["chain_link"]),
        "hashRoot": codes.hash_root(row["item_id"]),
        "createdAt": row["created_at"],
        "updatedAt": row["created_at"],
        "deleteStatus": False,
        "deleteAt": None,
        "_itemId": row["item_id"],
        **demo.event_actor_fields(),
    }


class Store:
    """The sandbox database. Safe to use from several threads."""

    def __init__(self, path: Path, config: SandboxConfig) -> None:
        self.path = path
        self.config = config
        self._lock = threading.RLock()
        self.clock = Clock()
        self.sessions = Sessions()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        with self._lock:
            self._db.executescript(_SCHEMA)  # each statement is idempotent
        self.fleets = config.all_fleets()
        self._fleet_objects: dict[tuple[int, str], dict[str, Any]] = {}
        self._relations: dict[tuple[str, str], dict[str, Any]] = {}
        # CodeGenerator._id -> item _id, per distributor (items never change owner).
        self._generators: dict[str, dict[str, str]] = {}
        self.secret = config.secret or self._meta_secret()
        self._seed_distributor(config.email, config.password, "Sandbox Distributor", 0)
        self._seed_distributor(
            config.other_email, config.other_password, "Other Sandbox Distributor", 1
        )
        self._settings: dict[str, DistributorSetting] = {}
        for email in (config.email, config.other_email):
            distributor_id = self.distributor_id(email)
            if distributor_id is not None:
                self._settings[distributor_id] = config.setting_of(email)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- set-up -----------------------------------------------------------------

    def _meta_secret(self) -> str:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'jwt_secret'").fetchone()
            if row is not None:
                return str(row["value"])
            secret = new_secret()
            db.execute("INSERT INTO meta (key, value) VALUES ('jwt_secret', ?)", (secret,))
            return secret

    def _seed_distributor(self, email: str, password: str, name: str, index: int) -> None:
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM distributors WHERE email = ?", (email,)).fetchone():
                return
            joined = iso(_JOINED)
            distributor_id = object_id(_JOINED, "distributor", email)
            db.execute(
                "INSERT INTO distributors VALUES (?, ?, ?, ?, ?, ?)",
                (distributor_id, email, hash_password(password), name, joined, joined),
            )
            db.executemany(
                f"INSERT INTO items ({_ITEM_FIELDS}, distributor_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self._demo_items(email, *_DEMO_BATCHES[index], distributor_id),
            )

    def _demo_items(
        self, email: str, product: str, epoch: float, distributor_id: str
    ) -> Iterator[tuple[object, ...]]:
        creation_date = iso(epoch - 2771.487)
        yymm = datetime.fromtimestamp(epoch, UTC).strftime("%y%m")
        explicit = self.config.fleets is not None
        for i in range(self.config.items):
            ts = epoch + i * _DEMO_SPACING + (i * 137 % 1000) / 1000
            serial = f"{product}{yymm}{i + 1:06d}"
            created = iso(ts)
            yield (
                object_id(ts, email, i),
                serial,
                _seller_item_id(serial, yymm, i),
                created,
                created,
                creation_date,
                demo_fleet_index(i, len(self.fleets), explicit),
                *demo.item_variety(i),
                distributor_id,
            )

    # -- fleets -----------------------------------------------------------------

    def fleet_of(self, item: dict[str, Any]) -> Fleet:
        """The fleet an item (as returned by ``find_item``) belongs to."""
        return self.fleets[int(item["_fleet"]) % len(self.fleets)]

    def setting(self, distributor_id: str) -> DistributorSetting:
        """A distributor's ``DistributorSetting`` (the printed defaults when none is
        configured)."""
        return self._settings.get(distributor_id) or DistributorSetting()

    def setting_object(self, distributor_id: str) -> dict[str, Any]:
        """A distributor's setting as the printed ``DistributorSetting`` type."""
        setting_id = object_id(_JOINED, "setting", distributor_id)
        return setting_object(self.setting(distributor_id), setting_id, iso(_JOINED))

    def limits_of(self, item: dict[str, Any]) -> EffectiveLimits:
        """An item's effective limits: its fleet's values over its distributor's."""
        return self._limits(int(item["_fleet"]), str(item["_distributorId"]))

    def _limits(self, fleet_index: int, distributor_id: str) -> EffectiveLimits:
        fleet = self.fleets[fleet_index % len(self.fleets)]
        return effective_limits(fleet, self.setting(distributor_id))

    def _fleet_id(self, index: int, distributor_id: str) -> str:
        return object_id(_JOINED, "fleet", distributor_id, index)

    def fleet_index(self, fleet_id: str, distributor_id: str) -> int | None:
        """Which of the distributor's fleets has this ``ItemFleet._id``, or None."""
        return next(
            (i for i in range(len(self.fleets)) if self._fleet_id(i, distributor_id) == fleet_id),
            None,
        )

    def _fleet_object(self, index: int, distributor_id: str) -> dict[str, Any]:
        key = (index, distributor_id)
        cached = self._fleet_objects.get(key)
        if cached is None:
            fleet = self.fleets[index % len(self.fleets)]
            fleet_id = self._fleet_id(index, distributor_id)
            cached = demo.fleet_object(fleet, fleet_id, iso(_JOINED))
            self._fleet_objects[key] = cached
        return cached

    def _item(self, row: sqlite3.Row) -> dict[str, Any]:
        creation_date = row["creation_date"]
        key = (row["oem_item_id"][:8], creation_date)
        related = self._relations.get(key)
        if related is None:
            related = self._relations[key] = demo.relations(row["oem_item_id"], creation_date)
        return {
            "_id": row["id"],
            "createdAt": row["created_at"],
            "updatedAt": row["updated_at"],
            "creationDate": creation_date,
            "oemItemID": row["oem_item_id"],
            "sellerItemID": row["seller_item_id"],
            "lifeCycle": row["life_cycle"],
            "codeGenUsed": row["code_gen_used"],
            "legacyItemId": row["legacy_item_id"],
            "itemFleet": self._fleet_object(row["fleet"] % len(self.fleets), row["distributor_id"]),
            "_fleet": row["fleet"],
            "_distributorId": row["distributor_id"],
            **demo.ITEM_FIELDS,
            **related,
        }

    def code_generator(self, item_id: str) -> dict[str, Any] | None:
        """An item's code generator: its counts and position in the hash chain."""
        row = self._find_row(item_id, None)
        if row is None:
            return None
        with self._lock:
            total, free, reset, index = self._db.execute(
                "SELECT count(*), total(code_type = 'FREECODE'), total(code_type = 'RESETCODE'),"
                " coalesce(max(hash_index), 0) FROM code_events WHERE item_seq = ?",
                (row["seq"],),
            ).fetchone()
            last = self._db.execute(
                "SELECT chain_link FROM code_events WHERE item_seq = ?"
                " ORDER BY code_number DESC LIMIT 1",
                (row["seq"],),
            ).fetchone()
        limits = self._limits(int(row["fleet"]), row["distributor_id"])
        counts = (int(total), int(free), int(reset))
        chain = demo.Chain(row["id"], int(index), None if last is None else last["chain_link"])
        return demo.code_generator(chain, limits, counts, row["creation_date"])

    def open_token_generator(self, item_id: str) -> dict[str, Any] | None:
        """An OpenToken item's ``OpenTokenCodeGen``; None for an item on OVES codes."""
        row = self._find_row(item_id, None)
        if row is None or row["code_gen_used"] != demo.OPENTOKEN:
            return None
        with self._lock:
            count, last = self._db.execute(
                "SELECT count(*), max(code_number) FROM code_events WHERE item_seq = ?",
                (row["seq"],),
            ).fetchone()
            latest = self._db.execute(
                "SELECT code_type, code_days, code_dec, created_at FROM code_events"
                " WHERE item_seq = ? AND code_number = ?",
                (row["seq"], last),
            ).fetchone()
        return demo.open_token_generator(row["id"], row["creation_date"], int(count), latest)

    # -- distributors -----------------------------------------------------------

    def authenticate(self, email: str, password: str) -> Distributor | None:
        """The distributor with these credentials, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM distributors WHERE email = ?", (email.strip(),)
            ).fetchone()
        if row is None:
            check_password(password, hash_password("not a password"))  # same timing
            return None
        if not check_password(password, row["password_hash"]):
            return None
        return self._distributor(row)

    def distributor(self, distributor_id: str) -> Distributor | None:
        """A distributor by id."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM distributors WHERE id = ?", (distributor_id,)
            ).fetchone()
        return None if row is None else self._distributor(row)

    def distributor_id(self, email: str) -> str | None:
        """A distributor's id by e-mail."""
        with self._lock:
            row = self._db.execute(
                "SELECT id FROM distributors WHERE email = ?", (email,)
            ).fetchone()
        return None if row is None else str(row["id"])

    def _distributor(self, row: sqlite3.Row) -> Distributor:
        index = 0 if row["email"].lower() == self.config.email.lower() else 1
        return Distributor(
            row["id"], row["email"], row["name"], row["created_at"], row["updated_at"], index
        )

    # -- refresh tokens -----------------------------------------------------------

    def save_refresh_token(self, jti: str, distributor_id: str) -> None:
        """Record a refresh token as issued and not yet used."""
        with self._transaction() as db:
            db.execute("INSERT INTO refresh_tokens VALUES (?, ?, 0)", (jti, distributor_id))

    def use_refresh_token(self, jti: str, distributor_id: str) -> bool:
        """Mark a refresh token used; False when it is unknown or was used already."""
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE refresh_tokens SET used = 1"
                " WHERE jti = ? AND distributor_id = ? AND used = 0",
                (jti, distributor_id),
            ).rowcount
        return changed == 1

    # -- items ------------------------------------------------------------------

    def _matching(
        self,
        distributor_id: str,
        search: str | None,
        oem_search: str | None = None,
        fleet: int | None = None,
    ) -> tuple[str, list[Any]]:
        where = "distributor_id = ?"
        params: list[Any] = [distributor_id]
        needle = (search or "").strip().lower()
        if needle:
            where += (
                " AND (instr(lower(id), ?) OR instr(lower(oem_item_id), ?)"
                " OR instr(lower(seller_item_id), ?))"
            )
            params += [needle] * 3
        oem = (oem_search or "").strip().lower()
        if oem:
            where += " AND instr(lower(oem_item_id), ?)"
            params.append(oem)
        if fleet is not None:
            where += " AND fleet % ? = ?"
            params += [len(self.fleets), fleet]
        return where, params

    def count_items(
        self,
        distributor_id: str,
        search: str | None = None,
        oem_search: str | None = None,
        fleet: int | None = None,
    ) -> int:
        """How many of a distributor's items match ``search`` (a case-insensitive
        substring of ``_id``, ``oemItemID`` or ``sellerItemID``), ``oem_search`` (of
        ``oemItemID`` alone) and ``fleet`` (an index into ``fleets``)."""
        where, params = self._matching(distributor_id, search, oem_search, fleet)
        with self._lock:
            return int(
                self._db.execute(f"SELECT count(*) FROM items WHERE {where}", params).fetchone()[0]
            )

    def list_items(
        self,
        distributor_id: str,
        search: str | None = None,
        *,
        descending: bool = False,
        offset: int = 0,
        limit: int | None = None,
        oem_search: str | None = None,
        fleet: int | None = None,
    ) -> list[dict[str, Any]]:
        """A slice of a distributor's matching items, ordered by createdAt.

        Only the slice is read (``LIMIT``/``OFFSET`` on an index), so a page of a
        20,000-item listing costs about as much as a page of a 50-item one.
        """
        if limit is not None and limit <= 0:
            return []
        where, params = self._matching(distributor_id, search, oem_search, fleet)
        order = "DESC" if descending else "ASC"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE {where}"
                f" ORDER BY created_at {order}, seq {order} LIMIT ? OFFSET ?",
                [*params, -1 if limit is None else limit, offset],
            ).fetchall()
        return [self._item(row) for row in rows]

    def _find_row(self, item_id: str, distributor_id: str | None) -> sqlite3.Row | None:
        owner = "" if distributor_id is None else " AND distributor_id = ?"
        params = [item_id] * 3 + ([] if distributor_id is None else [distributor_id])
        with self._lock:
            row: sqlite3.Row | None = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items"
                f" WHERE (id = ? OR oem_item_id = ? OR seller_item_id = ?){owner}"
                " ORDER BY seq LIMIT 1",
                params,
            ).fetchone()
        return row

    def item_by(self, column: str, value: str, distributor_id: str) -> dict[str, Any] | None:
        """One of the distributor's items by exactly its ``_id`` or its ``oemItemID``."""
        if column not in ("id", "oem_item_id"):
            raise ValueError(f"not an item key: {column}")
        with self._lock:
            row = self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE {column} = ? AND distributor_id = ?"
                " ORDER BY seq LIMIT 1",
                (value, distributor_id),
            ).fetchone()
        return None if row is None else self._item(row)

    def find_item(self, item_id: str, distributor_id: str | None) -> dict[str, Any] | None:
        """An item by ``_id``, ``oemItemID`` or ``sellerItemID``; only the owner's when
        ``distributor_id`` is given."""
        row = self._find_row(item_id, distributor_id)
        return None if row is None else self._item(row)

    # -- code events ------------------------------------------------------------

    @staticmethod
    def _event_where(query: EventQuery) -> tuple[str, list[Any]]:
        where = "i.distributor_id = ?"
        params: list[Any] = [query.distributor_id]
        if query.item_id is not None:
            where += " AND i.id = ?"
            params.append(query.item_id)
        needle = (query.search or "").strip().lower()
        if needle:
            columns = ("i.id", "i.oem_item_id", "i.seller_item_id", "e.id", "e.code_type")
            tests = [f"instr(lower({c}), ?)" for c in columns]
            tests.append("instr(lower(coalesce(e.description, '')), ?)")
            where += f" AND ({' OR '.join(tests)})"
            params += [needle] * len(tests)
        if query.since is not None:
            where += " AND e.created_ts >= ?"
            params.append(query.since)
        if query.before is not None:
            where += " AND e.created_ts < ?"
            params.append(query.before)
        if query.code_type is not None:
            where += " AND e.code_type = ?"
            params.append(query.code_type)
        return where, params

    def count_events(self, query: EventQuery) -> int:
        """How many code events ``query`` selects."""
        where, params = self._event_where(query)
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT count(*) FROM code_events e JOIN items i ON i.seq = e.item_seq"
                    f" WHERE {where}",
                    params,
                ).fetchone()[0]
            )

    def list_events(self, query: EventQuery, offset: int, limit: int) -> list[dict[str, Any]]:
        """A slice of the code events ``query`` selects, newest first (an item's own by
        ``codeNumber``; across items by ``createdAt``)."""
        if limit <= 0:
            return []
        where, params = self._event_where(query)
        order = (
            "e.code_number DESC"
            if query.item_id is not None
            else "e.created_ts DESC, e.item_seq DESC, e.code_number DESC"
        )
        with self._lock:
            rows = self._db.execute(
                "SELECT e.*, i.id AS item_id FROM code_events e JOIN items i ON i.seq = e.item_seq"
                f" WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return [_event(row) for row in rows]

    def event_by_id(self, event_id: str, distributor_id: str) -> dict[str, Any] | None:
        """One of the distributor's code events by its ``_id``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT e.*, i.id AS item_id FROM code_events e JOIN items i ON i.seq = e.item_seq"
                " WHERE e.id = ? AND i.distributor_id = ?",
                (event_id, distributor_id),
            ).fetchone()
        return None if row is None else _event(row)

    def items_by_generator(self, generator_ids: Sequence[str], distributor_id: str) -> list[str]:
        """The ``_id`` of the distributor's item behind each known ``CodeGenerator._id``,
        in the order given, each once; unknown and foreign ids are skipped."""
        index = self._generators.get(distributor_id)
        if index is None:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id FROM items WHERE distributor_id = ?", (distributor_id,)
                ).fetchall()
            index = {demo.generator_id(row["id"]): row["id"] for row in rows}
            self._generators[distributor_id] = index
        found = (index.get(generator_id) for generator_id in generator_ids)
        return list(dict.fromkeys(item_id for item_id in found if item_id is not None))

    def history(self, item_id: str) -> list[dict[str, Any]]:
        """An item's code events (by its ``_id``), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.*, i.id AS item_id FROM code_events e JOIN items i ON i.seq = e.item_seq"
                " WHERE i.id = ? ORDER BY e.code_number",
                (item_id,),
            ).fetchall()
        return [_event(row) for row in rows]

    def record_code(
        self, item: dict[str, Any], code_type: str, days: int, description: str | None
    ) -> dict[str, Any]:
        """Check every rule of the item's effective limits (its fleet's over its
        distributor's) and record one code event, in one transaction.

        Raises ``ApiError`` (and records nothing) when a rule refuses. The rules run in
        a fixed order: days, total, free/reset allowance, credit stacking, daily, interval.
        """
        cfg = self.config
        if code_type == DAYSCODE and not cfg.max_days >= days >= 1:
            raise bad_input(f"codeDays must be a whole number from 1 to {cfg.max_days}")
        limits = self.limits_of(item)
        with self._transaction() as db:
            now = self.clock.now()
            seq = db.execute("SELECT seq FROM items WHERE id = ?", (item["_id"],)).fetchone()[0]
            total, free, reset, in_window, last_ts = db.execute(
                "SELECT count(*), total(code_type = 'FREECODE'), total(code_type = 'RESETCODE'),"
                " total(created_ts > ?), max(created_ts) FROM code_events WHERE item_seq = ?",
                (now - cfg.daily_window, seq),
            ).fetchone()
            usage = Usage(int(total), int(free), int(reset), int(in_window), last_ts)
            sink = TRACE_SINK.get()
            if sink is not None:
                sink["trace"] = self._trace(db, item, seq, code_type, days, now, usage)
            self._check_limits(db, limits, seq, code_type, days, now, usage)
            last = db.execute(
                "SELECT chain_link, hash_index FROM code_events WHERE item_seq = ?"
                " ORDER BY code_number DESC LIMIT 1",
                (seq,),
            ).fetchone()
            previous, index = (
                (last["chain_link"], last["hash_index"])
                if last is not None
                else (codes.chain_start(item["_id"]), 0)
            )
            code = codes.next_code(previous, index, code_type, days)
            number = int(total) + 1
            created = iso(now)
            db.execute(
                "INSERT INTO code_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    object_id(now, item["_id"], number),
                    seq,
                    number,
                    code_type,
                    days,
                    code.hash_index,
                    code.link,
                    code.hex,
                    code.dec,
                    description,
                    created,
                    now,
                ),
            )
            db.execute("UPDATE items SET updated_at = ? WHERE seq = ?", (created, seq))
            if sink is not None:
                sink["event_id"] = object_id(now, item["_id"], number)
        return {"codeType": code_type, "codeHex": code.hex, "codeDec": code.dec}

    def _trace(
        self,
        db: sqlite3.Connection,
        item: dict[str, Any],
        seq: int,
        code_type: str,
        days: int,
        now: float,
        usage: Usage,
    ) -> list[dict[str, Any]]:
        """The decision trace of this request (only while the request log records)."""
        limits = self.limits_of(item)
        fleet = self.fleet_of(item)
        setting = self.setting(str(item["_distributorId"]))
        levels = {rule: level_of(rule, fleet, setting) for rule in ENFORCED_RULES}
        recent = db.execute(
            "SELECT code_type, code_days FROM code_events WHERE item_seq = ?"
            " ORDER BY code_number DESC LIMIT ?",
            (seq, limits.credit_events),
        ).fetchall()
        pairs = [(str(r[0]), int(r[1])) for r in recent]
        return decision_trace(limits, levels, usage, code_type, days, now, pairs)

    def _check_limits(
        self,
        db: sqlite3.Connection,
        limits: EffectiveLimits,
        seq: int,
        code_type: str,
        days: int,
        now: float,
        usage: Usage,
    ) -> None:
        if limits.enforces(TOTAL) and usage.total >= limits.total_limit:
            raise ApiError(
                f"This item has used all {limits.total_limit} of its code events",
                CODE_TOTAL_LIMIT,
                400,
            )
        if code_type == FREECODE and limits.enforces(FREE) and usage.free >= limits.free_limit:
            raise ApiError(
                f"This item has used all {limits.free_limit} of its free codes",
                CODE_FREE_LIMIT,
                400,
            )
        if code_type == RESETCODE and limits.enforces(RESET) and usage.reset >= limits.reset_limit:
            raise ApiError(
                f"This item has used all {limits.reset_limit} of its reset codes",
                CODE_RESET_LIMIT,
                400,
            )
        if code_type == DAYSCODE and limits.enforces(CREDIT):
            recent = db.execute(
                "SELECT code_type, code_days FROM code_events WHERE item_seq = ?"
                " ORDER BY code_number DESC LIMIT ?",
                (seq, limits.credit_events),
            ).fetchall()
            stacked = credit_exceeded(limits, days, ((r[0], int(r[1])) for r in recent))
            if stacked is not None:
                raise ApiError(
                    f"This item already has {stacked} days of credit stacked; {days} more"
                    f" would pass the limit of {limits.credit_days} days",
                    CODE_CREDIT_LIMIT,
                    400,
                )
        if limits.enforces(DAILY) and usage.in_window >= limits.daily_limit:
            wait = self._daily_wait(seq, now, usage.in_window, limits.daily_limit)
            raise ApiError(
                f"This item has had {limits.daily_limit} code events in the last"
                f" {_duration(self.config.daily_window)}; try again in {wait:.1f} seconds",
                CODE_DAILY_LIMIT,
                429,
                retry_after=wait,
            )
        last_ts = usage.last_ts
        if (
            limits.enforces(INTERVAL)
            and last_ts is not None
            and now - last_ts < limits.code_interval
        ):
            wait = round(last_ts + limits.code_interval - now, 3) or 0.001
            raise ApiError(
                f"Codes for one item must be at least {limits.code_interval:g} seconds apart;"
                f" try again in {wait:.3f} seconds",
                CODE_RATE_LIMITED,
                429,
                retry_after=wait,
            )

    def _daily_wait(self, seq: int, now: float, in_window: int, limit: int) -> float:
        # The window frees a slot when the event that puts it at the limit leaves it.
        window = self.config.daily_window
        rows: Sequence[sqlite3.Row] = self._db.execute(
            "SELECT created_ts FROM code_events WHERE item_seq = ? AND created_ts > ?"
            " ORDER BY created_ts",
            (seq, now - window),
        ).fetchall()
        if not rows:  # a limit of 0: no event will ever free a slot
            return window
        leaving = float(rows[min(len(rows) - 1, in_window - limit)]["created_ts"])
        return max(0.001, round(leaving + window - now, 3))

    def counts(self) -> dict[str, int]:
        """Row counts per table (for tests and the start-up line)."""
        with self._lock:
            return {
                table: self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("distributors", "items", "code_events")
            }

    # -- the dashboard's view and controls ----------------------------------------

    def item_usage(self, distributor_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """Per item of a distributor (oldest first, at most ``limit``): its effective
        limits, counts against them and seconds until its next code is allowed."""
        now = self.clock.now()
        items = self.list_items(distributor_id, limit=limit)
        rows: list[dict[str, Any]] = []
        for item in items:
            limits = self.limits_of(item)
            with self._lock:
                seq, total, free, reset, in_window, last_ts = self._db.execute(
                    "SELECT i.seq, count(e.id), total(e.code_type = 'FREECODE'),"
                    " total(e.code_type = 'RESETCODE'), total(e.created_ts > ?),"
                    " max(e.created_ts) FROM items i LEFT JOIN code_events e"
                    " ON e.item_seq = i.seq WHERE i.id = ? GROUP BY i.seq",
                    (now - self.config.daily_window, item["_id"]),
                ).fetchone()
                daily_wait = (
                    self._daily_wait(seq, now, int(in_window), limits.daily_limit)
                    if limits.enforces(DAILY) and in_window >= limits.daily_limit
                    else 0.0
                )
            usage = Usage(int(total), int(free), int(reset), int(in_window), last_ts)
            rows.append(
                {
                    "item": item["_id"],
                    "oemItemID": item["oemItemID"],
                    "fleet": self.fleet_of(item).name,
                    "fleetIndex": int(item["_fleet"]) % len(self.fleets),
                    "counts": {
                        "total": usage.total,
                        "free": usage.free,
                        "reset": usage.reset,
                        "daily": usage.in_window,
                    },
                    "limits": {
                        "interval": limits.code_interval,
                        "daily": limits.daily_limit,
                        "total": limits.total_limit,
                        "free": limits.free_limit,
                        "reset": limits.reset_limit,
                        "creditDays": limits.credit_days,
                    },
                    "disabled": sorted(limits.disabled),
                    "nextAllowedIn": next_allowed_in(limits, usage, now, daily_wait),
                }
            )
        return rows

    def set_fleet(self, index: int, fleet: Fleet) -> None:
        """Replace one fleet's limits (live: the next code request reads them)."""
        fleets = list(self.fleets)
        fleets[index] = fleet
        self.fleets = tuple(fleets)
        self._fleet_objects.clear()

    def set_setting(self, distributor_id: str, setting: DistributorSetting) -> None:
        """Replace a distributor's setting (live)."""
        self._settings[distributor_id] = setting

    _MUTABLE_TABLES = ("code_events", "refresh_tokens")

    def snapshot(self) -> dict[str, Any]:
        """The state a code request or a sign-in changes, to ``restore`` later."""
        with self._lock:
            tables = {
                t: [tuple(r) for r in self._db.execute(f"SELECT * FROM {t}").fetchall()]
                for t in self._MUTABLE_TABLES
            }
            updated = self._db.execute("SELECT seq, updated_at FROM items").fetchall()
        return {
            "tables": tables,
            "items": [tuple(r) for r in updated],
            "fleets": self.fleets,
            "settings": dict(self._settings),
            "clock": self.clock.offset,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Put back the state of a ``snapshot``."""
        with self._transaction() as db:
            for table, rows in snapshot["tables"].items():
                db.execute(f"DELETE FROM {table}")
                if rows:
                    marks = ", ".join("?" * len(rows[0]))
                    db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            db.executemany(
                "UPDATE items SET updated_at = ? WHERE seq = ?",
                [(updated, seq) for seq, updated in snapshot["items"]],
            )
        self.fleets = snapshot["fleets"]
        self._fleet_objects.clear()
        self._settings = dict(snapshot["settings"])
        self.clock.offset = snapshot["clock"]

    def reset(self) -> None:
        """Back to the state at start: no code events, no tokens, configured limits,
        wall-clock time."""
        with self._transaction() as db:
            for table in self._MUTABLE_TABLES:
                db.execute(f"DELETE FROM {table}")
            db.execute("UPDATE items SET updated_at = created_at")
        self.fleets = self.config.all_fleets()
        self._fleet_objects.clear()
        for email in (self.config.email, self.config.other_email):
            distributor_id = self.distributor_id(email)
            if distributor_id is not None:
                self._settings[distributor_id] = self.config.setting_of(email)
        self.clock.reset()
        self.sessions.clear()

    def events_tagged(self, request_id: str) -> list[dict[str, Any]]:
        """Every stored code event whose description ends with ``[req:<request_id>]``,
        oldest first, of any distributor."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.*, i.id AS item_id FROM code_events e JOIN items i ON i.seq = e.item_seq"
                " WHERE e.description LIKE ? ORDER BY e.created_ts",
                (f"%[req:{request_id}]%",),
            ).fetchall()
        return [_event(row) for row in rows]

    def event_any(self, event_id: str) -> dict[str, Any] | None:
        """A code event by ``_id``, of any distributor."""
        with self._lock:
            row = self._db.execute(
                "SELECT e.*, i.id AS item_id FROM code_events e JOIN items i ON i.seq = e.item_seq"
                " WHERE e.id = ?",
                (event_id,),
            ).fetchone()
        return None if row is None else _event(row)

"""The sandbox's demo data: what an item, its relations and its code events look like.

Values follow the handbook where it shows them and the printed schema elsewhere: every
non-null field of ``Item`` and of the relations it reaches (``itemSKU``, ``itemBatch``,
``itemFirmware``, ``itemFleet``, ``codeGenerator``) is filled, enums take their printed
values (``CodeGenUsed``, ``LifeCycle``, ``BatchState``, ``CodeSystemType``), and
``legacyItemId`` is a number on some items. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from .fleets import Fleet

# The handbook's values for a distributor's device, the same on every demo item.
ITEM_FIELDS: dict[str, Any] = {
    "deleteStatus": False,
    "deleteAt": None,
    "triggers": [],
    "type": "DEVICE",
    "actionScope": "DEVELOPMENT",
    "actorName": "eIOT",
    "profile": "Off-Grid Electric Device",
    "idType": "UUID",
    "idString": None,
    "description": "OVES Connected eIoT",
    "oemID": "OVES",
    "sellerID": "OVES",
    "code": None,
}

# LifeCycle values a distributor's items pass through.
_LIFE_CYCLES = ("INITIATED", "ASSIGNED", "SHIPPED", "INSTALLED")

# What every actor record carries (the printed schema's non-null actor fields).
_ACTOR: dict[str, Any] = {"deleteStatus": False, "deleteAt": None, "triggers": [], "profile": None}


def iso(ts: float) -> str:
    """``ts`` as ISO 8601 UTC with milliseconds and a ``Z``: ``2025-01-09T09:27:52.758Z``."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def object_id(ts: float, *parts: object) -> str:
    """A MongoDB-style 24-hex id: 4 bytes of time, 8 bytes derived from ``parts``."""
    tail = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:16]
    return f"{int(ts) & 0xFFFFFFFF:08x}{tail}"


def item_variety(index: int) -> tuple[str, str, float | None]:
    """``(lifeCycle, codeGenUsed, legacyItemId)`` of the ``index``-th demo item (from 0).

    Most items use OVES codes, every seventh OpenToken; every third has a legacy id.
    """
    life_cycle = _LIFE_CYCLES[index % len(_LIFE_CYCLES)]
    code_gen = "OPENTOKEN" if index % 7 == 6 else "OVES"
    legacy = float(100_000 + index) if index % 3 == 2 else None
    return life_cycle, code_gen, legacy


def relations(oem_item_id: str, creation_date: str) -> dict[str, Any]:
    """The SKU, batch and firmware of an item, from its product code (``PROD`` + ``YYMM``)."""
    product, yymm = oem_item_id[:4], oem_item_id[4:8]
    sku = {
        **_ACTOR,
        "_id": object_id(0, "sku", product),
        "createdAt": creation_date,
        "updatedAt": creation_date,
        "type": "DEVICE",
        "actionScope": "DEVELOPMENT",
        "actorName": "OVES",
        "skuName": f"{product} Solar Home System",
        "productBase": product,
        "mainMediaURL": None,
        "oemDescription": "OVES Connected eIoT",
    }
    batch = {
        **_ACTOR,
        "_id": object_id(0, "batch", product, yymm),
        "createdAt": creation_date,
        "updatedAt": creation_date,
        "type": "DEVICE",
        "actionScope": "DEVELOPMENT",
        "actorName": "OVES",
        "batchNumber": f"{product}{yymm}000001",
        "itemSKU": sku,
        "batchDate": creation_date,
        "description": f"Production batch {product}{yymm}",
        "batchState": "Completed",
        "eventMap": None,
    }
    firmware = {
        **_ACTOR,
        "_id": object_id(0, "firmware", product),
        "createdAt": creation_date,
        "updatedAt": creation_date,
        "type": "SOFTWARE",
        "actionScope": "DEVELOPMENT",
        "actorName": "OVES",
        "version": "1.4.2",
        "codeSystem": "ACP1",
        "description": "eIoT firmware",
    }
    return {"itemSKU": sku, "itemBatch": batch, "itemFirmware": firmware}


def fleet_object(fleet: Fleet, fleet_id: str, assigned: str) -> dict[str, Any]:
    """A fleet as the printed ``ItemFleet`` type shapes it."""
    return {
        **_ACTOR,
        "_id": fleet_id,
        "createdAt": assigned,
        "updatedAt": assigned,
        "type": "ORGANIZATION",
        "actionScope": "CLIENT",
        "actorName": "distributor",
        "fleetName": fleet.name,
        "assignDate": assigned,
        "description": f"{fleet.name} fleet",
        "itemList": None,
        "distributor": None,
        **fleet.printed_limits(),
    }


def code_generator(
    item_id: str, fleet: Fleet, counts: tuple[int, int, int], hash_index: int, created: str
) -> dict[str, Any]:
    """An item's code generator: its ``(total, free, reset)`` counts and chain position."""
    total, free, reset = counts
    root = hashlib.sha256(f"root:{item_id}".encode()).hexdigest()[:16].upper()
    return {
        **_ACTOR,
        "_id": object_id(0, "generator", item_id),
        "createdAt": created,
        "updatedAt": created,
        "type": "DEVICE",
        "actionScope": "DEVELOPMENT",
        "actorName": "codeGenerator",
        "codeSystem": {
            "_id": object_id(0, "codesystem", "ACP1"),
            "codeRange": ["DAYSCODE", "FREECODE", "RESETCODE"],
            "freeCodeJump": 1096,
            "hashChainLength": 100000,
            "hashMaxJump": 1095,
            "resetCodeJump": 2192,
            "system": "ACP1",
        },
        "hashRoot": root,
        "hashTop": root,
        "hashTopInitial": root,
        "codeCount": total,
        "hashIndex": hash_index,
        "codeReversalCount": 0,
        "freeCodeCount": free,
        "resetCodeCount": reset,
        "codeHistory": None,
        "codeLimits": {"freeCodeCount": fleet.free_limit, "resetCodeCount": fleet.reset_limit},
    }


def event_actor_fields() -> dict[str, Any]:
    """The actor fields every code event carries."""
    return {"triggers": [], "type": "EVENT", "actionScope": "CLIENT", "actorName": "codeEvent"}

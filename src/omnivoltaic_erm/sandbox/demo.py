"""The sandbox's demo data: what an item, its relations and its code events look like.

Values follow the handbook where it shows them and the printed schema elsewhere: every
non-null field of ``Item`` and of the relations it reaches (``itemSKU``, ``itemBatch``,
``itemFirmware``, ``itemFleet``, ``codeGenerator``) is filled, enums take their printed
values (``CodeGenUsed``, ``LifeCycle``, ``BatchState``, ``CodeSystemType``), and
``legacyItemId`` is a number on some items. Fields that public front ends read are filled
too: an OpenToken item's ``openTokencodeGen``, and the sign-in profile's names, role and
office address. Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import codes
from .fleets import Fleet
from .settings import EffectiveLimits

OPENTOKEN = "OPENTOKEN"

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
    code_gen = OPENTOKEN if index % 7 == 6 else "OVES"
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


@dataclass(frozen=True, slots=True)
class Chain:
    """Where an item's hash chain stands: its latest link (None before any event)."""

    item_id: str
    hash_index: int
    latest_link: str | None


def code_generator(
    chain: Chain, limits: EffectiveLimits, counts: tuple[int, int, int], created: str
) -> dict[str, Any]:
    """An item's code generator: its ``(total, free, reset)`` counts and chain position;
    ``codeLimits`` are the item's effective free and reset limits."""
    total, free, reset = counts
    root = codes.hash_root(chain.item_id)
    top = root if chain.latest_link is None else codes.hash_of(chain.latest_link)
    return {
        **_ACTOR,
        "_id": generator_id(chain.item_id),
        "_itemId": chain.item_id,
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
        "hashTop": top,
        "hashTopInitial": root,
        "codeCount": total,
        "hashIndex": chain.hash_index,
        "codeReversalCount": 0,
        "freeCodeCount": free,
        "resetCodeCount": reset,
        "codeLimits": {"freeCodeCount": limits.free_limit, "resetCodeCount": limits.reset_limit},
    }


def generator_id(item_id: str) -> str:
    """The ``CodeGenerator._id`` of an item."""
    return object_id(0, "generator", item_id)


# The OpenToken type of the token a code event stands for: a days code adds time, a free
# code ends pay-as-you-go, a reset code sets the time (to zero).
_OPEN_TOKEN_TYPES = {"DAYSCODE": "ADD_TIME", "FREECODE": "DISABLE_PAYG", "RESETCODE": "SET_TIME"}


def open_token_generator(
    item_id: str, created: str, count: int, latest: Mapping[str, Any] | None
) -> dict[str, Any]:
    """An OpenToken item's ``OpenTokenCodeGen``: ``max_count`` is the tokens issued so
    far, ``token`` (and its type and days) the latest one, digits only; before any, the
    starting code with ``SET_TIME`` 0. The key and starting code are derived from the
    item's id: well-formed, and no device holds them."""
    seed = hashlib.sha256(f"opentoken:{item_id}".encode()).hexdigest()
    starting_code = f"{int(seed[32:40], 16) % 10**9:09d}"
    if latest is None:
        token, token_type, value, updated = starting_code, "SET_TIME", 0.0, created
    else:
        token, token_type, value = _token(
            latest["code_type"], latest["code_days"], latest["code_dec"]
        )
        updated = str(latest["created_at"])
    return {
        "_id": object_id(0, "opentoken", item_id),
        "_itemId": item_id,
        "createdAt": created,
        "updatedAt": updated,
        "deleteStatus": False,
        "deleteAt": None,
        "secret_key": seed[:32],
        "starting_code": starting_code,
        "token": token,
        "token_type": token_type,
        "token_value": value,
        "max_count": float(count),
    }


def _token(code_type: str, days: int, code_dec: str) -> tuple[str, str, float]:
    """``(token, token_type, token_value)`` of the OpenToken token a code event stands for."""
    token = "".join(ch for ch in code_dec if ch.isdigit())
    value = float(days) if code_type == "DAYSCODE" else 0.0
    return token, _OPEN_TOKEN_TYPES.get(code_type, "ADD_TIME"), value


def open_token_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A code event (as the store shapes it) as the printed ``OpenTokenCodeEvent``: a
    ``GENERATED_TOKEN`` whose ``max_count`` is its place in the item's count."""
    token, token_type, value = _token(
        str(event["codeType"]), int(event["codeDays"]), str(event["codeDecString"])
    )
    return {
        "_id": object_id(0, "opentoken-event", event["_id"]),
        "createdAt": event["createdAt"],
        "updatedAt": event["createdAt"],
        "deleteStatus": False,
        "deleteAt": None,
        "triggers": [],
        "type": "EVENT",
        "actionScope": "CLIENT",
        "actorName": "openTokenCodeEvent",
        "profile": None,
        "code_history_type": "GENERATED_TOKEN",
        "token": token,
        "token_type": token_type,
        "token_value": value,
        "max_count": float(event["codeNumber"]),
        "opentokencodeGen": None,
        "opentokencodeDecoder": None,
    }


# The two demo distributors' people and offices. The first has a contact person's names;
# the second leaves them null, as the handbook's sign-in example of a distributor does.
_PROFILES: tuple[dict[str, Any], ...] = (
    {
        "firstName": "Amina",
        "lastName": "Otieno",
        "address": ("Nairobi", "Kenya", "00100", "Nairobi County", "Ngong Road 42", "Suite 4"),
    },
    {
        "firstName": None,
        "lastName": None,
        "address": ("Kampala", "Uganda", "256", "Central Region", "Jinja Road 7", "Unit 2"),
    },
)


def distributor_profile(distributor_id: str, index: int, joined: str) -> dict[str, Any]:
    """The profile fields of the ``index``-th demo distributor's sign-in result, as the
    printed ``AuthToken`` types them: names, ``role`` (the DISTRIBUTOR role),
    ``officeAddress`` and ``authenticationInstance``. ``subrole`` stays null: the
    handbook's example has no sub-role (``subRoleName: null``)."""
    profile = _PROFILES[index % len(_PROFILES)]
    city, country, postcode, srpc, street, unit = profile["address"]
    record = {"createdAt": joined, "updatedAt": joined, "deleteStatus": False, "deleteAt": None}
    return {
        "firstName": profile["firstName"],
        "lastName": profile["lastName"],
        "role": {
            **record,
            "_id": object_id(0, "role", "DISTRIBUTOR"),
            "name": "DISTRIBUTOR",
            "distributor": [],
            "organization": [],
            "servicer": [],
            "supplier": [],
            "permissions": None,
        },
        "officeAddress": {
            **record,
            "_id": object_id(0, "address", distributor_id),
            "city": city,
            "country": country,
            "postcode": postcode,
            "srpc": srpc,
            "street": street,
            "unit": unit,
        },
        "authenticationInstance": {
            **record,
            "_id": object_id(0, "authentication-instance", "OVES"),
            "name": "OVES",
            "distributor": [],
            "organization": [],
            "servicer": [],
            "supplier": [],
        },
        "subrole": None,
    }


def event_actor_fields() -> dict[str, Any]:
    """The actor fields every code event carries."""
    return {"triggers": [], "type": "EVENT", "actionScope": "CLIENT", "actorName": "codeEvent"}

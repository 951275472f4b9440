"""The handbook's own request documents, copied verbatim, run against the sandbox.

Each document below is the handbook's text; only its placeholders (credentials, item
ids) are filled in, with ``str.replace`` or the handbook's own ``%`` / f-string
formatting, and each answer must have the shape the handbook shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from omnivoltaic_erm.sandbox import Sandbox
from tests.conftest import ROOT
from tests.support.sandbox_http import gql, sign_in

# The handbook lives in shared/, beside the clone (as in CI) or at the workplace's root.
HANDBOOK = next(
    (
        p
        for p in (
            ROOT.parent / "shared" / "reference" / "erm-api-handbook.txt",
            Path("/work/shared/reference/erm-api-handbook.txt"),
        )
        if p.is_file()
    ),
    ROOT.parent / "shared" / "reference" / "erm-api-handbook.txt",
)
DATA = ROOT / "tests" / "data"
HEX = re.compile(r"^[0-9A-F]{16}$")
DEC = re.compile(r"^\*\d{3}( \d{3}){6}#$")

# Login Endpoint.
SIGN_IN_CLIENT = """
    mutation {
      signInClient(signInCredentialsInput:{
        email:""
        password:""
      }){
        accessToken
      }
    }
"""

# Login, Python `authenticate`.
AUTHENTICATE_BODY = """
        mutation {
          signInUser(signInCredentials:{
            email: "%s"
            password: "%s"
          }){
            _id
            accessToken
          }
        }
        """

# Login, Node.js.
NODE_SIGN_IN_CLIENT = """
  mutation {
    signInClient(signInCredentialsInput:{
      email:"your@distributor.com",
      password:"distributor_password"
    }){
      _id
      accessToken
    }
  }
"""

# Days Code, step 2: "Getting distributor Items to generate code for".
GET_ALL_CLIENT_ITEMS = """
query GetAllClientItems {
    getAllClientItems(queryorder: DESC, last: 100, assetaccount: false) {
        page {
            edges {
                cursor
                node {
                    _id
                    deleteStatus
                    deleteAt
                    createdAt
                    updatedAt
                    triggers
                    type
                    actionScope
                    actorName
                    profile
                    idType
                    idString
                    description
                    creationDate
                    oemID
                    oemItemID
                    sellerID
                    sellerItemID
                    lifeCycle
                    codeGenUsed
                    legacyItemId
                    code
                }
            }
        }
    }
}
"""

# 1. Days Code, Python (and Node.js: the same document).
DAYS_CODE = """
mutation ($itemId: ID!, $codeDays: Int!) {
  generateDaysCode(generateDaysCodeInput: {
    itemId: $itemId
    codeDays: $codeDays
    description: "daycode"
  }) {
    codeType
    codeHex
    codeDec
  }
}
"""

# 1. Days Code, "Example of the above": sign in and a days code in one document.
SIGN_IN_USER_AND_DAYS_CODE = """
    mutation SignInUser {
    signInUser(
        signInCredentials: { email: "distributor_email", password: "your password" }
    ) {
        accessToken
        refreshToken
        _id
        deleteStatus
        deleteAt
        createdAt
        updatedAt
        email
        agentType
        agentId
        hireDate
        idString
        type
        name
        profile
        idType
        birthDate
        actionScope
        roleName
        subRoleName
        firstName
        lastName
    }
    generateDaysCode(
        generateDaysCodeInput: {
            itemId: "61a4ae46f67defrii3558sj"
            codeDays: 1
            description: "testing code generation"
        }
    ) {
        codeType
        codeHex
        codeDec
    }
}
"""

# 2. Free Codes, Python.
FREE_CODE = """
mutation GenerateFreeCode($itemId: ID!) {
  generateFreeCode(generateFreeCodeInput: {
    description: "free code generation"
    itemId: $itemId
  }) {
    codeDec
    codeHex
    codeType
  }
}
"""

# 2. Free Codes, Node.js "the post method(mutation)".
FREE_CODE_POST = """
mutation GenerateFreeCode {
    generateFreeCode(
        generateFreeCodeInput: { itemId: "your_itemId", description: "test" }
    ) {
        codeType
        codeHex
        codeDec
    }
}
"""

# 3. Reset Codes, Python.
RESET_CODE = """
mutation GenerateResetCode($itemId: ID!) {
    generateResetCode(generateResetCodeInput: {
      description: "reset code generation"
      itemId: $itemId
    }) {
      codeDec
      codeHex
      codeType
    }
}
"""

# Fetch Code History, `fetch_code_history` (an f-string in the handbook).
FETCH_CODE_HISTORY = """
    query {{
        getItemsForDownloadById(ids: ["{item_id}"]) {{
            item {{
                _id
                oemID
                oemItemID
            }}
            codeHistory {{
                _id
                deleteStatus
                deleteAt
                codeType
                codeDays
                codeNumber
            }}
        }}
    }}
    """

# Fetch Code History, "Expected Response".
CODE_HISTORY_EXPECTED = """
{
  getItemsForDownloadById(ids: ["67c8005b6fe08baf2c62e3bd"]) {
    item {
      _id
      oemID
      oemItemID
    }
    codeHistory {
      _id
      deleteStatus
      deleteAt
      codeType
      codeDays
      codeNumber
    }
  }
}
"""

# Getting Items Code, `get_node_id`.
GET_NODE_ID = """
        query {
          getAllClientItems(
            search: "%s"
            first: 1
            queryorder: DESC
            assetaccount: false
          ) {
            page {
              edges {
                node {
                  _id
                  oemID
                  oemItemID
                  sellerItemID
                  description
                  actorName
                  createdAt
                  updatedAt
                }
              }
            }
          }
        }
    """

DOCUMENTS = [
    SIGN_IN_CLIENT,
    AUTHENTICATE_BODY,
    NODE_SIGN_IN_CLIENT,
    GET_ALL_CLIENT_ITEMS,
    DAYS_CODE,
    SIGN_IN_USER_AND_DAYS_CODE,
    FREE_CODE,
    FREE_CODE_POST,
    RESET_CODE,
    FETCH_CODE_HISTORY,
    CODE_HISTORY_EXPECTED,
    GET_NODE_ID,
]


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.skipif(not HANDBOOK.is_file(), reason="the handbook is not on this machine")
def test_documents_are_verbatim_copies_of_the_handbook() -> None:
    handbook = _words(HANDBOOK.read_text())
    for document in DOCUMENTS:
        assert _words(document) in handbook, document[:80]


def _load(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text())


def _same_shape(expected: Any, actual: Any) -> None:
    """Same keys, and the same JSON type for every value the handbook shows.

    Where the handbook shows null, the sandbox may fill the field: the printed schema
    types it (``codeGenUsed: CodeGenUsed``, ``agentType: AgentTypes``, ...).
    """
    if expected is None:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (expected, actual)
        for key, value in expected.items():
            _same_shape(value, actual[key])
    elif isinstance(expected, list):
        assert isinstance(actual, list)
        for a, e in zip(actual, expected, strict=False):
            _same_shape(e, a)
    else:
        assert type(actual) is type(expected), (expected, actual)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(items=50, code_interval=0) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def token(sb: Sandbox) -> str:
    return sign_in(sb)


def _code(result: dict[str, Any], field: str, code_type: str) -> None:
    assert "errors" not in result, result
    code = result["data"][field]
    assert set(code) == {"codeType", "codeHex", "codeDec"}
    assert code["codeType"] == code_type
    assert HEX.match(code["codeHex"]) and DEC.match(code["codeDec"])


def test_login_documents(sb: Sandbox) -> None:
    doc = SIGN_IN_CLIENT.replace('email:""', f'email:"{sb.email}"').replace(
        'password:""', f'password:"{sb.password}"'
    )
    result = gql(sb, doc)
    assert list(result) == ["data"] and set(result["data"]["signInClient"]) == {"accessToken"}

    result = gql(sb, AUTHENTICATE_BODY % (sb.email, sb.password))
    user = result["data"]["signInUser"]
    assert set(user) == {"_id", "accessToken"} and user["accessToken"].count(".") == 2

    doc = NODE_SIGN_IN_CLIENT.replace("your@distributor.com", sb.email).replace(
        "distributor_password", sb.password
    )
    client = gql(sb, doc)["data"]["signInClient"]
    assert set(client) == {"_id", "accessToken"} and client["_id"] == user["_id"]


def test_items_page_has_the_handbooks_shape(sb: Sandbox, token: str) -> None:
    result = gql(sb, GET_ALL_CLIENT_ITEMS, token=token)
    edges = result["data"]["getAllClientItems"]["page"]["edges"]
    sample = _load("handbook_items_page")["data"]["getAllClientItems"]["page"]["edges"]
    # The printed schema gives `first` a default of 10, which Relay applies before `last`:
    # the handbook's `last: 100` alone selects the 10 newest items.
    assert len(edges) == 10
    assert [e["cursor"] for e in edges[:2]] == [e["cursor"] for e in sample]
    for edge in edges:
        _same_shape(sample[0], edge)
    created = [e["node"]["createdAt"] for e in edges]
    assert created == sorted(created, reverse=True)  # DESC, as in the handbook
    assert edges[0]["node"]["oemItemID"] == "DVAV2501000050"


def test_code_documents(sb: Sandbox, token: str) -> None:
    items = sb.items()
    result = gql(sb, DAYS_CODE, {"itemId": items[0]["_id"], "codeDays": 4}, token)
    _code(result, "generateDaysCode", "DAYSCODE")
    assert sb.history(items[0]["_id"])[0]["description"] == "daycode"

    doc = (
        SIGN_IN_USER_AND_DAYS_CODE.replace("distributor_email", sb.email)
        .replace("your password", sb.password)
        .replace("61a4ae46f67defrii3558sj", items[1]["oemItemID"])
    )
    result = gql(sb, doc, token=token)
    assert list(result["data"]) == ["signInUser", "generateDaysCode"]
    _same_shape(_load("handbook_sign_in_user")["data"]["signInUser"], result["data"]["signInUser"])
    assert result["data"]["signInUser"]["roleName"] == "DISTRIBUTOR"
    _code(result, "generateDaysCode", "DAYSCODE")
    assert sb.history(items[1]["_id"])[0]["description"] == "testing code generation"

    _code(
        gql(sb, FREE_CODE, {"itemId": items[2]["sellerItemID"]}, token),
        "generateFreeCode",
        "FREECODE",
    )
    _code(
        gql(sb, FREE_CODE_POST.replace("your_itemId", items[3]["_id"]), token=token),
        "generateFreeCode",
        "FREECODE",
    )
    _code(gql(sb, RESET_CODE, {"itemId": items[4]["_id"]}, token), "generateResetCode", "RESETCODE")
    assert [sb.history(i["_id"])[0]["description"] for i in items[2:5]] == [
        "free code generation",
        "test",
        "reset code generation",
    ]


def test_code_history_documents(sb: Sandbox, token: str) -> None:
    item = sb.items()[10]
    gql(sb, DAYS_CODE, {"itemId": item["_id"], "codeDays": 4}, token)
    for doc in (
        FETCH_CODE_HISTORY.format(item_id=item["_id"]),
        CODE_HISTORY_EXPECTED.replace("67c8005b6fe08baf2c62e3bd", item["_id"]),
    ):
        result = gql(sb, doc, token=token)
        [entry] = result["data"]["getItemsForDownloadById"]
        assert entry["item"] == {
            "_id": item["_id"],
            "oemID": "OVES",
            "oemItemID": item["oemItemID"],
        }
        [event] = entry["codeHistory"]
        assert set(event) == {
            "_id",
            "deleteStatus",
            "deleteAt",
            "codeType",
            "codeDays",
            "codeNumber",
        }
        assert (event["codeType"], event["codeDays"], event["codeNumber"]) == ("DAYSCODE", 4, 1)
        assert event["deleteStatus"] is False and event["deleteAt"] is None


def test_get_node_id_finds_the_handbooks_own_search_term(sb: Sandbox) -> None:
    # The second demo distributor's first item is the handbook's "06AH2502000001".
    other = sign_in(sb, sb.other_email, sb.other_password)
    result = gql(sb, GET_NODE_ID % "06AH2502000001", token=other)
    [edge] = result["data"]["getAllClientItems"]["page"]["edges"]
    node = edge["node"]
    assert node["oemItemID"] == node["sellerItemID"] == "06AH2502000001"
    assert node["_id"] == sb.items(sb.other_email)[0]["_id"]
    assert (node["oemID"], node["actorName"]) == ("OVES", "eIOT")
    # The demo distributor does not own it.
    mine = gql(sb, GET_NODE_ID % "06AH2502000001", token=sign_in(sb))
    assert mine["data"]["getAllClientItems"]["page"]["edges"] == []


def test_unauthorized_matches_the_handbook() -> None:
    # The handbook's capture is the shape of an earlier deployment: the sandbox answers
    # in it when asked (the current shape is tested in test_sandbox_errors.py).
    with Sandbox(items=1, error_shape="handbook") as sb:
        result = gql(sb, GET_ALL_CLIENT_ITEMS)
    expected = _load("handbook_unauthorized")
    assert result["data"] is None and expected["data"] is None
    [error] = result["errors"]
    [sample] = expected["errors"]
    assert error["message"] == sample["message"] == "Unauthorized"
    _same_shape(sample["extensions"], error["extensions"])
    for key in ("code", "response"):
        assert error["extensions"][key] == sample["extensions"][key]
    assert error["extensions"]["exception"]["message"] == "Unauthorized"

"""The dashboard's admin API (/admin) over HTTP, against a sandbox started here: the
token, the request log, decision traces, look-up by request id, items and limits, token
sessions, fault rules, the test clock, reset, snapshots and the errors summary."""

from __future__ import annotations

import json
import random
from typing import Any

import requests

from omnivoltaic_erm.errors import CODE_DAILY_LIMIT, CODE_RATE_LIMITED
from omnivoltaic_erm.sandbox import Sandbox
from omnivoltaic_erm.sandbox.requestlog import MAX_KEPT_BODY, kept
from tests.support.admin_http import admin, tagged
from tests.support.sandbox_http import DAYS, ITEMS, error_of, gql, post, refusal_of, sign_in

TAG_A = "0123456789abcdef"
TAG_B = "fedcba9876543210"
REFRESH = """
mutation ($t: String!) { refreshAccessToken(refreshToken: $t) { accessToken refreshToken } }"""
SIGN_IN_BOTH = """
mutation ($email: String!, $password: String!) {
  signInUser(signInCredentials: {email: $email, password: $password}) {
    accessToken refreshToken
  }
}"""


def _days(sb: Sandbox, token: str, item: str, tag: str | None = None) -> dict[str, Any]:
    description = tagged("batch", tag) if tag else "batch"
    return gql(sb, DAYS, {"itemId": item, "codeDays": 7, "description": description}, token)


def _rows(sb: Sandbox, query: str = "") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = admin(sb, "GET", f"/requests{query}")["requests"]
    return rows


def test_admin_and_dashboard_answer_401_without_the_token_and_change_nothing() -> None:
    with Sandbox() as sb:
        for path in ("/admin/requests", "/admin/clock", "/dashboard", "/dashboard/static/x"):
            assert requests.get(sb.base_url + path, timeout=10).status_code == 401, path
        admin(sb, "POST", "/clock", {"advance": 100}, token=None, status=401)
        admin(sb, "POST", "/clock", {"advance": 100}, token="not-the-token", status=401)
        admin(sb, "POST", "/reset", token=None, status=401)
        assert sb.store.clock.offset == 0
        assert admin(sb, "GET", "/clock")["offset"] == 0
        page = requests.get(sb.dashboard_url, timeout=10)
        assert page.status_code == 200 and "ERM sandbox" in page.text
        # The first visit with ?token= leaves a cookie the page's own calls use.
        session = requests.Session()
        session.get(sb.dashboard_url, timeout=10)
        assert session.get(sb.base_url + "/admin/clock", timeout=10).status_code == 200
        header = {"X-ERM-Admin-Token": sb.admin_token}
        assert requests.get(sb.base_url + "/admin/clock", headers=header, timeout=10).ok


def test_without_the_dashboard_there_is_no_admin_api() -> None:
    with Sandbox(dashboard=False) as sb:
        assert requests.get(sb.base_url + "/admin/requests", timeout=10).status_code == 404
        assert requests.get(sb.base_url + "/dashboard", timeout=10).status_code == 404


def test_the_request_log_shows_each_request_with_its_secrets_redacted() -> None:
    with Sandbox(code_interval=0) as sb:
        token = sign_in(sb)
        item = sb.items()[0]["_id"]
        code = _days(sb, token, item, TAG_A)["data"]["generateDaysCode"]["codeHex"]
        sign_in_row, code_row = _rows(sb)
        assert sign_in_row["operation"] == "signInUser" and sign_in_row["type"] == "mutation"
        assert code_row["operation"] == "generateDaysCode"
        assert code_row["item"] == item and code_row["codeType"] == "DAYSCODE"
        assert code_row["status"] == 200 and code_row["requestId"] == TAG_A
        assert code_row["session"] and code_row["fault"] is None and code_row["errors"] == []
        everything = json.dumps(admin(sb, "GET", "/requests/export"))
        assert sb.password not in everything and token not in everything
        assert code not in everything
        detail = admin(sb, "GET", f"/requests/{code_row['id']}")
        assert detail["request"]["headers"]["Authorization"] == "[redacted]"
        assert detail["response"]["body"]["data"]["generateDaysCode"]["codeHex"] == "[redacted]"
        signed = admin(sb, "GET", f"/requests/{sign_in_row['id']}?reveal=codes")
        assert signed["request"]["body"]["variables"]["password"] == "[redacted]"
        assert signed["response"]["body"]["data"]["signInUser"]["accessToken"] == "[redacted]"
        revealed = admin(sb, "GET", f"/requests/{code_row['id']}?reveal=codes")
        assert revealed["response"]["body"]["data"]["generateDaysCode"]["codeHex"] == code
        assert "$ERM_TOKEN" in revealed["curl"] and token not in revealed["curl"]
        # Filters.
        assert [r["id"] for r in _rows(sb, "?operation=signInUser")] == [sign_in_row["id"]]
        assert [r["id"] for r in _rows(sb, f"?item={item}")] == [code_row["id"]]
        assert _rows(sb, "?status=502") == []
        assert len(_rows(sb, f"?since={code_row['at']}")) == 1


def test_the_request_log_is_a_ring_buffer_of_the_configured_size() -> None:
    with Sandbox(request_log_size=3) as sb:
        for _ in range(5):
            sign_in(sb)
        body = admin(sb, "GET", "/requests")
        assert body["size"] == 3
        assert [r["id"] for r in body["requests"]] == [3, 4, 5]


def test_the_event_stream_delivers_each_new_request() -> None:
    with Sandbox() as sb:
        headers = {"Authorization": f"Bearer {sb.admin_token}"}
        with requests.get(
            sb.base_url + "/admin/stream", headers=headers, stream=True, timeout=30
        ) as stream:
            lines = stream.iter_lines(decode_unicode=True)
            assert next(lines) == ": connected"
            sign_in(sb)
            data = next(line for line in lines if line.startswith("data: "))
        assert json.loads(data.removeprefix("data: "))["operation"] == "signInUser"


def test_a_refused_code_request_carries_its_decision_trace() -> None:
    with Sandbox(code_interval=3600) as sb:
        token = sign_in(sb)
        item = sb.items()[0]["_id"]
        _days(sb, token, item, TAG_A)
        refused = _days(sb, token, item, TAG_B)
        assert refusal_of(error_of(refused))[0] == CODE_RATE_LIMITED
        first, second = _rows(sb, "?operation=generateDaysCode")
        assert second["refused"] and not first["refused"]
        detail = admin(sb, "GET", f"/requests/{second['id']}")
        steps = {step["rule"]: step for step in detail["trace"]}
        assert steps["interval"]["verdict"] == "refuse"
        assert steps["interval"]["limit"] == 3600 and steps["interval"]["level"] == "fleet"
        assert 0 <= steps["interval"]["value"] < 3600
        assert steps["total"]["verdict"] == steps["daily"]["verdict"] == "pass"
        assert steps["free"]["verdict"] == "not checked"
        assert detail["event"] is None
        assert [refusal_of(e)[0] for e in detail["graphqlErrors"]] == [CODE_RATE_LIMITED]
        assert second["errors"] == [CODE_RATE_LIMITED]
        stored = admin(sb, "GET", f"/requests/{first['id']}?reveal=codes")
        assert stored["event"]["description"] == tagged("batch", TAG_A)
        assert stored["event"]["_id"] == sb.history(item)[0]["_id"]
        assert all(s["verdict"] in ("pass", "not checked", "off") for s in stored["trace"])


def test_look_up_by_request_id_alarms_when_one_tag_has_two_events() -> None:
    with Sandbox(code_interval=0) as sb:
        token = sign_in(sb)
        first, second = (item["_id"] for item in sb.items()[:2])
        _days(sb, token, first, TAG_A)
        _days(sb, token, second, TAG_A)
        _days(sb, token, second, TAG_B)
        twice = admin(sb, "GET", f"/lookup/{TAG_A}")
        assert twice["alarm"] is True
        assert [e["_itemId"] for e in twice["events"]] == [first, second]
        assert len(twice["requests"]) == 2
        once = admin(sb, "GET", f"/lookup/{TAG_B}")
        assert once["alarm"] is False and len(once["events"]) == 1


def test_items_show_their_counts_and_limits_are_editable_live() -> None:
    with Sandbox(code_interval=600) as sb:
        token = sign_in(sb)
        item = sb.items()[0]["_id"]
        _days(sb, token, item)
        row = next(r for r in admin(sb, "GET", "/items")["items"] if r["item"] == item)
        assert row["counts"]["total"] == 1 and row["counts"]["daily"] == 1
        assert 0 < row["nextAllowedIn"] <= 600
        index = row["fleetIndex"]
        admin(sb, "PATCH", f"/fleets/{index}", {"code_interval": 0, "daily_limit": 1})
        assert refusal_of(error_of(_days(sb, token, item)))[0] == CODE_DAILY_LIMIT
        admin(sb, "PATCH", f"/fleets/{index}", {"disabled": ["daily"]})
        assert _days(sb, token, item)["data"]["generateDaysCode"]["codeType"] == "DAYSCODE"
        admin(sb, "PATCH", f"/fleets/{index}", {"daily_limit": "x"}, status=400)
        admin(sb, "PATCH", "/fleets/99", {"daily_limit": 1}, status=404)


def test_token_sessions_show_the_rotation_chain_and_can_be_ended() -> None:
    with Sandbox(code_interval=0) as sb:
        signed = gql(sb, SIGN_IN_BOTH, {"email": sb.email, "password": sb.password})
        tokens = signed["data"]["signInUser"]
        rotated = gql(sb, REFRESH, {"t": tokens["refreshToken"]})["data"]["refreshAccessToken"]
        newest, oldest = admin(sb, "GET", "/sessions")["sessions"]
        assert newest["parent"] == oldest["refreshId"] and oldest["parent"] is None
        assert newest["state"] == "active"
        item = sb.items()[0]["_id"]
        assert "data" in _days(sb, rotated["accessToken"], item)
        admin(sb, "POST", f"/sessions/{newest['session']}/expire")
        refused = _days(sb, rotated["accessToken"], item)
        assert error_of(refused)["extensions"]["code"] == "UNAUTHENTICATED"
        admin(sb, "POST", f"/sessions/{oldest['session']}/revoke")
        assert admin(sb, "GET", "/sessions")["sessions"][1]["state"] == "revoked"
        admin(sb, "POST", "/sessions/nope/expire", status=404)


def test_a_fault_rule_fires_its_number_of_times_and_shows_on_the_request() -> None:
    with Sandbox(code_interval=0) as sb:
        token = sign_in(sb)
        rule = admin(
            sb,
            "POST",
            "/faults",
            {"kind": "error_502", "operation": "generateDaysCode", "times": 1},
            status=201,
        )
        item = sb.items()[0]["_id"]
        body = {"query": DAYS, "variables": {"itemId": item, "codeDays": 1}}
        assert post(sb.url, body, token).status == 502
        assert post(sb.url, body, token).status == 200
        rows = _rows(sb, "?operation=generateDaysCode")
        assert [(r["status"], r["fault"]) for r in rows] == [(502, "error_502"), (200, None)]
        assert admin(sb, "GET", "/faults")["rules"][0]["fired"] == 1
        assert _rows(sb, "?fault=error_502") == rows[:1]
        admin(sb, "DELETE", f"/faults/{rule['id']}")
        assert admin(sb, "GET", "/faults")["rules"] == []
        admin(sb, "POST", "/faults", {"kind": "nonsense"}, status=400)
        admin(sb, "POST", "/faults", {"kind": "html", "times": 1}, status=201)
        page = post(sb.url, body, token)
        assert page.status == 200 and page.content_type == "text/html"
        assert post(sb.url, body, token).status == 200


def test_the_log_keeps_at_most_a_bounded_part_of_each_body() -> None:
    small = b'{"data": {}}'
    assert kept(small) == small
    assert kept(b"x" * (MAX_KEPT_BODY * 3)) == b"x" * MAX_KEPT_BODY


def test_a_seeded_fault_rule_fires_as_its_seed_says() -> None:
    with Sandbox() as sb:
        token = sign_in(sb)
        admin(sb, "POST", "/faults", {"kind": "unauthenticated", "probability": 0.5,
                                      "seed": 7, "operation": "getAllClientItems"},
              status=201)  # fmt: skip
        rng = random.Random(7)
        expected = [rng.random() < 0.5 for _ in range(10)]
        fired = []
        for _ in range(10):
            result = gql(sb, ITEMS, {"order": "ASC", "first": 1}, token)
            fired.append(bool(result.get("errors")))
            if result.get("errors"):
                assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert fired == expected and any(fired) and not all(fired)


def test_the_test_clock_passes_an_interval_and_a_token_life_without_waiting() -> None:
    with Sandbox(code_interval=3600, token_ttl=600) as sb:
        token = sign_in(sb)
        item = sb.items()[0]["_id"]
        _days(sb, token, item)
        assert refusal_of(error_of(_days(sb, token, item)))[0] == CODE_RATE_LIMITED
        before = admin(sb, "GET", "/clock")["now"]
        moved = admin(sb, "POST", "/clock", {"advance": 3600})
        assert moved["offset"] == 3600 and moved["now"] >= before + 3600
        # The token (600 s) has expired on the sandbox's clock too.
        assert error_of(_days(sb, token, item))["extensions"]["code"] == "UNAUTHENTICATED"
        assert "data" in _days(sb, sign_in(sb), item) and len(sb.history(item)) == 2
        admin(sb, "POST", "/clock", {"advance": -1}, status=400)
        assert admin(sb, "POST", "/clock", {"reset": True})["offset"] == 0


def test_reset_snapshot_restore_and_the_errors_summary() -> None:
    with Sandbox(code_interval=3600) as sb:
        token = sign_in(sb)
        item = sb.items()[0]["_id"]
        _days(sb, token, item)
        admin(sb, "POST", "/snapshots", {"name": "one"}, status=201)
        _days(sb, token, item)  # refused: the interval
        admin(sb, "POST", "/clock", {"advance": 3600})
        _days(sb, token, item)
        assert len(sb.history(item)) == 2
        summary = admin(sb, "GET", "/errors")["errors"]
        assert {"code": CODE_RATE_LIMITED, "operation": "generateDaysCode", "count": 1} in summary
        restored = admin(sb, "POST", "/snapshots/one/restore")
        assert restored["counts"]["code_events"] == 1 and len(sb.history(item)) == 1
        assert admin(sb, "GET", "/clock")["offset"] == 0
        admin(sb, "POST", "/snapshots/two/restore", status=404)
        admin(sb, "POST", "/reset")
        assert sb.history(item) == [] and _rows(sb) == []
        assert admin(sb, "GET", "/errors")["errors"] == []


def test_a_distributor_setting_edited_live_applies_where_the_fleet_sets_nothing() -> None:
    with Sandbox(code_interval=0) as sb:
        token = sign_in(sb)
        item = sb.items()[0]["_id"]
        index = next(r for r in admin(sb, "GET", "/items")["items"] if r["item"] == item)[
            "fleetIndex"
        ]
        admin(sb, "PATCH", f"/fleets/{index}", {"daily_limit": None})
        assert admin(sb, "PATCH", f"/settings/{sb.email}", {"daily_limit": 1})["daily_limit"] == 1
        _days(sb, token, item)
        assert refusal_of(error_of(_days(sb, token, item)))[0] == CODE_DAILY_LIMIT
        refused = _rows(sb, "?operation=generateDaysCode")[-1]
        steps = {s["rule"]: s for s in admin(sb, "GET", f"/requests/{refused['id']}")["trace"]}
        assert steps["daily"] == {
            "rule": "daily",
            "level": "distributor",
            "limit": 1,
            "value": 1,
            "verdict": "refuse",
        }
        admin(sb, "PATCH", "/settings/nobody@example.com", {"daily_limit": 1}, status=404)
        admin(sb, "PATCH", f"/settings/{sb.email}", {"disabled": ["daily"]}, status=400)

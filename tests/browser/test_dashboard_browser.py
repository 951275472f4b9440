"""The dashboard in real headless Chromium (Playwright): requests arrive live, a refused
code's decision trace, look-up by request id, the test clock, a fault rule added on the
page, a reset. Skipped without Playwright or the system's Chromium (``/usr/bin/chromium``;
``make test-browser``). With ``ERM_SCREENSHOTS=docs/img`` it writes a screenshot of each
view there, for the docs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests

from omnivoltaic_erm.sandbox import Sandbox
from tests.support.admin_http import admin, tagged
from tests.support.sandbox_http import DAYS, SIGN_IN

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no system Chromium at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api")

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TAGS = ["a000000000000001", "a000000000000002", "a000000000000003", "a000000000000004"]
WAIT = 15_000  # ms: how long the page may take to show something


def _post(sb: Sandbox, body: dict[str, Any], token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(sb.url, json=body, headers=headers, timeout=30)


def _days(sb: Sandbox, token: str, item: str, tag: str) -> requests.Response:
    variables = {"itemId": item, "codeDays": 7, "description": tagged("batch", tag)}
    return _post(sb, {"query": DAYS, "variables": variables}, token)


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("ERM_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"dashboard-{name}.png"), full_page=True)


def _view(page: Any, name: str) -> None:
    page.click(f"nav button[data-view={name}]")


def test_the_dashboard_in_a_browser() -> None:
    with (
        Sandbox(code_interval=3600, items=4) as sb,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(WAIT)
        page.goto(sb.dashboard_url)
        page.wait_for_selector("#live:text('live')")

        # A small batch with a fault rule: the first code request answers 502.
        admin(sb, "POST", "/faults", {"kind": "error_502", "operation": "generateDaysCode",
                                      "times": 1}, status=201)  # fmt: skip
        signed = _post(sb, {"query": SIGN_IN, "variables": {"email": sb.email,
                                                            "password": sb.password}})  # fmt: skip
        token = signed.json()["data"]["signInUser"]["accessToken"]
        items = [item["_id"] for item in sb.items()]
        assert _days(sb, token, items[0], TAGS[0]).status_code == 502
        for item, tag in zip(items[:3], TAGS[:3], strict=True):
            assert _days(sb, token, item, tag).status_code == 200
        refused = _days(sb, token, items[0], TAGS[3]).json()
        assert refused["errors"][0]["extensions"]["rule"] == "CODE_INTERVAL"

        # The requests arrive live: sign-in, the faulted one, three codes, the refused one.
        rows = page.locator("#requests tbody tr")
        sync_api.expect(rows).to_have_count(6)
        sync_api.expect(page.locator("#requests tr.fault")).to_have_count(1)
        _shot(page, "requests")

        # The refused request's decision trace.
        page.locator("#requests tbody tr", has_text="CODE_INTERVAL").click()
        interval = page.locator("#trace tbody tr", has_text="interval")
        sync_api.expect(interval).to_contain_text("refuse")
        sync_api.expect(interval).to_contain_text("3600")
        sync_api.expect(page.locator("#detail-event")).to_have_text("null")
        _shot(page, "detail")

        # A code found by its request id.
        _view(page, "lookup")
        page.fill("#lookup-id", TAGS[1])
        page.click("#lookup-form button")
        sync_api.expect(page.locator("#lookup-events")).to_contain_text(f"[req:{TAGS[1]}]")
        sync_api.expect(page.locator("#lookup-alarm")).to_be_hidden()
        _shot(page, "lookup")

        # Items and their limits; token sessions.
        _view(page, "items")
        sync_api.expect(page.locator("#items tbody tr")).to_have_count(4)
        _shot(page, "items")
        _view(page, "sessions")
        sync_api.expect(page.locator("#sessions tbody tr")).to_have_count(1)
        _shot(page, "sessions")

        # Advance the clock past the interval; the next code is issued without waiting.
        _view(page, "clock")
        page.fill("#clock-seconds", "3600")
        page.click("#clock-form button[type=submit]")
        sync_api.expect(page.locator("#clock-offset")).to_have_text("3600")
        _shot(page, "clock")
        fresh = _post(sb, {"query": SIGN_IN, "variables": {"email": sb.email,
                                                           "password": sb.password}})  # fmt: skip
        token = fresh.json()["data"]["signInUser"]["accessToken"]
        assert _days(sb, token, items[0], "b000000000000001").status_code == 200
        assert len(sb.history(items[0])) == 2

        # A fault rule added on the page fires on the next code request (the first rule
        # has fired its one time).
        _view(page, "faults")
        page.select_option("#fault-form select[name=kind]", "error_504")
        page.fill("#fault-form input[name=operation]", "generateDaysCode")
        page.fill("#fault-form input[name=times]", "1")
        page.click("#fault-form button")
        added = page.locator("#faults tbody tr", has_text="error_504")
        sync_api.expect(added).to_have_count(1)
        assert _days(sb, token, items[3], "b000000000000002").status_code == 504
        _view(page, "faults")
        sync_api.expect(added.locator("td").nth(6)).to_have_text("1")
        _shot(page, "faults")
        _view(page, "requests")
        sync_api.expect(page.locator("#requests tbody tr", has_text="error_504")).to_have_count(1)

        # Reset the state: the errors summary first, then nothing left.
        _view(page, "state")
        sync_api.expect(page.locator("#errors tbody tr", has_text="CODE_INTERVAL")).to_have_count(1)
        _shot(page, "state")
        page.click("#reset")
        sync_api.expect(page.locator("#state-message")).to_have_text("Reset: 0 code events.")
        assert sb.history(items[0]) == []
        sync_api.expect(page.locator("#errors tbody tr")).to_have_count(0)
        browser.close()

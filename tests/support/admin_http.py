"""Helpers for the sandbox's admin API (``/admin``) in tests: one HTTP call each."""

from __future__ import annotations

from typing import Any

import requests

from omnivoltaic_erm.sandbox import Sandbox


def admin(
    sb: Sandbox,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = "",
    status: int = 200,
) -> Any:
    """Call ``/admin{path}`` with the sandbox's admin token (``token=None``: none; a
    string: that one); assert the status and return the JSON body."""
    headers = {}
    offered = sb.admin_token if token == "" else token
    if offered is not None:
        headers["Authorization"] = f"Bearer {offered}"
    response = requests.request(
        method, f"{sb.base_url}/admin{path}", json=body, headers=headers, timeout=30
    )
    assert response.status_code == status, response.text
    return response.json()


def tagged(text: str, request_id: str) -> str:
    """A code request's description with the client's request-id tag."""
    return f"{text} [req:{request_id}]"

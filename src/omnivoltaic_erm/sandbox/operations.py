"""What a GraphQL request is, read from its body: its root field and type (pure)."""

from __future__ import annotations

import re
from typing import Any

_ROOT_FIELD = re.compile(r"\{\s*(?:\w+\s*:\s*)?(\w+)")
_KIND = re.compile(r"^\s*(query|mutation|subscription)\b")


def operation_of(body: dict[str, Any]) -> tuple[str, str]:
    """``(root field, "query" | "mutation" | "subscription")`` of a request body; the
    root field is the first one selected (``operationName`` when there is none)."""
    query = body.get("query")
    text = query if isinstance(query, str) else ""
    kind = _KIND.match(text)
    root = _ROOT_FIELD.search(text)
    name = root.group(1) if root else str(body.get("operationName") or "(none)")
    return name, kind.group(1) if kind else "query"

"""The documentation site's settings: self-contained, readable, its reference complete."""

from __future__ import annotations

import inspect
import re

import pytest

from omnivoltaic_erm import AsyncErmClient, ErmClient
from tests.conftest import ROOT

MKDOCS = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
CSS = (ROOT / "docs" / "stylesheets" / "extra.css").read_text(encoding="utf-8")


def test_the_site_loads_no_fonts_from_another_host() -> None:
    assert re.search(r"(?m)^  font: false$", MKDOCS)


def test_code_and_tables_wrap_and_shell_words_are_not_coloured_as_builtins() -> None:
    assert re.search(r"(?m)^  - stylesheets/extra\.css$", MKDOCS)
    assert "pygments_lang_class: true" in MKDOCS, "the CSS selects blocks by language"
    assert "white-space: pre-wrap" in CSS and "overflow-wrap: anywhere" in CSS
    assert "padding-right" in CSS, "room for the copy button"
    assert ".language-console .nb" in CSS and ".language-sh .nb" in CSS


@pytest.mark.parametrize("client", [AsyncErmClient, ErmClient])
def test_the_clients_take_no_internal_parameter(client: type) -> None:
    assert "clock" not in inspect.signature(client).parameters


def test_the_reference_lists_the_clients_public_attributes() -> None:
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    block = reference.split("::: omnivoltaic_erm.client.AsyncErmClient", 1)[1].split(":::")[0]
    listed = set(re.findall(r"(?m)^        - (\w+)$", block))
    for name in ("config", "url", "email", "state", "server_refusals", "sign_ins"):
        assert name in listed, name
    erm = AsyncErmClient("http://127.0.0.1:9/graphql", "a@b.test", "pw")
    public = {n for n in vars(erm) if not n.startswith("_")}
    public |= {n for n, v in vars(AsyncErmClient).items() if not n.startswith("_")}
    assert listed <= public
    assert {"config", "url", "email", "server_refusals"} <= public

"""The sandbox's defaults are its own (``sandbox.defaults``): the limits the printed schema
documents, read from the descriptions of the schema it serves, and the handbook's.

Checked four ways: the description readers from a table; each documented default read
here from ``schema.graphql`` (with graphql-core, apart from the sandbox's reader) against
the value the sandbox applies and serves; a description that no longer reads stopping the
sandbox with one line; and the client's ``_constants`` against the sandbox wherever both
name the same source, so that a wrong default on either side fails a test.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema

from omnivoltaic_erm import Limits
from omnivoltaic_erm import _constants as client
from omnivoltaic_erm.sandbox import Sandbox, SandboxConfig, defaults
from omnivoltaic_erm.sandbox.__main__ import main as sandbox_main
from omnivoltaic_erm.sandbox.defaults import (
    PrintedDefaultError,
    default_codes,
    default_count,
    default_duration,
    default_events,
    distributor_defaults,
    fleet_defaults,
    read_printed_defaults,
    window_duration,
)
from omnivoltaic_erm.sandbox.fleets import CREDIT, Fleet
from omnivoltaic_erm.sandbox.settings import DistributorSetting, printed_setting
from tests.conftest import ROOT
from tests.support.sandbox_http import gql, sign_in

SANDBOX_SOURCE = ROOT / "src" / "omnivoltaic_erm" / "sandbox"
PRINTED_TYPES = ("DistributorSetting", "ItemFleet")

# -- the readers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("read", "text", "value"),
    [
        (default_duration, "Minimum time (in ms) between two events. Default is 1 minute.", 60.0),
        (default_duration, "Default is 2 minutes", 120.0),
        (default_duration, "Default is 30 seconds.", 30.0),
        (default_duration, "Default is 1 hour", 3600.0),
        (window_duration, "Number of code events allowed for an item within 24 hours.", 86400.0),
        (window_duration, "within 12 hours", 43200.0),
        (default_events, "Total. Default is approximately 3 years (1096 events).", 1096),
        (default_events, "Default is 2 years (730 events)", 730),
        (default_count, "Maximum number of days code ... Default is 60", 60),
        (default_count, "`n` number of code event used. Default is 5\n", 5),
        (default_codes("FREECODES"), "Default number of FREECODES is 5", 5),
        (default_codes("RESETCODES"), "Default number of RESETCODES is 7.", 7),
    ],
)
def test_a_reader_takes_the_documented_number(
    read: Callable[[str], float], text: str, value: float
) -> None:
    assert read(text) == value
    assert type(read(text)) is type(value)


@pytest.mark.parametrize(
    ("read", "text"),
    [
        (default_duration, "Minimum time between two code events for an item."),
        (default_duration, "Default is one minute."),
        (default_duration, "Default is 1 fortnight."),
        (default_duration, "Default is 1 minute, unless the distributor sets another."),
        (window_duration, "Number of code events allowed for an item per day."),
        (default_events, "Total number of code events allowed for an item."),
        (default_events, "Default is approximately 3 years."),
        (default_count, "Default is sixty"),
        (default_count, "Default is 60 days per 30 days"),
        (default_codes("FREECODES"), "Default number of RESETCODES is 5"),
        (default_codes("FREECODES"), "Number of FREECODES"),
    ],
)
def test_a_reader_refuses_what_it_cannot_read(read: Callable[[str], float], text: str) -> None:
    with pytest.raises(ValueError, match="expected"):
        read(text)


# -- each documented default, read here, against the sandbox ------------------------------

# The printed field, the words of its description that document the default, the value
# they mean, and the name of that value in the sandbox.
DOCUMENTED = [
    ("codeGenInterval", "Default is 1 minute.", 60.0, "code_interval"),
    ("dayCodeCountLimit", "within 24 hours.", 86400.0, "daily_window"),
    ("totalCodeCountLimit", "Default is approximately 3 years (1096 events).", 1096, "total_limit"),
    ("freeCodeCount", "Default number of FREECODES is 5", 5, "free_limit"),
    ("resetCodeCount", "Default number of RESETCODES is 5", 5, "reset_limit"),
    ("maxCreditStackDays", "Default is 60", 60, "credit_days"),
    ("maxCreditStackCodeEvents", "Default is 5", 5, "credit_events"),
]


@pytest.fixture(scope="module")
def printed() -> Any:
    """``schema.graphql``, the schema the sandbox serves, built with graphql-core."""
    return build_schema((ROOT / "schema.graphql").read_text(encoding="utf-8"))


@pytest.mark.parametrize("type_name", PRINTED_TYPES)
@pytest.mark.parametrize(("field", "words", "value", "name"), DOCUMENTED)
def test_each_documented_default_is_the_sandboxs(
    printed: Any, type_name: str, field: str, words: str, value: float, name: str
) -> None:
    description = printed.type_map[type_name].fields[field].description
    assert description.endswith(words), description
    read = distributor_defaults() if type_name == "DistributorSetting" else fleet_defaults()
    assert getattr(read, name) == value


def test_the_sandbox_applies_the_documented_defaults(printed: Any) -> None:
    documented = {name: value for _, _, value, name in DOCUMENTED}
    # The last level of an item's limits, and a distributor setting nobody changed.
    assert printed_setting() == DistributorSetting()
    setting = DistributorSetting()
    for name in ("code_interval", "total_limit", "free_limit", "reset_limit"):
        assert getattr(setting, name) == documented[name], name
    assert (setting.credit_days, setting.credit_events) == (60, 5)
    # The handbook's daily count stands in where the schema documents none.
    assert (
        "Default"
        not in printed.type_map["DistributorSetting"].fields["dayCodeCountLimit"].description
    )
    assert setting.daily_limit == defaults.DAILY_CODE_LIMIT == 10
    # A fleet's credit values (its rule off unless turned on).
    fleet = Fleet("F", None, None, None, None, None)
    assert (fleet.credit_days, fleet.credit_events) == (60, 5)
    assert CREDIT in fleet.disabled
    # The default fleet: the documented counts and window, the handbook's interval and
    # daily count.
    config = SandboxConfig()
    assert config.total_limit == documented["total_limit"]
    assert config.free_limit == documented["free_limit"]
    assert config.reset_limit == documented["reset_limit"]
    assert config.daily_window == documented["daily_window"]
    assert (config.code_interval, config.daily_limit, config.max_days) == (6.0, 10, 1096)
    assert config.token_ttl == 24 * 3600


FLEET = """
query ($item: ID!) {
  getSpecificItem(itemId: $item) {
    itemFleet { totalCodeCountLimit freeCodeCount resetCodeCount maxCreditStackDays
                maxCreditStackCodeEvents disableMaxCreditStackDays }
  }
}"""


def test_the_sandbox_serves_the_documented_defaults(
    erm_sandbox_factory: Callable[..., Sandbox],
) -> None:
    # The distributor setting's, served: test_sandbox_frontend_reads.py
    # (test_the_distributor_setting_is_the_callers_own). The default fleet's:
    sb = erm_sandbox_factory(items=1)
    variables = {"item": sb.items()[0]["_id"]}
    data = gql(sb, FLEET, variables, sign_in(sb))["data"]
    assert data["getSpecificItem"]["itemFleet"] == {
        "totalCodeCountLimit": 1096,
        "freeCodeCount": 5,
        "resetCodeCount": 5,
        "maxCreditStackDays": 60,
        "maxCreditStackCodeEvents": 5,
        "disableMaxCreditStackDays": True,
    }


# -- a description that no longer reads ---------------------------------------------------

SDL = (ROOT / "schema.graphql").read_text(encoding="utf-8")
FREE = '"""Default number of FREECODES is 5"""'


def test_a_changed_description_is_an_error_naming_the_field_and_its_text() -> None:
    changed = SDL.replace(FREE, '"""Free codes: five, unless set"""')
    assert changed != SDL
    with pytest.raises(PrintedDefaultError) as caught:
        read_printed_defaults(changed, "DistributorSetting")
    message = str(caught.value)
    assert "DistributorSetting.freeCodeCount" in message
    assert "'Default number of FREECODES is N'" in message
    assert "'Free codes: five, unless set'" in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ((FREE, ""), "no description for it"),
        ((f"{FREE}\n  freeCodeCount:", f"{FREE}\n  freeCodes:"), "no such field"),
        (("type DistributorSetting {", "type DistributorSettings {"), "no type"),
        (
            ("type DistributorSetting {", "type DistributorSetting {{"),
            r"does not parse at line \d+: Syntax Error: Expected Name, found '{'\.$",
        ),
    ],
)
def test_a_missing_description_field_or_type_is_an_error(
    change: tuple[str, str], words: str
) -> None:
    changed = SDL.replace(*change)
    assert changed != SDL
    with pytest.raises(PrintedDefaultError, match=words):
        read_printed_defaults(changed, "DistributorSetting")


@pytest.fixture
def broken_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sandbox's schema with one default no longer documented as it reads it."""
    broken = SDL.replace(FREE, '"""Free codes per item"""')
    defaults.printed_defaults.cache_clear()
    monkeypatch.setattr(defaults, "default_schema_text", lambda: broken)
    yield
    monkeypatch.undo()
    defaults.printed_defaults.cache_clear()


@pytest.mark.usefixtures("broken_schema")
def test_a_sandbox_does_not_start_on_a_default_it_cannot_read() -> None:
    with pytest.raises(PrintedDefaultError, match=r"DistributorSetting\.freeCodeCount"):
        Sandbox(items=1).start()


@pytest.mark.usefixtures("broken_schema")
def test_the_sandbox_command_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert sandbox_main(["--port", "0"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "erm sandbox: error: the sandbox cannot read its default for "
        "DistributorSetting.freeCodeCount from the field's description in its schema: "
        "expected 'Default number of FREECODES is N' at its end, found 'Free codes per item'"
    ]


# -- the client and the sandbox, where both name the same source --------------------------

# (the client's constant in _constants, the sandbox's value, the source both name)
SAME_SOURCE: list[tuple[str, Callable[[], float], str]] = [
    ("CODE_INTERVAL", lambda: defaults.CODE_INTERVAL, "the handbook: at least 6 seconds"),
    ("DAILY_CODE_LIMIT", lambda: defaults.DAILY_CODE_LIMIT, "the handbook: 10 a day"),
    ("MAX_CODE_DAYS", lambda: defaults.MAX_CODE_DAYS, "the handbook: 1096 days"),
    ("DAILY_WINDOW", lambda: distributor_defaults().daily_window, "dayCodeCountLimit"),
    ("TOTAL_CODE_LIMIT", lambda: distributor_defaults().total_limit, "totalCodeCountLimit"),
    ("FREE_CODE_LIMIT", lambda: distributor_defaults().free_limit, "freeCodeCount"),
    ("RESET_CODE_LIMIT", lambda: distributor_defaults().reset_limit, "resetCodeCount"),
    ("CREDIT_STACK_EVENTS", lambda: fleet_defaults().credit_events, "maxCreditStackCodeEvents"),
]


@pytest.mark.parametrize(
    ("constant", "sandbox", "source"), SAME_SOURCE, ids=[row[0] for row in SAME_SOURCE]
)
def test_the_client_and_the_sandbox_agree_where_they_share_a_source(
    constant: str, sandbox: Callable[[], float], source: str
) -> None:
    assert getattr(client, constant) == sandbox(), source


def test_the_clients_default_limits_are_the_sandboxs_default_fleet() -> None:
    # What a client assumes before it reads an item's fleet is what the sandbox's
    # default fleet enforces.
    limits, config = Limits(), SandboxConfig()
    for name in ("code_interval", "daily_limit", "daily_window", "total_limit"):
        assert getattr(limits, name) == getattr(config, name), name
    for name in ("max_days", "free_limit", "reset_limit"):
        assert getattr(limits, name) == getattr(config, name), name


def test_no_sandbox_module_takes_a_default_from_the_client() -> None:
    found = []
    for path in sorted(SANDBOX_SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(a.name for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.rpartition(".")[2] == "_constants" for n in names):
                found.append(str(Path(path).relative_to(ROOT)))
    assert found == []

"""static/contract.js is generated from server/core/contract.py, and its JS agrees with Python.

The same tables of cases go to the Python reference (server.core.clock, server.core.periods) and
to the generated JavaScript run under node; the outputs must be equal, case for case.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from server.core import contract
from server.core.clock import display_clock, parse_clock, running_clock
from server.core.periods import period_label, period_short

ROOT = Path(__file__).resolve().parents[1]
CONTRACT_JS = ROOT / "static" / "contract.js"

# upstream clock -> what the server shows (the reference the JS must match)
DISPLAY: list[tuple[str | None, str | None]] = [
    ("01:02:03", "01:02:03"),  # hours stay two digits
    ("00:15:00", "15:00"),
    ("00:05:07", "5:07"),
    ("0:10:00", "10:00"),
    ("00:00:00", "0:00"),
    ("00:09.5", "0:09.5"),  # tenths kept
    ("00:00:09.5", "0:09.5"),
    ("00:00:59.9", "0:59.9"),
    ("0:09.5", "0:09.5"),
    ("12:00", "12:00"),
    ("0:59", "0:59"),
    ("45.2", "45.2"),
    ("", ""),  # empty stays empty
    ("abc", "abc"),  # not a clock: shown as it came
    ("1:2", "1:2"),
    ("--:--", "--:--"),
    ("00:", "0:"),
    (None, None),
]
# text -> seconds, or None when it is not a clock
PARSE: list[tuple[str | None, float | None]] = [
    ("00:15:00", 900.0),
    ("15:00", 900.0),
    ("0:45", 45.0),
    ("45.2", 45.2),
    ("00:00:09.5", 9.5),
    (" 01:02:03 ", 3723.0),
    ("1:2", 62.0),
    ("", None),
    ("  ", None),
    ("abc", None),
    ("1.5:00", None),  # a fraction only on the seconds
    ("1:2:3:4", None),
    ("-0:05", None),
    ("1e3", None),
    ("\u0661\u0662:\u0660\u0660", None),  # Arabic-Indic digits: not 0-9, as in the browser
    (None, None),
]
# (seconds left, shape of the last upstream clock) -> what a running page shows
RUNNING: list[tuple[float, str | None, str | None]] = [
    (600.0, "00:10:00", "10:00"),
    (599.2, "00:10:00", "10:00"),  # rounded up: 10:00 until it is below 9:59
    (598.9, "00:10:00", "9:59"),
    (59.5, "00:01:00", "1:00"),
    (59.0, "00:01:00", "0:59"),
    (9.5, "00:00:09.5", "0:09.5"),
    (9.2, "00:00:09.5", "0:09.2"),
    (9.21, "00:00:09.5", "0:09.3"),
    (0.04, "00:00:09.5", "0:00.1"),
    (-1.0, "00:00:09.5", "0:00.0"),  # never below zero
    (3723.0, "01:02:03", "01:02:03"),
    (3599.5, "01:00:00", "01:00:00"),  # rounded up to the hour
    (3599.0, "01:00:00", "59:59"),  # hours reach 00 and are dropped, as the server would
    (61.0, "1:05", "1:01"),
    (3723.0, "62:03", "62:03"),  # no hours part upstream: minutes take it all
    (44.75, "45.20", "44.75"),
    (5.0, "0:45", "0:05"),
    (12.0, "abc", None),  # not a clock: the page shows the server's text
    (12.0, "", None),
    (12.0, None, None),
]
PERIODS = [
    "Q1", "Q2", "Q3", "Q4", "H1", "H2", "OT", "OT1", "OT2", "OT3", "OT7", "OT11", "OT21",
    "OT0", "Q0", "q3", " h2 ", "X9", "Q", "H", "SHOOTOUT", "Q1X", "", None,
]  # fmt: skip


def test_committed_contract_js_is_current() -> None:
    """The committed files are exactly what the generator writes now."""
    committed = CONTRACT_JS.read_text(encoding="utf-8")
    assert committed == contract.render(), "stale: run python -m server.core.contract"
    zones_js = CONTRACT_JS.with_name("zones.js").read_text(encoding="utf-8")
    assert zones_js == contract.render_zones(), "stale: run python -m server.core.contract"


def test_generator_check_mode() -> None:
    """``--check`` answers 0 for the committed file (the tool CI or a hook can call)."""
    assert contract.main(["--check"]) == 0


def test_console_shortcuts_come_from_contract() -> None:
    """The console page lists the same table operator.js binds."""
    from server.web import console

    assert console.SHORTCUTS is contract.SHORTCUTS
    assert [b["label"] for b in contract.contract_data()["bindings"]] == [
        label for label, _ in contract.SHORTCUTS
    ]


@pytest.mark.parametrize(("clock", "shown"), DISPLAY)
def test_display_clock(clock: str | None, shown: str | None) -> None:
    assert display_clock(clock) == shown


@pytest.mark.parametrize(("clock", "seconds"), PARSE)
def test_parse_clock(clock: str | None, seconds: float | None) -> None:
    assert parse_clock(clock) == seconds


@pytest.mark.parametrize(("seconds", "like", "shown"), RUNNING)
def test_running_clock(seconds: float, like: str | None, shown: str | None) -> None:
    assert running_clock(seconds, like) == shown


WELL_FORMED = [c for c, s in PARSE if s is not None and c != "1:2"] + ["00:00:00.25", "0:00"]


@pytest.mark.parametrize("clock", WELL_FORMED)
def test_running_clock_at_a_poll_reads_as_the_server(clock: str) -> None:
    """At the moment a clock arrives, the page's running clock shows the server's text.

    (Every part after a colon two digits, as a clock writes it; "1:2" runs as "1:02".)
    """
    seconds = parse_clock(clock)
    assert seconds is not None
    assert running_clock(seconds, clock) == display_clock(clock.strip())


def _node(script: str, arg: Any) -> Any:
    out = subprocess.run(
        ["node", "-e", script, str(CONTRACT_JS), json.dumps(arg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_matches_python() -> None:
    """Every case of every table gives the same output from contract.js as from Python."""
    script = (
        "const C = require(process.argv[1]); const a = JSON.parse(process.argv[2]);"
        "console.log(JSON.stringify({"
        " display: a.display.map((c) => C.displayClock(c)),"
        " parse: a.parse.map((c) => C.parseClock(c)),"
        " running: a.running.map(([s, like]) => C.runningClock(s, like)),"
        " label: a.periods.map((p) => C.periodLabel(p)),"
        " short: a.periods.map((p) => C.periodShort(p)),"
        " keys: a.keys.map(([k, shift]) => C.actionFor(k, shift)),"
        " types: [C.eventTypes, C.automaticTypes, C.protocol]}));"
    )
    keys = [("h", False), ("H", False), ("p", False), ("l", False), ("t", False)]
    keys += [("U", True), ("U", False), ("u", False), ("3", False), ("5", False), ("6", False)]
    keys += [("x", False), ("Escape", False)]
    got = _node(
        script,
        {
            "display": [c for c, _ in DISPLAY],
            "parse": [c for c, _ in PARSE],
            "running": [[s, like] for s, like, _ in RUNNING],
            "periods": PERIODS,
            "keys": keys,
        },
    )
    assert got["display"] == [display_clock(c) for c, _ in DISPLAY]
    assert got["parse"] == [parse_clock(c) for c, _ in PARSE]
    assert got["running"] == [running_clock(s, like) for s, like, _ in RUNNING]
    assert got["label"] == [period_label(p) for p in PERIODS]
    assert got["short"] == [period_short(p) for p in PERIODS]
    expected_keys = ["hold", "hold", "panic", "lowerThird", "three", "undo", None, None]
    assert got["keys"] == [*expected_keys, "preset", "preset", None, None, "panic"]
    from server.core.events import AUTOMATIC_TYPES, EVENT_TYPES, PROTOCOL_VERSION

    assert got["types"] == [list(EVENT_TYPES), list(AUTOMATIC_TYPES), PROTOCOL_VERSION]


# (made, attempts) -> how a percentage is shown on air (server.core.splits.pct_display)
PCT: list[tuple[int, int, str]] = [
    (0, 0, "\u2014"),  # no attempts: the em dash, never 0% or NaN
    (0, 1, "0%"),
    (1, 1, "100%"),
    (1, 2, "50%"),
    (1, 3, "33%"),
    (2, 3, "67%"),
    (1, 8, "13%"),  # 12.5 rounds up, not to even
    (3, 8, "38%"),  # 37.5 rounds up
    (5, 8, "63%"),
    (4, 7, "57%"),
    (199, 200, "100%"),  # 99.5 rounds up
    (1, 201, "0%"),
    (0, -1, "\u2014"),
]


@pytest.mark.parametrize(("made", "att", "shown"), PCT)
def test_pct_display(made: int, att: int, shown: str) -> None:
    from server.core.splits import pct_display

    assert pct_display(made, att) == shown


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_pct_and_zones_js_match_python() -> None:
    """contract.js shows every percentage as Python does, and carries the server's zone map and
    the overlays' default subscription."""
    from server.core import zones
    from server.core.events import OVERLAY_TYPES

    script = (
        "const C = require(process.argv[1]); const a = JSON.parse(process.argv[2]);"
        "const Z = require(process.argv[1].replace(/contract\\.js$/, 'zones.js'));"
        "console.log(JSON.stringify({pct: a.map(([m, n]) => C.pctDisplay(m, n)),"
        " zones: Z, inContract: 'zones' in C, overlayTypes: C.overlayTypes}));"
    )
    got = _node(script, [[m, n] for m, n, _ in PCT])
    assert got["pct"] == [shown for _, _, shown in PCT]
    assert got["zones"] == {"zone": zones.zone_map(False), "advanced": zones.zone_map(True)}
    assert got["inContract"] is False  # its own file: only the pages drawing zones load it
    assert got["overlayTypes"] == list(OVERLAY_TYPES)
    assert "stats" not in got["overlayTypes"] and "suggestion" not in got["overlayTypes"]

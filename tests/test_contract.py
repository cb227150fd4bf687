"""static/contract.js is generated from server/core/contract.py and its JS agrees with Python."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from server.core import contract
from server.core.periods import period_label, period_short
from server.core.snapshot import display_clock

ROOT = Path(__file__).resolve().parents[1]
CLOCKS = [
    "01:02:03", "00:09.5", "12:00", "0:59", "00:00:09.5", "00:00:59.9", "0:09.5", "00:15:00",
    "00:05:07", "", "abc", "1:2", None,
]  # fmt: skip
PERIODS = [
    "Q1", "Q2", "Q3", "Q4", "H1", "H2", "OT", "OT1", "OT2", "OT7",
    "OT11", "X9", "Q", "q3 ", "", None,
]  # fmt: skip


def test_committed_contract_js_is_current() -> None:
    committed = (ROOT / "static" / "contract.js").read_text(encoding="utf-8")
    assert committed == contract.render(), "run: python -m server.core.contract"


def test_console_shortcuts_come_from_contract() -> None:
    from server.web import console

    assert console.SHORTCUTS is contract.SHORTCUTS


def test_clock_reference_values() -> None:
    assert display_clock("01:02:03") == "01:02:03"
    assert display_clock("00:09.5") == "0:09.5"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_matches_python() -> None:
    script = (
        "const C = require(process.argv[1]); const a = JSON.parse(process.argv[2]);"
        "console.log(JSON.stringify({clock: a.clocks.map(C.displayClock),"
        " label: a.periods.map(C.periodLabel), short: a.periods.map(C.periodShort),"
        " keys: [C.actionFor('h', false), C.actionFor('U', true), C.actionFor('U', false),"
        " C.actionFor('3', false), C.actionFor('x', false)]}));"
    )
    arg = json.dumps({"clocks": CLOCKS, "periods": PERIODS})
    out = subprocess.run(
        ["node", "-e", script, str(ROOT / "static" / "contract.js"), arg],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    got = json.loads(out.stdout)
    assert got["clock"] == [display_clock(c) for c in CLOCKS]
    assert got["label"] == [period_label(p) for p in PERIODS]
    assert got["short"] == [period_short(p) for p in PERIODS]
    assert got["keys"] == ["hold", "undo", None, "preset", None]

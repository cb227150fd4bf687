"""The console's Suggestions panel in real headless Chromium against a real shotfeed: a poll's
suggestions appear best first with a countdown, Accept puts the graphic on air (the state and
the console's on-air list show it) and is audited, Dismiss and the A / D keys act on the top
one, a closed one answers with the server's message, a hostile player name stays text, an
expired one is hidden, autofire is armed per rule, and the stats graphics fire by hand.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from server.core.suggestions import AUTOFIRE_PREFIX, RULES
from tests import browser as shared
from tests.browser import OverlayPage, Rig, shot, with_shots
from tests.test_operator_console import audit_actions, keys, open_console, status_ok

pytestmark = pytest.mark.network

browser = shared.browser
rig = shared.rig

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<img src=x onerror="window.__pwned=1">'
ROWS = "[...document.querySelectorAll('#suggestions li[data-sid]')]"
SEED_HOME = 11


def threes(n: int = 3, pid: str = "7301") -> dict[str, Any]:
    """The seed payload plus ``n`` made threes by ``pid`` (home), 5 s apart."""
    return with_shots(*[shot(5_000 * (i + 1), pid=pid) for i in range(n)], home=SEED_HOME + 3 * n)


def rows(con: OverlayPage) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = con.js(
        f"{ROWS}.map(li => ({{sid: li.dataset.sid, rule: li.dataset.rule,"
        " say: li.querySelector('.say').textContent, left: li.querySelector('.left').textContent,"
        " top: li.classList.contains('top')}))"
    )
    return found


def wait_rows(con: OverlayPage, n: int) -> list[dict[str, Any]]:
    con.wait(f"{ROWS}.length === {n}", timeout=10)
    return rows(con)


def row_of(con: OverlayPage, rule: str) -> dict[str, Any]:
    return next(r for r in rows(con) if r["rule"] == rule)


def on_air(rig: Rig, name: str, timeout: float = 5.0) -> dict[str, Any]:
    """The payload of graphic ``name`` once the server's state has it on air."""
    deadline = time.monotonic() + timeout
    while True:
        graphics: dict[str, Any] = rig.state()["graphics"]
        if name in graphics:
            payload: dict[str, Any] = graphics[name]
            return payload
        assert time.monotonic() < deadline, f"{name} not on air: {graphics}"
        time.sleep(0.05)


def test_the_console_lists_every_rule_the_server_has() -> None:
    """operator.js's fallback list of rules (before /api/operator answers) is the server's."""
    js = (ROOT / "static" / "operator.js").read_text(encoding="utf-8")
    match = re.search(r"const SUGGESTION_RULES = \[(.*?)\];", js, flags=re.DOTALL)
    assert match is not None
    assert re.findall(r'"([a-z_]+)"', match.group(1)) == list(RULES)
    assert f'const AUTOFIRE_PREFIX = "{AUTOFIRE_PREFIX}";' in js


def test_suggestions_panel_accept_dismiss_keys_and_hostile_text(rig: Rig) -> None:
    rig.configure({"roster": {"7301": {"name": HOSTILE, "number": "3"}}})
    con = open_console(rig)
    con.wait("document.querySelector('#suggestions li.empty')")
    rig.push(threes())
    found = wait_rows(con, 3)
    # best first, as the server orders them; the top one carries the keys
    server = rig.state()["suggestions"]
    assert [r["sid"] for r in found] == [s["id"] for s in server]
    assert [r["top"] for r in found] == [True, False, False]
    assert {r["rule"] for r in found} == {"scoring_run", "shooting_night", "zone_streak"}
    assert all(re.fullmatch(r"\d+ s", r["left"]) for r in found)
    # a hostile name is text: no element made of it, no script run
    night = row_of(con, "shooting_night")
    assert night["say"] == f"{HOSTILE} 3/3 from three tonight"
    assert con.js("document.querySelectorAll('#suggestions img').length") == 0
    assert con.js("window.__pwned === undefined")
    assert row_of(con, "scoring_run")["say"] == "Northfield Hawks on a 9-0 run"

    # Accept (the button): the player card goes on air, the row goes, the audit says so
    con.page.click(f"#suggestions li[data-sid={night['sid']}] button.accept")
    assert on_air(rig, "playercard") == {"pid": "7301"}
    con.wait("document.querySelector('#onair-list li[data-graphic=playercard]')")
    wait_rows(con, 2)
    assert night["sid"] not in [r["sid"] for r in rows(con)]
    audit_actions(con, {f"suggestion accept {night['sid']}": 1})
    status_ok(con, "accept suggestion")

    # D dismisses the top one, A accepts the next
    top = rows(con)[0]
    keys(con, "d")
    wait_rows(con, 1)
    assert top["sid"] not in [r["sid"] for r in rows(con)]
    rig.wait_event(
        lambda e: (
            e["type"] == "suggestion"
            and e["data"]["id"] == top["sid"]
            and e["data"]["status"] == "dismissed"
        )
    )
    last = rows(con)[0]
    assert last["top"]
    graphic = next(s for s in server if s["id"] == last["sid"])["graphic"]
    keys(con, "A")
    wait_rows(con, 0)
    on_air(rig, graphic)
    con.wait("document.querySelector('#suggestions li.empty')")
    audit_actions(
        con, {f"suggestion dismiss {top['sid']}": 1, f"suggestion accept {last['sid']}": 1}
    )
    # a key with nothing to act on says so
    keys(con, "a")
    con.wait("document.getElementById('status').textContent.includes('no suggestion to accept')")

    # one already closed (another operator was faster): the server's message, and it goes
    stale_copy = {
        "id": night["sid"],
        "rule": "shooting_night",
        "text": "stale copy",
        "score": 50,
        "expiresAt": 9e15,
        "graphic": "playercard",
        "payload": {"pid": "7301"},
        "status": "open",
    }
    con.js("d => window.shotfeedConsole.suggestions.set(d.id, d)", stale_copy)
    wait_rows(con, 1)
    con.page.click(f"#suggestions li[data-sid={night['sid']}] button.accept")
    con.wait(
        "(s => s.className.includes('bad') && s.textContent.includes('already accepted'))"
        "(document.getElementById('status'))"
    )
    wait_rows(con, 0)
    assert con.page_errors == []


def test_expired_suggestions_are_hidden_by_the_server_clock(rig: Rig) -> None:
    con = open_console(rig)
    now = con.js("Date.now() - window.shotfeedConsole.feed.offset()")
    base = {"rule": "longest_make", "graphic": "playercard", "payload": {"pid": "7301"}}
    for sid, left_ms, score in (("s900", 30_000, 40), ("s901", -1_000, 90), ("s902", 8_000, 60)):
        con.js(
            "d => window.shotfeedConsole.suggestions.set(d.id, d)",
            {**base, "id": sid, "text": f"text {sid}", "score": score,
             "expiresAt": now + left_ms, "status": "open"},
        )  # fmt: skip
    shown = wait_rows(con, 2)
    assert [r["sid"] for r in shown] == ["s902", "s900"]  # best first; s901 ran out
    assert re.fullmatch(r"[78] s", shown[0]["left"])
    # and it counts down, then goes
    con.js(
        "d => window.shotfeedConsole.suggestions.set(d.id, d)",
        {**base, "id": "s902", "text": "soon", "score": 60, "expiresAt": now + 1_200,
         "status": "open"},
    )  # fmt: skip
    con.wait(f"{ROWS}.length === 1", timeout=5)
    assert rows(con)[0]["sid"] == "s900"


def test_suggestions_survive_a_reload(rig: Rig) -> None:
    con = open_console(rig)
    rig.push(threes())
    before = wait_rows(con, 3)
    open_console(rig, login=False, page_of=con)
    con.wait("window.shotfeedConsole.feed && window.shotfeedConsole.feed.hasState")
    after = wait_rows(con, 3)
    assert [r["sid"] for r in after] == [r["sid"] for r in before]


def test_autofire_is_armed_per_rule(rig: Rig) -> None:
    con = open_console(rig)
    assert con.js("[...document.querySelectorAll('#sugg-autofire button')].map(b => b.id)") == [
        f"sugg-arm-{r}" for r in RULES
    ]
    assert con.js(
        "[...document.querySelectorAll('#sugg-autofire button')]"
        ".every(b => b.getAttribute('aria-pressed') === 'false')"
    )
    con.page.click("#sugg-arm-zone_streak")
    rig.wait_event(
        lambda e: (
            e["type"] == "hold"
            and e["data"]["autofire"].get(AUTOFIRE_PREFIX + "zone_streak") is True
        )
    )
    con.wait(
        "document.getElementById('sugg-arm-zone_streak').getAttribute('aria-pressed') === 'true'"
    )
    rig.push(threes())
    # the armed rule went on air by itself; the others wait for the operator
    payload = on_air(rig, "zones", timeout=10)
    assert payload["pid"] == "7301"
    found = wait_rows(con, 2)
    assert "zone_streak" not in {r["rule"] for r in found}
    rig.wait_event(
        lambda e: (
            e["type"] == "suggestion"
            and e["data"]["rule"] == "zone_streak"
            and e["data"]["status"] == "accepted"
            and e["data"].get("by") == "autofire"
        )
    )
    # and off again
    con.page.click("#sugg-arm-zone_streak")
    con.wait(
        "document.getElementById('sugg-arm-zone_streak').getAttribute('aria-pressed') === 'false'"
    )
    assert rig.state()["autofire"][AUTOFIRE_PREFIX + "zone_streak"] is False


def test_stats_graphics_by_hand(rig: Rig) -> None:
    con = open_console(rig)
    # the roster's players are offered (names as text), and the teams for the zone map
    # the roster's players are offered (names as text), and who shot without being on it
    con.wait("document.querySelectorAll('#pc-player option').length === 4")
    labels = con.js("[...document.querySelectorAll('#pc-player option')].map(o => o.textContent)")
    assert labels == ["(pick a player)", "#3 Maya Ortiz", "7269", "Sam Okafor"]
    con.page.click("#pc-show")  # nothing picked: says so, fires nothing
    con.wait("document.getElementById('status').textContent.includes('pick a player')")
    con.page.select_option("#pc-player", "7301")
    con.page.click("#pc-show")
    assert on_air(rig, "playercard") == {"pid": "7301"}

    con.page.select_option("#zones-subject", "team:away")
    con.page.select_option("#zones-map", "advancedZones")
    con.page.click("#zones-show")
    assert on_air(rig, "zones") == {"team": "away", "map": "advancedZones"}
    con.page.select_option("#zones-subject", "pid:7401")
    con.page.select_option("#zones-map", "zones")
    con.page.click("#zones-show")

    deadline = time.monotonic() + 5
    while rig.state()["graphics"]["zones"] != {"pid": "7401", "map": "zones"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    splits = con.js("[...document.querySelectorAll('#compare-split option')].map(o => o.value)")
    assert splits[:7] == ["fg", "fg3", "points", "guarded", "unguarded", "offDribble", "catchShoot"]
    assert "distance.25+" in splits
    con.page.select_option("#compare-split", "guarded")
    con.page.click("#compare-show")
    assert on_air(rig, "compare") == {"split": "guarded"}

    con.page.click("#compare-hide")
    deadline = time.monotonic() + 5
    while "compare" in rig.state()["graphics"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # a player who shot but is not on the roster is offered too (from the splits)
    rig.push(with_shots(shot(5_000, pid="7999")))
    con.wait(
        "[...document.querySelectorAll('#pc-player option')].some(o => o.value === '7999')",
        timeout=10,
    )
    assert con.page_errors == []

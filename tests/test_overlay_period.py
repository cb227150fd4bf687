"""The period banner in real headless Chromium against a real shotfeed server.

It shows the line score from hello without playing anything; a live period_change plays the
banner within a second ("End of 2nd Half" over "Overtime", the line score with the new
column), then takes it out; a held, vetoed, stale or replayed one never plays; a restart
repeats nothing; delay_ms delays; the final plays "Final"; names are text; CasparCG drives it
with no WebSocket at all.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from server.core.events import OVERLAY_TYPES
from tests import browser as shared
from tests.browser import AWAY_ID, HOME_ID, Rig, with_shots
from tests.upstream_app import Reply

pytestmark = pytest.mark.network

# the shared fixtures (one Chromium for this module, a fresh server per test)
browser = shared.browser
rig = shared.rig

ON = "document.getElementById('banner').classList.contains('on')"
TITLE = "document.getElementById('period-title').textContent"
DASH = "\u2013"  # what an unplayed period shows
REPLY_500 = Reply(500, {"status": 500, "message": "boom", "shottrackerRequestId": "x"})


def period_doc(*periods: str, status: str = "ACTIVE") -> dict[str, Any]:
    """The seed payload (H1, H2) moved on through ``periods``: the last one is current."""
    doc = with_shots()
    totals = doc["gameTotals"]
    for n, code in enumerate(periods):
        totals["periodTotals"].insert(
            0,
            {
                "awayTeamScore": {"teamId": AWAY_ID, "value": n},
                "homeTeamScore": {"teamId": HOME_ID, "value": 0},
                "period": code,
                "sessionId": f"session-{code}",
            },
        )
    if periods:
        totals["period"] = periods[-1]
    totals["status"] = status
    return doc


def line(op: Any) -> list[list[str]]:
    """The line score as shown: header row, away row, home row (texts of the grid cells)."""
    cells: list[str] = op.js(
        "[...document.getElementById('line').children].map(c => c.textContent)"
    )
    width = len(cells) // 3
    return [cells[i * width : (i + 1) * width] for i in range(3)]


def test_loads_clean_with_the_line_score_and_plays_nothing(rig: Rig) -> None:
    op = rig.open("period")
    op.wait("document.getElementById('line').children.length > 0")
    assert line(op) == [
        ["", "", "1H", "2H", "T"],
        ["RIV", "Riverside Otters", "20", "2", "22"],  # the seed's periodTotals and scores
        ["NFH", "Northfield Hawks", "1", "10", "11"],
    ]
    assert op.js(TITLE) == "2nd Half"  # drawn from the state, ready, but off air
    op.page.wait_for_timeout(300)
    assert not op.js(ON) and op.played() == []
    assert op.js("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    op.assert_clean()
    # one connection, to the game's feed, asking for the on-air types only (no splits)
    assert op.websockets == [
        f"{rig.url.replace('http', 'ws', 1)}/ws/games/EVT?types={','.join(OVERLAY_TYPES)}".replace(
            ",", "%2C"
        )
    ]


def test_live_period_change_plays_within_a_second_then_goes(rig: Rig) -> None:
    op = rig.open("period", hold_ms=1000, away_color="#ffd700")
    start = time.monotonic()
    rig.push(period_doc("OT1"))
    op.wait(f"{ON} && {TITLE} === 'Overtime'", timeout=1.0)
    assert time.monotonic() - start < 1.0
    assert op.text("#period-kicker") == "End of 2nd Half"
    assert line(op)[0] == ["", "", "1H", "2H", "OT", "T"]
    assert line(op)[1][2:] == ["20", "2", "0", "22"]
    assert (
        op.js("getComputedStyle(document.querySelector('#line .chip.team-away')).backgroundColor")
        == "rgb(255, 215, 0)"
    )  # ?away_color wins over the configured colour
    seq = rig.wait_event(lambda e: e["type"] == "period_change")["seq"]
    assert op.played("period_change") == [seq]
    op.wait(f"!({ON})", timeout=3)  # in, hold 1 s, out
    op.page.wait_for_timeout(200)
    assert op.played() == [seq]  # once
    op.assert_clean()


def test_held_vetoed_and_stale_period_changes_never_play(rig: Rig) -> None:
    op = rig.open("period", hold_ms=1000)
    rig.hold(held=True)
    rig.push(period_doc("OT1"))
    op.wait(f"{TITLE} === 'Overtime' || window.shotfeed.feed.state.period === 'OT1'")
    rig.hold(held=False, autofire={"period_change": False})
    rig.push(period_doc("OT1", "OT2"))
    op.wait("window.shotfeed.feed.state.period === 'OT2'")
    rig.hold(autofire={"period_change": True})
    # the first poll after an outage is stale
    rig.push(period_doc("OT1", "OT2", "OT3"), REPLY_500)
    event = rig.wait_event(lambda e: e["type"] == "period_change" and e["data"]["to"] == "OT3")
    assert event["stale"] is True
    op.wait("window.shotfeed.feed.state.period === 'OT3'")
    op.page.wait_for_timeout(300)
    assert not op.js(ON) and op.played() == []
    # the line score is right all the same, and the next live one plays
    assert line(op)[0] == ["", "", "1H", "2H", "OT", "2OT", "3OT", "T"]
    rig.push(period_doc("OT1", "OT2", "OT3", "OT4"))
    op.wait(f"{ON} && {TITLE} === '4th Overtime'", timeout=1.5)
    # a hold while it is on air takes it out
    rig.hold(held=True)
    op.wait(f"!({ON})", timeout=1.5)
    assert len(op.played()) == 1
    op.assert_clean()


def test_replayed_period_change_after_a_reconnect_does_not_play(rig: Rig) -> None:
    op = rig.open("period", gate=True, hold_ms=1000)
    assert op.gate is not None
    op.gate.drop()
    op.wait("!window.shotfeed.feed.connected")
    rig.push(period_doc("OT1"))
    rig.wait_event(lambda e: e["type"] == "period_change")
    op.gate.release()
    op.wait("window.shotfeed.feed.connected && window.shotfeed.feed.state.period === 'OT1'", 12)
    assert "since=" in op.gate.urls[-1]
    op.wait("window.shotfeed.feed.stats.replay >= 1")
    op.page.wait_for_timeout(300)
    assert not op.js(ON) and op.played() == []
    assert line(op)[0][-2:] == ["OT", "T"]
    op.assert_clean()


def test_server_restart_resumes_and_plays_nothing_twice(rig: Rig) -> None:
    op = rig.open("period", hold_ms=1000)
    rig.push(period_doc("OT1"))
    op.wait(ON, timeout=1.0)
    connects = op.js("window.shotfeed.feed.stats.connects")

    def while_down() -> None:
        op.wait("!window.shotfeed.feed.connected")
        rig.push(period_doc("OT1", "OT2"))

    rig.restart(between=while_down)
    op.wait(f"window.shotfeed.feed.stats.connects > {connects}", timeout=15)
    assert "since=" in op.websockets[-1]
    # the change made while the server was down comes stale: it never plays
    op.wait("window.shotfeed.feed.state.period === 'OT2'", timeout=5)
    rig.push(period_doc("OT1", "OT2", "OT3"))
    op.wait(f"{ON} && {TITLE} === '3rd Overtime'", timeout=2)
    op.page.wait_for_timeout(200)
    played = op.played("period_change")
    assert len(played) == 2 and len(set(played)) == 2
    assert all("WebSocket" in e for e in op.console_errors), op.console_errors
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()


def test_delay_ms_delays_the_banner(rig: Rig) -> None:
    op = rig.open("period", delay_ms=1000, hold_ms=1000)
    rig.push(period_doc("OT1"))
    rig.wait_event(lambda e: e["type"] == "period_change")
    seen_at = time.monotonic()
    assert not op.js(ON) and op.js(TITLE) == "2nd Half"
    op.wait(f"{ON} && {TITLE} === 'Overtime'", timeout=4)
    assert time.monotonic() - seen_at >= 0.7
    op.assert_clean()


def test_final_plays_final_and_panic_cuts_it(rig: Rig) -> None:
    op = rig.open("period", hold_ms=10000)
    rig.push(period_doc(status="FINAL"))
    op.wait(f"{ON} && {TITLE} === 'Final'", timeout=1.0)
    assert op.text("#period-kicker") == ""
    rig.operator("POST", "/panic")
    op.wait(f"!({ON})", timeout=1.0)
    # the operator's graphic "period" shows the line score by hand
    rig.fire("period", {})
    op.wait(f"{ON} && {TITLE} === 'Final'", timeout=1.0)
    rig.fire("period", {}, action="hide")
    op.wait(f"!({ON})", timeout=1.5)
    assert op.played() == [
        rig.wait_event(lambda e: e["type"] == "game_status")["seq"],
        rig.wait_event(lambda e: e["type"] == "graphic" and e["data"]["name"] == "period")["seq"],
    ]
    op.assert_clean()


def test_team_names_are_text_and_run_nothing(rig: Rig) -> None:
    evil = "<img src=x onerror=alert(1)>"
    rig.configure({"home": {"short": evil, "name": evil}})
    op = rig.open("period", hold_ms=2000)
    rig.push(period_doc("OT1"))
    op.wait(ON, timeout=1.5)
    assert line(op)[2][:2] == [evil, evil]
    assert op.js("document.querySelectorAll('img').length") == 0
    op.page.wait_for_timeout(200)
    assert not op.dialogs
    assert not any(u.endswith("/x") for u in op.requests)
    op.assert_clean()


def test_casparcg_update_and_play_without_a_websocket(rig: Rig) -> None:
    op = rig.open("period", wait_ready=False, game="NOT-FOLLOWED", hold_ms=5000)
    op.wait("typeof window.update === 'function'")
    op.page.wait_for_timeout(300)
    assert not op.js("window.shotfeed.feed.connected")
    state = {
        "home": {"short": "AAA", "name": "Alpha", "score": 40},
        "away": {"short": "BBB", "name": "Beta", "score": 38},
        "period": "Q3",
        "periodTotals": [
            {"period": "Q1", "home": 20, "away": 18},
            {"period": "Q2", "home": 20, "away": 20},
            {"period": "Q3", "home": 0, "away": 0},
        ],
    }
    op.js("d => window.update(d)", json.dumps(state))
    assert not op.js(ON)  # update() never plays by itself
    op.js("window.play()")
    op.wait(f"{ON} && {TITLE} === '3rd Quarter'")
    assert line(op)[0] == ["", "", "Q1", "Q2", "Q3", "Q4", "T"]
    assert line(op)[2] == ["AAA", "Alpha", "20", "20", "0", DASH, "40"]
    op.js("window.next()")
    op.wait(f"!({ON})", timeout=1.5)
    change = {"type": "period_change", "data": {"from": "Q3", "to": "Q4", "label": "4th Quarter"}}
    op.js("d => window.update(d)", json.dumps(change))
    op.page.wait_for_timeout(100)
    assert not op.js(ON)
    op.js("window.play()")
    op.wait(f"{ON} && {TITLE} === '4th Quarter'")
    assert op.text("#period-kicker") == "End of 3rd Quarter"
    op.js("window.stop()")
    op.wait(f"!({ON})", timeout=1.5)
    assert not op.js("window.shotfeed.playing")
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()
    assert not op.console_errors, op.console_errors

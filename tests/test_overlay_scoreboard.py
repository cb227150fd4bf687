"""The arena scoreboard in real headless Chromium against a real shotfeed server.

An opaque board that shows hello's state at once (names, scores, period, clock, line score,
FG/3PT, last shot); a live made three updates it within a second and flashes the score that
rose; held, vetoed, stale and replayed scores change the numbers without a flash; a restart
repeats nothing; delay_ms delays; names are text; CasparCG drives it, clock included, with no
WebSocket.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from server.web.pages import OVERLAYS
from tests import browser as shared
from tests.browser import Rig, shot, with_shots
from tests.upstream_app import Reply

pytestmark = pytest.mark.network

# the shared fixtures (one Chromium for this module, a fresh server per test)
browser = shared.browser
rig = shared.rig

ON = "document.getElementById('board').classList.contains('on')"
SCORES = "[document.getElementById('home-num').textContent, document.getElementById('away-num').textContent]"  # noqa: E501
FLASH = "document.getElementById('home').classList.contains('flash')"
DASH = "\u2013"  # no attempt, no percentage
REPLY_500 = Reply(500, {"status": 500, "message": "boom", "shottrackerRequestId": "x"})


def home_is(n: int) -> str:
    return f"document.getElementById('home-num').textContent === '{n}'"


def cells(op: Any, selector: str) -> list[str]:
    texts: list[str] = op.js(
        "sel => [...document.querySelector(sel).children].map(c => c.textContent)", selector
    )
    return texts


def test_loads_clean_opaque_with_the_whole_state(rig: Rig) -> None:
    op = rig.open("scoreboard")
    op.wait(ON)
    assert op.js(SCORES) == ["11", "22"]
    assert (
        op.text("#home-name") == "Northfield Hawks" and op.text("#away-name") == "Riverside Otters"
    )
    assert op.text("#period") == "2nd Half" and op.text("#clock") == "15:00"
    assert cells(op, "#line") == [
        "", "1H", "2H", "T",
        "NFH", "1", "10", "11",
        "RIV", "20", "2", "22",
    ]  # fmt: skip
    assert cells(op, "#home-stats") == ["FG", "0/0", DASH, "3PT", "0/0", DASH]
    # the seed's shot: a miss by a player and team nobody configured
    assert op.text("#last-who") == "" and op.text("#last-res") == "missed 2-pointer · 19 ft"
    # an arena board is opaque; the team names sit on the team colours
    assert op.js("getComputedStyle(document.getElementById('stage')).backgroundColor") == (
        "rgb(9, 12, 18)"
    )
    assert (
        op.js("getComputedStyle(document.querySelector('#home .band')).backgroundColor")
        == "rgb(29, 78, 216)"
    )
    op.page.wait_for_timeout(300)
    assert op.played() == []
    op.assert_clean()


def test_live_three_updates_the_board_within_a_second_and_flashes(rig: Rig) -> None:
    op = rig.open("scoreboard")
    op.wait(ON)
    start = time.monotonic()
    rig.push(with_shots(shot(5000, feet=25.1), home=14))
    op.wait(home_is(14), timeout=1.0)
    assert time.monotonic() - start < 1.0
    op.wait(FLASH, timeout=1.0)
    assert not op.js("document.getElementById('away').classList.contains('flash')")
    op.wait("document.getElementById('last-who').textContent === '#3 Maya Ortiz'", timeout=1.0)
    assert op.text("#last-res") == "made 3-pointer · 25 ft"
    assert op.text("#last-chip") == "NFH"
    assert cells(op, "#home-stats") == ["FG", "1/1", "100%", "3PT", "1/1", "100%"]
    assert cells(op, "#line")[-8:-4] == ["NFH", "1", "10", "14"]
    seq = rig.wait_event(lambda e: e["type"] == "score_update")["seq"]
    assert op.played("score_update") == [seq]
    op.wait(f"!{FLASH}", timeout=3)
    assert op.played() == [seq]  # once
    op.assert_clean()


def test_held_vetoed_stale_and_replayed_scores_do_not_flash(rig: Rig) -> None:
    op = rig.open("scoreboard", gate=True)
    assert op.gate is not None
    rig.hold(held=True)
    rig.push(with_shots(shot(5000), home=14))
    op.wait(home_is(14))
    rig.hold(held=False, autofire={"score_update": False})
    rig.push(with_shots(shot(5000), shot(8000), home=17))
    op.wait(home_is(17))
    rig.hold(autofire={"score_update": True})
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), home=20), REPLY_500)  # stale
    op.wait(home_is(20))
    op.gate.drop()
    op.wait("!window.shotfeed.feed.connected")
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), shot(14000), home=23))
    rig.wait_event(lambda e: e["type"] == "score_update" and e["data"]["home"] == 23)
    op.gate.release()
    op.wait(home_is(23), timeout=12)
    assert op.js("window.shotfeed.feed.stats.replay") >= 1
    op.page.wait_for_timeout(300)
    assert op.played() == [] and not op.js(FLASH)
    assert cells(op, "#home-stats")[:3] == ["FG", "4/4", "100%"]
    op.assert_clean()


def test_server_restart_resumes_with_no_duplicate(rig: Rig) -> None:
    op = rig.open("scoreboard")
    rig.push(with_shots(shot(5000), home=14))
    op.wait("window.shotfeed.played.length === 1", timeout=2)
    connects = op.js("window.shotfeed.feed.stats.connects")

    def while_down() -> None:
        op.wait("!window.shotfeed.feed.connected")
        # connection loss is never shown: the board stays as it was
        assert op.js(ON) and op.js(SCORES) == ["14", "22"]
        assert "disconnect" not in op.js("document.body.innerText").lower()
        rig.push(with_shots(shot(5000), shot(8000), home=17))

    rig.restart(between=while_down)
    op.wait(f"window.shotfeed.feed.stats.connects > {connects}", timeout=15)
    assert "since=" in op.websockets[-1]
    op.wait(home_is(17), timeout=5)  # stale: no flash
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), home=20))
    op.wait(home_is(20), timeout=2)
    op.wait("window.shotfeed.played.length === 2", timeout=1.0)
    assert len(set(op.played())) == 2
    assert cells(op, "#home-stats")[:2] == ["FG", "3/3"]
    assert all("WebSocket" in e for e in op.console_errors), op.console_errors
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()


def test_delay_ms_delays_the_board(rig: Rig) -> None:
    start = time.monotonic()
    op = rig.open("scoreboard", wait_ready=False, delay_ms=1000)
    op.wait("window.shotfeed && window.shotfeed.feed.connected", timeout=5)
    assert not op.js(ON)
    op.wait(ON, timeout=5)
    assert time.monotonic() - start >= 0.9
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "score_update")
    seen_at = time.monotonic()
    assert op.js(SCORES) == ["11", "22"]
    op.wait(home_is(14), timeout=4)
    assert time.monotonic() - seen_at >= 0.7
    op.assert_clean()


def test_names_are_text(rig: Rig) -> None:
    evil = "<img src=x onerror=alert(1)>"
    rig.configure({"home": {"short": evil, "name": evil}, "roster": {"7301": {"name": evil}}})
    op = rig.open("scoreboard")
    rig.push(with_shots(shot(5000), home=14))
    op.wait(f"document.getElementById('last-who').textContent.endsWith({json.dumps(evil)})", 1.5)
    assert op.text("#home-name") == evil and op.text("#last-chip") == evil
    assert op.js("document.querySelectorAll('img').length") == 0
    op.page.wait_for_timeout(200)
    assert not op.dialogs
    assert not any(u.endswith("/x") for u in op.requests)
    op.assert_clean()


def test_casparcg_update_play_and_the_clock_without_a_websocket(rig: Rig) -> None:
    op = rig.open("scoreboard", wait_ready=False, game="NOT-FOLLOWED")
    op.wait("typeof window.update === 'function'")
    op.page.wait_for_timeout(300)
    assert not op.js("window.shotfeed.feed.connected") and not op.js(ON)
    state = {
        "home": {"name": "Alpha", "short": "AAA", "score": 50},
        "away": {"name": "Beta", "short": "BBB", "score": 48},
        "period": "Q4",
        "clock": "00:02:00",
        "clockRunning": True,
        "stats": {"home": {"fgm": 20, "fga": 40, "fg3m": 5, "fg3a": 12}},
    }
    op.js("d => window.update(d)", json.dumps(state))
    op.wait(ON)
    assert op.js(SCORES) == ["50", "48"] and op.text("#period") == "4th Quarter"
    assert cells(op, "#home-stats") == ["FG", "20/40", "50%", "3PT", "5/12", "42%"]
    op.wait("document.getElementById('clock').textContent === '1:59'", timeout=2.5)
    op.js("window.stop()")
    op.wait(f"!{ON}")
    score = {"type": "score_update", "data": {"home": 53, "away": 48, "prev": {"home": 50}}}
    op.js("d => window.update(d)", score)
    assert op.js(SCORES) == ["53", "48"]
    op.js("window.play()")
    op.wait(ON)
    op.js("window.update({type: 'game_status', data: {from: 'ACTIVE', to: 'FINAL'}})")
    op.wait("document.getElementById('period').textContent === 'Final'")
    assert op.text("#clock") == ""
    op.js("window.next()")
    assert op.played() == []  # update() never animates by itself
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()
    assert not op.console_errors, op.console_errors


def test_index_page_shows_a_live_thumbnail_of_each_overlay(rig: Rig) -> None:
    """The index (not an overlay, but where they are listed): each overlay's real page in a
    lazy iframe scaled down next to its URL, each showing the game's state."""
    page = rig.browser.new_context(viewport={"width": 1400, "height": 3000}).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{rig.url}/", wait_until="load")
        frames = page.eval_on_selector_all(
            ".thumb iframe",
            "els => els.map(e => [e.getAttribute('src'), e.getAttribute('loading')])",
        )
        assert frames == [[f"/overlays/{name}?game=EVT", "lazy"] for name in OVERLAYS]
        assert page.eval_on_selector(
            ".thumb iframe", "e => getComputedStyle(e).transform"
        ).startswith("matrix(0.166")
        board = next(f for f in page.frames if "/overlays/scoreboard" in f.url)
        deadline = time.monotonic() + 5
        while not board.evaluate("!!(window.shotfeed && window.shotfeed.feed.hasState)"):
            assert time.monotonic() < deadline, "the scoreboard thumbnail shows no state"
            page.wait_for_timeout(50)
        assert board.evaluate("document.getElementById('home-num').textContent") == "11"
        assert not errors, errors
    finally:
        page.context.close()

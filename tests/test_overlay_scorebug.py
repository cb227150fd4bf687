"""The scorebug overlay in real headless Chromium against a real shotfeed server.

Shows the hello state at once, updates live scores within a second and flashes only a live,
armed score_update (never a replayed, stale, held or vetoed one), survives a server restart
without a duplicate, honours delay_ms, runs the clock locally, shows every text as text, and
works as a CasparCG template with no WebSocket at all.
"""

from __future__ import annotations

import json
import time

import pytest

from server.core.events import OVERLAY_TYPES
from tests import browser as shared
from tests.browser import Rig, shot, with_shots
from tests.upstream_app import Reply

pytestmark = pytest.mark.network

# the shared fixtures (one Chromium for this module, a fresh server per test)
browser = shared.browser
rig = shared.rig

SCORES = "[document.getElementById('home-num').textContent, document.getElementById('away-num').textContent]"  # noqa: E501
REPLY_500 = Reply(500, {"status": 500, "message": "boom", "shottrackerRequestId": "x"})
BUG_ON = "document.getElementById('bug').classList.contains('on')"


def home_is(n: int) -> str:
    return f"document.getElementById('home-num').textContent === '{n}'"


def test_loads_clean_and_shows_the_hello_state(rig: Rig) -> None:
    op = rig.open("scorebug")
    op.wait(BUG_ON)
    assert op.js(SCORES) == ["11", "22"]  # the seed payload's scores
    assert op.text("#home-short") == "NFH" and op.text("#away-short") == "RIV"
    assert op.text("#period") == "2H"
    assert op.text("#clock") == "15:00"
    colors = op.js(
        "[getComputedStyle(document.getElementById('home-short')).backgroundColor,"
        " getComputedStyle(document.getElementById('away-short')).backgroundColor]"
    )
    assert colors == ["rgb(29, 78, 216)", "rgb(185, 28, 28)"]  # the configured colours
    # transparent page, nothing from outside, nothing shown about the connection
    assert op.js("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    assert op.js("document.getElementById('sf-debug')") is None
    assert op.played() == []  # the state from hello never animates
    op.assert_clean()
    # one connection, to the game's feed, asking for the on-air types only (no splits)
    assert op.websockets == [
        f"{rig.url.replace('http', 'ws', 1)}/ws/games/EVT?types={','.join(OVERLAY_TYPES)}".replace(
            ",", "%2C"
        )
    ]


def test_live_score_update_shows_within_a_second_and_flashes_once(rig: Rig) -> None:
    op = rig.open("scorebug", home_color="#00ff00")
    op.wait(BUG_ON)
    assert (
        op.js("getComputedStyle(document.getElementById('home-short')).backgroundColor")
        == "rgb(0, 255, 0)"
    )  # ?home_color wins over the configured colour
    assert op.js("getComputedStyle(document.getElementById('home-short')).color") == (
        "rgb(0, 0, 0)"  # dark ink on a light colour
    )
    start = time.monotonic()
    rig.push(with_shots(shot(5000), home=14))
    op.wait(home_is(14), timeout=1.0)
    assert time.monotonic() - start < 1.0
    op.wait("document.getElementById('home-score').classList.contains('flash')", timeout=1.0)
    seq = rig.wait_event(lambda e: e["type"] == "score_update")["seq"]
    assert op.played("score_update") == [seq]
    assert not op.js("document.getElementById('away-score').classList.contains('flash')")
    op.page.wait_for_timeout(300)
    assert op.played() == [seq]  # once
    op.assert_clean()


def test_held_or_vetoed_score_updates_the_numbers_without_a_flash(rig: Rig) -> None:
    op = rig.open("scorebug")
    rig.hold(held=True)
    rig.push(with_shots(shot(5000), home=14))
    op.wait(home_is(14))
    rig.hold(held=False, autofire={"score_update": False})
    rig.push(with_shots(shot(5000), shot(8000), home=17))
    op.wait(home_is(17))
    op.page.wait_for_timeout(200)
    assert op.played() == []
    rig.hold(autofire={"score_update": True})
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), home=20))
    op.wait(home_is(20))
    op.wait("window.shotfeed.played.length === 1", timeout=1.0)
    op.assert_clean()


def test_stale_score_update_does_not_flash(rig: Rig) -> None:
    op = rig.open("scorebug")
    # a failed poll, then the score: the first poll after an outage is stale
    rig.push(with_shots(shot(5000), home=14), REPLY_500)
    op.wait(home_is(14))
    event = rig.wait_event(lambda e: e["type"] == "score_update")
    assert event["stale"] is True
    op.wait("window.shotfeed.feed.stats.stale >= 1")
    op.page.wait_for_timeout(300)
    assert op.played() == []
    op.assert_clean()


def test_replayed_events_after_a_reconnect_update_silently(rig: Rig) -> None:
    op = rig.open("scorebug", gate=True)
    assert op.gate is not None
    seen = op.js("window.shotfeed.feed.since()")
    op.gate.drop()
    op.wait("!window.shotfeed.feed.connected")
    rig.push(with_shots(shot(5000), home=14))
    missed = rig.wait_event(lambda e: e["type"] == "score_update")
    op.page.wait_for_timeout(200)
    assert op.js(SCORES) == ["11", "22"]  # the page is away
    op.gate.release()
    op.wait(home_is(14), timeout=12)
    assert f"since={seen}" in op.gate.urls[-1]
    assert op.js("window.shotfeed.feed.connected")
    assert op.js("window.shotfeed.feed.state.seq") >= missed["seq"]
    assert op.js("window.shotfeed.feed.stats.replay") >= 1  # they came as replay: true
    op.page.wait_for_timeout(300)
    assert op.played() == []  # replayed: applied, never animated
    # and the next live one still flashes
    rig.push(with_shots(shot(5000), shot(8000), home=17))
    op.wait(home_is(17), timeout=1.0)
    op.wait("window.shotfeed.played.length === 1", timeout=1.0)
    op.assert_clean()


def test_a_silent_connection_is_given_up_after_30_s_and_resumed(rig: Rig) -> None:
    op = rig.open("scorebug", gate=True, setup=lambda page: page.clock.install())
    assert op.gate is not None
    seen = op.js("window.shotfeed.feed.since()")
    op.gate.mute()  # the socket stays open; nothing (heartbeats included) gets through
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "score_update")
    op.page.clock.fast_forward(25_000)
    op.page.wait_for_timeout(100)
    assert op.js("window.shotfeed.feed.connected") and op.js(SCORES) == ["11", "22"]
    op.page.clock.fast_forward(6_000)  # past 30 s without a message
    op.wait("window.shotfeed.feed.stats.connects === 2", timeout=5)
    assert f"since={seen}" in op.gate.urls[-1]
    op.wait(home_is(14))
    assert op.played() == []  # what it missed comes as replay: silent
    op.assert_clean()


def test_server_restart_reconnects_with_since_and_repeats_nothing(rig: Rig) -> None:
    op = rig.open("scorebug")
    rig.push(with_shots(shot(5000), home=14))
    op.wait("window.shotfeed.played.length === 1", timeout=2)
    before = op.js("window.shotfeed.feed.since()")
    connects = op.js("window.shotfeed.feed.stats.connects")

    def while_down() -> None:
        # connection loss is never shown on air: the bug stays, as it was
        op.wait("!window.shotfeed.feed.connected")
        assert op.js(BUG_ON) and op.js(SCORES) == ["14", "22"]
        assert "disconnect" not in op.js("document.body.innerText").lower()
        rig.push(with_shots(shot(5000), shot(8000), home=17))

    rig.restart(between=while_down)
    op.wait(f"window.shotfeed.feed.stats.connects > {connects}", timeout=15)
    assert f"since={before}" in op.websockets[-1]
    # what the upstream did meanwhile arrives with the first poll after the restart: stale
    op.wait(home_is(17), timeout=5)
    op.page.wait_for_timeout(300)
    assert len(op.played()) == 1
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), home=20))
    op.wait(home_is(20), timeout=2)
    op.wait("window.shotfeed.played.length === 2", timeout=1.0)
    played = op.played()
    assert len(set(played)) == 2
    # refused connections while the server was down are the browser's own log lines
    assert all("WebSocket" in e for e in op.console_errors), op.console_errors
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()


def test_delay_ms_holds_the_state_and_every_event_back(rig: Rig) -> None:
    start = time.monotonic()
    op = rig.open("scorebug", wait_ready=False, delay_ms=1500)
    op.wait("window.shotfeed && window.shotfeed.feed.connected", timeout=5)
    assert not op.js("window.shotfeed.feed.hasState")  # hello is held back too
    op.wait(BUG_ON, timeout=5)
    assert time.monotonic() - start >= 1.4
    assert op.js(SCORES) == ["11", "22"]
    rig.push(with_shots(shot(5000), home=14))
    seen = rig.wait_event(lambda e: e["type"] == "score_update")
    seen_at = time.monotonic()
    assert seen["data"]["home"] == 14
    assert op.js(SCORES) == ["11", "22"]  # the server has it; the delayed page not yet
    op.wait(home_is(14), timeout=4)
    assert time.monotonic() - seen_at >= 1.2
    op.wait("window.shotfeed.played.length === 1", timeout=1.0)  # still live: it flashes
    op.assert_clean()


def test_every_text_is_text(rig: Rig) -> None:
    evil = "<img src=x onerror=alert(1)>"
    rig.configure({"home": {"short": evil, "name": evil}})
    op = rig.open("scorebug")
    op.wait(f"document.getElementById('home-short').textContent === {json.dumps(evil)}")
    assert op.js("document.querySelectorAll('img').length") == 0
    op.page.wait_for_timeout(200)
    assert not op.dialogs
    assert not any(u.endswith("/x") for u in op.requests)
    op.assert_clean()


def test_casparcg_functions_work_without_a_websocket(rig: Rig) -> None:
    op = rig.open("scorebug", wait_ready=False, game="NOT-FOLLOWED")
    op.wait("typeof window.update === 'function'")
    op.page.wait_for_timeout(300)
    assert not op.js("window.shotfeed.feed.connected")  # the server refuses this game
    assert not op.js(BUG_ON)  # no data, no bug
    data = {
        "home": {"short": "AAA", "score": 50, "color": "#ffffff"},
        "away": {"short": "BBB", "score": 48},
        "period": "Q4",
        "clock": "00:02:00",
    }
    op.js("d => window.update(d)", json.dumps(data))  # CasparCG hands a JSON string
    op.wait(BUG_ON)
    assert op.js(SCORES) == ["50", "48"]
    assert op.text("#period") == "Q4" and op.text("#clock") == "2:00"
    assert op.text("#home-short") == "AAA"
    op.js("window.stop()")
    op.wait(f"!{BUG_ON}")
    op.js(
        "window.update({type: 'score_update',"
        " data: {home: 53, away: 48, prev: {home: 50, away: 48}}})"
    )
    assert op.js(SCORES) == ["53", "48"]
    op.js("window.play()")
    op.wait(BUG_ON)
    op.js("window.next()")  # harmless on a scorebug
    op.js("window.update('not json')")  # ignored, with a warning
    assert op.played() == []  # update() never animates by itself
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()
    assert not op.console_errors, op.console_errors


def test_autoplay_off_waits_for_play(rig: Rig) -> None:
    op = rig.open("scorebug", autoplay="0")
    op.page.wait_for_timeout(200)
    assert not op.js(BUG_ON)
    op.js("window.play()")
    op.wait(BUG_ON)
    assert op.js(SCORES) == ["11", "22"]
    op.assert_clean()


def test_clock_runs_locally_and_stops_with_clock_running_false(rig: Rig) -> None:
    op = rig.open("scorebug", wait_ready=False, game="NOT-FOLLOWED")
    op.wait("typeof window.update === 'function'")
    op.js(
        "window.update({home: {score: 1}, away: {score: 2}, period: 'Q1',"
        " clock: '00:10:00', clockRunning: true, clockAt: Date.now()})"
    )
    op.wait("document.getElementById('clock').textContent === '10:00'", timeout=1)
    op.wait("document.getElementById('clock').textContent === '9:59'", timeout=2)
    # no new value from the server: the clock never runs more than a tick ahead of it
    op.page.wait_for_timeout(1500)
    assert op.text("#clock") == "9:59"
    op.js("window.update({type: 'clock', data: {clock: '00:09:59', period: 'Q1', running: false}})")
    op.page.wait_for_timeout(1300)
    assert op.text("#clock") == "9:59"
    op.js("window.update({type: 'game_status', data: {from: 'ACTIVE', to: 'FINAL'}})")
    op.wait("document.getElementById('period').textContent === 'FINAL'")
    assert op.text("#clock") == ""


def test_obs_hidden_source_does_not_animate_and_restores_when_shown(rig: Rig) -> None:
    op = rig.open("scorebug", debug="1")
    op.wait("document.getElementById('sf-debug').textContent.includes('connected')")
    op.js(
        "window.dispatchEvent(new CustomEvent('obsSourceVisibleChanged',"
        " {detail: {visible: false}}))"
    )
    rig.push(with_shots(shot(5000), home=14))
    op.wait(home_is(14))
    op.js(
        "window.dispatchEvent(new CustomEvent('obsSourceVisibleChanged',"
        " {detail: {visible: true}}))"
    )
    op.js(
        "window.dispatchEvent(new CustomEvent('obsSourceActiveChanged', {detail: {active: true}}))"
    )
    op.page.wait_for_timeout(200)
    assert op.played() == []
    assert op.js(SCORES) == ["14", "22"]
    assert not op.js("document.getElementById('home-score').classList.contains('flash')")
    op.assert_clean()

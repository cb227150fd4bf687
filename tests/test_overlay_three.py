"""The made-three splash in real headless Chromium against a real shotfeed server.

A live made three from the upstream plays within a second, with the player from the roster,
the team colour and the distance; threes in a row queue; a held, vetoed, stale, replayed or
already-played three never plays; a correction pulls a splash on air; a restart repeats
nothing; delay_ms delays; names are text; CasparCG drives it with no WebSocket.
"""

from __future__ import annotations

import json
import time

import pytest

from tests import browser as shared
from tests.browser import T0, Rig, shot, with_shots
from tests.upstream_app import Reply

pytestmark = pytest.mark.network

# the shared fixtures (one Chromium for this module, a fresh server per test)
browser = shared.browser
rig = shared.rig

ON = "document.getElementById('splash').classList.contains('on')"
KEY = "document.getElementById('splash').dataset.key"


def key(dt_ms: int) -> str:
    return str(T0 + dt_ms)


def on_with(dt_ms: int) -> str:
    return f"{ON} && {KEY} === '{key(dt_ms)}'"


def test_loads_clean_and_plays_nothing_from_the_state(rig: Rig) -> None:
    # a three made before the page was there is in hello.state.recent: it never plays
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "made_three")
    op = rig.open("three")
    assert op.js("window.shotfeed.feed.state.recent[0].key") == key(5000)
    op.page.wait_for_timeout(300)
    assert not op.js(ON)
    assert op.played() == []
    assert op.js("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    op.assert_clean()


def test_live_three_splashes_within_a_second_then_goes(rig: Rig) -> None:
    op = rig.open("three", hold_ms=1000)
    start = time.monotonic()
    rig.push(with_shots(shot(5000, feet=24.2), home=14))
    op.wait(on_with(5000), timeout=1.0)
    assert time.monotonic() - start < 1.0
    assert op.text("#three-name") == "Maya Ortiz"
    assert op.text("#three-meta").split() == ["#3", "·", "NFH", "·", "24", "ft"]
    assert (
        op.js("getComputedStyle(document.querySelector('#splash .badge')).backgroundColor")
        == "rgb(29, 78, 216)"
    )  # the home team's configured colour
    op.wait(f"!({ON})", timeout=3)  # in, hold 1 s, out
    op.page.wait_for_timeout(300)
    assert op.played("made_three") == [key(5000)]
    op.assert_clean()


def test_threes_in_a_row_play_one_after_the_other(rig: Rig) -> None:
    op = rig.open("three", hold_ms=1000, away_color="#ffd700")
    rig.configure({"roster": {"7401": {"name": "Sam Okafor", "number": "11"}}})
    rig.push(with_shots(shot(5000), shot(6000, pid="7401", tid="2", feet=26), home=14, away=25))
    op.wait(on_with(5000), timeout=1.5)
    assert op.text("#three-name") == "Maya Ortiz"
    op.wait(on_with(6000), timeout=4)
    assert op.text("#three-name") == "Sam Okafor"
    assert (
        op.js("getComputedStyle(document.querySelector('#splash .badge')).backgroundColor")
        == "rgb(255, 215, 0)"
    )  # ?away_color
    assert op.played("made_three") == [key(5000), key(6000)]
    op.wait(f"!({ON})", timeout=3)
    op.assert_clean()


def test_held_or_vetoed_threes_never_play(rig: Rig) -> None:
    op = rig.open("three", hold_ms=1000)
    rig.hold(held=True)
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "made_three")
    op.wait("window.shotfeed.feed.state.recent.length === 2")
    rig.hold(held=False, autofire={"made_three": False})
    rig.push(with_shots(shot(5000), shot(8000), home=17))
    op.wait("window.shotfeed.feed.state.home.score === 17")
    op.page.wait_for_timeout(400)
    assert not op.js(ON) and op.played() == []
    # released, a later three plays, and neither of the held ones ever does
    rig.hold(autofire={"made_three": True})
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), home=20))
    op.wait(on_with(11000), timeout=1.5)
    # holding while a splash is on air takes it off
    rig.hold(held=True)
    op.wait(f"!({ON})", timeout=1.5)
    assert op.played() == [key(11000)]
    op.assert_clean()


def test_stale_three_never_plays(rig: Rig) -> None:
    op = rig.open("three")
    rig.push(
        with_shots(shot(5000), home=14),
        Reply(500, {"status": 500, "message": "boom", "shottrackerRequestId": "x"}),
    )
    event = rig.wait_event(lambda e: e["type"] == "made_three")
    assert event["stale"] is True
    op.wait("window.shotfeed.feed.state.home.score === 14")
    op.page.wait_for_timeout(400)
    assert not op.js(ON) and op.played() == []
    op.assert_clean()


def test_replayed_three_never_plays(rig: Rig) -> None:
    op = rig.open("three", gate=True, hold_ms=1000)
    assert op.gate is not None
    op.gate.drop()
    op.wait("!window.shotfeed.feed.connected")
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "made_three")
    op.gate.release()
    op.wait("window.shotfeed.feed.connected && window.shotfeed.feed.state.home.score === 14", 12)
    assert "since=" in op.gate.urls[-1]
    op.wait("window.shotfeed.feed.stats.replay >= 2")  # shot + made_three (+ score_update)
    op.page.wait_for_timeout(400)
    assert not op.js(ON) and op.played() == []
    rig.push(with_shots(shot(5000), shot(8000), home=17))
    op.wait(on_with(8000), timeout=1.0)
    op.assert_clean()


def test_server_restart_plays_no_three_twice(rig: Rig) -> None:
    op = rig.open("three", hold_ms=1000)
    rig.push(with_shots(shot(5000), home=14))
    op.wait(on_with(5000), timeout=1.0)
    connects = op.js("window.shotfeed.feed.stats.connects")

    def while_down() -> None:
        op.wait("!window.shotfeed.feed.connected")
        rig.push(with_shots(shot(5000), shot(8000), home=17))

    rig.restart(between=while_down)
    op.wait(f"window.shotfeed.feed.stats.connects > {connects}", timeout=15)
    assert "since=" in op.websockets[-1]
    # the three made while the server was down comes stale: it never plays
    op.wait("window.shotfeed.feed.state.home.score === 17", timeout=5)
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), home=20))
    op.wait(on_with(11000), timeout=2)
    op.page.wait_for_timeout(300)
    assert op.played("made_three") == [key(5000), key(11000)]
    assert all("WebSocket" in e for e in op.console_errors), op.console_errors
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()


def test_delay_ms_delays_the_splash(rig: Rig) -> None:
    op = rig.open("three", delay_ms=1500, hold_ms=1000)
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "made_three")
    seen_at = time.monotonic()
    assert not op.js(ON)
    op.wait(on_with(5000), timeout=4)
    assert time.monotonic() - seen_at >= 1.2
    op.assert_clean()


def test_roster_name_is_text_and_runs_nothing(rig: Rig) -> None:
    evil = "<img src=x onerror=alert(1)>"
    rig.configure({"roster": {"7301": {"name": evil, "number": "<b>7</b>"}}})
    op = rig.open("three", hold_ms=2000)
    rig.push(with_shots(shot(5000), home=14))
    op.wait(on_with(5000), timeout=1.5)
    assert op.text("#three-name") == evil
    assert op.text("#three-meta").startswith("#<b>7</b>")
    assert op.js("document.querySelectorAll('img, b').length") == 0
    op.page.wait_for_timeout(200)
    assert not op.dialogs
    assert not any(u.endswith("/x") for u in op.requests)
    op.assert_clean()


def test_correction_pulls_a_splash_on_air(rig: Rig) -> None:
    op = rig.open("three", hold_ms=10000)
    rig.push(with_shots(shot(5000), home=14))
    op.wait(on_with(5000), timeout=1.0)
    # the upstream corrects it: a miss after all
    rig.push(with_shots(shot(5000, made=False), home=11))
    rig.wait_event(lambda e: e["type"] == "shot_update")
    op.wait(f"!({ON})", timeout=1.5)
    assert op.played() == [key(5000)]
    op.assert_clean()


def test_operator_three_and_panic(rig: Rig) -> None:
    op = rig.open("three", hold_ms=10000)
    rig.fire("three", {"player": {"name": "Guest Shooter", "number": "9"}, "team": "away"})
    op.wait(f"{ON} && document.getElementById('three-name').textContent === 'Guest Shooter'", 1)
    rig.operator("POST", "/panic")
    op.wait(f"!({ON})", timeout=1.0)
    op.assert_clean()


def test_casparcg_update_and_play_without_a_websocket(rig: Rig) -> None:
    op = rig.open("three", wait_ready=False, game="NOT-FOLLOWED", hold_ms=5000)
    op.wait("typeof window.update === 'function'")
    op.page.wait_for_timeout(300)
    assert not op.js("window.shotfeed.feed.connected")
    three = {
        "type": "made_three",
        "data": {
            "key": "k1",
            "team": "home",
            "player": {"name": "Caspar Player", "number": "23"},
            "distanceFt": 25.4,
            "made": True,
            "three": True,
        },
    }
    op.js("d => window.update(d)", json.dumps(three))
    op.page.wait_for_timeout(200)
    assert not op.js(ON)  # update() loads; play() plays
    op.js("window.play()")
    op.wait(f"{ON} && document.getElementById('three-name').textContent === 'Caspar Player'")
    assert op.text("#three-meta").split() == ["#23", "·", "HOME", "·", "25", "ft"]
    op.js("window.next()")
    op.wait(f"!({ON})", timeout=1.5)
    op.js("d => window.update(d)", json.dumps(three))
    op.js("window.play()")
    op.wait(ON)
    op.js("window.stop()")
    op.wait(f"!({ON})", timeout=1.5)
    assert not op.js("window.shotfeed.playing")
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()
    assert not op.console_errors, op.console_errors

"""The shot chart in real headless Chromium against a real shotfeed server.

Every shot of the game is on the court at its hoop-relative x, y (hello's ten and the rest from
/overlays/shotchart/shots.json), makes and misses in the team colours; a live shot pops in within a
second; corrections move, recolour or remove a shot; ?team= shows one side; stale and replayed
shots just appear; a restart repeats nothing; delay_ms delays (the fetched list too); names
are text; CasparCG drives it with no WebSocket.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import Settings
from tests import browser as shared
from tests.browser import AWAY_ID, T0, FeedServer, Rig, shot, with_shots
from tests.server_fixtures import GAME, TOKEN, free_port, seed_doc
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

pytestmark = pytest.mark.network

# the shared fixtures (one Chromium for this module, a fresh server per test)
browser = shared.browser
rig = shared.rig

ON = "document.getElementById('panel').classList.contains('on')"
LOADED = "document.documentElement.dataset.shots === 'loaded'"
MARKS = "[...document.querySelectorAll('#shots g.shot')].map(g => g.dataset.key)"
REPLY_500 = Reply(500, {"status": 500, "message": "boom", "shottrackerRequestId": "x"})
SEED_KEY = "1663870491879"
MM_PER_FT = 304.8


def at(dt_ms: int, x: float, y: float, **kw: Any) -> dict[str, Any]:
    """A shot ``dt_ms`` after the seed shot at hoop-relative (x, y) feet (the seed's hoop)."""
    rec = shot(dt_ms, **kw)
    # the seed's hoop is at hy > 0, so the server turns that end around: x, y = hoop - shot
    rec["px"] = round(rec["hx"] - x * MM_PER_FT)
    rec["py"] = round(rec["hy"] - y * MM_PER_FT)
    return rec


def key(dt_ms: int) -> str:
    return str(T0 + dt_ms)


def marks(op: Any) -> list[str]:
    keys: list[str] = op.js(MARKS)
    return keys


def mark(op: Any, k: str) -> dict[str, Any]:
    """Class, position (feet, from the CSS translate) and fill of the shot's mark."""
    info: dict[str, Any] = op.js(
        """k => {
          const g = [...document.querySelectorAll('#shots g.shot')].find(g => g.dataset.key === k);
          if (!g) return null;
          const dot = g.querySelector('.dot, .x');
          const cs = getComputedStyle(dot);
          return {cls: g.getAttribute('class'), transform: g.style.transform,
                  color: dot.classList.contains('dot') ? cs.fill : cs.stroke};
        }""",
        k,
    )
    if info is None:
        raise AssertionError(f"no mark for {k}")
    nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", info["transform"])]
    info["xy"] = (nums[0], nums[1])
    return info


def has(k: str) -> str:
    return f"{MARKS}.includes({json.dumps(k)})"


def test_loads_clean_with_every_shot_of_the_game(rig: Rig) -> None:
    rig.push(with_shots(*(shot(1000 * i, made=i % 2 == 0) for i in range(1, 13)), home=29))
    rig.wait_event(lambda e: e["type"] == "score_update")
    op = rig.open("shotchart")
    op.wait(f"{ON} && {LOADED}")
    # hello has ten; the other three come from the chart's own compact list
    assert sorted(marks(op)) == sorted([SEED_KEY] + [key(1000 * i) for i in range(1, 13)])
    assert any("/overlays/shotchart/shots.json?game=EVT" in u for u in op.requests)
    # that list: compact rows, the same shots as the API's
    r = rig.http.get("/overlays/shotchart/shots.json", params={"game": "EVT"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["fields"] == ["key", "t", "x", "y", "made", "three", "team"]
    assert body["shots"][0] == [SEED_KEY, int(SEED_KEY), -10.37, 16.02, False, False, None]
    assert len(body["shots"]) == 13
    for game in ("NOT-FOLLOWED", "<x>", ""):
        r = rig.http.get("/overlays/shotchart/shots.json", params={"game": game})
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    seed = mark(op, SEED_KEY)
    assert seed["xy"] == (-10.37, 16.02)  # the seed's (px, py) against its hoop, in feet
    assert "miss" in seed["cls"] and "team-none" in seed["cls"]  # tid 552: no side
    made = mark(op, key(2000))
    assert "made" in made["cls"] and made["color"] == "rgb(29, 78, 216)"  # home's colour
    assert op.text("#home-fg") == "6/12  50%" and op.text("#home-3pt") == "6/12"
    assert op.text("#away-fg") == "0/0" and op.text("#away-chip") == "RIV"
    op.page.wait_for_timeout(300)
    assert op.played() == []
    assert op.js("document.querySelectorAll('#shots .live').length") == 0
    assert op.js("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    op.assert_clean()


def test_live_shot_pops_in_within_a_second(rig: Rig) -> None:
    op = rig.open("shotchart", away_color="#ffd700")
    op.wait(LOADED)
    start = time.monotonic()
    rig.push(with_shots(at(5000, 20.5, 9.25, tid=AWAY_ID, pid="7401"), away=25))
    op.wait(has(key(5000)), timeout=1.0)
    assert time.monotonic() - start < 1.0
    info = mark(op, key(5000))
    assert info["xy"] == (20.5, 9.25)
    assert "live" in info["cls"] and "made" in info["cls"]
    assert info["color"] == "rgb(255, 215, 0)"  # ?away_color
    assert op.played("shot") == [key(5000)]
    op.wait("document.querySelectorAll('#shots .live').length === 0", timeout=3)
    assert op.text("#away-fg") == "1/1  100%"
    op.assert_clean()


def test_corrections_move_recolour_and_remove(rig: Rig) -> None:
    op = rig.open("shotchart")
    rig.push(with_shots(at(5000, 20, 10), at(8000, 2, 3, three=False), home=16))
    op.wait(has(key(8000)), timeout=1.0)
    rig.push(with_shots(at(5000, -6, 4, made=False), home=13))  # moved, a miss; 8000 is gone
    op.wait(f"!{has(key(8000))}", timeout=1.5)
    op.wait(f"{MARKS}.length === 2")
    info = mark(op, key(5000))
    assert info["xy"] == (-6.0, 4.0) and "miss" in info["cls"]
    # off the court it stays on the chart's edge
    rig.push(with_shots(at(5000, -6, 4, made=False), at(9000, 40, 60, made=False), home=13))
    op.wait(has(key(9000)), timeout=1.0)
    assert mark(op, key(9000))["xy"] == (24.4, 41.2)
    assert op.text("#home-fg") == "0/2  0%" and op.text("#home-3pt") == "0/2"
    op.assert_clean()


def test_team_query_shows_one_side(rig: Rig) -> None:
    rig.push(with_shots(at(5000, 1, 1), at(6000, -1, 2, tid=AWAY_ID, pid="7401"), home=14, away=25))
    rig.wait_event(lambda e: e["type"] == "score_update")
    op = rig.open("shotchart", team="away")
    op.wait(f"{ON} && {LOADED}")
    assert marks(op) == [key(6000)]
    assert op.text("#chart-title") == "RIV shot chart"
    assert op.js("document.getElementById('row-home').hidden")
    rig.push(
        with_shots(
            at(5000, 1, 1),
            at(6000, -1, 2, tid=AWAY_ID, pid="7401"),
            at(7000, 0, 5),
            home=16,
            away=25,
        )
    )
    op.wait("window.shotfeed.feed.state.home.score === 16")
    assert marks(op) == [key(6000)]
    op.assert_clean()


def test_stale_held_and_replayed_shots_appear_without_motion(rig: Rig) -> None:
    op = rig.open("shotchart", gate=True)
    assert op.gate is not None
    op.wait(LOADED)
    rig.push(with_shots(at(5000, 3, 3), home=14), REPLY_500)  # stale: first poll after an outage
    op.wait(has(key(5000)))
    rig.hold(held=True)  # held: nothing pops by itself
    rig.push(with_shots(at(5000, 3, 3), at(6000, 5, 5), home=16))
    op.wait(has(key(6000)))
    rig.hold(held=False)
    op.gate.drop()
    op.wait("!window.shotfeed.feed.connected")
    rig.push(with_shots(at(5000, 3, 3), at(6000, 5, 5), at(8000, -3, 3), home=19))
    rig.wait_event(lambda e: e["type"] == "shot" and e["data"]["key"] == key(8000))
    op.gate.release()
    op.wait(has(key(8000)), timeout=12)
    assert op.js("window.shotfeed.feed.stats.replay") >= 1
    op.page.wait_for_timeout(300)
    assert op.played() == []
    assert op.js("document.querySelectorAll('#shots .live').length") == 0
    op.assert_clean()


def test_server_restart_resumes_with_no_duplicate(rig: Rig) -> None:
    op = rig.open("shotchart")
    rig.push(with_shots(at(5000, 3, 3), home=14))
    op.wait(has(key(5000)), timeout=1.0)
    connects = op.js("window.shotfeed.feed.stats.connects")

    def while_down() -> None:
        op.wait("!window.shotfeed.feed.connected")
        rig.push(with_shots(at(5000, 3, 3), at(8000, 8, 8), home=17))

    rig.restart(between=while_down)
    op.wait(f"window.shotfeed.feed.stats.connects > {connects}", timeout=15)
    op.wait(has(key(8000)), timeout=5)
    rig.push(with_shots(at(5000, 3, 3), at(8000, 8, 8), at(11000, -8, 8), home=20))
    op.wait(has(key(11000)), timeout=2)
    op.page.wait_for_timeout(300)
    assert sorted(marks(op)) == sorted([SEED_KEY, key(5000), key(8000), key(11000)])
    assert op.played("shot") == [key(5000), key(11000)]
    assert all("WebSocket" in e for e in op.console_errors), op.console_errors
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()


def test_delay_ms_delays_shots_and_the_fetched_list(rig: Rig) -> None:
    rig.push(with_shots(at(5000, 3, 3), home=14))
    rig.wait_event(lambda e: e["type"] == "shot")
    opened = time.monotonic()
    op = rig.open("shotchart", wait_ready=False, delay_ms=1500)
    op.wait("window.shotfeed && window.shotfeed.feed.connected")
    # a shot made after the page connected: the server's list (fetched when the delayed hello
    # is let through, 1.5 s after it came) has it before the video does
    op.page.wait_for_timeout(600)
    rig.push(with_shots(at(5000, 3, 3), at(8000, -3, 3), home=17))
    seen = rig.wait_event(lambda e: e["type"] == "shot" and e["data"]["key"] == key(8000))
    seen_at = time.monotonic()
    op.wait(LOADED, timeout=4)
    assert time.monotonic() - opened >= 1.4
    assert key(5000) in marks(op)
    assert key(8000) not in marks(op)  # not before its own (delayed) event
    op.wait(has(key(8000)), timeout=4)
    assert time.monotonic() - seen_at >= 1.0, seen
    assert op.played("shot") == [key(8000)]
    op.assert_clean()


def test_names_are_text(rig: Rig) -> None:
    evil = "<img src=x onerror=alert(1)>"
    rig.configure({"home": {"short": evil, "name": evil}})
    op = rig.open("shotchart")
    op.wait(ON)
    assert op.text("#home-chip") == evil and op.text("#home-name") == evil
    assert op.js("document.querySelectorAll('img').length") == 0
    op.page.wait_for_timeout(200)
    assert not op.dialogs
    assert not any(u.endswith("/x") for u in op.requests)
    op.assert_clean()


def test_casparcg_update_and_play_without_a_websocket(rig: Rig) -> None:
    op = rig.open("shotchart", wait_ready=False, game="NOT-FOLLOWED")
    op.wait("typeof window.update === 'function'")
    op.page.wait_for_timeout(300)
    assert not op.js("window.shotfeed.feed.connected") and not op.js(ON)
    shots = [
        {"key": "a", "team": "home", "made": True, "three": True, "x": -20, "y": 8},
        {"key": "b", "team": "away", "made": False, "three": False, "x": 4, "y": 6},
    ]
    op.js("d => window.update(d)", json.dumps({"home": {"short": "AAA"}, "shots": shots}))
    op.wait(ON)
    assert sorted(marks(op)) == ["a", "b"]
    assert mark(op, "a")["xy"] == (-20.0, 8.0) and "miss" in mark(op, "b")["cls"]
    new = {"key": "c", "team": "home", "made": True, "three": False, "x": 0, "y": 3}
    op.js("d => window.update(d)", json.dumps({"type": "shot", "data": new}))
    assert "c" in marks(op)
    op.js(
        "d => window.update(d)",
        json.dumps({"type": "shot_removed", "data": {"key": "a", "before": shots[0]}}),
    )
    assert sorted(marks(op)) == ["b", "c"]
    op.js("window.stop()")
    op.wait(f"!{ON}")
    op.js("window.play()")
    op.wait(ON)
    op.js("window.next()")
    assert op.played() == []  # update() never animates by itself
    assert not any("shots.json" in u for u in op.requests)  # no feed, no fetch
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()
    assert not op.console_errors, op.console_errors


def test_the_shots_list_needs_the_overlay_key_when_one_is_set(tmp_path: Path) -> None:
    key_ = "overlay-key-0123456789"
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    with LiveServer(upstream) as up:
        settings = Settings(
            base_url=up.url,
            games=(GAME,),
            db_path=str(tmp_path / "feed.db"),
            operator_token=TOKEN,
            poll_interval=0.1,
            overlay_key=key_,
        )
        server = FeedServer(settings, free_port())
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                url = "/overlays/shotchart/shots.json"
                deadline = time.monotonic() + 10
                while not http.get(url, params={"game": GAME, "key": key_}).json().get("shots"):
                    assert time.monotonic() < deadline, "no first poll within 10 s"
                    time.sleep(0.05)
                for params in ({"game": GAME}, {"game": GAME, "key": "wrong"}):
                    r = http.get(url, params=params)
                    assert r.status_code == 403 and r.json()["error"] == "forbidden"
                    assert key_ not in r.text
        finally:
            server.stop()

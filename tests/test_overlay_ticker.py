"""The ticker in real headless Chromium against a real shotfeed server.

It shows the score and the made shots of hello's state at once, without motion; a live made
three (with its score) slides in first within a second; free throws, runs, hot hands, period
changes and operator lines get their own line; corrections fix or drop a line; replayed, stale
and held moments go in without motion; a restart repeats nothing; delay_ms delays; names are
text; CasparCG drives it with no WebSocket.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests import browser as shared
from tests.browser import T0, Rig, shot, with_shots
from tests.upstream_app import Reply

pytestmark = pytest.mark.network

# the shared fixtures (one Chromium for this module, a fresh server per test)
browser = shared.browser
rig = shared.rig

ON = "document.getElementById('ticker').classList.contains('on')"
ITEMS = "[...document.querySelectorAll('#track .item')].map(e => e.dataset.id)"
REPLY_500 = Reply(500, {"status": 500, "message": "boom", "shottrackerRequestId": "x"})


def sid(dt_ms: int) -> str:
    return f"shot:{T0 + dt_ms}"


def items(op: Any) -> list[str]:
    ids: list[str] = op.js(ITEMS)
    return ids


def item_text(op: Any, item_id: str) -> list[str]:
    parts: list[str] = op.js(
        "id => Array.from([...document.querySelectorAll('#track .item')]"
        "  .find(e => e.dataset.id === id).querySelectorAll('span'), s => s.textContent)",
        item_id,
    )
    return parts


def first_is(item_id: str) -> str:
    return f"(document.querySelector('#track .item') || {{}}).dataset?.id === {json.dumps(item_id)}"


def test_loads_clean_with_the_state_and_no_motion(rig: Rig) -> None:
    rig.push(with_shots(shot(5000), shot(8000, made=False), home=14))
    rig.wait_event(lambda e: e["type"] == "score_update")
    op = rig.open("ticker")
    op.wait(ON)
    assert op.text("#away-short") == "RIV" and op.text("#away-score") == "22"
    assert op.text("#home-short") == "NFH" and op.text("#home-score") == "14"
    assert op.text("#per") == "2H"
    assert items(op) == [sid(5000)]  # made shots only; the misses stay off the ticker
    assert item_text(op, sid(5000)) == ["NFH", "Maya Ortiz #3", "3-pointer · 24 FT", ""]
    op.page.wait_for_timeout(300)
    assert op.played() == []
    assert op.js("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    op.assert_clean()


def test_live_three_slides_in_first_within_a_second(rig: Rig) -> None:
    op = rig.open("ticker")
    start = time.monotonic()
    rig.push(with_shots(shot(5000, feet=26.4), home=14))
    op.wait(first_is(sid(5000)), timeout=1.0)
    assert time.monotonic() - start < 1.0
    op.wait("document.getElementById('home-score').textContent === '14'", timeout=1.0)
    assert item_text(op, sid(5000))[1:3] == ["Maya Ortiz #3", "3-pointer · 26 FT"]
    assert op.js("document.getElementById('track').classList.contains('slide')")
    assert op.played("shot") == [sid(5000)]
    # the score of that poll is the shot's: no line of its own
    op.page.wait_for_timeout(300)
    assert items(op) == [sid(5000)]
    op.assert_clean()


def test_free_throws_runs_hot_hands_lead_and_period_get_lines(rig: Rig) -> None:
    op = rig.open("ticker")
    rig.push(with_shots(home=12))  # no shot: a free throw
    score = rig.wait_event(lambda e: e["type"] == "score_update")
    op.wait(first_is(f"score:{score['seq']}"), timeout=1.0)
    assert item_text(op, f"score:{score['seq']}") == ["NFH", "+1", "RIV 22 · NFH 12", ""]
    shots = [shot(5000), shot(8000, three=False, feet=3), shot(11000)]
    rig.push(with_shots(*shots[:2], home=17))
    op.wait(first_is(sid(8000)), timeout=1.0)
    rig.push(with_shots(*shots, home=20))
    op.wait(first_is("run:home:" + str(score["seq"])), timeout=1.0)
    assert item_text(op, "run:home:" + str(score["seq"]))[:3] == [
        "NFH",
        "9-0 run",
        "Northfield Hawks",
    ]
    assert item_text(op, "hot:7301")[1:3] == ["Maya Ortiz #3", "3 straight makes"]
    rig.push(with_shots(*shots, shot(14000), home=23))  # 23-22: NFH takes the lead
    op.wait(f"{ITEMS}.includes({json.dumps(sid(14000))}) && {ITEMS}[1] === 'hot:7301'", 1.0)
    assert items(op)[:3] == ["run:home:" + str(score["seq"]), "hot:7301", sid(14000)]
    assert item_text(op, sid(14000))[3] == "LEAD"
    assert item_text(op, "hot:7301")[2] == "4 straight makes"
    doc = with_shots(*shots, shot(14000), home=23)
    doc["gameTotals"]["period"] = "OT1"
    rig.push(doc)
    op.wait(first_is("period:OT1"), timeout=1.0)
    assert item_text(op, "period:OT1") == ["OT", "Overtime", "End of 2nd Half", ""]
    ids = items(op)
    assert len(ids) == len(set(ids))
    op.assert_clean()


def test_corrections_fix_or_drop_a_line(rig: Rig) -> None:
    rig.configure({"roster": {"7401": {"name": "Sam Okafor", "number": "11"}}})
    op = rig.open("ticker")
    rig.push(with_shots(shot(5000), shot(8000, three=False), home=16))
    op.wait(first_is(sid(8000)), timeout=1.0)
    # re-credited to another player, and the other one was a miss after all
    rig.push(with_shots(shot(5000, pid="7401"), shot(8000, three=False, made=False), home=14))
    op.wait(f"!{ITEMS}.includes({json.dumps(sid(8000))})", timeout=1.5)
    correction = rig.wait_event(lambda e: e["type"] == "score_update" and e["data"]["correction"])
    op.wait(first_is(f"score:{correction['seq']}"), timeout=1.0)
    assert items(op) == [f"score:{correction['seq']}", sid(5000)]
    assert item_text(op, f"score:{correction['seq']}")[:3] == [
        "SCORE", "Score corrected", "RIV 22 · NFH 14",
    ]  # fmt: skip
    assert item_text(op, sid(5000))[:2] == ["NFH", "Sam Okafor #11"]
    op.assert_clean()


def test_stale_held_and_replayed_moments_go_in_without_motion(rig: Rig) -> None:
    op = rig.open("ticker", gate=True)
    assert op.gate is not None
    rig.push(with_shots(shot(5000), home=14), REPLY_500)  # stale: first poll after an outage
    op.wait(first_is(sid(5000)))
    run_from = rig.wait_event(lambda e: e["type"] == "score_update")["seq"]
    rig.hold(held=True)
    rig.push(with_shots(shot(5000), shot(8000), home=17))
    op.wait(first_is(sid(8000)))
    rig.hold(held=False)
    op.gate.drop()
    op.wait("!window.shotfeed.feed.connected")
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), home=20))
    rig.wait_event(lambda e: e["type"] == "made_three" and e["data"]["key"] == str(T0 + 11000))
    op.gate.release()
    op.wait(f"{ITEMS}.includes({json.dumps(sid(11000))})", timeout=12)
    assert op.js("window.shotfeed.feed.stats.replay") >= 1
    op.page.wait_for_timeout(300)
    assert op.played() == []
    assert [i for i in items(op) if i.startswith("shot:")] == [sid(11000), sid(8000), sid(5000)]
    assert items(op)[:2] == [f"run:home:{run_from}", "hot:7301"]  # the third make: 9-0, hot
    op.assert_clean()


def test_server_restart_resumes_with_no_duplicate(rig: Rig) -> None:
    op = rig.open("ticker")
    rig.push(with_shots(shot(5000), home=14))
    op.wait(first_is(sid(5000)), timeout=1.0)
    run_from = rig.wait_event(lambda e: e["type"] == "score_update")["seq"]
    connects = op.js("window.shotfeed.feed.stats.connects")

    def while_down() -> None:
        op.wait("!window.shotfeed.feed.connected")
        rig.push(with_shots(shot(5000), shot(8000), home=17))

    rig.restart(between=while_down)
    op.wait(f"window.shotfeed.feed.stats.connects > {connects}", timeout=15)
    assert "since=" in op.websockets[-1]
    op.wait(first_is(sid(8000)), timeout=5)  # stale: in place, no motion
    rig.push(with_shots(shot(5000), shot(8000), shot(11000), home=20))
    op.wait(f"{ITEMS}[0] === 'run:home:{run_from}'", timeout=2)  # 9-0, after a hot hand
    ids = items(op)
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i.startswith("shot:")] == [sid(11000), sid(8000), sid(5000)]
    assert op.played("shot") == [sid(5000), sid(11000)]
    assert op.played("run") == [f"run:home:{run_from}"]
    assert all("WebSocket" in e for e in op.console_errors), op.console_errors
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()


def test_delay_ms_delays_the_line(rig: Rig) -> None:
    op = rig.open("ticker", delay_ms=1000)
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "score_update")
    seen_at = time.monotonic()
    assert items(op) == [] and op.text("#home-score") == "11"
    op.wait(first_is(sid(5000)), timeout=4)
    assert time.monotonic() - seen_at >= 0.7
    assert op.played("shot") == [sid(5000)]  # late for the server, on time for the video
    op.assert_clean()


def test_names_and_operator_lines_are_text(rig: Rig) -> None:
    evil = "<img src=x onerror=alert(1)>"
    rig.configure(
        {"home": {"short": evil}, "roster": {"7301": {"name": evil, "number": "<b>7</b>"}}}
    )
    op = rig.open("ticker")
    rig.push(with_shots(shot(5000), home=14))
    op.wait(first_is(sid(5000)), timeout=1.5)
    assert item_text(op, sid(5000))[:2] == [evil, f"{evil} #<b>7</b>"]
    assert op.text("#home-short") == evil
    rig.fire("ticker", {"text": evil, "tag": "<i>x</i>"})
    op.wait(f"{ITEMS}[0].startsWith('note:')", timeout=1.0)
    assert op.js("document.querySelector('#track .item .what').textContent") == evil
    assert op.js("document.querySelectorAll('img, b, i').length") == 0
    rig.operator("POST", "/panic")
    op.wait(f"!{ITEMS}.some(i => i.startsWith('note:'))", timeout=1.0)
    op.page.wait_for_timeout(200)
    assert not op.dialogs
    assert not any(u.endswith("/x") for u in op.requests)
    op.assert_clean()


def test_casparcg_update_and_play_without_a_websocket(rig: Rig) -> None:
    op = rig.open("ticker", wait_ready=False, game="NOT-FOLLOWED")
    op.wait("typeof window.update === 'function'")
    op.page.wait_for_timeout(300)
    assert not op.js("window.shotfeed.feed.connected") and not op.js(ON)
    made = {"key": "k1", "team": "away", "made": True, "three": False, "points": 2,
            "player": {"name": "Caspar Player", "number": "8"}, "distanceFt": 12.2}  # fmt: skip
    state = {"home": {"short": "AAA", "score": 50}, "away": {"short": "BBB", "score": 48},
             "period": "Q4", "recent": [made]}  # fmt: skip
    op.js("d => window.update(d)", json.dumps(state))
    op.wait(ON)
    assert items(op) == ["shot:k1"]
    assert item_text(op, "shot:k1")[:3] == ["BBB", "Caspar Player #8", "2 pts · 12 FT"]
    op.js("d => window.update(d)", json.dumps({"type": "shot", "data": {**made, "key": "k2"}}))
    assert items(op) == ["shot:k2", "shot:k1"]
    op.js("window.stop()")
    op.wait(f"!{ON}")
    op.js("window.play()")
    op.wait(ON)
    op.js("window.next()")
    assert op.played() == []  # update() never animates by itself
    assert not op.page_errors and not op.dialogs and not op.foreign_requests()
    assert not op.console_errors, op.console_errors

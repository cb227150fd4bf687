"""The scorebug and scoreboard show what ``GET /api/games/{id}/state`` says, read through the
shared contract (server/core/contract.py): scores, names, period, clock, at several points of a
scripted game in real headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from server.core.periods import period_label, period_short
from server.core.snapshot import display_clock
from tests import browser as shared
from tests.browser import Rig, shot, with_shots

pytestmark = pytest.mark.network

browser = shared.browser
rig = shared.rig


def _check(rig: Rig, bug: Any, board: Any) -> None:
    st = rig.state()
    home, away = str(st["home"]["score"]), str(st["away"]["score"])
    bug.wait(f"document.getElementById('home-num').textContent === '{home}'")
    board.wait(f"document.getElementById('home-num').textContent === '{home}'")
    for page in (bug, board):
        assert page.text("#home-num") == home and page.text("#away-num") == away
    assert bug.text("#home-short") == st["home"]["short"]
    assert bug.text("#away-short") == st["away"]["short"]
    assert board.text("#home-name") == st["home"]["name"]
    assert board.text("#away-name") == st["away"]["name"]
    assert bug.text("#period") == (period_short(st["period"]) or "")
    assert board.text("#period") in {period_label(st["period"]), period_short(st["period"])}
    if not st.get("clockRunning"):
        assert st["clockDisplay"] == display_clock(st["clock"])
        for page in (bug, board):
            assert page.text("#clock") == st["clockDisplay"]


def test_scorebug_and_scoreboard_agree_with_state(rig: Rig) -> None:
    bug = rig.open("scorebug")
    board = rig.open("scoreboard")
    bug.wait("document.getElementById('bug').classList.contains('on')")
    _check(rig, bug, board)
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "score_update")
    _check(rig, bug, board)
    rig.push(with_shots(shot(5000), shot(9000, tid="2", three=False), home=14, away=24))
    rig.wait_event(lambda e: e["type"] == "score_update" and e["data"].get("away") == 24)
    _check(rig, bug, board)

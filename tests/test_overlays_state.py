"""Every overlay holds what ``GET /api/games/{id}/state`` says, read through the one contract.

A scripted game (scores, a made three, a tenths clock, a second overtime, an operator override
with an hours clock) plays against a real shotfeed; at each step every overlay page (scorebug,
scoreboard, period, ticker, shotchart, three) is read in real headless Chromium and compared
with the server's state and the server's own period label (server.core.periods) and clock text
(server.core.clock). A running clock may be up to 1.5 s ahead of the server's value
(CLOCK_MAX_LEAD_MS), written by the same rule (running_clock).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from server.core.clock import display_clock, parse_clock, running_clock
from server.core.periods import period_label, period_short
from tests import browser as shared
from tests.browser import AWAY_ID, HOME_ID, OverlayPage, Rig, shot, with_shots

pytestmark = pytest.mark.network

browser = shared.browser
rig = shared.rig

OVERLAYS = ("scorebug", "scoreboard", "period", "ticker", "shotchart", "three")
READ = """(ids) => {
  const out = {};
  for (const [name, sel] of Object.entries(ids)) {
    const el = document.querySelector(sel);
    out[name] = el ? el.textContent : null;
  }
  return out;
}"""
CLOCK_LEAD_S = 1.5


def _game(*shots: dict[str, Any], home: int, away: int, period: str, clock: str) -> dict[str, Any]:
    """The upstream payload for one moment of the scripted game."""
    doc = with_shots(*shots, home=home, away=away)
    totals = doc["gameTotals"]
    totals["period"] = period
    totals["gameClock"] = clock
    if not any(p["period"] == period for p in totals["periodTotals"]):
        totals["periodTotals"].append(
            {
                "homeTeamScore": {"teamId": HOME_ID, "value": 0},
                "awayTeamScore": {"teamId": AWAY_ID, "value": 0},
                "period": period,
                "sessionId": f"session-{period}",
            }
        )
    return doc


def _fg(row: dict[str, int]) -> str:
    """The shot chart's FG figure, as shotchart.html writes it."""
    pct = f"  {round(100 * row['fgm'] / row['fga'])}%" if row["fga"] else ""
    return f"{row['fgm']}/{row['fga']}{pct}"


def _clocks(st: dict[str, Any]) -> set[str]:
    """Every clock text a page may show for this state: the server's, or a run-down of it."""
    shown = {st["clockDisplay"] or ""}
    seconds = parse_clock(st["clock"])
    if st["clockRunning"] and seconds is not None:
        for tenth in range(int(CLOCK_LEAD_S * 10) + 1):
            text = running_clock(seconds - tenth / 10, st["clock"])
            assert text is not None
            shown.add(text)
    return shown


def _expected(st: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What each overlay must read for this state (selectors -> text)."""
    home, away = st["home"], st["away"]
    score = {side: str(st[side]["score"]) for side in ("home", "away")}
    stats = st["stats"]
    label = period_label(st["period"]) or ""
    short = period_short(st["period"]) or ""
    title = f"End of {label}" if parse_clock(st["clock"]) == 0 else label
    return {
        "scorebug": {
            "#home-num": score["home"],
            "#away-num": score["away"],
            "#home-short": home["short"],
            "#away-short": away["short"],
            "#period": short,
        },
        "scoreboard": {
            "#home-num": score["home"],
            "#away-num": score["away"],
            "#home-name": home["name"],
            "#away-name": away["name"],
            "#period": label,
        },
        "period": {
            "#period-title": title,
            # the line score's totals: away on the first row, home on the second
            "#line .tot.r1": score["away"],
            "#line .tot.r2": score["home"],
        },
        "ticker": {
            "#home-score": score["home"],
            "#away-score": score["away"],
            "#home-short": home["short"],
            "#away-short": away["short"],
            "#per": short,
        },
        "shotchart": {
            "#home-name": home["name"],
            "#away-name": away["name"],
            "#home-fg": _fg(stats["home"]),
            "#away-fg": _fg(stats["away"]),
            "#home-3pt": f"{stats['home']['fg3m']}/{stats['home']['fg3a']}",
            "#away-3pt": f"{stats['away']['fg3m']}/{stats['away']['fg3a']}",
        },
        "three": {},
    }


def _check(rig: Rig, pages: dict[str, OverlayPage], seq: int) -> dict[str, Any]:
    """Wait until the server has applied event ``seq``, then until every page shows its state."""
    deadline = time.monotonic() + 5
    while (st := rig.state())["seq"] < seq:
        assert time.monotonic() < deadline, f"state never reached seq {seq}"
        time.sleep(0.05)
    # the server's own texts are the contract's
    assert st["periodLabel"] == period_label(st["period"])
    assert st["periodShort"] == period_short(st["period"])
    assert st["clockDisplay"] == display_clock(st["clock"])
    want = _expected(st)
    clocks = _clocks(st)
    for name, page in pages.items():
        ids = {sel: sel for sel in want[name]}
        if name in ("scorebug", "scoreboard"):
            ids["#clock"] = "#clock"
        deadline = time.monotonic() + 5
        while True:
            got = page.js(READ, ids)
            clock = got.pop("#clock", None)
            ok = got == want[name] and (clock is None or clock in clocks)
            if ok or time.monotonic() > deadline:
                break
            page.page.wait_for_timeout(50)
        assert got == want[name], (name, st["seq"])
        assert clock is None or clock in clocks, (name, clock, sorted(clocks))
        page.assert_clean()
    return st


def test_every_overlay_holds_the_state(rig: Rig) -> None:
    pages = {name: rig.open(name, hold_ms=30000) for name in OVERLAYS}
    st = _check(rig, pages, rig.state()["seq"])
    assert (st["period"], st["clockDisplay"]) == ("H2", "15:00")  # the seed payload

    # a made three for the home side, the clock running down
    rig.push(_game(shot(5000), home=14, away=22, period="H2", clock="00:12:34"))
    three = rig.wait_event(lambda e: e["type"] == "made_three")
    ev = rig.wait_event(lambda e: e["type"] == "score_update" and e["data"]["home"] == 14)
    st = _check(rig, pages, max(three["seq"], ev["seq"]))
    splash = pages["three"]
    splash.wait("document.getElementById('splash').classList.contains('on')")
    assert splash.js("document.getElementById('splash').dataset.key") == three["data"]["key"]
    assert splash.text("#three-name") == st["recent"][0]["player"]["name"] == "Maya Ortiz"

    # an away two under a minute: the clock in tenths, then stopped there
    two = shot(9000, pid="7401", tid=AWAY_ID, three=False)
    rig.push(_game(shot(5000), two, home=14, away=24, period="H2", clock="00:00:09.5"))
    ev = rig.wait_event(lambda e: e["type"] == "clock" and e["data"]["clock"] == "00:00:09.5")
    st = _check(rig, pages, ev["seq"])
    stopped = rig.wait_event(
        lambda e: e["type"] == "clock" and e["data"] == {**ev["data"], "running": False}
    )
    st = _check(rig, pages, stopped["seq"])
    assert (st["clockDisplay"], st["clockRunning"]) == ("0:09.5", False)
    for name in ("scorebug", "scoreboard"):
        assert pages[name].text("#clock") == "0:09.5"

    # a second overtime, tied
    rig.push(_game(shot(5000), two, home=30, away=30, period="OT2", clock="00:05:00"))
    ev = rig.wait_event(lambda e: e["type"] == "period_change" and e["data"]["to"] == "OT2")
    st = _check(rig, pages, ev["seq"])
    assert (st["periodLabel"], st["periodShort"]) == ("2nd Overtime", "2OT")

    # the operator overrides the home score and the clock (an hours clock stays as it is)
    body = {"home": 31, "clock": "01:02:03"}
    ev = rig.operator("PUT", "/override", body)["event"]
    st = _check(rig, pages, ev["seq"])
    assert (st["home"]["score"], st["clockDisplay"], st["clockRunning"]) == (31, "01:02:03", False)
    for name in ("scorebug", "scoreboard"):
        assert pages[name].text("#clock") == "01:02:03"

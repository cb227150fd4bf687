"""The tracking-split overlays (playercard, zones, compare) in real headless Chromium against a
real shotfeed server following a scripted upstream.

Each shows the server's numbers for a scripted game (checked against fixed figures and against
GET /api/games/{id}/stats), changes them in place on a live `stats` event, follows a correction
to where the shot now belongs, goes on and off air with the operator's graphic (payload subject
over the query's), restores what is on air on load without animating, shows a hostile player
name as text, and asks nothing of anyone but the server.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests import browser as shared
from tests.browser import AWAY_ID, CONFIG, Rig, shot, with_shots

pytestmark = pytest.mark.network

browser = shared.browser
rig = shared.rig

HOSTILE = '<img src=x onerror="alert(1)">Ortiz</b>'


def tracked(
    dt_ms: int,
    *,
    z: int | None,
    az: int | None = None,
    attributes: tuple[str, ...] = (),
    **kw: Any,
) -> dict[str, Any]:
    """A shot record (tests.browser.shot) with its zone, advanced zone and attributes."""
    rec = shot(dt_ms, **kw)
    rec["z"] = z
    rec["az"] = az
    rec["attributes"] = list(attributes)
    return rec


# The scripted game: Maya Ortiz (7301, home) and Sam Okafor (7401, away); the seed's shot (pid
# 7269, team 552) counts for neither side.
ORTIZ = [
    tracked(1000, z=10, az=15, attributes=("CAS", "UNGUARDED", "JUMPSHOT"), feet=22.5),  # 3 make
    tracked(2000, z=10, az=15, attributes=("CAS", "GUARDED"), made=False, feet=22.8),
    tracked(3000, z=1, az=1, attributes=("OTD", "GUARDED", "LAYUP"), three=False, feet=2.0),
    tracked(4000, z=12, az=21, attributes=("OTD", "GUARDED"), feet=27.4),  # a made deep three
]
OKAFOR = [
    tracked(5000, z=1, az=1, attributes=("DUNK", "GUARDED"), pid="7401", tid=AWAY_ID, three=False,
            feet=1.0),
    tracked(6000, z=14, az=19, attributes=("CAS", "UNGUARDED"), pid="7401", tid=AWAY_ID,
            made=False),
]  # fmt: skip
GAME_SHOTS = ORTIZ + OKAFOR
# home: Ortiz 3/4 FG, 2/3 3PT, 8 pts; away: Okafor 1/2, 0/1, 2 pts
SCORES = {"home": 8, "away": 2}

CARD_ON = "document.getElementById('card').classList.contains('on')"


def play_game(rig: Rig, shots: list[dict[str, Any]] | None = None, **scores: int) -> None:
    rig.push(with_shots(*(GAME_SHOTS if shots is None else shots), **(scores or SCORES)))


def wait_stats(rig: Rig, pred: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The last `stats` event's document once ``pred`` holds for it."""
    event = rig.wait_event(
        lambda e: e["type"] == "stats" and pred(e["data"]) and e is not None, timeout
    )
    data: dict[str, Any] = event["data"]
    return data


def server_splits(rig: Rig) -> dict[str, Any]:
    """The server's splits document as GET /api/games/{id}/state carries it."""
    doc: dict[str, Any] = rig.state()["splits"]
    return doc


def player(doc: dict[str, Any], pid: str) -> dict[str, Any]:
    row: dict[str, Any] = next(p for p in doc["players"] if p["pid"] == pid)
    return row


def texts(op: Any, *ids: str) -> dict[str, str]:
    out: dict[str, str] = op.js(
        "ids => Object.fromEntries(ids.map(i => [i, document.getElementById(i).textContent]))",
        list(ids),
    )
    return out


CARD_IDS = (
    "pc-name", "pc-number", "pc-team", "pc-pts", "pc-fg", "pc-fg-pct", "pc-3pt", "pc-3pt-pct",
    "pc-long", "pc-streak", "pc-g", "pc-g-pct", "pc-u", "pc-u-pct",
)  # fmt: skip


def zone_cells(op: Any, court: str) -> dict[str, dict[str, str]]:
    """Zone number -> its heat, FG and (where printed) FG% text on the court ``court``."""
    cells: dict[str, dict[str, str]] = op.js(
        """court => {
          const out = {};
          for (const p of document.querySelectorAll(`#${court}-zones path.zone`)) {
            out[p.dataset.zone] = {heat: p.dataset.heat, fg: p.dataset.fg,
                                   hl: p.classList.contains('hl')};
          }
          for (const g of document.querySelectorAll(`#${court}-labels g.zlabel`)) {
            out[g.dataset.zone].pct = g.querySelector('.zpct').textContent;
            out[g.dataset.zone].label = g.querySelector('.zfg').textContent;
          }
          return out;
        }""",
        court,
    )
    return cells


def shoot(op: Any, name: str) -> None:
    """A screenshot for a person to look at, when SHOTFEED_SHOTS names a folder."""
    folder = os.environ.get("SHOTFEED_SHOTS")
    if folder:
        op.page.screenshot(path=str(Path(folder) / f"{name}.png"))


# -- playercard ------------------------------------------------------------------------------


def test_playercard_shows_the_players_line_from_the_server(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7301")["fga"] == 4)
    rig.fire("playercard", {"pid": "7301"})
    op = rig.open("playercard")
    op.wait(CARD_ON)
    assert texts(op, *CARD_IDS) == {
        "pc-name": "Maya Ortiz",
        "pc-number": "3",
        "pc-team": "Northfield Hawks",
        "pc-pts": "8",
        "pc-fg": "3/4",
        "pc-fg-pct": "75%",
        "pc-3pt": "2/3",
        "pc-3pt-pct": "67%",
        "pc-long": "27.4 ft",
        "pc-streak": "2",
        "pc-g": "2/3",
        "pc-g-pct": "67%",
        "pc-u": "1/1",
        "pc-u-pct": "100%",
    }
    # the same numbers as the server's own document
    line = player(server_splits(rig), "7301")
    assert op.text("#pc-fg") == f"{line['fgm']}/{line['fga']}"
    assert op.text("#pc-pts") == str(line["points"])
    cells = zone_cells(op, "pc-court")
    assert len(cells) == 14
    assert cells["10"] == {"heat": "warm", "fg": "1/2", "hl": False}  # 50 %: 45-54
    assert cells["1"]["heat"] == "hot" and cells["12"]["heat"] == "hot"
    assert cells["5"]["heat"] == "none" and cells["5"]["fg"] == "0/0"
    # the team colour, restored on load: no animation played
    assert op.js("getComputedStyle(document.querySelector('#card .head')).backgroundColor") == (
        "rgb(29, 78, 216)"
    )
    assert op.played() == []
    # points from the field (no free throws in the shot feed), and labelled so
    assert op.text("#card .figs .fig:first-child .k") == "FG PTS"
    assert op.js("getComputedStyle(document.body).backgroundColor") == "rgba(0, 0, 0, 0)"
    # it asked for the splits: the socket's types include stats
    assert any("types=" in u and "stats" in u for u in op.websockets), op.websockets
    shoot(op, "playercard")
    op.assert_clean()


def test_playercard_live_stats_event_changes_the_numbers_in_place(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7301")["fga"] == 4)
    rig.fire("playercard", {"pid": "7301"})
    op = rig.open("playercard")
    op.wait(CARD_ON)
    assert (
        op.text("#pc-pts") == "8" and op.js("document.querySelectorAll('#card .tick').length") == 0
    )
    # a new made three from the right wing, unguarded, off the dribble: a live `stats` event
    more = tracked(7000, z=11, az=16, attributes=("OTD", "UNGUARDED"), feet=23.0)
    play_game(rig, [*GAME_SHOTS, more], home=11, away=2)
    op.wait("document.getElementById('pc-pts').textContent === '11'", timeout=2)
    assert texts(op, "pc-fg", "pc-fg-pct", "pc-3pt", "pc-streak", "pc-u", "pc-g") == {
        "pc-fg": "4/5",
        "pc-fg-pct": "80%",
        "pc-3pt": "3/4",
        "pc-streak": "3",
        "pc-u": "2/2",
        "pc-g": "2/3",
    }
    # what changed popped once; what did not (guarded, longest) did not
    ticked = op.js("[...document.querySelectorAll('#card .tick')].map(e => e.id)")
    assert {"pc-pts", "pc-fg", "pc-streak", "pc-u"} <= set(ticked)
    assert "pc-g" not in ticked and "pc-long" not in ticked
    assert zone_cells(op, "pc-court")["11"]["heat"] == "hot"
    # on air all along: no second animation in
    assert op.js(CARD_ON) and op.played() == []
    op.assert_clean()


def test_a_correction_moves_the_shot_to_where_it_now_belongs(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7301")["fga"] == 4)
    rig.fire("playercard", {"pid": "7301"})
    rig.fire("zones", {"team": "home"})
    card = rig.open("playercard")
    court = rig.open("zones")
    card.wait(CARD_ON)
    court.wait(ZONES_ON)
    assert zone_cells(court, "zn-court")["12"]["label"] == "1/1"
    # the deep three at 4000 was a miss, and from the right wing (zone 11), not the top
    fixed = [*ORTIZ[:3], tracked(4000, z=11, az=16, attributes=("OTD", "GUARDED"), made=False)]
    play_game(rig, fixed + OKAFOR, home=5, away=2)
    card.wait("document.getElementById('pc-pts').textContent === '5'", timeout=2)
    assert texts(card, "pc-fg", "pc-3pt", "pc-long", "pc-streak", "pc-g") == {
        "pc-fg": "2/4",
        "pc-3pt": "1/3",
        "pc-long": "22.5 ft",
        "pc-streak": "0",
        "pc-g": "1/3",
    }
    court.wait("document.getElementById('zn-fg').textContent === '2/4'", timeout=2)
    cells = zone_cells(court, "zn-court")
    assert cells["12"] == {"heat": "none", "fg": "0/0", "hl": False, "pct": "—", "label": "0/0"}
    assert cells["11"] == {"heat": "cold", "fg": "0/1", "hl": False, "pct": "0%", "label": "0/1"}
    line = server_splits(rig)["teams"]["home"]
    for z, c in line["zones"].items():
        assert cells[z]["label"] == f"{c['fgm']}/{c['fga']}"
    for op in (card, court):
        assert op.played() == []
        op.assert_clean()


ZONES_ON = "document.getElementById('panel').classList.contains('on')"


def test_zones_team_player_advanced_map_and_highlight(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7401")["fga"] == 2)
    rig.fire("zones", {"team": "home", "highlight": "10"})
    op = rig.open("zones")
    op.wait(ZONES_ON)
    assert texts(op, "zn-chip", "zn-title", "zn-sub", "zn-fg", "zn-fg-pct", "zn-3pt") == {
        "zn-chip": "NFH",
        "zn-title": "Northfield Hawks",
        "zn-sub": "Shooting by zone",
        "zn-fg": "3/4",
        "zn-fg-pct": "75%",
        "zn-3pt": "2/3",
    }
    cells = zone_cells(op, "zn-court")
    assert len(cells) == 14
    assert cells["10"] == {"heat": "warm", "fg": "1/2", "hl": True, "pct": "50%", "label": "1/2"}
    assert cells["1"]["pct"] == "100%" and cells["12"]["label"] == "1/1"
    assert cells["7"] == {"heat": "none", "fg": "0/0", "hl": False, "pct": "—", "label": "0/0"}
    assert op.text("#zn-hl") == "three, right corner1/2  50%"
    assert op.js("document.getElementById('zn-court').classList.contains('has-hl')")
    shoot(op, "zones")
    # live: a player on the advanced map; out, then in with the new subject
    rig.fire("zones", {"pid": "7401", "map": "advancedZones"})
    op.wait("document.getElementById('zn-title').textContent === 'Sam Okafor'", timeout=2)
    op.wait(ZONES_ON, timeout=2)
    cells = zone_cells(op, "zn-court")
    assert len(cells) == 23
    assert cells["1"]["label"] == "1/1" and cells["19"]["label"] == "0/1"
    assert cells["21"]["label"] == "0/0" and not any(c["hl"] for c in cells.values())
    assert op.text("#zn-sub") == "Shooting by advanced zone" and op.text("#zn-hl") == ""
    assert op.text("#zn-chip") == "RIV"  # no number: the team's short name
    # a zone nobody shot from is not labelled on air
    shown = op.js(
        "[...document.querySelectorAll('#zn-court-labels .zlabel')]"
        ".filter(g => getComputedStyle(g).display !== 'none').map(g => g.dataset.zone)"
    )
    assert shown == ["1", "19"]
    shoot(op, "zones-advanced")
    assert op.js("getComputedStyle(document.querySelector('#panel .chip')).backgroundColor") == (
        "rgb(185, 28, 28)"  # away's colour
    )
    assert op.played("zones") == ['{"pid":"7401","map":"advancedZones","highlight":null}']
    op.assert_clean()


CMP_ON = "document.getElementById('cmp').classList.contains('on')"


def rows(op: Any) -> list[list[str]]:
    out: list[list[str]] = op.js(
        """[...document.querySelectorAll('#cp-rows .row')].map(r => [
             r.dataset.split, r.querySelector('.v.away b').textContent,
             r.querySelector('.v.away span').textContent, r.querySelector('.k').textContent,
             r.querySelector('.v.home b').textContent,
             r.querySelector('.v.home span').textContent])"""
    )
    return out


def test_compare_table_one_split_and_the_query_split(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: d["teams"]["away"]["fga"] == 2)
    rig.fire("compare", {})
    table = rig.open("compare")
    table.wait(CMP_ON)
    assert table.text("#cp-title") == "Tracking splits"
    assert (
        table.text("#cp-away-short") == "RIV" and table.text("#cp-home-name") == "Northfield Hawks"
    )
    assert rows(table) == [
        ["fg", "50%", "1/2", "Field goals", "75%", "3/4"],
        ["fg3", "0%", "0/1", "3-pointers", "67%", "2/3"],
        ["guarded", "100%", "1/1", "Guarded", "67%", "2/3"],
        ["unguarded", "0%", "0/1", "Unguarded", "100%", "1/1"],
        ["offDribble", SC_NO_PCT, "0/0", "Off the dribble", "100%", "2/2"],
        ["catchShoot", "0%", "0/1", "Catch and shoot", "50%", "1/2"],
    ]
    shoot(table, "compare")
    # a source set up for one split (?split=) shows it when the payload names none ...
    one = rig.open("compare", split="zones.1")
    one.wait(CMP_ON)
    assert one.text("#cp-title") == "At the rim"
    assert rows(one) == [["zones.1", "100%", "1/1", "FG%", "100%", "1/1"]]
    assert one.js("document.getElementById('cmp').classList.contains('single')")
    # ... and the payload's split and label win over it, live
    rig.fire("compare", {"split": "types.DUNK", "label": "Dunks tonight"})
    one.wait("document.getElementById('cp-title').textContent === 'Dunks tonight'", timeout=2)
    one.wait(CMP_ON, timeout=2)
    assert rows(one) == [["types.DUNK", "100%", "1/1", "Dunks", SC_NO_PCT, "0/0"]]
    rig.fire("compare", {"split": "points"})
    one.wait("document.getElementById('cp-title').textContent === 'Points from the field'", 2)
    one.wait(CMP_ON, timeout=2)
    assert rows(one) == [["points", "2", "", "Points", "8", ""]]
    rig.fire("compare", {"split": "distance.20-24"})
    one.wait("document.getElementById('cp-title').textContent === '20-24 ft'", timeout=2)
    one.wait(CMP_ON, timeout=2)
    assert rows(one) == [["distance.20-24", "0%", "0/1", "FG%", "50%", "1/2"]]
    # a split that is none of the documented ones never airs as something else
    rig.fire("compare", {"split": "nonsense"})
    one.wait(f"!{CMP_ON}", timeout=2)
    table.wait(f"!{CMP_ON}", timeout=2)
    one.page.wait_for_timeout(700)  # past an out-then-in: still off
    assert not one.js(CMP_ON) and not table.js(CMP_ON)
    for op in (table, one):
        op.assert_clean()


SC_NO_PCT = "—"


def test_show_hide_panic_reload_and_casparcg(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7301")["fga"] == 4)
    op = rig.open("playercard")
    op.page.wait_for_timeout(200)
    assert not op.js(CARD_ON)  # nothing on air until the operator shows it
    rig.fire("playercard", {"pid": "7301"})
    op.wait(CARD_ON, timeout=1)
    assert op.played("playercard") == ['{"pid":"7301"}']
    # another player over it: out, then in with the new one
    rig.fire("playercard", {"pid": "7401"})
    op.wait("document.getElementById('pc-name').textContent === 'Sam Okafor'", timeout=2)
    op.wait(CARD_ON, timeout=2)
    assert op.text("#pc-number") == "" and op.text("#pc-team") == "Riverside Otters"
    assert op.played("playercard") == ['{"pid":"7301"}', '{"pid":"7401"}']
    rig.fire("playercard", {}, action="hide")
    op.wait(f"!{CARD_ON}", timeout=1)
    # an unknown player never airs
    rig.fire("playercard", {"pid": "9999"})
    op.page.wait_for_timeout(300)
    assert not op.js(CARD_ON)
    rig.fire("playercard", {"pid": "7301"})
    op.wait(CARD_ON, timeout=1)
    rig.operator("POST", "/panic")
    op.wait(f"!{CARD_ON}", timeout=1)
    # a reload shows what is on air at once, without animating
    rig.fire("playercard", {"pid": "7301"})
    op.wait(CARD_ON, timeout=1)
    again = rig.open("playercard")
    again.wait(CARD_ON)
    assert again.played() == [] and again.text("#pc-name") == "Maya Ortiz"
    # CasparCG: autoplay=0 waits for play(); stop() takes it off
    cg = rig.open("playercard", autoplay="0")
    cg.page.wait_for_timeout(200)
    assert not cg.js(CARD_ON)
    cg.js("window.play()")
    cg.wait(CARD_ON, timeout=1)
    cg.js("window.stop()")
    cg.wait(f"!{CARD_ON}", timeout=1)
    # a host's play() puts up the query's player even with nothing on air from the console;
    # the operator's show overrides it, and hide (or panic) takes it off
    rig.fire("playercard", {}, action="hide")
    host = rig.open("playercard", autoplay="0", pid="7401")
    host.js("window.play()")
    host.wait(CARD_ON, timeout=1)
    assert host.text("#pc-name") == "Sam Okafor"
    rig.fire("playercard", {"pid": "7301"})
    host.wait("document.getElementById('pc-name').textContent === 'Maya Ortiz'", timeout=2)
    rig.fire("playercard", {}, action="hide")
    host.wait(f"!{CARD_ON}", timeout=1)
    rig.fire("playercard", {})  # shown again: the query's player, no play() needed now
    host.wait(CARD_ON, timeout=1)
    assert host.text("#pc-name") == "Sam Okafor"
    host.js("window.play()")
    rig.operator("POST", "/panic")
    host.wait(f"!{CARD_ON}", timeout=1)
    host.page.wait_for_timeout(200)
    assert not host.js(CARD_ON)
    for page in (op, again, cg, host):
        page.assert_clean()


def test_query_subject_and_the_payload_over_it(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7401")["fga"] == 2)
    card = rig.open("playercard", pid="7401")
    court = rig.open("zones", team="away", map="advancedZones")
    rig.fire("playercard", {})
    rig.fire("zones", {})
    card.wait(CARD_ON, timeout=2)
    court.wait(ZONES_ON, timeout=2)
    assert card.text("#pc-name") == "Sam Okafor" and card.text("#pc-fg") == "1/2"
    assert court.text("#zn-title") == "Riverside Otters"
    assert len(zone_cells(court, "zn-court")) == 23
    rig.fire("playercard", {"pid": "7301"})
    rig.fire("zones", {"team": "home", "map": "zones"})
    card.wait("document.getElementById('pc-name').textContent === 'Maya Ortiz'", timeout=2)
    court.wait("document.getElementById('zn-title').textContent === 'Northfield Hawks'", 2)
    court.wait(ZONES_ON, timeout=2)
    assert len(zone_cells(court, "zn-court")) == 14
    # with neither, nothing to show
    bare = rig.open("playercard")
    bare.page.wait_for_timeout(200)
    rig.fire("playercard", {})
    card.wait("document.getElementById('pc-name').textContent === 'Sam Okafor'", timeout=2)
    assert not bare.js(CARD_ON)
    for op in (card, court, bare):
        op.assert_clean()


def test_reconnect_resumes_with_since_and_updates_silently(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7301")["fga"] == 4)
    rig.fire("playercard", {"pid": "7301"})
    op = rig.open("playercard", gate=True)
    assert op.gate is not None
    op.wait(CARD_ON)
    seen = op.js("window.shotfeed.feed.since()")
    op.gate.drop()
    op.wait("!window.shotfeed.feed.connected")
    more = tracked(7000, z=11, az=16, attributes=("OTD", "UNGUARDED"), feet=23.0)
    play_game(rig, [*GAME_SHOTS, more], home=11, away=2)
    wait_stats(rig, lambda d: player(d, "7301")["fga"] == 5)
    op.page.wait_for_timeout(200)
    assert op.text("#pc-pts") == "8"  # the page is away
    op.gate.release()
    op.wait("document.getElementById('pc-pts').textContent === '11'", timeout=12)
    assert f"since={seen}" in op.gate.urls[-1] and "stats" in op.gate.urls[-1]
    assert op.js("document.querySelectorAll('#card .tick').length") == 0  # replayed: no pop
    assert op.js(CARD_ON) and op.played() == []
    op.assert_clean()


def test_hostile_names_and_labels_are_text(rig: Rig) -> None:
    config = {**CONFIG, "roster": {**CONFIG["roster"], "7301": {"name": HOSTILE, "number": "<b>3"}}}
    rig.configure(config)
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7301")["name"] == HOSTILE and player(d, "7301")["fga"])
    rig.fire("playercard", {"pid": "7301"})
    rig.fire("zones", {"pid": "7301"})
    rig.fire("compare", {"split": "fg", "label": HOSTILE})
    pages = [rig.open(name) for name in ("playercard", "zones", "compare")]
    for op, sel in zip(pages, ("#card", "#panel", "#cmp"), strict=True):
        op.wait(f"document.querySelector('{sel}').classList.contains('on')")
        assert op.js("document.querySelectorAll('#stage img, #stage b b').length") == 0
    card, court, cmp = pages
    assert card.text("#pc-name") == HOSTILE and card.text("#pc-number") == "<b>3"
    assert court.text("#zn-title") == HOSTILE and court.text("#zn-chip") == "#<b>3"
    assert cmp.text("#cp-title") == HOSTILE
    for op in pages:
        assert op.dialogs == []
        op.assert_clean()


def test_casparcg_update_with_splits_and_graphics_without_a_websocket(rig: Rig) -> None:
    play_game(rig)
    doc = wait_stats(rig, lambda d: player(d, "7401")["fga"] == 2)
    op = rig.open("zones", wait_ready=False, game="NOT-FOLLOWED", autoplay="0")
    op.wait("typeof window.update === 'function'")
    op.page.wait_for_timeout(300)
    assert not op.js("window.shotfeed.feed.connected") and not op.js(ZONES_ON)
    state = {"splits": doc, "graphics": {"zones": {"team": "away", "highlight": "1"}}}
    op.js("d => window.update(d)", json.dumps(state))
    op.page.wait_for_timeout(100)
    assert not op.js(ZONES_ON)  # loaded, waiting for play()
    op.js("window.play()")
    op.wait(ZONES_ON, timeout=1)
    assert op.text("#zn-title") == "Riverside Otters" and op.text("#zn-fg") == "1/2"
    assert zone_cells(op, "zn-court")["1"]["hl"] is True
    # a stats event handed to update() changes the numbers, without a pop
    away = {**doc["teams"]["away"], "fgm": 2, "fga": 3}
    event = {"type": "stats", "data": {**doc, "teams": {**doc["teams"], "away": away}}}
    op.js("d => window.update(d)", json.dumps(event))
    op.wait("document.getElementById('zn-fg').textContent === '2/3'", timeout=1)
    assert op.js("document.querySelectorAll('#panel .tick').length") == 0
    op.js("window.stop()")
    op.wait(f"!{ZONES_ON}", timeout=1)
    assert op.played() == ['{"team":"away","map":"zones","highlight":"1"}']
    op.assert_clean()


def test_delay_ms_holds_the_splits_back_and_query_colours_apply(rig: Rig) -> None:
    play_game(rig)
    wait_stats(rig, lambda d: player(d, "7301")["fga"] == 4)
    rig.fire("playercard", {"pid": "7301"})
    op = rig.open("playercard", delay_ms="1500", home_color="#00aa44", wait_ready=False)
    op.wait(CARD_ON, timeout=5)
    head = "getComputedStyle(document.querySelector('#card .head')).backgroundColor"
    assert op.js(head) == "rgb(0, 170, 68)"  # ?home_color over the server's colour
    more = tracked(7000, z=11, az=16, attributes=("OTD", "UNGUARDED"), feet=23.0)
    play_game(rig, [*GAME_SHOTS, more], home=11, away=2)
    wait_stats(rig, lambda d: player(d, "7301")["fga"] == 5)
    seen = time.monotonic()
    op.page.wait_for_timeout(700)
    assert op.text("#pc-pts") == "8"  # the server has it; the delayed page not yet
    op.wait("document.getElementById('pc-pts').textContent === '11'", timeout=3)
    assert time.monotonic() - seen > 0.9
    op.assert_clean()

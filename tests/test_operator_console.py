"""The operator console in real headless Chromium against a real shotfeed, with the overlays
open in other pages as OBS would have them: log in; a lower third fired from the console
arrives in the lowerthird overlay; hold keeps an automatic made three off air while the state
still moves; panic takes everything off; a roster CSV import renames the shooter in the three
splash; an override and its undo reach the scorebug; the audit list on the page shows each
action. One Chromium for the module; a fresh server per test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from server.web.pages import OVERLAYS
from tests import browser as shared
from tests.browser import T0, OverlayPage, Rig, WsGate, shot, with_shots
from tests.server_fixtures import TOKEN

pytestmark = pytest.mark.network

browser = shared.browser
rig = shared.rig

L3_ON = "document.getElementById('l3').classList.contains('on')"
THREE_ON = "document.getElementById('splash').classList.contains('on')"
READY = (
    "window.shotfeedConsole && window.shotfeedConsole.feed && window.shotfeedConsole.feed.hasState"
)


def key(dt_ms: int) -> str:
    return str(T0 + dt_ms)


def open_console(
    rig: Rig,
    *,
    login: bool = True,
    previews: bool = False,
    gate: bool = False,
    page_of: OverlayPage | None = None,
) -> OverlayPage:
    """The console in its own browser context (or reload ``page_of``), recording what it does;
    ``gate`` puts a WsGate between its feed and the server."""
    if page_of is None:
        context = rig.browser.new_context(viewport={"width": 1600, "height": 1000})
        context.set_default_timeout(10_000)
        page = context.new_page()
        op = OverlayPage(page, context, rig.url.split("//", 1)[1])
        if gate:
            op.gate = WsGate()
            page.route_web_socket(re.compile(r"/ws/games/"), op.gate.route)
        page.on(
            "console", lambda m: op.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: op.page_errors.append(str(e)))

        def on_dialog(d: Any) -> None:
            op.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("request", lambda r: op.requests.append(r.url))
        if not previews:  # seven live overlay iframes are not what most tests look at
            page.add_init_script("localStorage.setItem('shotfeed.previews', 'off')")
        rig.pages.append(op)
    else:
        op = page_of
    op.page.goto(f"{rig.url}/operator", wait_until="load")
    if login:
        op.wait("!document.getElementById('login').hidden")
        op.page.fill("#login-token", TOKEN)
        op.page.press("#login-token", "Enter")
        op.wait(READY)
    return op


def keys(op: OverlayPage, *presses: str) -> None:
    """Press shortcut keys with the keyboard focus on no field (as an operator would)."""
    op.js("document.activeElement && document.activeElement.blur()")
    for k in presses:
        op.page.keyboard.press(k)


AUDIT = "[...document.querySelectorAll('#audit li[data-action]')].map(li => li.dataset.action)"


def audit_actions(op: OverlayPage, wanted: dict[str, int], timeout: float = 5.0) -> list[str]:
    """The actions the page's audit list shows (newest first), once it shows at least
    ``wanted[action]`` entries of each action."""
    op.wait(
        f"w => (a => Object.entries(w).every(([k, n]) => a.filter(x => x === k).length >= n))"
        f"({AUDIT})",
        timeout=timeout,
        arg=wanted,
    )
    actions: list[str] = op.js(AUDIT)
    return actions


def status_ok(op: OverlayPage, needle: str) -> None:
    """Wait until the console reports success with a message containing ``needle``."""
    op.wait(
        "n => (s => s.className.includes('ok') && s.textContent.includes(n))"
        "(document.getElementById('status'))",
        arg=needle,
    )


def test_log_in_once_per_tab(rig: Rig) -> None:
    con = open_console(rig, login=False, previews=True)
    con.wait("!document.getElementById('login').hidden")
    # a wrong token is refused and asked for again; nothing is kept
    con.page.fill("#login-token", "wrong-token-0123456789abcdef")
    con.page.press("#login-token", "Enter")
    con.wait("document.getElementById('login-error').textContent.includes('refused')")
    assert not con.js("document.getElementById('login').hidden")
    assert con.js("sessionStorage.getItem('shotfeed.operatorToken')") is None
    con.page.fill("#login-token", TOKEN)
    con.page.press("#login-token", "Enter")
    con.wait(READY)
    assert con.js("document.getElementById('login').hidden")
    assert con.text("#who") == "operator: operator"
    assert con.js("sessionStorage.getItem('shotfeed.operatorToken')") == TOKEN
    assert con.js("document.cookie") == ""
    # the game, its feed health and the state, at a glance
    con.wait("document.querySelector('#game-tabs button[aria-current=true]')")
    assert con.text("#game-tabs button[aria-current=true]") == "EVT"
    con.wait("document.getElementById('home-score').textContent === '11'")
    assert con.text("#away-score") == "22"
    assert (con.text("#home-name"), con.text("#away-name")) == ("NFH", "RIV")
    assert con.text("#period") == "2nd Half"
    con.wait("document.querySelector('#games td.ok')")
    assert "polling normally" in con.text("#games tbody tr")
    assert re.search(r"\d+ s ago", con.text("#games tbody tr"))
    assert con.text("#conn") == "● live"
    # the log has the history (the config the rig set); every overlay has a live preview
    con.wait("document.querySelector('#log li[data-type=config]')")
    frames = con.js("[...document.querySelectorAll('#previews iframe')].map(f => f.src)")
    assert len(frames) == len(OVERLAYS)  # one live preview per overlay
    assert all("game=EVT" in src for src in frames)
    assert any("/overlays/lowerthird?" in src for src in frames)
    con.wait(
        "[...document.querySelectorAll('#previews iframe')].every(f => f.contentWindow.shotfeed"
        " && f.contentWindow.shotfeed.feed.hasState)",
        timeout=10,
    )
    # the keyboard shortcuts are on the page
    assert "hold" in con.text("#keys") and "PANIC" in con.text("#keys")
    # a reload in the same tab does not ask again
    open_console(rig, login=False, page_of=con)
    con.wait(READY)
    assert con.js("document.getElementById('login').hidden")
    assert con.text("#who") == "operator: operator"
    # log out forgets the token
    con.page.click("#logout")
    con.wait("!document.getElementById('login').hidden")
    assert con.js("sessionStorage.getItem('shotfeed.operatorToken')") is None
    # the one refused attempt is the only error Chromium logged
    refused = [e for e in con.console_errors if "401 (Unauthorized)" in e]
    assert len(refused) == 1
    con.console_errors = [e for e in con.console_errors if e not in refused]
    con.assert_clean()


def test_lower_third_reaches_the_overlay(rig: Rig) -> None:
    l3 = rig.open("lowerthird")
    con = open_console(rig)
    evil = "<img src=x onerror=alert(1)>"
    con.page.fill("#l3-title", "Dana Whitfield")
    con.page.fill("#l3-subtitle", evil)
    con.page.select_option("#l3-team", "home")
    keys(con, "l")
    l3.wait(f"{L3_ON} && document.getElementById('l3-title').textContent === 'Dana Whitfield'", 1.5)
    assert l3.text("#l3-subtitle") == evil
    assert l3.js("document.getElementById('l3').classList.contains('team-home')")
    assert l3.js("document.querySelectorAll('#stage img').length") == 0
    con.wait("document.querySelector('#onair-list li[data-graphic=lowerthird]')")
    status_ok(con, "lower third")  # the console's own request is done: the next key acts
    assert evil in con.text("#onair-list")
    con.wait("document.querySelector('#log li[data-type=graphic]')")
    assert evil in con.text("#log")
    assert con.js("document.querySelectorAll('img').length") == 0
    # a reloaded overlay shows it at once; L again takes it off
    again = rig.open("lowerthird")
    again.wait(L3_ON)
    assert again.played() == []
    keys(con, "l")
    l3.wait(f"!({L3_ON})", 1.5)
    again.wait(f"!({L3_ON})", 1.5)
    # a preset by its number key
    con.page.fill("#preset-2-title", "Live from Northfield")
    keys(con, "2")
    l3.wait(
        f"{L3_ON} && document.getElementById('l3-title').textContent === 'Live from Northfield'"
    )
    status_ok(con, "preset 2")
    keys(con, "2")
    l3.wait(f"!({L3_ON})")
    actions = audit_actions(con, {"graphic show lowerthird": 2, "graphic hide lowerthird": 2})
    assert actions[:4] == ["graphic hide lowerthird", "graphic show lowerthird"] * 2
    assert con.text("#audit li .who") == "operator"
    for op in (l3, again, con):
        op.assert_clean()


def test_hold_keeps_an_automatic_three_off_air_while_the_state_moves(rig: Rig) -> None:
    three = rig.open("three", hold_ms=1000)
    con = open_console(rig)
    keys(con, "h")
    con.wait("document.getElementById('hold').getAttribute('aria-pressed') === 'true'")
    assert not con.js("document.getElementById('held-banner').hidden")
    three.wait("window.shotfeed.feed.state.held === true")
    rig.push(with_shots(shot(5000), home=14))
    rig.wait_event(lambda e: e["type"] == "made_three")
    three.wait(
        f"window.shotfeed.feed.state.home.score === 14 && "
        f"window.shotfeed.feed.state.recent[0].key === '{key(5000)}'"
    )
    con.wait("document.getElementById('home-score').textContent === '14'")
    con.wait("document.querySelector('#log li[data-type=made_three]')")
    three.page.wait_for_timeout(400)
    assert not three.js(THREE_ON) and three.played() == []
    # released, the next live three plays
    status_ok(con, "HOLD")
    keys(con, "h")
    three.wait("window.shotfeed.feed.state.held === false")
    # the console learns of the release from its own socket: no order against the overlay's
    con.wait("document.getElementById('held-banner').hidden")
    rig.push(with_shots(shot(5000), shot(8000), home=17))
    three.wait(
        f"{THREE_ON} && document.getElementById('splash').dataset.key === '{key(8000)}'", 1.5
    )
    assert three.played("made_three") == [key(8000)]
    # a vetoed type: one click on its button
    con.page.click("#arm-made_three")
    three.wait("window.shotfeed.feed.state.autofire.made_three === false")
    con.wait("document.getElementById('arm-made_three').getAttribute('aria-pressed') === 'false'")
    assert audit_actions(con, {"hold": 3})[:3] == ["hold"] * 3
    three.assert_clean()
    con.assert_clean()


def test_keys_pressed_twice_act_on_what_the_server_already_did(rig: Rig) -> None:
    """H then H holds then releases, L then L shows then hides, even when the console's
    WebSocket has not brought the first event yet: the console acts on the event the API
    answered with, not on a state one event behind."""
    con = open_console(rig, gate=True)
    assert con.gate is not None
    con.gate.mute()  # the console's feed stays open but brings nothing from now on
    keys(con, "h")
    status_ok(con, "HOLD")
    assert con.js("document.getElementById('hold').getAttribute('aria-pressed')") == "true"
    keys(con, "h")
    status_ok(con, "release hold")
    con.page.fill("#l3-title", "Twice")
    keys(con, "l")
    status_ok(con, "lower third")
    keys(con, "l")
    status_ok(con, "hide lowerthird")
    log = [(e["type"], e["data"]) for e in rig.events() if e["type"] in ("hold", "graphic")]
    assert [d.get("held", d.get("action")) for _, d in log] == [True, False, "show", "hide"]
    assert con.js("window.shotfeedConsole.feed.state.held") is False  # the feed saw nothing
    assert con.js("document.getElementById('hold').getAttribute('aria-pressed')") == "false"
    con.assert_clean()


def test_panic_takes_everything_off(rig: Rig) -> None:
    l3 = rig.open("lowerthird")
    three = rig.open("three", hold_ms=10000)
    con = open_console(rig)
    con.page.fill("#l3-title", "Coach on the line")
    con.page.click("#l3-show")
    l3.wait(L3_ON, 1.5)
    con.page.select_option("#three-player", "7301")
    keys(con, "t")
    three.wait(
        f"{THREE_ON} && document.getElementById('three-name').textContent === 'Maya Ortiz'", 1.5
    )
    con.wait("document.querySelectorAll('#onair-list li[data-graphic]').length === 2")
    # Esc in a text field only leaves it
    con.page.focus("#l3-title")
    con.page.keyboard.press("Escape")
    assert con.js("document.activeElement === document.body")
    con.page.wait_for_timeout(300)
    assert l3.js(L3_ON) and three.js(THREE_ON)
    # Esc with no field focused: panic
    con.page.keyboard.press("Escape")
    l3.wait(f"!({L3_ON})", 1.0)
    three.wait(f"!({THREE_ON})", 1.0)
    con.wait("document.querySelector('#onair-list li.empty')")
    assert rig.state()["graphics"] == {}
    # P does the same
    con.page.click("#l3-show")
    l3.wait(L3_ON, 1.5)
    keys(con, "p")
    l3.wait(f"!({L3_ON})", 1.0)
    actions = audit_actions(con, {"panic": 2})
    assert actions[:4] == ["panic", "graphic show lowerthird", "panic", "graphic show three"]
    for op in (l3, three, con):
        op.assert_clean()


def test_roster_csv_import_renames_the_shooter_in_the_three(rig: Rig) -> None:
    three = rig.open("three", hold_ms=1000)
    con = open_console(rig)
    con.wait("document.querySelector('#roster tr[data-pid=\"7301\"]')")
    con.page.fill(
        "#roster-import-text", 'pid,number,name\n7301,33,"Ortiz-Vega, Maya"\n7402,5,Lee Park\n'
    )
    con.page.click("#roster-import")
    status_ok(con, "2 player(s)")
    three.wait("window.shotfeed.feed.state.roster['7301'].name === 'Ortiz-Vega, Maya'")
    rig.push(with_shots(shot(5000), home=14))
    three.wait(
        f"{THREE_ON} && document.getElementById('three-name').textContent === 'Ortiz-Vega, Maya'",
        1.5,
    )
    assert three.text("#three-meta").startswith("#33")
    # the roster table shows it; one player edited by hand
    con.wait("document.querySelector('#roster tr[data-pid=\"7402\"]')")
    row = '#roster tr[data-pid="7402"]'
    con.page.fill(f"{row} input[aria-label='name of 7402']", "Lee Parker")
    con.page.click(f"{row} button:text('Save')")
    con.wait(
        f"document.querySelector(`{row} input[aria-label='name of 7402']`).value === 'Lee Parker'"
    )
    # teams: a new short name reaches the scorebug
    bug = rig.open("scorebug")
    con.page.fill("#setup-home-short", "HWK")
    con.page.click("#setup-save")
    bug.wait("document.getElementById('home-short').textContent === 'HWK'")
    actions = audit_actions(con, {"roster import": 1, "config": 3})
    assert actions[:3] == ["config", "config", "roster import"]
    assert "7301.name" in con.text("#audit li[data-action='roster import']")
    for op in (three, bug, con):
        op.assert_clean()


def test_override_and_undo_reach_the_scorebug(rig: Rig) -> None:
    bug = rig.open("scorebug")
    con = open_console(rig)
    bug.wait("document.getElementById('home-num').textContent === '11'")
    con.page.fill("#ov-home", "54")
    con.page.press("#ov-home", "Enter")
    bug.wait("document.getElementById('home-num').textContent === '54'", 1.5)
    con.wait("document.getElementById('air-home').textContent === '54'")
    assert con.text("#up-home") == "11"
    assert "OVERRIDE ON AIR" in con.text("#override-banner")
    # the upstream moves on: the scorebug keeps the override, no flash; the console shows both
    rig.push(with_shots(shot(5000), home=14))
    con.wait("document.getElementById('up-home').textContent === '14'")
    bug.wait("window.shotfeed.feed.state.override.upstream.home === 14")
    assert bug.text("#home-num") == "54"
    assert bug.played("score_update") == []
    assert con.text("#air-home") == "54" and con.text("#home-score") == "54"
    # period and clock by hand; the clock stands still
    con.page.fill("#ov-period", "q4")
    con.page.fill("#ov-clock", "2:00")
    con.page.click("#ov-apply")
    bug.wait("document.getElementById('period').textContent === 'Q4'", 1.5)
    bug.wait("document.getElementById('clock').textContent === '2:00'")
    bug.page.wait_for_timeout(1200)
    assert bug.text("#clock") == "2:00"
    # undo (Shift+U) takes the period and clock back off; the home score stays overridden
    keys(con, "Shift+U")
    bug.wait("document.getElementById('period').textContent === '2H'", 1.5)
    assert bug.text("#home-num") == "54"
    assert bug.text("#clock") == "15:00"
    # clear: back to what the upstream says
    con.page.click("#ov-clear-all")
    bug.wait("document.getElementById('home-num').textContent === '14'", 1.5)
    con.wait("document.getElementById('override-banner').hidden")
    assert bug.played("score_update") == []
    actions = audit_actions(con, {"override clear": 1, "override undo": 1, "override set": 2})
    assert actions[:4] == ["override clear", "override undo", "override set", "override set"]
    bug.assert_clean()
    con.assert_clean()


def test_rehearsal_plays_a_test_three_and_logs_no_shot(rig: Rig) -> None:
    three = rig.open("three", hold_ms=1000)
    con = open_console(rig)
    con.page.click("#test-made_three")
    three.wait(
        f"{THREE_ON} && document.getElementById('three-name').textContent === 'Maya Ortiz'", 1.5
    )
    assert three.played("made_three")[0].startswith("test-")
    assert three.js("window.shotfeed.feed.state.recent.length") == 1  # only the seed's shot
    types = [e["type"] for e in rig.events()]
    assert "made_three" not in types and "shot" not in types
    assert rig.state()["graphics"] == {}
    # held, a rehearsal plays no more than the real thing would
    keys(con, "h")
    three.wait("window.shotfeed.feed.state.held === true")
    three.wait(f"!({THREE_ON})", 3)
    shown = rig.events()[-1]["seq"]
    con.page.click("#test-made_three")
    rig.wait_event(lambda e: e["seq"] > shown and e["data"].get("name") == "test:made_three")
    three.page.wait_for_timeout(400)
    assert not three.js(THREE_ON) and len(three.played("made_three")) == 1
    actions = audit_actions(con, {"graphic show test:made_three": 2, "hold": 1})
    assert actions[:3] == ["graphic show test:made_three", "hold", "graphic show test:made_three"]
    three.assert_clean()
    con.assert_clean()

"""Hostile text on air: every overlay and the operator console, in real headless Chromium.

Team names, short names, a player's name and number (from the operator's config), a lower
third's title and subtitle (an operator payload) and the overlay's own query parameters are
full of HTML, script, CSS, template syntax, bidi controls and very long strings. Every page
must show them as text (the literal characters are in the page), execute nothing (no dialog,
no page error, no ``window.__pwned``, no element with an ``on*`` attribute, no script but the
page's own (same-origin ``src``, its JSON config, or its inline module with the CSP
nonce), no request off the server), keep its stylesheet (the body still shown) and keep its
layout: a long name stays inside the 1920-wide frame and inside its box, cut with an
ellipsis rather than pushed out (issue 11, "Hostile text").
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests import browser as shared
from tests.browser import AWAY_ID, HOME_ID, OverlayPage, Rig, shot, with_shots
from tests.test_operator_console import open_console

pytestmark = pytest.mark.network

browser = shared.browser
rig = shared.rig

PWN_IMG = "<img src=x onerror=window.__pwned=1>"
PWN_SCRIPT = "<script>window.__pwned=2</script>"
PWN_SVG = '"><svg onload="window.__pwned=3">'
PWN_CSS = "</style><style>body{display:none}</style>"
TEMPLATE = "{{7*7}}${7*7}<%= 7*7 %>"
BIDI = "\u202eNORTH\u202c \u200b"
# the longest a config name may be (80): one unbroken word and more
LONG_NAME = ("Wolfeschlegelsteinhausenbergerdorff" * 3)[:80]
LONG_TITLE = "Supercalifragilisticexpialidocious " * 9  # an operator payload: no such limit

CONFIG = {
    "home": {"teamId": HOME_ID, "name": LONG_NAME, "short": PWN_IMG[:12], "color": "#1d4ed8"},
    "away": {"teamId": AWAY_ID, "name": PWN_SCRIPT, "short": PWN_SVG[:12], "color": "#b91c1c"},
    "roster": {
        "7301": {"name": (PWN_CSS + LONG_NAME)[:80], "number": "<b>3"},
        "7401": {"name": TEMPLATE},
    },
}
HOSTILE_QUERY = {
    "theme": '"><script>window.__pwned=4</script>',
    "home_color": "red;background:url(http://evil.invalid/x.png)",
    "away_color": "</style><img src=x onerror=window.__pwned=5>",
    "hold_ms": "4000",
}

CHECK = """(strings) => {
  const all = [...document.querySelectorAll('*')];
  const handlers = all.filter(e => [...e.attributes].some(a => a.name.startsWith('on')));
  const scripts = [...document.scripts].filter(
    s => !(s.src && new URL(s.src).origin === location.origin) && s.type !== 'application/json'
      && !s.nonce);  // the page's own inline script carries the server's CSP nonce
  const text = document.body.textContent;
  // leaf elements that show one of the strings, as laid out (visible ones only)
  const boxes = [];
  for (const e of all) {
    if (e.children.length || !strings.some(s => e.textContent.includes(s.slice(0, 24)))) continue;
    const style = getComputedStyle(e);
    const r = e.getBoundingClientRect();
    if (!r.width || style.visibility === 'hidden' || style.display === 'none') continue;
    let block = e;
    while (block.parentElement && getComputedStyle(block).display.startsWith('inline')) {
      block = block.parentElement;
    }
    const b = block.getBoundingClientRect();
    const bs = getComputedStyle(block);
    boxes.push({
      id: e.id || e.className || e.tagName,
      left: r.left, right: r.right, blockRight: b.right, blockLeft: b.left,
      overflows: block.scrollWidth > block.clientWidth + 1,
      clipped: ['hidden', 'clip'].includes(bs.overflowX),
      ellipsis: bs.textOverflow === 'ellipsis',
    });
  }
  return {
    pwned: window.__pwned === undefined ? null : window.__pwned,
    handlers: handlers.map(e => e.outerHTML.slice(0, 80)),
    scripts: scripts.map(s => (s.src || s.textContent).slice(0, 80)),
    bodyShown: getComputedStyle(document.body).display !== 'none',
    shown: strings.filter(s => text.includes(s)),
    boxes,
    pageWidth: document.documentElement.scrollWidth,
  };
}"""

STRINGS = [PWN_IMG, PWN_SCRIPT, PWN_SVG, PWN_CSS, TEMPLATE, LONG_NAME, LONG_TITLE.strip()]


def check_page(page: OverlayPage, *, must_show: list[str], frame: int = 1920) -> dict[str, Any]:
    """Nothing ran, the strings are text, and nothing they are in spills out of its box."""
    page.page.wait_for_timeout(300)  # let a late handler (onload/onerror) run, if any would
    got: dict[str, Any] = page.js(CHECK, STRINGS + must_show)
    assert got["pwned"] is None, got
    assert got["handlers"] == [] and got["scripts"] == [], got
    assert got["bodyShown"], "an injected stylesheet hid the page"
    for s in must_show:
        assert s in got["shown"], (s, got["shown"])
    for box in got["boxes"]:
        where = (box["id"], box)
        assert box["left"] >= -1 and box["right"] <= frame + 1, where
        assert box["right"] <= box["blockRight"] + 1 or box["clipped"], where
        if box["overflows"]:
            assert box["clipped"] and box["ellipsis"], where
    assert got["pageWidth"] <= frame, got["pageWidth"]
    # no <img src=x> was loaded, nothing from the injected url(): the page's own URL holds both
    assert not [u for u in page.requests if urlsplit(u).path.endswith("/x")], page.requests
    assert not [u for u in page.requests if urlsplit(u).hostname == "evil.invalid"]
    page.assert_clean()
    return got


def test_every_overlay_shows_hostile_text_as_text_and_keeps_its_layout(rig: Rig) -> None:
    rig.configure(CONFIG)
    pages = {
        name: rig.open(name, **HOSTILE_QUERY)
        for name in ("scorebug", "scoreboard", "period", "ticker", "shotchart", "three")
    }
    lower = rig.open("lowerthird", **HOSTILE_QUERY)
    rig.push(with_shots(shot(5000), home=14))  # a made three by the long-named player
    rig.wait_event(lambda e: e["type"] == "made_three")
    pages["three"].wait("document.getElementById('splash').classList.contains('on')")
    rig.fire("lowerthird", {"title": LONG_TITLE, "subtitle": PWN_SVG + BIDI, "team": "home"})
    lower.wait("document.getElementById('l3').classList.contains('on')")

    player = CONFIG["roster"]["7301"]["name"]  # type: ignore[index]
    shows = {
        "scorebug": [CONFIG["home"]["short"], CONFIG["away"]["short"]],  # type: ignore[index]
        "scoreboard": [LONG_NAME, PWN_SCRIPT],
        "shotchart": [LONG_NAME, PWN_SCRIPT],
        "three": [player],
        "ticker": [],
        "period": [],
    }
    for name, page in pages.items():
        got = check_page(page, must_show=shows[name])
        if name in ("scoreboard", "shotchart", "three"):  # the long name was laid out, checked
            assert any(b["right"] - b["left"] > 50 for b in got["boxes"]), (name, got["boxes"])
    got = check_page(lower, must_show=[LONG_TITLE.strip()])
    assert lower.text("#l3-subtitle") == PWN_SVG + BIDI
    title = [b for b in got["boxes"] if b["id"] == "l3-title"]
    assert title and title[0]["ellipsis"], got["boxes"]
    assert pages["three"].text("#three-name") == player
    assert pages["scoreboard"].text("#home-name") == LONG_NAME


def test_the_console_shows_hostile_text_as_text(rig: Rig) -> None:
    rig.configure(CONFIG)
    con = open_console(rig)
    rig.push(with_shots(shot(5000), shot(9000, pid="7401", tid=AWAY_ID, three=False), home=14))
    rig.wait_event(lambda e: e["type"] == "made_three")
    # the console cuts a long payload short in its lists: the hostile part goes first
    rig.fire("lowerthird", {"title": PWN_IMG, "subtitle": LONG_TITLE, "team": "home"})
    con.wait("document.querySelector('#log li[data-type=graphic]')")
    con.wait("d => document.body.textContent.includes(d)", arg=json.dumps(PWN_IMG)[1:-1])
    check_page(con, must_show=[PWN_IMG, TEMPLATE, PWN_CSS], frame=1600)

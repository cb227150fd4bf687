"""OGraf graphics in real headless Chromium, loaded the way an OGraf renderer loads them.

A small host page on another origin (a second loopback server, as an OGraf host is) imports a
graphic's ``main``, registers the class itself (``customElements.define``), creates the
element, appends it to a 1920x1080 layer, and calls ``load``, ``playAction``,
``updateAction``, ``stopAction``, ``customAction`` and ``dispose`` against a real shotfeed
(``tests/browser.py``'s rig: scripted upstream, teams configured). What the graphic paints is
read from screenshots (the layer is black: nothing painted means a black page) and from the
overlay inside it. Every overlay in ``pages.OVERLAYS`` goes through it; the scorebug, three
and scoreboard are checked for what they show. The zip is unpacked into the host's folder and
served by the host itself. No request may go anywhere but the two loopback servers.
"""

from __future__ import annotations

import functools
import io
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from server.config import Settings
from server.web.pages import OVERLAYS
from tests import browser as shared
from tests.browser import CONFIG, FeedServer, Rig, _free_port
from tests.server_fixtures import AUTH, GAME, TOKEN, seed_doc
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

pytestmark = pytest.mark.network

browser = shared.browser
rig = shared.rig
KEY = "ograf-overlay-key-for-tests-0123"

# The host: a layer, and a renderer's few steps. It records every customElements.define, so
# the test sees that importing the module registers nothing.
HOST_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>OGraf test host</title>
<style>html, body { margin: 0; background: #000; overflow: hidden; }
#layer { position: absolute; left: 0; top: 0; width: 1920px; height: 1080px;
         transform: scale(0.25); transform-origin: 0 0; }</style>
</head><body><div id="layer"></div>
<script type="module">
const defined = [];
const define = customElements.define.bind(customElements);
customElements.define = (name, cls, opts) => {
  defined.push(name);
  return define(name, cls, opts);
};
let n = 0;
window.host = {
  defined,
  async add(main) {
    const before = defined.length;
    const mod = await import(main);
    const Graphic = mod.default;
    const registeredOnImport = defined.length - before;
    const tag = `ograf-graphic-${++n}`;
    customElements.define(tag, Graphic);
    const el = document.createElement(tag);
    document.getElementById("layer").append(el);
    window.graphic = el;
    (window.graphics = window.graphics || []).push(el);
    return { registeredOnImport, isElement: el instanceof HTMLElement,
             extendsHTMLElement: Graphic.prototype instanceof HTMLElement,
             methods: ["load", "dispose", "playAction", "stopAction", "updateAction",
                       "customAction"].filter((m) => typeof el[m] === "function") };
  },
  // a renderer builds the data from the manifest's schema defaults, then adds its own
  async defaults(manifestUrl) {
    const m = await (await fetch(manifestUrl)).json();
    const data = {};
    for (const [k, p] of Object.entries(m.schema.properties)) {
      if ("default" in p) data[k] = p.default;
    }
    return { manifest: m, data };
  },
};
window.hostReady = true;
</script></body></html>
"""


class _Quiet(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012 - the handler's own class attribute
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".json": "application/json",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Host:
    """A static file server on its own loopback port: another origin than shotfeed's."""

    root: Path
    server: ThreadingHTTPServer
    url: str


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Host]:
    root = tmp_path / "host"
    root.mkdir()
    (root / "index.html").write_text(HOST_PAGE)
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Host(root, server, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class HostPage:
    page: Any
    rig: Rig
    host: Host
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    blank: bytes = b""

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def shot(self) -> bytes:
        png: bytes = self.page.screenshot()
        return png

    def painted(self) -> bool:
        return self.shot() != self.blank

    def overlay_frame(self, name: str) -> Any:
        frames = [f for f in self.page.frames if f"/overlays/{name}?" in f.url]
        assert len(frames) == 1, [f.url for f in self.page.frames]
        return frames[0]

    def wait_frame(self, name: str, expression: str, timeout: float = 5.0) -> Any:
        deadline = self.page.evaluate("Date.now()") + timeout * 1000
        while True:
            frames = [f for f in self.page.frames if f"/overlays/{name}?" in f.url]
            if frames:
                value = frames[0].evaluate(expression)
                if value:
                    return value
            if self.page.evaluate("Date.now()") > deadline:
                raise AssertionError(f"not true in the {name} overlay within {timeout} s")
            self.page.wait_for_timeout(20)

    def assert_clean(self) -> None:
        assert not self.errors, self.errors
        allowed = {urlsplit(self.rig.url).netloc, urlsplit(self.host.url).netloc}
        foreign = [u for u in self.requests + self.websockets if urlsplit(u).netloc not in allowed]
        assert not foreign, foreign
        assert any("/ws/games/" in u for u in self.websockets), "the overlay never connected"


def open_host(rig: Rig, host: Host) -> HostPage:
    # the 1920x1080 layer at a quarter scale: whatever a graphic paints shows, and a
    # screenshot is cheap
    context = rig.browser.new_context(viewport={"width": 480, "height": 270})
    context.set_default_timeout(10_000)
    page = context.new_page()
    hp = HostPage(page, rig, host)
    page.on("console", lambda m: hp.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: hp.errors.append(str(e)))
    page.on("request", lambda r: hp.requests.append(r.url))
    page.on("websocket", lambda ws: hp.websockets.append(ws.url))
    # closed with the rig's pages
    rig.pages.append(shared.OverlayPage(page, context, urlsplit(rig.url).netloc))
    page.goto(f"{host.url}/index.html", wait_until="load")
    page.wait_for_function("window.hostReady === true")
    hp.blank = hp.shot()
    return hp


def add(hp: HostPage, main: str) -> None:
    info = hp.js("(main) => host.add(main)", main)
    assert info["registeredOnImport"] == 0  # the module registers nothing: the host does
    assert info["isElement"] and info["extendsHTMLElement"]
    assert info["methods"] == [
        "load",
        "dispose",
        "playAction",
        "stopAction",
        "updateAction",
        "customAction",
    ]


def load(hp: HostPage, data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = hp.js(
        """(data) => graphic.load({ data, renderType: "realtime",
             renderCharacteristics: { resolution: { width: 1920, height: 1080 } } })""",
        data,
    )
    return result


def call(hp: HostPage, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = hp.js(
        "([method, params]) => graphic[method](params)", [method, params or {}]
    )
    return result


def test_scorebug_from_the_server_as_a_renderer_drives_it(rig: Rig, host: Host) -> None:
    hp = open_host(rig, host)
    add(hp, f"{rig.url}/ograf/scorebug/scorebug.mjs")
    assert not hp.painted()  # appended: nothing yet
    assert load(hp, {"game": GAME}) == {"statusCode": 200, "statusMessage": "OK"}
    # loaded, the overlay is up with the game's state, and still nothing is painted
    frame = hp.overlay_frame("scorebug")
    assert "autoplay=0" in frame.url
    hp.wait_frame("scorebug", "window.shotfeed.feed.hasState")
    assert frame.evaluate("document.getElementById('home-num').textContent") == "11"
    hp.page.wait_for_timeout(500)  # longer than an in-animation
    assert not hp.painted()

    played = call(hp, "playAction", {})
    assert played["statusCode"] == 200 and played["currentStep"] == 0
    # resolved after the in-animation: the bug is on screen with the score
    assert frame.evaluate("document.getElementById('bug').classList.contains('on')")
    scores = "[document.getElementById('home-num').textContent, document.getElementById('away-num').textContent, document.getElementById('home-short').textContent]"  # noqa: E501
    assert frame.evaluate(scores) == ["11", "22", CONFIG["home"]["short"]]
    assert hp.painted()

    # updateAction: a colour and a score by hand (data.state); a new frame takes over on air,
    # without an animation, and the graphic stays painted throughout
    res = call(
        hp, "updateAction", {"data": {"home_color": "#00ff00", "state": {"home": {"score": 54}}}}
    )
    assert res["statusCode"] == 200
    frame = hp.overlay_frame("scorebug")  # the old frame is gone
    assert "home_color=%2300ff00" in frame.url
    assert frame.evaluate("document.getElementById('home-num').textContent") == "54"
    assert frame.evaluate(
        "getComputedStyle(document.getElementById('home-short')).backgroundColor"
    ) == ("rgb(0, 255, 0)")
    assert frame.evaluate("document.getElementById('bug').classList.contains('on')")
    assert hp.painted()

    # an update the server refuses (no such game id): the graphic stays as it was, on air
    res = call(hp, "updateAction", {"data": {"game": "not a game!"}})
    assert res["statusCode"] == 400
    assert hp.overlay_frame("scorebug").url == frame.url
    assert call(hp, "updateAction", {"data": {"theme": "light"}})["statusCode"] == 200
    frame = hp.overlay_frame("scorebug")
    assert "game=EVT" in frame.url and "theme=light" in frame.url
    assert hp.painted()

    # a custom action this graphic does not have
    res = call(hp, "customAction", {"id": "next", "payload": {}})
    assert res["statusCode"] == 404

    # stopAction resolves once the graphic is out: nothing painted
    assert call(hp, "stopAction", {})["statusCode"] == 200
    assert not frame.evaluate("document.getElementById('bug').classList.contains('on')")
    assert not hp.painted()
    # play again, then a play past the last step goes to the end (currentStep undefined)
    assert call(hp, "playAction", {"skipAnimation": True})["currentStep"] == 0
    assert hp.painted()
    end = call(hp, "playAction", {"delta": 1})
    assert end["statusCode"] == 200 and end.get("currentStep") is None
    assert not hp.painted()

    assert hp.js("graphic.dispose({})")["statusCode"] == 200
    assert hp.js("graphic.shadowRoot.querySelectorAll('iframe').length") == 0
    assert not [f for f in hp.page.frames if "/overlays/" in f.url]
    assert not hp.painted()
    hp.assert_clean()


def test_overlapping_calls_all_resolve_in_order(rig: Rig, host: Host) -> None:
    hp = open_host(rig, host)
    add(hp, f"{rig.url}/ograf/scorebug/scorebug.mjs")
    # load and every action at once, nothing awaited in between (a renderer may do that)
    results = hp.js(
        """(game) => Promise.all([
          graphic.load({ data: { game }, renderType: "realtime", renderCharacteristics: {} }),
          graphic.playAction({}),
          graphic.updateAction({ data: { away_color: "#ffff00" } }),
          graphic.stopAction({}),
          graphic.playAction({}),
          graphic.updateAction({ data: { state: { away: { score: 23 } } } }),
        ])""",
        GAME,
    )
    assert [r["statusCode"] for r in results] == [200] * 6
    assert results[1]["currentStep"] == 0 and results[4]["currentStep"] == 0
    frame = hp.overlay_frame("scorebug")
    assert "away_color=%23ffff00" in frame.url
    assert frame.evaluate("document.getElementById('away-num').textContent") == "23"
    assert frame.evaluate("document.getElementById('bug').classList.contains('on')")
    assert hp.painted()
    # a stop and a dispose racing: both resolve, nothing stays on screen
    results = hp.js("Promise.all([graphic.stopAction({}), graphic.dispose({})])")
    assert results[1]["statusCode"] == 200
    assert results[0]["statusCode"] in (200, 410)
    hp.page.wait_for_timeout(100)
    assert not hp.painted()
    hp.assert_clean()


def test_three_plays_a_splash_loaded_through_the_data_and_has_next(rig: Rig, host: Host) -> None:
    hp = open_host(rig, host)
    add(hp, f"{rig.url}/ograf/three/three.mjs")
    assert load(hp, {"game": GAME, "hold_ms": 30000})["statusCode"] == 200
    made = {
        "type": "made_three",
        "data": {
            "key": "ograf-1",
            "team": "home",
            "player": {"name": "Maya Ortiz", "number": "3"},
            "distanceFt": 26,
        },
    }
    assert call(hp, "updateAction", {"data": {"state": made}})["statusCode"] == 200
    assert not hp.painted()  # loaded for the next play, not on air
    assert call(hp, "playAction", {})["currentStep"] == 0
    hp.wait_frame("three", "document.getElementById('splash').classList.contains('on')")
    frame = hp.overlay_frame("three")
    assert frame.evaluate("document.getElementById('three-name').textContent") == "Maya Ortiz"
    assert "26 ft" in frame.evaluate("document.getElementById('three-meta').textContent")
    hp.page.wait_for_timeout(500)
    assert hp.painted()
    # its custom action: next ends the splash now
    assert call(hp, "customAction", {"id": "next", "payload": None})["statusCode"] == 200
    assert not frame.evaluate("document.getElementById('splash').classList.contains('on')")
    assert call(hp, "stopAction", {"skipAnimation": True})["statusCode"] == 200
    assert not hp.painted()
    hp.js("graphic.dispose({})")
    hp.assert_clean()


def test_every_overlay_loads_paints_nothing_before_play_and_clears(rig: Rig, host: Host) -> None:
    """All graphics at once on one host page (each its own element), every call to all of
    them at the same time."""
    names = list(OVERLAYS)
    hp = open_host(rig, host)
    for name in names:
        add(hp, f"{rig.url}/ograf/{name}/{name}.mjs")

    def all_(method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = hp.js(
            "([m, p]) => Promise.all(window.graphics.map((g) => g[m](p)))", [method, params]
        )
        assert len(results) == len(names)
        return results

    # a field the schema does not list (a per-page parameter) reaches the page's query too
    loaded = all_("load", {"data": {"game": GAME, "team": "home"}, "renderType": "realtime"})
    assert [r["statusCode"] for r in loaded] == [200] * len(names), loaded
    for name in names:
        hp.wait_frame(name, "window.shotfeed.feed.hasState")
        assert "team=home" in hp.overlay_frame(name).url
    hp.page.wait_for_timeout(100)
    visible = "window.graphics.map((g) => g.shadowRoot.querySelector('iframe.on') !== null)"
    assert hp.js(visible) == [False] * len(names)
    assert not hp.painted(), "a graphic painted before playAction"
    played = all_("playAction", {})
    assert [(r["statusCode"], r["currentStep"]) for r in played] == [(200, 0)] * len(names)
    assert hp.js(visible) == [True] * len(names)
    assert hp.painted()  # the scoreboard alone covers the layer
    updated = all_("updateAction", {"data": {"theme": "light"}})
    assert [r["statusCode"] for r in updated] == [200] * len(names)
    for name in names:
        assert "theme=light" in hp.overlay_frame(name).url
    stopped = all_("stopAction", {})
    assert [r["statusCode"] for r in stopped] == [200] * len(names)
    assert hp.js(visible) == [False] * len(names)
    assert not hp.painted(), "a graphic still painted after stopAction"
    assert [r["statusCode"] for r in all_("dispose", {})] == [200] * len(names)
    assert not [f for f in hp.page.frames if "/overlays/" in f.url]
    hp.assert_clean()


def test_load_says_why_when_the_game_or_the_server_is_wrong(rig: Rig, host: Host) -> None:
    hp = open_host(rig, host)
    add(hp, f"{rig.url}/ograf/scorebug/scorebug.mjs")
    res = load(hp, {"game": "not a game!"})
    assert res["statusCode"] == 400 and "game" in res["statusMessage"]
    assert call(hp, "playAction", {})["statusCode"] == 409  # nothing loaded
    res = load(hp, {"game": GAME, "serverUrl": "ftp://example.invalid/"})
    assert res["statusCode"] == 400
    res = hp.js("graphic.load({ data: {}, renderType: 'non-realtime' })")
    assert res["statusCode"] == 400
    assert not hp.painted()
    assert not hp.errors, hp.errors


def test_the_zip_served_by_the_host_itself(rig: Rig, host: Host) -> None:
    r = rig.http.get("/ograf/scorebug.zip")
    assert r.status_code == 200
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(host.root / "graphics")
    folder = f"{host.url}/graphics/shotfeed-scorebug"
    hp = open_host(rig, host)
    got = hp.js("(url) => host.defaults(url)", f"{folder}/scorebug.ograf.json")
    data = got["data"]
    assert data["serverUrl"] == rig.url and data["game"] == GAME
    add(hp, f"{folder}/{got['manifest']['main']}")
    assert load(hp, data)["statusCode"] == 200
    assert call(hp, "playAction", {})["currentStep"] == 0
    frame = hp.overlay_frame("scorebug")
    assert frame.url.startswith(f"{rig.url}/overlays/scorebug?")  # the overlay from shotfeed
    assert frame.evaluate("document.getElementById('home-num').textContent") == "11"
    assert hp.painted()
    # module and library came from the host's folder, not from shotfeed
    assert f"{folder}/scorebug.mjs" in hp.requests and f"{folder}/graphic.mjs" in hp.requests
    assert not [u for u in hp.requests if u.startswith(f"{rig.url}/ograf/scorebug/graphic")]
    assert call(hp, "stopAction", {})["statusCode"] == 200
    assert not hp.painted()
    hp.js("graphic.dispose({})")
    hp.assert_clean()


@pytest.fixture
def keyed_rig(browser: Any, tmp_path: Path) -> Iterator[Rig]:
    """The rig's server, with SHOTFEED_OVERLAY_KEY set (no teams configured)."""
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    with LiveServer(upstream) as up:
        settings = Settings(
            base_url=up.url,
            games=(GAME,),
            db_path=str(tmp_path / "feed.db"),
            operator_token=TOKEN,
            poll_interval=0.1,
            overlay_key=KEY,
        )
        server = FeedServer(settings, _free_port())
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=10, headers=AUTH) as http:
                r = Rig(upstream, server, http, browser)
                with_state = False
                for _ in range(500):
                    if r.state()["feed"]["lastSuccessAt"] is not None:
                        with_state = True
                        break
                    threading.Event().wait(0.02)
                assert with_state, "no first poll within 10 s"
                try:
                    yield r
                finally:
                    for op in r.pages:
                        op.context.close()
        finally:
            server.stop()


def test_keyed_server_wants_the_key_in_the_data(keyed_rig: Rig, host: Host) -> None:
    hp = open_host(keyed_rig, host)
    add(hp, f"{keyed_rig.url}/ograf/scorebug/scorebug.mjs")
    res = load(hp, {"game": GAME})
    assert res["statusCode"] == 403 and "key" in res["statusMessage"]
    assert load(hp, {"game": GAME, "key": "wrong"})["statusCode"] == 403
    assert not hp.painted()
    assert load(hp, {"game": GAME, "key": KEY})["statusCode"] == 200
    assert call(hp, "playAction", {})["currentStep"] == 0
    frame = hp.overlay_frame("scorebug")
    assert frame.evaluate("document.getElementById('home-num').textContent") == "11"
    assert hp.painted()
    assert any(f"key={KEY}" in u for u in hp.websockets)  # the overlay passed it on
    hp.js("graphic.dispose({})")
    # the refusals were answered as JSON by the bridge, not shown: no console error
    hp.assert_clean()

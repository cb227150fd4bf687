"""Shared fixtures for overlay tests in a real headless Chromium against a real shotfeed.

- ``browser`` (module): Debian's Chromium (``/usr/bin/chromium``, or ``SHOTFEED_CHROMIUM``)
  driven by Playwright's sync API; one browser per test module (a module imports the fixture,
  so each module has its own copy: module scope closes one before the next starts), a fresh
  context per page.
  Without a Chromium the tests skip, except under CI (``CI`` set), where they fail.
- ``rig`` (per test): a scripted ShotTracker upstream plus the whole shotfeed app on real
  uvicorn, on a fixed loopback port so ``rig.restart()`` brings the server back where the
  pages expect it (same store: seq goes on). Helpers push upstream payloads and call the
  operator API.
- ``rig.open(name, **query)`` opens an overlay page and records, for the test to assert on:
  console errors, uncaught page errors, dialogs (``alert`` & co.), every request the page
  made, and every WebSocket it opened.

Everything is loopback, and every wait is bounded.

Import the fixtures into a test module with ``from tests.browser import browser, rig``.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import uvicorn

from server.config import Settings
from server.web.app import create_app
from server.web.serving import uvicorn_config
from tests.server_fixtures import AUTH, GAME, TOKEN, seed_doc
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

CHROMIUM = os.environ.get("SHOTFEED_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
T0 = 1663870491879  # the seed shot's t
HOME_ID = "1"
AWAY_ID = "2"
# what the tests configure: teams and a roster (pid 7301 shoots the threes)
CONFIG = {
    "home": {"teamId": HOME_ID, "name": "Northfield Hawks", "short": "NFH", "color": "#1d4ed8"},
    "away": {"teamId": AWAY_ID, "name": "Riverside Otters", "short": "RIV", "color": "#b91c1c"},
    "roster": {"7301": {"name": "Maya Ortiz", "number": "3"}, "7401": {"name": "Sam Okafor"}},
}


# -- upstream payloads -----------------------------------------------------------------------


def with_shots(
    *shots: dict[str, Any], home: int | None = None, away: int | None = None
) -> dict[str, Any]:
    """The seed payload plus these shot records, with the scores set if given."""
    doc = seed_doc()
    doc["shots"].extend(shots)
    if home is not None:
        doc["gameTotals"]["homeTeamScore"]["value"] = home
    if away is not None:
        doc["gameTotals"]["awayTeamScore"]["value"] = away
    return doc


def shot(
    dt_ms: int,
    *,
    pid: str = "7301",
    tid: str = HOME_ID,
    made: bool = True,
    three: bool = True,
    feet: float = 24.0,
) -> dict[str, Any]:
    """A shot record like the seed's, ``dt_ms`` after the seed shot, ``feet`` from the hoop."""
    rec: dict[str, Any] = copy.deepcopy(seed_doc()["shots"][0])
    rec.update(
        t=T0 + dt_ms,
        pid=pid,
        tid=tid,
        st="MAKE" if made else "MISS",
        is3=three,
        pts=(3 if three else 2) if made else -1,
        d=feet * 30.48,
        prd="H2",
    )
    return rec


# -- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


# -- the server ------------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class FeedServer:
    """The shotfeed app on real uvicorn in a thread, on one loopback port across restarts."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.sock: socket.socket | None = None

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        app = create_app(self.settings, announce=False)
        server = uvicorn.Server(
            uvicorn_config(
                app, self.settings, lifespan="on", timeout_graceful_shutdown=2, log_level="error"
            )
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.sock, self.server, self.thread = sock, server, thread
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("shotfeed did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.server is None or self.thread is None or self.sock is None:
            return
        self.server.should_exit = True
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "shotfeed did not stop within 10 s"
        self.sock.close()
        self.server = self.thread = self.sock = None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WsGate:
    """Stands between a page and the server's WebSocket (Playwright's WebSocket routing).

    Open, it connects the page through to the server. ``drop()`` closes the page's connection
    and holds every new one (the page sees a socket that never says hello), so events can
    happen while the page is away; ``release()`` lets the page back in, and it resumes with
    ``since``.
    """

    def __init__(self) -> None:
        self.open = True
        self.urls: list[str] = []
        self.live: list[Any] = []
        self.servers: list[Any] = []
        self.held: list[Any] = []

    def route(self, ws: Any) -> None:
        self.urls.append(ws.url)
        if self.open:
            self.servers.append(ws.connect_to_server())
            self.live.append(ws)
        else:
            self.held.append(ws)

    def mute(self) -> None:
        """The open connections stay open but pass nothing from the server on (a dead link)."""
        for server in self.servers:
            server.on_message(lambda message: None)

    def drop(self) -> None:
        self.open = False
        for ws in self.live:
            ws.close(code=4000, reason="test: dropped")
        self.live.clear()
        self.servers.clear()

    def release(self) -> None:
        self.open = True
        for ws in self.held:
            ws.close(code=4001, reason="test: come back")
        self.held.clear()


@dataclass
class OverlayPage:
    """One overlay page in its own browser context, with what it did recorded."""

    page: Any
    context: Any
    host: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    gate: WsGate | None = None

    def wait(self, expression: str, timeout: float = 5.0, arg: Any = None) -> Any:
        """Wait (bounded) until the JS expression is truthy; returns its value.

        Polls with ``evaluate`` (Playwright's own wait_for_function evals a string, which the
        overlay's Content-Security-Policy rightly refuses).
        """
        deadline = time.monotonic() + timeout
        while True:
            value = self.page.evaluate(expression, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout} s: {expression}")
            self.page.wait_for_timeout(20)

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def text(self, selector: str) -> str:
        value: str = self.page.eval_on_selector(selector, "e => e.textContent")
        return value

    def played(self, type_: str | None = None) -> list[Any]:
        played: list[dict[str, Any]] = self.js("window.shotfeed.played")
        return [p["id"] for p in played if type_ is None or p["type"] == type_]

    def foreign_requests(self) -> list[str]:
        """Requests to anything but the shotfeed server (should be none)."""
        return [u for u in self.requests if urlsplit(u).netloc != self.host]

    def assert_clean(self) -> None:
        assert not self.console_errors, self.console_errors
        assert not self.page_errors, self.page_errors
        assert not self.dialogs, self.dialogs
        assert self.requests, "the page made no request at all?"
        assert not self.foreign_requests(), self.foreign_requests()


@dataclass
class Rig:
    upstream: ScriptedUpstream
    server: FeedServer
    http: httpx.Client
    browser: Any
    pages: list[OverlayPage] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    # -- driving the game ------------------------------------------------------------------

    def push(self, doc: dict[str, Any], *more: Reply) -> None:
        """The upstream answers ``doc`` from the next poll on (after ``more``, if given)."""
        self.upstream.push(*more, Reply(200, doc))

    def events(self) -> list[dict[str, Any]]:
        r = self.http.get(f"/api/games/{GAME}/events", params={"limit": 1000})
        assert r.status_code == 200, r.text
        events: list[dict[str, Any]] = r.json()["events"]
        return events

    def wait_event(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first logged event matching ``pred`` (polls the event log, bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events():
                if pred(e):
                    return e
            if time.monotonic() > deadline:
                raise AssertionError("no such event within the timeout")
            time.sleep(0.05)

    def state(self) -> dict[str, Any]:
        r = self.http.get(f"/api/games/{GAME}/state")
        assert r.status_code == 200, r.text
        state: dict[str, Any] = r.json()
        return state

    def operator(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.http.request(method, f"/api/games/{GAME}{path}", json=body, headers=AUTH)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def configure(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = self.operator("PUT", "/config", config or CONFIG)["event"]
        return event

    def hold(self, **body: Any) -> dict[str, Any]:
        event: dict[str, Any] = self.operator("POST", "/hold", body)["event"]
        return event

    def fire(self, name: str, payload: dict[str, Any], action: str = "show") -> dict[str, Any]:
        body = {"action": action, "name": name, "payload": payload}
        event: dict[str, Any] = self.operator("POST", "/graphics", body)["event"]
        return event

    def restart(self, between: Callable[[], None] | None = None) -> None:
        """Stop the server (clients see the connection close), run ``between``, start again."""
        self.server.stop()
        if between is not None:
            between()
        self.server.start()

    # -- pages -----------------------------------------------------------------------------

    def overlay_url(self, name: str, **query: Any) -> str:
        query.setdefault("game", GAME)
        return f"{self.url}/overlays/{name}?{urlencode(query)}"

    def open(
        self,
        name: str,
        *,
        wait_ready: bool = True,
        gate: bool = False,
        setup: Callable[[Any], None] | None = None,
        **query: Any,
    ) -> OverlayPage:
        """Open an overlay; by default wait until its feed has a state from hello.

        ``gate=True`` puts a WsGate between the page and the server's WebSocket; ``setup`` gets
        the page before it loads (e.g. to install Playwright's fake clock).
        """
        context = self.browser.new_context(viewport={"width": 1920, "height": 1080})
        context.set_default_timeout(10_000)
        page = context.new_page()
        op = OverlayPage(page, context, urlsplit(self.url).netloc)
        if gate:
            op.gate = WsGate()
            page.route_web_socket(re.compile(r"/ws/games/"), op.gate.route)
        page.on(
            "console",
            lambda m: op.console_errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: op.page_errors.append(str(e)))

        def on_dialog(d: Any) -> None:
            op.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("request", lambda r: op.requests.append(r.url))
        page.on("websocket", lambda ws: op.websockets.append(ws.url))
        if setup is not None:
            setup(page)
        self.pages.append(op)
        page.goto(self.overlay_url(name, **query), wait_until="load")
        if wait_ready:
            op.wait("window.shotfeed && window.shotfeed.feed.hasState")
        return op


@pytest.fixture
def rig(browser: Any, tmp_path: Path) -> Iterator[Rig]:
    """Scripted upstream (seed payload) + shotfeed on a fixed port, teams configured."""
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    collect = _Collect()
    watched = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in watched:
        logger.addHandler(collect)
    try:
        with LiveServer(upstream) as up:
            settings = Settings(
                base_url=up.url,
                games=(GAME,),
                db_path=str(tmp_path / "feed.db"),
                operator_token=TOKEN,
                poll_interval=0.1,
                heartbeat_s=5.0,
            )
            server = FeedServer(settings, _free_port())
            server.start()
            try:
                with httpx.Client(base_url=server.url, timeout=10) as http:
                    r = Rig(upstream, server, http, browser)
                    deadline = time.monotonic() + 10
                    while r.state()["feed"]["lastSuccessAt"] is None:
                        assert time.monotonic() < deadline, "no first poll within 10 s"
                        time.sleep(0.02)
                    r.configure()
                    try:
                        yield r
                    finally:
                        for op in r.pages:
                            op.context.close()
            finally:
                server.stop()
    finally:
        for logger in watched:
            logger.removeHandler(collect)
    assert not collect.records, [rec.getMessage() for rec in collect.records]

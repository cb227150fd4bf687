"""A server with SHOTFEED_OVERLAY_KEY, in real headless Chromium: the overlays given ``?key=``
still load, get their hello and pass the key to the WebSocket and ``shots.json``; the operator
console reads the game's events and config with its token (the REST feeds need one or the
key). Without the key an overlay page is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.config import Settings
from tests import browser as shared
from tests.browser import FeedServer, _free_port
from tests.server_fixtures import AUTH, GAME, TOKEN, seed_doc
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

pytestmark = pytest.mark.network

browser = shared.browser
KEY = "overlay-key-for-tests-0123456789"
HAS_STATE = "window.shotfeed && window.shotfeed.feed.hasState"


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[str]:
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
            with httpx.Client(base_url=server.url, timeout=10) as http:
                deadline = time.monotonic() + 10
                while (
                    http.get(f"/api/games/{GAME}/state", headers=AUTH).json()["feed"][
                        "lastSuccessAt"
                    ]
                    is None
                ):
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
            yield server.url
        finally:
            server.stop()


def wait(page: Any, expression: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        assert time.monotonic() < deadline, f"not true within {timeout} s: {expression}"
        page.wait_for_timeout(20)


def test_overlays_pass_the_key_through(browser: Any, keyed: str) -> None:
    for name in ("scorebug", "shotchart", "scoreboard"):
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        try:
            page = context.new_page()
            errors: list[str] = []
            sockets: list[str] = []
            responses: list[tuple[str, int]] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.on("websocket", lambda ws, sockets=sockets: sockets.append(ws.url))
            page.on("response", lambda r, responses=responses: responses.append((r.url, r.status)))
            page.goto(f"{keyed}/overlays/{name}?game={GAME}&key={KEY}", wait_until="load")
            wait(page, HAS_STATE)
            assert page.evaluate("window.shotfeed.feed.state.home.score") == 11
            assert sockets and all(f"key={KEY}" in url for url in sockets), sockets
            assert not errors, errors
            assert all(status < 400 for _, status in responses), responses
        finally:
            context.close()
    context = browser.new_context()
    try:
        page = context.new_page()
        r = page.goto(f"{keyed}/overlays/scorebug?game={GAME}", wait_until="load")
        assert r is not None and r.status == 403
    finally:
        context.close()


def test_the_console_reads_events_and_config_with_its_token(browser: Any, keyed: str) -> None:
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = context.new_page()
        page.add_init_script("localStorage.setItem('shotfeed.previews', 'off')")
        responses: list[tuple[str, int]] = []
        page.on("response", lambda r: responses.append((r.url, r.status)))
        page.goto(f"{keyed}/operator", wait_until="load")
        wait(page, "!document.getElementById('login').hidden")
        page.fill("#login-token", TOKEN)
        page.press("#login-token", "Enter")
        wait(
            page,
            "window.shotfeedConsole && window.shotfeedConsole.feed"
            " && window.shotfeedConsole.feed.hasState",
        )

        def seen(part: str) -> list[int]:
            return [status for url, status in responses if part in url]

        deadline = time.monotonic() + 10
        while not (seen("/events?") and seen(f"/api/games/{GAME}/config")):
            assert time.monotonic() < deadline, responses
            page.wait_for_timeout(20)
        assert set(seen("/events?")) == {200}, responses
        assert set(seen(f"/api/games/{GAME}/config")) == {200}, responses
    finally:
        context.close()

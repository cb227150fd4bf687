"""``shotfeed serve``'s own server configuration takes the direct fan-out path.

The direct path depends on uvicorn internals (``server.web.fastpath``); if an upgrade of uvicorn
or Starlette, a middleware, or a change to ``server.web.serving`` loses it, every event silently
goes through ASGI per client again, at several times the CPU. This runs the exact server
``shotfeed serve`` builds (``feed_server``, on port 0) with a real ``websockets`` client and fails
unless /metrics counts the connection as direct (``test_feed_fallback.py`` checks the converse:
another WebSocket implementation is counted as queued).
"""

from __future__ import annotations

import logging
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from server.config import Settings
from server.web import fastpath
from server.web.app import create_app
from server.web.serving import FeedServer, feed_server
from tests.server_fixtures import GAME, TOKEN, Feed, recv_json, running_feed, seed_doc
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

pytestmark = [pytest.mark.network]

DIRECT = 'shotfeed_ws_connections{path="direct"}'
QUEUED = 'shotfeed_ws_connections{path="queued"}'


@contextmanager
def serve_in_thread(server: FeedServer) -> Iterator[str]:
    """Run the server as ``serve`` does (``run()``), in a thread; yield its URL."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "shotfeed did not start"
        time.sleep(0.01)
    try:
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.anyio
async def test_serve_configuration_takes_the_direct_path(tmp_path: Path) -> None:
    """A client of the server exactly as `serve` configures it is a direct subscription."""
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    with LiveServer(upstream) as up:
        settings = Settings(
            base_url=up.url,
            games=(GAME,),
            db_path=str(tmp_path / "feed.db"),
            operator_token=TOKEN,
            host="127.0.0.1",
        )
        # Settings refuses PORT=0, so the port (and the log level) are the only overrides.
        server = feed_server(
            create_app(settings, announce=False), settings, port=0, log_level="error"
        )
        assert server.config.ws == "websockets-sansio"
        with serve_in_thread(server) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                feed = Feed(url, upstream, settings, http)
                async with connect(
                    f"{feed.ws_base}/ws/games/{GAME}", compression=None, ping_interval=None
                ) as ws:
                    assert (await recv_json(ws))["type"] == "hello"
                    assert await feed.metric(DIRECT) == 1
                    assert await feed.metric(QUEUED) == 0
                    event = await feed.fire("through-the-fast-path")
                    assert await recv_json(ws) == event
                with anyio.fail_after(5):
                    while await feed.metric(DIRECT) != 0:
                        await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_compression_offered_by_the_client_is_not_negotiated(tmp_path: Path) -> None:
    """A client asking for permessage-deflate still gets pre-built frames on the direct path."""
    async with running_feed(tmp_path) as feed, feed.ws(compression="deflate") as ws:
        assert ws.protocol.extensions == []
        assert (await recv_json(ws))["type"] == "hello"
        assert await feed.metric(DIRECT) == 1
        event = await feed.fire("uncompressed")
        assert orjson.loads(await ws.recv()) == event


@pytest.mark.anyio
async def test_route_table_serves_the_feed(tmp_path: Path) -> None:
    """/ws/games/{id} is a route of the app (not a middleware in front of it)."""
    app = create_app(Settings(db_path=str(tmp_path / "x.db"), operator_token=TOKEN))
    paths = [getattr(route, "path", None) for route in app.routes]
    assert "/ws/games/{event_id}" in paths
    assert app.user_middleware == []


def test_uvicorn_outside_the_tested_range_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A uvicorn the fast path was not tested with is reported, once, not on every connection."""
    monkeypatch.setattr(fastpath, "_version_checked", None)
    monkeypatch.setattr(fastpath.metadata, "version", lambda name: "0.99.0")
    with caplog.at_level(logging.WARNING, logger="shotfeed.fastpath"):
        assert not fastpath.check_uvicorn_version()
        assert not fastpath.check_uvicorn_version()
    assert len(caplog.records) == 1
    assert "0.99.0" in caplog.records[0].getMessage()


def test_installed_uvicorn_is_the_tested_one_and_the_pin_agrees() -> None:
    """pyproject's pin and fastpath's range say the same, and the venv is inside them."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    (line,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("uvicorn")]
    (low_low, low_minor), (high_major, high_minor) = fastpath.TESTED_UVICORN
    assert line.endswith(f">={low_low}.{low_minor},<{high_major}.{high_minor}")
    installed = fastpath._minor(metadata.version("uvicorn"))
    assert installed is not None
    assert fastpath.TESTED_UVICORN[0] <= installed < fastpath.TESTED_UVICORN[1]

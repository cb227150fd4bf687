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
import socket
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from importlib import metadata
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from server.config import Settings
from server.web import fastpath, hub
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
        assert server.config.ws is fastpath.FeedProtocol
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


# -- detached connections: no task per idle overlay ---------------------------------------------

HANDSHAKE = (
    "GET /ws/games/{game} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 5.3), the way a browser sends one."""
    mask = b"\x11\x22\x33\x44"
    n = len(payload)
    head = bytes((0x80 | opcode,))
    head += bytes((0x80 | n,)) if n < 126 else bytes((0x80 | 126,)) + n.to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawClient:
    """A WebSocket client by hand over a blocking socket: exact control of what goes out when."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _need(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed the connection")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head

    def frame(self) -> tuple[int, bytes]:
        b0, b1 = self._need(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._need(2), "big")
        elif n == 127:
            n = int.from_bytes(self._need(8), "big")
        return b0 & 0x0F, self._need(n)

    def close(self) -> None:
        self.sock.close()


def _ws_tasks(server: FeedServer) -> int:
    """The server's ASGI tasks still running for WebSocket connections."""
    return sum(
        1
        for task in server.server_state.tasks
        if not task.done() and "websockets_sansio" in repr(task.get_coro())
    )


@pytest.mark.anyio
async def test_detached_connections_hold_no_task_and_still_answer(tmp_path: Path) -> None:
    """After the hello a direct connection has no ASGI task; pings, subscribe and events work.

    This is what keeps an idle overlay small: if a change to the endpoint or to uvicorn left a
    task parked in receive() per connection, this fails before the memory bench would show it.
    """
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
        server = feed_server(
            create_app(settings, announce=False), settings, port=0, log_level="error"
        )
        with serve_in_thread(server) as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                feed = Feed(url, upstream, settings, http)
                async with AsyncExitStack() as stack:
                    clients = [
                        await stack.enter_async_context(
                            connect(
                                f"{feed.ws_base}/ws/games/{GAME}",
                                compression=None,
                                ping_interval=None,
                            )
                        )
                        for _ in range(5)
                    ]
                    for ws in clients:
                        assert (await recv_json(ws))["type"] == "hello"
                    assert await feed.metric(DIRECT) == 5
                    with anyio.fail_after(5):
                        while _ws_tasks(server):
                            await anyio.sleep(0.02)
                    await clients[0].send('{"op": "ping"}')
                    assert await recv_json(clients[0]) == {"type": "pong"}
                    await clients[1].send('{"op": "subscribe", "types": ["score_update"]}')
                    assert (await recv_json(clients[1]))["type"] == "subscribed"
                    await clients[2].send("not json")
                    assert (await recv_json(clients[2]))["type"] == "error"
                    event = await feed.fire("after-detach")
                    for i, ws in enumerate(clients):
                        if i != 1:  # filtered to score_update
                            assert await recv_json(ws) == event
                    assert _ws_tasks(server) == 0
                    await clients[4].close()
                    with anyio.fail_after(5):
                        while await feed.metric(DIRECT) != 4:
                            await anyio.sleep(0.02)
                with anyio.fail_after(5):
                    while await feed.metric(DIRECT) != 0:
                        await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_a_ping_sent_the_moment_the_socket_opens_is_answered_after_the_hello(
    tmp_path: Path,
) -> None:
    """A page that sends from ``onopen`` (before it has read anything) gets hello, then pong.

    (Bytes sent in the same segment as the upgrade request never reach the protocol: uvicorn's
    HTTP layer hands it the request alone. So the earliest a client frame can arrive is right
    after the 101, which is what this sends.)
    """
    async with running_feed(tmp_path) as feed:
        client = RawClient(feed.url)
        try:
            await anyio.to_thread.run_sync(client.send, HANDSHAKE.format(game=GAME).encode())
            head = await anyio.to_thread.run_sync(client.response_head)
            assert head.startswith(b"HTTP/1.1 101")
            await anyio.to_thread.run_sync(client.send, client_frame(b'{"op":"ping"}'))
            opcode, hello = await anyio.to_thread.run_sync(client.frame)
            assert opcode == 0x1 and orjson.loads(hello)["type"] == "hello"
            opcode, pong = await anyio.to_thread.run_sync(client.frame)
            assert (opcode, orjson.loads(pong)) == (0x1, {"type": "pong"})
        finally:
            client.close()


@pytest.mark.anyio
async def test_invalid_utf8_closes_1007_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad bytes from a client are the client's fault: a 1007 close and one info line."""
    async with running_feed(tmp_path) as feed:
        client = RawClient(feed.url)
        try:
            await anyio.to_thread.run_sync(client.send, HANDSHAKE.format(game=GAME).encode())
            await anyio.to_thread.run_sync(client.response_head)
            opcode, _ = await anyio.to_thread.run_sync(client.frame)  # hello
            caplog.clear()
            with caplog.at_level(logging.INFO):
                await anyio.to_thread.run_sync(client.send, client_frame(b"\xff\xfe ok"))
                opcode, body = await anyio.to_thread.run_sync(client.frame)
            assert opcode == 0x8
            assert int.from_bytes(body[:2], "big") == 1007
            assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]
            assert any("not UTF-8" in r.getMessage() for r in caplog.records)
            # the server is fine: another client is greeted
            async with feed.ws() as ws:
                assert (await recv_json(ws))["type"] == "hello"
        finally:
            client.close()


@pytest.mark.anyio
async def test_many_clients_take_the_batch_and_get_every_event_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With enough live clients the hub writes each frame in one batch; nothing changes for them.

    Counts the batches that wrote (the real method, wrapped): if the batch silently stopped
    engaging, the fan-out would fall back to one call per client and only the bench would say.
    """
    wrote: list[bool] = []
    real = fastpath.Batch.write_all

    def counted(self: fastpath.Batch, frame: bytes) -> bool:
        result = real(self, frame)
        wrote.append(result)
        return result

    monkeypatch.setattr(fastpath.Batch, "write_all", counted)
    async with running_feed(tmp_path) as feed, AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(feed.ws()) for _ in range(hub.BATCH_MIN + 4)]
        for ws in clients:
            assert (await recv_json(ws))["type"] == "hello"
        fired = [await feed.fire(f"g{i}", {"i": i}) for i in range(10)]
        for ws in clients:
            assert [await recv_json(ws) for _ in fired] == fired
        assert wrote.count(True) >= len(fired)

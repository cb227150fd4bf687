"""The whole shotfeed app under a real uvicorn on a loopback port, fed by a scripted upstream.

``running_feed`` starts the scripted ShotTracker (answering the seed payload), then the app with
the product's WebSocket options, waits for the first poll, and yields a ``Feed`` with an httpx
client and helpers. Every ERROR log record of the server (an unhandled exception in a handler
included) is collected in ``Feed.errors``, and the feed fails the test if any was logged.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from server.config import Settings
from server.web.app import create_app
from server.web.serving import server_options
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

DATA = Path(__file__).parent / "data"
GAME = "EVT"
REDIS_URL = os.environ.get("SHOTFEED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Which broker running_feed builds: "sqlite" (the embedded default) or "redis". The protocol
# suites set it per test through the ``broker`` fixture (tests/conftest.py), so one suite runs
# against both without a copy.
BROKER_MODE = "sqlite"
# The key prefix of this test's games in Redis: one per test (its tmp_path), the same over the
# restarts inside one test, dropped when the test ends.
REDIS_PREFIX = "test"
TOKEN = "operator-token-for-tests-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def seed_doc() -> dict[str, Any]:
    """The upstream's example payload (scores 11/22, period H2, one 19.1 ft miss)."""
    doc: dict[str, Any] = orjson.loads((DATA / "seed_shots.json").read_bytes())
    return doc


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Feed:
    url: str
    upstream: ScriptedUpstream
    settings: Settings
    http: httpx.AsyncClient
    errors: list[logging.LogRecord] = field(default_factory=list)
    app: Any = None  # the Starlette app under test (its state: store, games, hub)
    server: Any = None

    @property
    def ws_base(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def ws(self, query: str = "", *, game: str = GAME, **kwargs: Any) -> Any:
        """A websockets client connection to the game's feed (``async with``)."""
        url = f"{self.ws_base}/ws/games/{game}" + (f"?{query}" if query else "")
        kwargs.setdefault("compression", None)
        kwargs.setdefault("ping_interval", None)
        kwargs.setdefault("open_timeout", 10)
        return connect(url, **kwargs)

    async def fire(
        self, name: str = "x", payload: dict[str, Any] | None = None, *, action: str = "show"
    ) -> dict[str, Any]:
        """One operator graphic event; returns the event as the server made it."""
        r = await self.http.post(
            f"/api/games/{GAME}/graphics",
            json={"action": action, "name": name, "payload": payload or {}},
            headers=AUTH,
        )
        assert r.status_code == 200, r.text
        event: dict[str, Any] = r.json()["event"]
        return event

    async def fire_many(self, n: int, **payload: Any) -> list[int]:
        return [(await self.fire(f"g{i}", {"i": i, **payload}))["seq"] for i in range(n)]

    async def state(self) -> dict[str, Any]:
        # the token: a server with an overlay key wants it (or the key) on its read routes
        r = await self.http.get(f"/api/games/{GAME}/state", headers=AUTH)
        assert r.status_code == 200, r.text
        state: dict[str, Any] = r.json()
        return state

    async def events(self) -> list[dict[str, Any]]:
        r = await self.http.get(f"/api/games/{GAME}/events", params={"limit": 1000}, headers=AUTH)
        assert r.status_code == 200, r.text
        events: list[dict[str, Any]] = r.json()["events"]
        return events

    async def metric(self, name: str) -> float:
        """The value of one sample in /metrics (0 when absent); labels as written there:
        ``shotfeed_ws_connections{path="direct"}``."""
        r = await self.http.get("/metrics")
        for line in r.text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0


async def recv_json(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        raw = await ws.recv()
    msg: dict[str, Any] = orjson.loads(raw)
    return msg


async def recv_until_seq(ws: ClientConnection, seq: int, timeout: float = 10) -> list[dict]:
    """Every message up to and including the event with this seq (heartbeats left out)."""
    out: list[dict[str, Any]] = []
    with anyio.fail_after(timeout):
        while True:
            msg = orjson.loads(await ws.recv())
            if msg.get("type") == "heartbeat":
                continue
            out.append(msg)
            if msg.get("seq") == seq and msg.get("type") != "hello":
                return out


@asynccontextmanager
async def running_feed(
    tmp_path: Path,
    *,
    sndbuf: int | None = None,
    ws_impl: str | None = None,
    **overrides: Any,
) -> AsyncIterator[Feed]:
    """Scripted upstream + shotfeed on real uvicorn; waits until the seed has been polled.

    ``sndbuf`` fixes SO_SNDBUF on the listening socket, so every accepted connection gets a
    kernel send buffer of that size instead of loopback's autotuned megabytes (a slow client
    then backs up into the server's own queue after kilobytes, as over a real network).
    ``ws_impl`` replaces the WebSocket implementation of ``shotfeed serve``'s own options
    (``server.web.serving``), for the fallback tests. ``Feed.server`` is the uvicorn server
    (``server.web.serving.guard_of(feed.server.config)``: the connection guard's counts).
    """
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    collect = _Collect()
    watched = [logging.getLogger(), logging.getLogger("uvicorn")]
    with LiveServer(upstream) as up:
        values: dict[str, Any] = {
            "base_url": up.url,
            "games": (GAME,),
            "db_path": str(tmp_path / "feed.db"),
            "operator_token": TOKEN,
            "poll_interval": 0.5,
            # The API tests try dozens of wrong tokens on purpose from one address; the
            # throttle itself is tested with its own budget (test_origins, test_limits).
            "auth_failures": 100_000,
        }
        if BROKER_MODE == "redis":
            values.update(redis_url=REDIS_URL, redis_prefix=REDIS_PREFIX, leader_ttl_s=2.0)
        values.update(overrides)
        settings = Settings(**values)
        app = create_app(settings, announce=False)
        # As `shotfeed serve` runs: the direct fan-out path and the connection guard.
        options = server_options(settings)
        if ws_impl is not None:
            options["ws"] = ws_impl
        server = LiveServer(app, lifespan="on", log_level="error", **options)
        if sndbuf is not None:
            server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        for logger in watched:
            logger.addHandler(collect)
        try:
            with server as srv:
                async with httpx.AsyncClient(base_url=srv.url, timeout=10) as http:
                    feed = Feed(srv.url, upstream, settings, http, collect.records, app=app)
                    feed.server = srv.server
                    with anyio.fail_after(10):
                        while (await feed.state())["feed"]["lastSuccessAt"] is None:
                            await anyio.sleep(0.02)
                    yield feed
        finally:
            for logger in watched:
                logger.removeHandler(collect)
    assert not collect.records, [r.getMessage() for r in collect.records]


def drop_prefix(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every key a test made under its own prefix (the shared Redis stays clean)."""
    from redis import Redis

    client = Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@dataclass
class ServeProcess:
    """A ``python -m server serve`` child process, its URL and the file its output goes to."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@asynccontextmanager
async def serve_process(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    port: int,
    ready: str = "/healthz",
    log_name: str = "server.log",
) -> AsyncIterator[ServeProcess]:
    """Run ``python -m server`` with ``args`` as production does, in its own process.

    Why a process: what the command line sets up (signal dispositions, the last-words hooks,
    the open-file limit) only exists there. Output goes to a file (a full pipe would stall the
    server); waits until ``ready`` answers 200; on the way out a SIGTERM, then a kill after
    15 s. The test reads ``proc.returncode`` afterwards.
    """
    log_path = cwd / log_name
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", *args],
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        child = ServeProcess(proc, f"http://127.0.0.1:{port}", log_path)
        try:
            async with httpx.AsyncClient(base_url=child.url, timeout=2) as http:
                with anyio.fail_after(20):
                    while True:
                        assert proc.poll() is None, child.log()
                        try:
                            if (await http.get(ready)).status_code == 200:
                                break
                        except httpx.HTTPError:
                            pass
                        await anyio.sleep(0.1)
            yield child
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

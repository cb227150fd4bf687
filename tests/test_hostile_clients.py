"""Hostile and broken clients against the real server (``running_feed``: real uvicorn, the
guard, the direct fan-out path): fuzzed frames, huge frames, ping floods, invalid UTF-8,
half-open sockets, handshakes that never finish, huge heads, a burst of 1,000 connects, clients
that stop reading, the caps. In every test a well-behaved watching client is checked: every
event fired reaches it on time, in order, nothing lost or doubled.

Each test is bounded in time and count (the whole file runs in about half a minute on 2
cores). Figures go to ``$SHOTFEED_RELIABILITY_OUT/hostile-<name>.json`` when that variable is
set (docs/reliability.md).
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as sync_connect

from server.config import Settings
from server.web.serving import guard_of
from tests.server_fixtures import (
    GAME,
    TOKEN,
    Feed,
    free_port,
    recv_json,
    running_feed,
    seed_doc,
    serve_process,
)
from tests.test_feed import raw_ws_connect, read_until_close
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

pytestmark = [pytest.mark.network, pytest.mark.anyio]

ON_TIME_S = 2.0
"""Longest a watched event may take from its POST to the watcher (on 2 busy cores)."""


def write_figures(name: str, figures: dict[str, Any]) -> None:
    out = os.environ.get("SHOTFEED_RELIABILITY_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"hostile-{name}.json").write_bytes(
            orjson.dumps(figures, option=orjson.OPT_INDENT_2)
        )


def port_of(feed: Feed) -> int:
    return int(feed.url.rsplit(":", 1)[1])


def rss_mib() -> float:
    """This process's resident memory (the server runs in a thread of it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- the well-behaved watcher ------------------------------------------------------------------


@dataclass
class Watcher:
    """A client that reads everything; ``check`` fires events and asserts it got each on time."""

    ws: ClientConnection
    last: int
    got: list[tuple[int, float]] = field(default_factory=list)  # (seq, when received)
    worst: float = 0.0

    async def read(self) -> None:
        while True:
            msg = orjson.loads(await self.ws.recv())
            if "seq" in msg and msg.get("type") not in ("hello", "heartbeat"):
                self.got.append((int(msg["seq"]), time.monotonic()))

    async def check(self, feed: Feed, n: int = 5) -> None:
        """Fire ``n`` graphics; each must arrive within ON_TIME_S of its POST, and every
        event since the hello must have come exactly once, in order."""
        for i in range(n):
            asked = time.monotonic()
            event = await feed.fire(f"watch{i}", {"i": i})
            with anyio.fail_after(ON_TIME_S + 3):
                while not self.got or self.got[-1][0] < event["seq"]:
                    await anyio.sleep(0.002)
            took = dict(self.got)[event["seq"]] - asked  # from the POST to the watcher
            self.worst = max(self.worst, took)
            assert took < ON_TIME_S, f"event {event['seq']} took {took:.3f} s"
        seqs = [s for s, _ in self.got]
        assert seqs == list(range(self.last + 1, self.last + 1 + len(seqs))), seqs


@asynccontextmanager
async def watching(feed: Feed) -> AsyncIterator[Watcher]:
    async with feed.ws(max_size=2**24) as ws:
        hello = await recv_json(ws)
        watcher = Watcher(ws, int(hello["seq"]))
        async with anyio.create_task_group() as tg:
            tg.start_soon(watcher.read)
            yield watcher
            tg.cancel_scope.cancel()


def in_thread(fn: Callable[[], Any]) -> Any:
    """Blocking client code (sync websockets, raw sockets) off the test's event loop."""
    return anyio.to_thread.run_sync(fn)


# -- raw frames --------------------------------------------------------------------------------


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 5.2), FIN set."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


# -- fuzzed frames -----------------------------------------------------------------------------

INT64 = st.integers(-(2**63), 2**63 - 1)  # what JSON encoders take
OPS = st.sampled_from(["ping", "subscribe", "unsubscribe", "", "PING", "hello"])
TYPES = st.one_of(
    st.none(),
    st.lists(st.sampled_from(["shot", "made_three", "graphic", "nope", ""]), max_size=4),
    st.text(max_size=20),
    INT64,
    st.dictionaries(st.text(max_size=5), INT64, max_size=2),
)
JSONISH = st.one_of(
    st.builds(lambda op, types: orjson.dumps({"op": op, "types": types}).decode(), OPS, TYPES),
    st.builds(lambda op: orjson.dumps({"op": op}).decode(), OPS),
    st.builds(
        lambda v: orjson.dumps(v).decode(),
        st.recursive(
            st.none() | st.booleans() | INT64 | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=10,
        ),
    ),
)
FRAME = st.one_of(st.text(max_size=300), st.binary(max_size=300), JSONISH)


async def test_fuzzed_frames_each_get_an_answer_and_the_watcher_loses_nothing(
    tmp_path: Path,
) -> None:
    """Random text, binary and JSON-ish frames: each is answered (pong, subscribed or error),
    the connection stays up, the server logs no error, the watcher gets every event."""
    async with running_feed(tmp_path) as feed, watching(feed) as watcher:
        url = f"{feed.ws_base}/ws/games/{GAME}"
        examples = sent = 0

        @settings(
            max_examples=60,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )
        @given(st.lists(FRAME, max_size=8))
        def one(frames: list[str | bytes]) -> None:
            nonlocal examples, sent
            examples += 1
            sent += len(frames)
            with sync_connect(url, compression=None, open_timeout=5, max_size=2**24) as ws:
                assert orjson.loads(ws.recv(timeout=5))["type"] == "hello"
                for frame in frames:
                    ws.send(frame)
                ws.send('{"op": "ping"}')
                answers: list[dict[str, Any]] = []
                while len(answers) < len(frames) + 1:
                    msg = orjson.loads(ws.recv(timeout=5))
                    if msg.get("type") == "heartbeat" or "seq" in msg:
                        continue
                    answers.append(msg)
            assert answers[-1] == {"type": "pong"}
            for answer in answers:
                assert answer["type"] in ("pong", "subscribed", "error"), answer
                if answer["type"] == "error":
                    assert isinstance(answer["message"], str) and len(answer["message"]) < 500

        await in_thread(one)
        assert examples >= 30
        await watcher.check(feed)
        write_figures(
            "fuzz",
            {"connections": examples, "frames": sent, "all_answered": True, "events_lost": 0},
        )


async def test_frames_over_64_kib_close_1009_and_64_kib_is_answered(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed, watching(feed) as watcher:
        for big in ("x" * (64 * 1024 + 1), b"\0" * (64 * 1024 + 1)):
            async with feed.ws(max_size=2**24) as ws:
                await recv_json(ws)
                with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                    await ws.send(big)
                    while True:
                        await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        async with feed.ws(max_size=2**24) as ws:
            await recv_json(ws)
            await ws.send("z" * (64 * 1024))  # exactly the limit: not JSON, an error
            assert (await recv_json(ws))["type"] == "error"
        await watcher.check(feed)


async def test_floods_of_pings_are_answered_or_cut_never_hurting_others(tmp_path: Path) -> None:
    """5,000 ``op: ping`` frames sent without reading, then 2,000 protocol pings: every one is
    answered, or (a client not reading its pongs is a slow client) the flooder is cut with
    1013; the watcher gets its events on time throughout."""
    async with running_feed(tmp_path) as feed, watching(feed) as watcher:
        url = f"{feed.ws_base}/ws/games/{GAME}"

        def flood() -> tuple[int, int | None]:
            pongs, code = 0, None
            with sync_connect(url, compression=None, open_timeout=5, max_size=2**24) as ws:
                ws.recv(timeout=5)
                for _ in range(5000):
                    ws.send('{"op":"ping"}')
                try:
                    while pongs < 5000:
                        if orjson.loads(ws.recv(timeout=10)) == {"type": "pong"}:
                            pongs += 1
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else None
                    return pongs, code
                waiters = [ws.ping() for _ in range(2000)]
                assert waiters[-1].wait(10), "the 2,000th protocol ping got no pong"
            return pongs, code

        async with anyio.create_task_group() as tg:
            result: list[tuple[int, int | None]] = []

            async def run_flood() -> None:
                result.append(await in_thread(flood))

            tg.start_soon(run_flood)
            await watcher.check(feed, 5)
        pongs, code = result[0]
        assert pongs == 5000 or code == 1013, (pongs, code)
        await watcher.check(feed, 2)


async def test_invalid_utf8_closes_1007_quietly(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed, watching(feed) as watcher:

        def bad_text() -> int | None:
            s = raw_ws_connect(port_of(feed), f"/ws/games/{GAME}", rcvbuf=1 << 16)
            try:
                s.sendall(client_frame(0x1, b'{"op": "\xff\xfe"}'))
                _, code = read_until_close(s)
                return code
            finally:
                s.close()

        assert await in_thread(bad_text) == 1007
        await watcher.check(feed)
    # running_feed fails the test if the server logged an ERROR (no traceback for a client)


# -- sockets that never finish -----------------------------------------------------------------

HALF_UPGRADE = (
    f"GET /ws/games/{GAME} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
).encode()


def wait_closed(socks: list[socket.socket], timeout: float) -> dict[socket.socket, bytes]:
    """Read each socket until EOF or reset; what each received. Those still open after
    ``timeout`` are left out."""
    got = {s: b"" for s in socks}
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    done: dict[socket.socket, bytes] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(socks) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            assert isinstance(s, socket.socket)
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                chunk = b""
            if chunk:
                got[s] += chunk
            else:
                sel.unregister(s)
                done[s] = got[s]
    sel.close()
    return done


async def test_handshakes_that_never_finish_are_closed_after_the_timeout(tmp_path: Path) -> None:
    """750 silent sockets, 750 half upgrade requests (the 1,500 of the probe) and 10 that
    trickle a byte every 0.2 s:
    all closed about the timeout (1 s here) after they connected, the half ones with 408; the
    watcher meanwhile gets its events on time; the guard's count of open HTTP connections goes
    back to where it was."""
    timeout = 1.0
    async with running_feed(tmp_path, handshake_timeout_s=timeout) as feed:
        guard = guard_of(feed.server.config)
        baseline = guard.http_open
        async with watching(feed) as watcher:
            silent = [socket.create_connection(("127.0.0.1", port_of(feed))) for _ in range(750)]
            half = [socket.create_connection(("127.0.0.1", port_of(feed))) for _ in range(750)]
            for s in half:
                s.sendall(HALF_UPGRADE)
            trickle = [socket.create_connection(("127.0.0.1", port_of(feed))) for _ in range(10)]
            started = time.monotonic()
            stop = threading.Event()

            def trickling() -> None:
                for i in range(40):
                    if stop.is_set():
                        return
                    for s in trickle:
                        with suppress(OSError):
                            s.send(HALF_UPGRADE[i : i + 1])
                    time.sleep(0.2)

            t = threading.Thread(target=trickling, daemon=True)
            t.start()
            await watcher.check(feed, 3)  # served on time while 1,510 sockets hang
            everything = silent + half + trickle
            done = await in_thread(lambda: wait_closed(everything, timeout + 3))
            closed_after = time.monotonic() - started
            stop.set()
            t.join()
            try:
                assert len(done) == len(everything), f"{len(everything) - len(done)} still open"
                assert closed_after < timeout + 3
                assert all(done[s] == b"" for s in silent)
                for s in half + trickle:
                    assert done[s].startswith(b"HTTP/1.1 408"), done[s][:80]
                    assert b'"error":"timeout"' in done[s]
            finally:
                for s in everything:
                    s.close()
            await watcher.check(feed, 2)
        with anyio.fail_after(5):
            while guard.http_open > baseline:
                await anyio.sleep(0.05)
        assert guard.refused.get("408 timeout", 0) >= 760
        write_figures(
            "handshakes",
            {
                "hanging_sockets": len(everything),
                "timeout_s": timeout,
                "all_closed_within_s": round(closed_after, 2),
                "answered_408": guard.refused.get("408 timeout", 0),
                "closed_silently": guard.refused.get("408 idle", 0),
                "watcher_worst_ms": round(watcher.worst * 1000, 1),
            },
        )


async def test_a_websocket_half_closed_by_its_client_is_closed_and_forgotten(
    tmp_path: Path,
) -> None:
    async with running_feed(tmp_path) as feed, watching(feed) as watcher:
        before = await feed.metric("shotfeed_clients")

        def half_close() -> bool:
            socks = [raw_ws_connect(port_of(feed), f"/ws/games/{GAME}") for _ in range(20)]
            for s in socks:
                s.shutdown(socket.SHUT_WR)
            done = wait_closed(socks, 5)
            for s in socks:
                s.close()
            return len(done) == len(socks)

        assert await in_thread(half_close)
        with anyio.fail_after(5):
            while await feed.metric("shotfeed_clients") > before:
                await anyio.sleep(0.05)
        await watcher.check(feed)


# -- heads -------------------------------------------------------------------------------------


def send_head(port: int, head: bytes, *, chunk: int = 0) -> bytes:
    """Send a request head (in ``chunk``-byte pieces if given) and read the answer to EOF."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    try:
        try:
            if chunk:
                for i in range(0, len(head), chunk):
                    s.sendall(head[i : i + chunk])
                    time.sleep(0.002)
            else:
                s.sendall(head)
        except OSError:
            pass  # the server answered and closed while we were still sending
        out = b""
        while True:
            try:
                data = s.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            out += data
        return out
    finally:
        s.close()


async def test_huge_heads_are_refused_431(tmp_path: Path) -> None:
    async with running_feed(tmp_path) as feed, watching(feed) as watcher:
        port = port_of(feed)
        state = f"GET /api/games/{GAME}/state HTTP/1.1\r\nHost: x\r\n".encode()
        upgrade = HALF_UPGRADE + b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        upgrade += b"Sec-WebSocket-Version: 13\r\n"
        big = b"X-Big: " + b"a" * 200_000 + b"\r\n\r\n"
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(20_000)) + b"\r\n"
        cases = [
            (state + big, 0),
            (state + many, 0),
            (upgrade + big, 0),
            (upgrade + many, 0),
            (state + big, 8192),  # one field still arriving when the limit is passed
        ]
        for head, chunk in cases:
            answer = await in_thread(lambda h=head, c=chunk: send_head(port, h, chunk=c))
            assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
            assert b'"error":"headers_too_large"' in answer
        fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 200) for i in range(60))
        fine = state + b"Connection: close\r\n" + fields + b"\r\n"  # 12 KiB, 62 fields
        answer = await in_thread(lambda: send_head(port, fine))
        assert answer.startswith(b"HTTP/1.1 200"), answer[:100]
        await watcher.check(feed)


# -- storms, caps and rates --------------------------------------------------------------------


async def test_a_burst_of_1000_connects_is_served_and_memory_comes_back(tmp_path: Path) -> None:
    """1,000 WebSocket connects at once (loopback: the per-address rate does not apply): all
    get their hello, the watcher its events on time; closed again, the server holds none of
    them and memory stays bounded."""
    async with running_feed(tmp_path) as feed, watching(feed) as watcher:
        before_clients = await feed.metric("shotfeed_clients")
        rss0 = rss_mib()
        conns: list[ClientConnection] = []

        async def one() -> None:
            ws = await feed.ws(max_size=2**24, close_timeout=1)
            conns.append(ws)
            assert (await recv_json(ws, 30))["type"] == "hello"

        t0 = time.monotonic()
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(1000):
                    tg.start_soon(one)
        connect_s = time.monotonic() - t0
        assert len(conns) == 1000
        assert await feed.metric("shotfeed_clients") == before_clients + 1000
        await watcher.check(feed, 5)
        rss_open = rss_mib()
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for ws in conns:
                    tg.start_soon(ws.close)
        with anyio.fail_after(10):
            while await feed.metric("shotfeed_clients") > before_clients:
                await anyio.sleep(0.05)
        conns.clear()
        await watcher.check(feed, 2)
        rss_closed = rss_mib()
        print(
            f"1,000 connects in {connect_s:.2f} s; RSS {rss0:.0f} -> {rss_open:.0f} (open) -> "
            f"{rss_closed:.0f} MiB (closed, client side included); watcher worst "
            f"{watcher.worst * 1000:.0f} ms"
        )
        assert rss_open - rss0 < 400  # both ends of 1,000 connections in this process
        assert rss_closed - rss0 < 400
        write_figures(
            "burst",
            {
                "connects": 1000,
                "all_hello_in_s": round(connect_s, 2),
                "watcher_worst_ms": round(watcher.worst * 1000, 1),
                "events_lost": 0,
            },
        )


async def test_clients_that_stop_reading_are_cut_1013(tmp_path: Path) -> None:
    async with (
        running_feed(tmp_path, queue_size=16, sndbuf=32 * 1024) as feed,
        watching(feed) as watcher,
    ):
        slows = [
            await in_thread(lambda: raw_ws_connect(port_of(feed), f"/ws/games/{GAME}"))
            for _ in range(3)
        ]
        try:
            pad = "p" * 8000
            for i in range(200):
                await feed.fire(f"big{i % 4}", {"i": i, "pad": pad})
                if i % 5 == 4 and await feed.metric("shotfeed_clients_dropped_total") >= 3:
                    break
            assert await feed.metric("shotfeed_clients_dropped_total") == 3
            await watcher.check(feed, 3)
            for s in slows:
                got, code = await in_thread(lambda s=s: read_until_close(s))
                assert code == 1013
                seqs = [m["seq"] for m in got[1:]]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        finally:
            for s in slows:
                s.close()


async def test_the_websocket_cap_refuses_503_before_the_upgrade(tmp_path: Path) -> None:
    async with running_feed(tmp_path, max_clients=3) as feed:
        async with feed.ws() as a, feed.ws() as b, feed.ws() as c:
            for ws in (a, b, c):
                assert (await recv_json(ws))["type"] == "hello"
            with pytest.raises(InvalidStatus) as refused:
                async with feed.ws():
                    pass
            response = refused.value.response
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert orjson.loads(response.body)["error"] == "busy"
            assert (await feed.http.get("/healthz")).status_code == 200  # HTTP is not capped
        with anyio.fail_after(5):
            while await feed.metric("shotfeed_clients") > 0:
                await anyio.sleep(0.05)
        async with feed.ws() as d:
            assert (await recv_json(d))["type"] == "hello"


async def test_connects_per_address_are_rate_limited_where_not_exempt(tmp_path: Path) -> None:
    """With loopback not exempt: a burst of 5, then 2 a second; the 429 says when."""
    async with running_feed(tmp_path, limit_exempt="none", connect_rate=2, connect_burst=5) as feed:
        port = port_of(feed)
        get = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        answers = [await in_thread(lambda: send_head(port, get)) for _ in range(12)]
        ok = [a for a in answers if a.startswith(b"HTTP/1.1 200")]
        limited = [a for a in answers if a.startswith(b"HTTP/1.1 429")]
        assert len(ok) + len(limited) == 12
        assert 1 <= len(ok) <= 6 and len(limited) >= 6
        assert b"retry-after: 1" in limited[0].lower()
        with pytest.raises(InvalidStatus) as refused:
            async with feed.ws():
                pass
        assert refused.value.response.status_code == 429
        await anyio.sleep(1.1)
        assert (await in_thread(lambda: send_head(port, get))).startswith(b"HTTP/1.1 200")


async def test_the_connection_cap_answers_503_at_once_and_frees_the_socket(
    tmp_path: Path,
) -> None:
    """Past SHOTFEED_MAX_CONNECTIONS a new socket gets 503 before it sends anything and is
    closed, so descriptors stay for the store; once the hogs leave, requests work again."""
    async with running_feed(tmp_path, max_connections=30, handshake_timeout_s=10) as feed:
        hogs = [socket.create_connection(("127.0.0.1", port_of(feed))) for _ in range(40)]
        try:
            done = await in_thread(lambda: wait_closed(hogs, 2))
            # the fixture's own client holds one: 29 hogs fit, the other 11 are refused
            assert 10 <= len(done) <= 12, len(done)
            for answer in done.values():
                assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
                assert b'"error":"busy"' in answer and b"retry-after: 5" in answer
        finally:
            for s in hogs:
                s.close()
        with anyio.fail_after(5):
            while True:
                try:
                    if (await feed.http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:  # the pool's kept socket may have been closed
                    await anyio.sleep(0.05)


# -- memory of a real `shotfeed serve` process -------------------------------------------------


def rss_of(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_a_serve_process_memory_levels_off_across_rounds_of_abuse(tmp_path: Path) -> None:
    """``shotfeed serve`` in its own process: five rounds of 500 WebSocket connects, 300
    handshakes that never finish and 20 huge (100 KB) heads, each round closed again. The
    first rounds warm the allocator up; after that the server's RSS levels off (measured:
    +6, +2, +2, +0, +0 MiB per round) instead of growing round after round."""
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SHOTFEED_", "SHOTTRACKER_"))},
        "SHOTFEED_DB": str(tmp_path / "m.db"),
        "SHOTFEED_OPERATOR_TOKEN": TOKEN,
        "SHOTFEED_GAMES": GAME,
        "SHOTFEED_HANDSHAKE_TIMEOUT_S": "1",
    }
    with LiveServer(upstream) as up:
        env["SHOTTRACKER_BASE_URL"] = up.url
        async with (
            serve_process(
                ["serve", "--port", str(port)], env=env, cwd=tmp_path, port=port
            ) as child,
            httpx.AsyncClient(base_url=child.url, timeout=5) as http,
        ):
            proc, base = child.proc, child.url
            with anyio.fail_after(20):
                while True:
                    try:
                        r = await http.get(f"/api/games/{GAME}/state")
                        if r.status_code == 200 and r.json()["feed"]["lastSuccessAt"]:
                            break
                    except httpx.HTTPError:
                        pass
                    await anyio.sleep(0.1)
            feed = Feed(base, upstream, Settings(), http)
            rss0 = rss_of(proc.pid)
            rss: list[tuple[float, float]] = []  # (open, closed) per round
            for _ in range(5):
                conns = [await feed.ws(max_size=2**24, close_timeout=1) for _ in range(500)]
                for ws in conns:
                    assert (await recv_json(ws))["type"] == "hello"
                hanging = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
                for s in hanging[:150]:
                    s.sendall(HALF_UPGRADE)
                head = f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * 100_000}\r\n\r\n"
                for _ in range(20):
                    answer = await in_thread(lambda h=head: send_head(port, h.encode()))
                    assert answer.startswith(b"HTTP/1.1 431")
                await anyio.sleep(0.3)
                opened = rss_of(proc.pid)
                done = await in_thread(lambda h=hanging: wait_closed(h, 4))
                assert len(done) == len(hanging)
                for s in hanging:
                    s.close()
                async with anyio.create_task_group() as tg:
                    for ws in conns:
                        tg.start_soon(ws.close)
                await anyio.sleep(0.5)
                rss.append((opened, rss_of(proc.pid)))
            print(
                f"serve RSS MiB: {rss0:.0f} at start; per round (500 clients + 300 hanging "
                "open / all closed): " + ", ".join(f"{o:.0f}/{c:.0f}" for o, c in rss)
            )
            closed = [c for _, c in rss]
            write_figures(
                "serve-memory",
                {
                    "rounds": len(rss),
                    "per_round": "500 clients, 300 hanging handshakes, 20 x 100 KB heads",
                    "rss_mib_start": round(rss0, 1),
                    "rss_mib_open_closed": [[round(o, 1), round(c, 1)] for o, c in rss],
                },
            )
            assert closed[-1] - closed[2] < 3, rss  # levelled off after the warm-up
            assert max(o for o, _ in rss) - rss0 < 40, rss  # 500 clients and more: bounded
    err = child.log()
    assert "shotfeed serve stopped: signal SIGTERM" in err, err[-2000:]
    assert "Traceback" not in err, err[-3000:]

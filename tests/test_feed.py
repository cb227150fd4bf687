"""The WebSocket feed (``/ws/games/{id}``) against a real uvicorn with real clients.

hello, replay with ``since``, gap, type filters, heartbeats, bad client frames, the 64 KiB
frame limit, and a client too slow to keep up (closed with 1013 while 50 others get every
event in order).
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from server.web.serving import MAX_WS_FRAME
from tests.server_fixtures import AUTH, GAME, recv_json, recv_until_seq, running_feed

pytestmark = [pytest.mark.network, pytest.mark.anyio, pytest.mark.usefixtures("broker")]


async def ping_barrier(ws: ClientConnection) -> list[dict[str, Any]]:
    """Send a ping; return every message that arrived before its pong (heartbeats left out)."""
    await ws.send('{"op": "ping"}')
    out: list[dict[str, Any]] = []
    while True:
        msg = await recv_json(ws)
        if msg["type"] == "pong":
            return out
        if msg["type"] != "heartbeat":
            out.append(msg)


async def test_hello_first_then_only_live_events(tmp_path: Path) -> None:
    """Without since: hello (protocol 1, seed state, gap false) then only events after it."""
    async with running_feed(tmp_path) as feed:
        before = await feed.fire_many(3)
        async with feed.ws() as ws:
            hello = await recv_json(ws)
            assert hello["type"] == "hello"
            assert hello["protocol"] == 1
            assert hello["game"] == GAME
            assert hello["seq"] == before[-1]
            assert hello["gap"] is False
            state = hello["state"]
            assert state["seq"] == hello["seq"]
            assert state["home"]["score"] == 11
            assert state["away"]["score"] == 22
            assert state["period"] == "H2"
            assert state["periodLabel"] == "2nd Half"
            assert state["graphics"] == {"g0": {"i": 0}, "g1": {"i": 1}, "g2": {"i": 2}}

            live = await feed.fire("live", {"text": "hi"})
            msg = await recv_json(ws)
            assert msg == live
            assert "replay" not in msg
            assert await ping_barrier(ws) == []


async def test_since_replays_missed_events_once_then_live(tmp_path: Path) -> None:
    """Reconnecting with since=N: each event after N once, in order, replay:true; then live."""
    async with running_feed(tmp_path) as feed:
        await feed.fire_many(2)
        async with feed.ws() as ws:
            await recv_json(ws)
            seen = [await feed.fire("seen", {"n": n}) for n in range(2)]
            assert [await recv_json(ws) for _ in seen] == seen
        since = seen[-1]["seq"]
        missed = [await feed.fire("missed", {"n": n}) for n in range(4)]

        async with feed.ws(f"since={since}") as ws:
            hello = await recv_json(ws)
            assert hello["type"] == "hello"
            assert hello["gap"] is False
            assert hello["seq"] == missed[-1]["seq"]
            replayed = [await recv_json(ws) for _ in missed]
            assert all(m.pop("replay") is True for m in replayed)
            assert replayed == missed
            live = [await feed.fire("live", {"n": n}) for n in range(2)]
            assert [await recv_json(ws) for _ in live] == live
            assert await ping_barrier(ws) == []
        # the same bytes as the log, apart from the replay flag
        log = {e["seq"]: e for e in await feed.events()}
        assert [log[m["seq"]] for m in replayed + live] == replayed + live

        # since = the latest seq: nothing to replay, nothing missing
        async with feed.ws(f"since={live[-1]['seq']}") as ws:
            hello = await recv_json(ws)
            assert hello["gap"] is False
            assert await ping_barrier(ws) == []


async def test_resume_races_live_events_without_gap_or_duplicate(tmp_path: Path) -> None:
    """Clients resuming while events are fired see every seq once, replays strictly first."""
    async with running_feed(tmp_path) as feed:
        first = await feed.fire_many(3)
        total = 40
        done = anyio.Event()
        final: list[int] = []

        async def firing() -> None:
            for i in range(total):
                final.append((await feed.fire(f"r{i}", {"i": i}))["seq"])
            done.set()

        async def resume(since: int, out: list[list[dict[str, Any]]]) -> None:
            async with feed.ws(f"since={since}") as ws:
                hello = await recv_json(ws)
                assert hello["type"] == "hello" and hello["gap"] is False
                await done.wait()
                msgs = await recv_until_seq(ws, final[-1])
                out.append([hello, *msgs])

        results: list[list[dict[str, Any]]] = []
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(firing)
                for k in range(8):
                    await anyio.sleep(0.01 * k)
                    tg.start_soon(resume, first[0], results)
        assert len(results) == 8
        for hello, *msgs in results:
            assert [m["seq"] for m in msgs] == list(range(first[0] + 1, final[-1] + 1))
            flags = [m.get("replay", False) for m in msgs]
            # replays are exactly the events the client's hello already counted
            assert flags == [m["seq"] <= hello["seq"] for m in msgs]


async def test_gap_when_since_is_older_than_retained_window(tmp_path: Path) -> None:
    """retain=5, 20 events: an older since gets gap:true and the 5 retained as replay."""
    async with running_feed(tmp_path, retain=5) as feed:
        seqs = await feed.fire_many(20)
        last = seqs[-1]
        cases = ((0, True), (2, True), (last - 6, True), (last - 5, False), (last, False))
        for since, gap in cases:
            async with feed.ws(f"since={since}") as ws:
                hello = await recv_json(ws)
                assert hello["type"] == "hello"
                assert hello["gap"] is gap, since
                assert hello["seq"] == last
                assert hello["state"]["graphics"]["g19"] == {"i": 19}
                replayed = await ping_barrier(ws)
                first = max(since, last - 5) + 1
                assert [m["seq"] for m in replayed] == list(range(first, last + 1))
                assert all(m["replay"] is True for m in replayed)
        async with feed.ws(f"since={last + 50}") as ws:
            hello = await recv_json(ws)
            assert hello["gap"] is True, "a client ahead of the log (store reset) must resync"
            assert await ping_barrier(ws) == []


async def test_type_filters_from_query_and_subscribe(tmp_path: Path) -> None:
    """?types= filters live and replayed events; subscribe changes it; unknown names err."""
    async with running_feed(tmp_path) as feed:
        async with feed.ws("types=graphic,hold") as ws:
            assert (await recv_json(ws))["type"] == "hello"
            await feed.fire("a")
            r = await feed.http.post(f"/api/games/{GAME}/hold", json={"held": True}, headers=AUTH)
            assert r.status_code == 200
            r = await feed.http.put(
                f"/api/games/{GAME}/config", json={"home": {"name": "Home"}}, headers=AUTH
            )
            assert r.status_code == 200
            got = await ping_barrier(ws)
            assert [m["type"] for m in got] == ["graphic", "hold"]

            await ws.send(orjson.dumps({"op": "subscribe", "types": ["config"]}).decode())
            assert await recv_json(ws) == {"type": "subscribed", "types": ["config"]}
            await feed.fire("b")
            r = await feed.http.put(
                f"/api/games/{GAME}/config", json={"away": {"name": "Away"}}, headers=AUTH
            )
            got = await ping_barrier(ws)
            assert [m["type"] for m in got] == ["config"]
            assert got[0]["data"]["away"]["name"] == "Away"

            await ws.send(orjson.dumps({"op": "subscribe", "types": ["config", "dunk"]}).decode())
            err = await recv_json(ws)
            assert err["type"] == "error" and "dunk" in err["message"]
            await feed.fire("c")  # the filter stayed "config"
            assert await ping_barrier(ws) == []

            await ws.send('{"op": "subscribe"}')  # no types: everything
            assert await recv_json(ws) == {"type": "subscribed", "types": None}
            c = await feed.fire("d")
            assert await ping_barrier(ws) == [c]

        async with feed.ws("since=0&types=hold") as ws:
            assert (await recv_json(ws))["type"] == "hello"
            replayed = await ping_barrier(ws)
            assert [(m["type"], m["replay"]) for m in replayed] == [("hold", True)]

        async with feed.ws("types=graphic,dunk") as ws:
            err = await recv_json(ws)
            assert err["type"] == "error" and "dunk" in err["message"]
            with pytest.raises(ConnectionClosed):
                await recv_json(ws)


async def test_heartbeat_after_silence(tmp_path: Path) -> None:
    """With heartbeat_s=0.3, silence brings {"type":"heartbeat","seq":latest}."""
    async with running_feed(tmp_path, heartbeat_s=0.3) as feed:
        seqs = await feed.fire_many(2)
        async with feed.ws() as ws:
            assert (await recv_json(ws))["seq"] == seqs[-1]
            with anyio.fail_after(3):
                beat = await recv_json(ws)
            assert beat == {"type": "heartbeat", "seq": seqs[-1]}
            event = await feed.fire("later")
            msgs = [await recv_json(ws, 3) for _ in range(2)]
            if msgs[0]["type"] == "heartbeat":  # a beat may just have been on its way
                msgs = [*msgs[1:], await recv_json(ws, 3)]
            assert msgs == [event, {"type": "heartbeat", "seq": event["seq"]}]


@pytest.mark.parametrize(
    "frame",
    [
        "garbage {",
        b"\x00\x01binary",
        '{"op": "dance"}',
        "[1, 2, 3]",
        '"ping"',
        "{}",
        '{"op": "subscribe", "types": [1, 2]}',
    ],
    ids=["invalid-json", "binary", "unknown-op", "json-array", "json-string", "no-op", "bad-types"],
)
async def test_bad_frame_gets_error_and_connection_stays(tmp_path: Path, frame: Any) -> None:
    """A bad client frame gets {"type":"error"}; that client and others keep working."""
    async with running_feed(tmp_path) as feed, feed.ws() as bad, feed.ws() as other:
        await recv_json(bad)
        await recv_json(other)
        await bad.send(frame)
        err = await recv_json(bad)
        assert err["type"] == "error"
        assert isinstance(err["message"], str) and err["message"]
        assert await ping_barrier(bad) == []
        event = await feed.fire("after")
        assert await recv_json(bad) == event
        assert await recv_json(other) == event
        assert await ping_barrier(other) == []


async def test_frame_over_64k_closes_1009_others_unaffected(tmp_path: Path) -> None:
    """A 64 KiB frame is fine; one byte more closes that client with 1009, only that one."""
    async with running_feed(tmp_path) as feed:
        async with feed.ws() as big, feed.ws() as other:
            await recv_json(big)
            await recv_json(other)
            head = b'{"op": "ping", "pad": "'
            exact = head + b"x" * (MAX_WS_FRAME - len(head) - 2) + b'"}'
            assert len(exact) == MAX_WS_FRAME
            await big.send(exact.decode())
            assert await recv_json(big) == {"type": "pong"}

            await big.send("x" * (MAX_WS_FRAME + 1))
            with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                while True:
                    await big.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1009

            async with feed.ws() as binary:
                await recv_json(binary)
                await binary.send(b"\x00" * (MAX_WS_FRAME + 1))
                with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await binary.recv()
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1009

            event = await feed.fire("still-on")
            assert await recv_json(other) == event
            assert await ping_barrier(other) == []

        async with feed.ws() as again:  # the server still takes new clients
            assert (await recv_json(again))["type"] == "hello"


async def test_unknown_game_and_bad_query_are_refused(tmp_path: Path) -> None:
    """An unfollowed game or a bad since gets an error message and a 1008 close."""
    async with running_feed(tmp_path) as feed:
        for game, query in (("NOPE", ""), (GAME, "since=abc"), (GAME, "since=-1")):
            async with feed.ws(query, game=game) as ws:
                err = await recv_json(ws)
                assert err["type"] == "error"
                with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


# -- slow client ------------------------------------------------------------------------------


def raw_ws_connect(port: int, path: str, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket handshake by hand on a socket with a small receive buffer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: leave every frame unread
        byte = s.recv(1)
        assert byte, "connection closed during the handshake"
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def read_until_close(s: socket.socket) -> tuple[list[dict[str, Any]], int | None]:
    """Read server frames (unmasked, unfragmented) until a close frame or EOF."""

    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    messages: list[dict[str, Any]] = []
    try:
        while True:
            b0, b1 = exact(2)
            length = b1 & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", exact(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", exact(8))
            data = exact(length)
            opcode = b0 & 0x0F
            if opcode == 0x1:
                messages.append(orjson.loads(data))
            elif opcode == 0x8:
                return messages, struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
    except (EOFError, ConnectionResetError):
        return messages, None


async def test_slow_client_closed_1013_while_50_others_get_everything(tmp_path: Path) -> None:
    """A client that stops reading is closed with 1013; 50 readers get every event in order."""
    async with running_feed(tmp_path, queue_size=16, sndbuf=32 * 1024) as feed:
        port = int(feed.url.rsplit(":", 1)[1])
        start = (await feed.state())["seq"]
        fired: list[int] = []
        received: list[list[int]] = []
        ready = anyio.Semaphore(0)

        async def fast_client() -> None:
            seqs: list[int] = []
            received.append(seqs)
            async with feed.ws() as ws:
                hello = await recv_json(ws)
                assert hello["seq"] == start
                ready.release()
                while True:
                    msg = await recv_json(ws, 20)
                    if msg["type"] == "graphic":
                        seqs.append(msg["seq"])
                        if msg["data"]["name"] == "end":
                            return

        slow = await anyio.to_thread.run_sync(raw_ws_connect, port, f"/ws/games/{GAME}")
        try:
            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for _ in range(50):
                        tg.start_soon(fast_client)
                    for _ in range(50):
                        await ready.acquire()
                    assert await feed.metric("shotfeed_clients") == 51
                    pad = "p" * 8000
                    for i in range(300):
                        fired.append((await feed.fire(f"big{i % 4}", {"i": i, "pad": pad}))["seq"])
                        if i % 5 == 4 and await feed.metric("shotfeed_clients_dropped_total"):
                            break
                    assert await feed.metric("shotfeed_clients_dropped_total") == 1
                    assert await feed.metric("shotfeed_clients") == 50
                    # the slow one now reads: what it had, then the 1013 close
                    got, code = await anyio.to_thread.run_sync(read_until_close, slow)
                    for i in range(5):  # the others go on after the drop
                        fired.append((await feed.fire(f"after{i}", {"i": i}))["seq"])
                    fired.append((await feed.fire("end"))["seq"])
        finally:
            slow.close()

        assert code == 1013
        assert got[0]["type"] == "hello"
        slow_seqs = [m["seq"] for m in got[1:]]
        assert slow_seqs == list(range(start + 1, start + 1 + len(slow_seqs)))
        assert len(slow_seqs) < len(fired)
        assert fired == list(range(start + 1, start + 1 + len(fired)))
        assert len(received) == 50
        for seqs in received:
            assert seqs == fired
        assert await feed.metric("shotfeed_clients_dropped_total") == 1


async def test_client_vanishing_mid_send_is_cleaned_up_quietly(tmp_path: Path) -> None:
    """A client reset while the server is blocked sending to it leaves no error, no leak."""
    async with running_feed(tmp_path, sndbuf=32 * 1024) as feed:
        port = int(feed.url.rsplit(":", 1)[1])
        with anyio.fail_after(20):
            async with feed.ws() as other:
                await recv_json(other)
                for _ in range(3):
                    slow = await anyio.to_thread.run_sync(raw_ws_connect, port, f"/ws/games/{GAME}")
                    assert await feed.metric("shotfeed_clients") == 2
                    # fill the kernel and transport buffers: the server now waits on this socket
                    for i in range(30):
                        event = await feed.fire(f"fill{i % 3}", {"pad": "p" * 8000})
                        assert (await recv_json(other))["seq"] == event["seq"]
                    # reset (unread data + SO_LINGER 0): the pending send fails at once
                    slow.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    slow.close()
                    while await feed.metric("shotfeed_clients") != 1:
                        await anyio.sleep(0.02)
                    event = await feed.fire("after")
                    assert await recv_json(other) == event
                assert await ping_barrier(other) == []
        assert feed.errors == []

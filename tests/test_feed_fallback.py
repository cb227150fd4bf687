"""The WebSocket protocol on an ASGI server without the direct fan-out path.

``shotfeed serve`` runs uvicorn's websockets-sansio protocol, where the hub writes pre-built
frames itself. Under any other ASGI server the same protocol must hold through the queued path
(each connection's own task drains a bounded queue); uvicorn's older ``websockets`` protocol
stands in for "any other server" here.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

with warnings.catch_warnings():  # uvicorn deprecates this implementation at import time
    warnings.simplefilter("ignore")
    import uvicorn.protocols.websockets.websockets_impl  # noqa: F401

from tests.server_fixtures import running_feed

# The legacy protocol warns about its own deprecation on every connection; that is uvicorn's.
pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
LEGACY = "websockets"


async def _next(ws: Any) -> dict[str, Any]:
    """The next message that is not a heartbeat."""
    with anyio.fail_after(5):
        while True:
            msg: dict[str, Any] = orjson.loads(await ws.recv())
            if msg["type"] != "heartbeat":
                return msg


async def test_queued_path_hello_replay_live_in_order(tmp_path: Path) -> None:
    """hello, the replay since N marked replay, then live events: seq without gap or repeat."""
    async with running_feed(tmp_path, ws_impl=LEGACY) as feed:
        seqs = await feed.fire_many(3)
        async with feed.ws(f"since={seqs[0]}") as ws:
            hello = await _next(ws)
            assert hello["type"] == "hello" and hello["gap"] is False
            assert hello["state"]["home"]["score"] == 11
            replayed = [await _next(ws), await _next(ws)]
            assert [(m["seq"], m["replay"]) for m in replayed] == [(s, True) for s in seqs[1:]]
            live = (await feed.fire("live"))["seq"]
            msg = await _next(ws)
            assert msg["seq"] == live and "replay" not in msg
            assert await feed.metric('shotfeed_ws_connections{path="queued"}') == 1
            assert await feed.metric('shotfeed_ws_connections{path="direct"}') == 0


async def test_queued_path_control_frames_and_heartbeat(tmp_path: Path) -> None:
    """ping -> pong, a bad frame -> error with the connection up, silence -> heartbeat."""
    async with running_feed(tmp_path, ws_impl=LEGACY, heartbeat_s=0.3) as feed, feed.ws() as ws:
        assert (await _next(ws))["type"] == "hello"
        await ws.send("not json")
        assert (await _next(ws))["type"] == "error"
        await ws.send('{"op": "ping"}')
        assert await _next(ws) == {"type": "pong"}
        with anyio.fail_after(5):
            assert orjson.loads(await ws.recv())["type"] == "heartbeat"


async def test_queued_path_oversized_frame_closes_1009(tmp_path: Path) -> None:
    """A client frame over 64 KiB closes the connection with 1009."""
    async with running_feed(tmp_path, ws_impl=LEGACY) as feed, feed.ws(max_size=None) as ws:
        assert (await _next(ws))["type"] == "hello"
        await ws.send("x" * (64 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed, anyio.fail_after(5):
            while True:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

"""Clients that reset their connection mid-stream never take the server down.

A write to a socket the peer has reset raises SIGPIPE; under the default disposition that
kills the process on the spot, with no log line and no traceback. Python ignores SIGPIPE at
start, so tests that run the app in-process never see it: this one runs ``python -m server
serve`` itself, as production does. Three hundred overlays connect, stop reading while big events
pile up, then vanish with a TCP reset (SO_LINGER 0) while the events keep coming; the server
must stay up, and a watching client must get every event in order.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.server_fixtures import AUTH, GAME, TOKEN, free_port, seed_doc, serve_process
from tests.test_feed import raw_ws_connect
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

pytestmark = [pytest.mark.network]

PEERS = 300


def reset(s: socket.socket) -> None:
    """Close with a TCP RST, as a crashed browser or a pulled cable does."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@pytest.mark.anyio
async def test_the_server_survives_peers_that_reset_while_it_writes(tmp_path: Path) -> None:
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    port = free_port()
    env = dict(os.environ, SHOTFEED_OPERATOR_TOKEN=TOKEN, SHOTFEED_GAMES="")
    args = ["serve", "--game", GAME, "--port", str(port), "--db", str(tmp_path / "r.db")]
    with LiveServer(upstream) as up:
        async with (
            serve_process(
                [*args, "--upstream", up.url],
                env=env,
                cwd=tmp_path,
                port=port,
                ready=f"/api/games/{GAME}/state",
            ) as child,
            httpx.AsyncClient(base_url=child.url, timeout=10) as http,
        ):
            proc = child.proc
            path = f"/ws/games/{GAME}"
            peers = [
                await anyio.to_thread.run_sync(raw_ws_connect, port, path) for _ in range(PEERS)
            ]
            fired: list[int] = []
            pad = "p" * 6000

            async def fire(i: int) -> None:
                body = {"action": "show", "name": f"big{i % 3}", "payload": {"pad": pad}}
                r = await http.post(f"/api/games/{GAME}/graphics", json=body, headers=AUTH)
                assert r.status_code == 200, (r.status_code, child.log()[-2000:])
                fired.append(r.json()["event"]["seq"])

            async with connect(f"ws://127.0.0.1:{port}{path}", ping_interval=None) as ws:
                hello = orjson.loads(await ws.recv())
                assert hello["type"] == "hello"
                with anyio.fail_after(60):
                    for i in range(10):  # the silent peers' sockets fill up
                        await fire(i)

                    def vanish() -> None:
                        for peer in peers:
                            reset(peer)
                            time.sleep(0.002)

                    async with anyio.create_task_group() as tg:  # they vanish mid-fan-out
                        tg.start_soon(anyio.to_thread.run_sync, vanish)
                        for i in range(30):
                            tg.start_soon(fire, 100 + i)
                            await anyio.sleep(0.005)
                    for i in range(10):
                        await fire(200 + i)
                    assert proc.poll() is None, (proc.returncode, child.log())
                    got = []
                    while len(got) < len(fired):
                        msg = orjson.loads(await ws.recv())
                        if msg["type"] == "graphic":
                            got.append(msg["seq"])
            assert got == sorted(fired)
            assert (await http.get("/healthz")).status_code == 200
            assert proc.poll() is None
    assert proc.returncode == 0, (proc.returncode, child.log()[-3000:])

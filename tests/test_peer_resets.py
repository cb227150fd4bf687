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
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from tests.server_fixtures import AUTH, GAME, TOKEN, seed_doc
from tests.test_feed import raw_ws_connect
from tests.test_secrets import free_port
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
    log_path = tmp_path / "server.log"
    env = dict(os.environ, SHOTFEED_OPERATOR_TOKEN=TOKEN, SHOTFEED_GAMES="")
    with LiveServer(upstream) as up, log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "server", "serve", "--game", GAME),
                *("--upstream", up.url, "--port", str(port), "--db", str(tmp_path / "r.db")),
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                with anyio.fail_after(20):
                    while True:
                        assert proc.poll() is None, log_path.read_text()
                        try:
                            if (await http.get(f"/api/games/{GAME}/state")).status_code == 200:
                                break
                        except httpx.HTTPError:
                            pass
                        await anyio.sleep(0.1)
                path = f"/ws/games/{GAME}"
                peers = [
                    await anyio.to_thread.run_sync(raw_ws_connect, port, path) for _ in range(PEERS)
                ]
                fired: list[int] = []
                pad = "p" * 6000

                async def fire(i: int) -> None:
                    body = {"action": "show", "name": f"big{i % 3}", "payload": {"pad": pad}}
                    r = await http.post(f"/api/games/{GAME}/graphics", json=body, headers=AUTH)
                    assert r.status_code == 200, (r.status_code, log_path.read_text()[-2000:])
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
                        assert proc.poll() is None, (proc.returncode, log_path.read_text())
                        got = []
                        while len(got) < len(fired):
                            msg = orjson.loads(await ws.recv())
                            if msg["type"] == "graphic":
                                got.append(msg["seq"])
                assert got == sorted(fired)
                assert (await http.get("/healthz")).status_code == 200
                assert proc.poll() is None
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, (proc.returncode, log_path.read_text()[-3000:])

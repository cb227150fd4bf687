"""``python -m server serve`` as a real process: SIGTERM closes WebSocket clients with 1001
(going away), the process exits 0 within 5 s, and the SQLite file holds the whole event log.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.server_fixtures import AUTH, GAME, TOKEN, free_port, recv_json, seed_doc
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

ROOT = Path(__file__).parent.parent

pytestmark = [pytest.mark.network, pytest.mark.anyio]


async def test_sigterm_closes_clients_1001_and_exits_cleanly(tmp_path: Path) -> None:
    """SIGTERM: clients get 1001, exit code 0 within 5 s, the store opens with the full log."""
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    db = tmp_path / "feed.db"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOTFEED_", "SHOTTRACKER_"))}
    env["SHOTFEED_OPERATOR_TOKEN"] = TOKEN
    out = (tmp_path / "server.log").open("wb")
    with LiveServer(upstream) as up:
        args = ["serve", "--game", GAME, "--upstream", up.url, "--port", str(port)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", *args, "--db", str(db), "--poll-interval", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as http:
                with anyio.fail_after(20):
                    while True:
                        assert proc.poll() is None, (tmp_path / "server.log").read_text()
                        try:
                            r = await http.get(f"/api/games/{GAME}/state")
                            if r.status_code == 200 and r.json()["feed"]["lastSuccessAt"]:
                                break
                        except httpx.TransportError:
                            pass
                        await anyio.sleep(0.05)
                fired = []
                for i in range(5):
                    r = await http.post(
                        f"/api/games/{GAME}/graphics",
                        json={"action": "show", "name": f"g{i}", "payload": {"i": i}},
                        headers=AUTH,
                    )
                    assert r.status_code == 200, r.text
                    fired.append(r.json()["event"])
                logged = (
                    await http.get(f"/api/games/{GAME}/events", params={"limit": 1000})
                ).json()["events"]

            ws_url = f"ws://127.0.0.1:{port}/ws/games/{GAME}"
            async with (
                connect(ws_url, compression=None) as live,
                connect(f"{ws_url}?since=0", compression=None) as resumed,
            ):
                assert (await recv_json(live))["seq"] == fired[-1]["seq"]
                assert (await recv_json(resumed))["type"] == "hello"
                replayed = [await recv_json(resumed) for _ in logged]
                assert [m["seq"] for m in replayed] == [e["seq"] for e in logged]

                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                for ws in (live, resumed):
                    with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                        while True:
                            await ws.recv()
                    assert closed.value.rcvd is not None, closed.value
                    assert closed.value.rcvd.code == 1001

            with anyio.fail_after(5):
                while proc.poll() is None:
                    await anyio.sleep(0.02)
            assert time.monotonic() - started < 5
            assert proc.returncode == 0, (tmp_path / "server.log").read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()

    # the .db file alone (no -wal beside it) is complete: shutdown checkpointed the WAL
    copy = tmp_path / "copy.db"
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as conn:
        rows = conn.execute(
            "SELECT seq, type, body FROM events WHERE game = ? ORDER BY seq", (GAME,)
        ).fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    assert [orjson.loads(body) for _, _, body in rows] == logged
    assert [seq for seq, _, _ in rows] == list(range(1, len(rows) + 1))
    assert [e["seq"] for e in fired] == [seq for seq, _, _ in rows][-5:]


class _RecordingHub:
    """Stands in for the hub only to see *when* the signal handler closes the clients."""

    def __init__(self) -> None:
        self.closing = False
        self.calls = 0

    def close_all(self) -> None:
        self.calls += 1
        self.closing = True


async def test_the_signal_handler_leaves_closing_the_clients_to_the_event_loop() -> None:
    """SIGTERM's handler runs between any two bytecodes of whatever it interrupts, the hub's
    own channel included (a server died of a KeyError that way in CI): it must not touch the
    hub itself, only queue the close for the loop's next turn, once however many signals."""
    from types import SimpleNamespace

    import uvicorn

    from server.web.serving import FeedServer

    hub = _RecordingHub()
    app = SimpleNamespace(state=SimpleNamespace(hub=hub))
    server = FeedServer(uvicorn.Config(app))
    server.config.loaded_app = app
    server.handle_exit(signal.SIGTERM, None)
    server.handle_exit(signal.SIGTERM, None)
    assert hub.calls == 0  # nothing done inside the handler
    assert server.should_exit and server.exit_signal == signal.SIGTERM
    await anyio.sleep(0)
    await anyio.sleep(0)
    assert hub.calls == 1

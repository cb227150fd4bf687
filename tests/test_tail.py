"""``shotfeed tail``: prints a running server's events as JSON lines, and when the server goes
away and comes back it reconnects and resumes with ``since`` (nothing missed, nothing twice).
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import anyio
import httpx
import orjson
import pytest

from tests.server_fixtures import AUTH, GAME, TOKEN, free_port, seed_doc
from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

ROOT = Path(__file__).parent.parent
pytestmark = [pytest.mark.network, pytest.mark.anyio]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOTFEED_", "SHOTTRACKER_"))}
    env["SHOTFEED_OPERATOR_TOKEN"] = TOKEN
    return env


class Lines:
    """Non-blocking reader of a child's stdout lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.sel = selectors.DefaultSelector()
        self.sel.register(stream, selectors.EVENT_READ)
        self.buf = b""
        self.lines: list[str] = []

    def pump(self) -> None:
        while self.sel.select(timeout=0):
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                return
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            self.lines += [d.decode() for d in done]

    def events(self) -> list[dict[str, Any]]:
        self.pump()
        return [orjson.loads(line) for line in self.lines if line.startswith("{")]


async def _serve(up_url: str, port: int, db: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    args = ["serve", "--game", GAME, "--upstream", up_url, "--port", str(port), "--db", str(db)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", *args, "--poll-interval", "0.2"],
        cwd=ROOT,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        with anyio.fail_after(20):
            while True:
                assert proc.poll() is None
                try:
                    r = await http.get(f"/api/games/{GAME}/state")
                    if r.status_code == 200 and r.json()["feed"]["lastSuccessAt"]:
                        return proc
                except httpx.TransportError:
                    pass
                await anyio.sleep(0.05)


async def _fire(port: int, names: list[str]) -> list[int]:
    seqs = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        for name in names:
            r = await http.post(
                f"/api/games/{GAME}/graphics",
                headers=AUTH,
                json={"action": "show", "name": name, "payload": {}},
            )
            assert r.status_code == 200, r.text
            seqs.append(r.json()["event"]["seq"])
    return seqs


async def _wait_for(lines: Lines, seq: int) -> None:
    with anyio.fail_after(20):
        while not any(e["seq"] == seq for e in lines.events()):
            await anyio.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_tail_prints_events_and_resumes_after_a_server_restart(tmp_path: Path) -> None:
    """tail prints each event once, in order, across a server restart on the same store."""
    upstream = ScriptedUpstream()
    upstream.push(Reply(200, seed_doc()))
    port, db = free_port(), tmp_path / "feed.db"
    log = (tmp_path / "server.log").open("wb")
    with LiveServer(upstream) as up:
        server = await _serve(up.url, port, db, log)
        tail = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "tail",
                "--game",
                GAME,
                "--url",
                f"http://127.0.0.1:{port}",
            ],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert tail.stdout is not None
        lines = Lines(tail.stdout)
        try:
            with anyio.fail_after(20):
                while not any(line.startswith("# hello") for line in lines.lines):
                    lines.pump()
                    await anyio.sleep(0.05)
            first = await _fire(port, ["a", "b"])
            await _wait_for(lines, first[-1])
            _stop(server)
            # Fired while tail is disconnected: it must get these from the replay on resume.
            server = await _serve(up.url, port, db, log)
            missed = await _fire(port, ["c", "d"])
            await _wait_for(lines, missed[-1])
            more = await _fire(port, ["e"])
            await _wait_for(lines, more[-1])
        finally:
            tail.terminate()
            tail.wait(timeout=10)
            lines.pump()
            tail.stdout.close()
            _stop(server)
            log.close()
    seqs = [e["seq"] for e in lines.events()]
    assert seqs == sorted(set(seqs)), "no event twice, none out of order"
    assert set(first + missed + more) <= set(seqs)
    names = [e["data"]["name"] for e in lines.events() if e["type"] == "graphic"]
    assert names == ["a", "b", "c", "d", "e"]
    assert sum(line.startswith("# hello") for line in lines.lines) >= 2  # it did reconnect

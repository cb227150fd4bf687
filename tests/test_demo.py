"""``shotfeed demo`` end to end: the real command as a subprocess, a WebSocket client on the game.

The embedded simulator plays a whole game at ``--speed 200`` (about 15 s); the client connects
with ``since=0`` and must see the game from tip-off to FINAL in seq order with no gap, a made
three never twice, and the final score the simulated game's. A second run injects upstream
faults (500s, slow answers, truncated bodies) and must show the feed failing and recovering
without losing or repeating anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from server.sim.simgame import simulate_game
from tests.server_fixtures import free_port

pytestmark = [pytest.mark.network, pytest.mark.anyio]

GAME = "DEMO"
SPEED = 200


@asynccontextmanager
async def demo_process(tmp_path: Path, *args: str) -> AsyncIterator[str]:
    """``python -m server demo --speed 200 ARGS`` on a free port; yields its base URL once
    /healthz answers, and always ends the process (SIGTERM, then kill)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOTFEED_", "SHOTTRACKER_"))}
    log_path = tmp_path / "demo.log"
    cmd = [sys.executable, "-m", "server", "demo", "--speed", str(SPEED), "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, *args], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=2) as http:
                with anyio.fail_after(20):
                    while True:
                        assert proc.poll() is None, log_path.read_text()
                        try:
                            if (await http.get("/healthz")).status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                        await anyio.sleep(0.05)
            yield base
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


async def game_state(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        r = await http.get(f"/api/games/{GAME}/state")
    assert r.status_code == 200, r.text
    state: dict[str, Any] = r.json()
    return state


async def follow_to_final(base: str, timeout: float = 45) -> tuple[list[dict], dict[str, Any]]:
    """Every event from seq 1 (``since=0``) through FINAL, and the game's state then.

    The poll that finds FINAL may bring more events after ``game_status`` (the last basket's
    ``score_update``), so the client reads on up to the state's seq.
    """
    url = base.replace("http://", "ws://", 1) + f"/ws/games/{GAME}?since=0"
    events: list[dict[str, Any]] = []
    state: dict[str, Any] | None = None
    async with connect(url, compression=None, ping_interval=None, open_timeout=10) as ws:
        with anyio.fail_after(timeout):
            hello = orjson.loads(await ws.recv())
            assert hello["type"] == "hello" and hello["game"] == GAME
            assert hello["gap"] is False
            while state is None or events[-1]["seq"] < state["seq"]:
                msg = orjson.loads(await ws.recv())
                if msg["type"] in ("heartbeat", "pong"):
                    continue
                events.append(msg)
                if msg["type"] == "game_status" and msg["data"]["to"] == "FINAL":
                    state = await game_state(base)
    return events, state


def assert_gapless_and_fired_once(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), "seq must run 1, 2, 3... with no gap"
    assert all(e["game"] == GAME for e in events)
    threes = [e["data"]["key"] for e in events if e["type"] == "made_three"]
    assert len(threes) == len(set(threes)), "a made three fired twice"


def assert_final_score(events: list[dict[str, Any]], state: dict[str, Any], final: tuple) -> None:
    last = [e for e in events if e["type"] == "score_update"][-1]["data"]
    assert (last["home"], last["away"]) == (state["home"]["score"], state["away"]["score"])
    assert (state["home"]["score"], state["away"]["score"]) == final
    assert state["status"] == "FINAL"


async def test_demo_plays_a_whole_game_to_a_websocket_client(tmp_path: Path) -> None:
    """demo --speed 200: shot, made_three, score_update, period_change, FINAL; gapless seq."""
    seed = 2
    sim = simulate_game(seed, "quarters")
    async with demo_process(tmp_path, "--seed", str(seed)) as base:
        events, state = await follow_to_final(base)

    assert_gapless_and_fired_once(events)
    types = {e["type"] for e in events}
    assert {"shot", "made_three", "score_update", "period_change", "game_status"} <= types
    statuses = [(e["data"]["from"], e["data"]["to"]) for e in events if e["type"] == "game_status"]
    assert statuses == [("SCHEDULED", "ACTIVE"), ("ACTIVE", "FINAL")]
    periods = [e["data"]["to"] for e in events if e["type"] == "period_change"]
    assert periods == list(sim.period_codes[1:])
    assert_final_score(events, state, sim.final_score)
    # the game's clock starts at the first poll, so even at 200x every shot is seen live
    assert len([e for e in events if e["type"] == "shot"]) == len(sim.shots)
    assert len({e["data"]["key"] for e in events if e["type"] == "made_three"}) == len(
        [s for s in sim.shots if s.made and s.three]
    )


async def test_demo_with_faults_recovers_without_gap_or_repeat(tmp_path: Path) -> None:
    """demo --faults 0.3: feed_status ok:false then ok:true; no seq gap, no repeated three."""
    seed = 5
    sim = simulate_game(seed, "halves")
    args = ("--seed", str(seed), "--format", "halves", "--faults", "0.3")
    async with demo_process(tmp_path, *args) as base:
        events, state = await follow_to_final(base)

    assert_gapless_and_fired_once(events)
    feed = [e["data"] for e in events if e["type"] == "feed_status"]
    assert feed and feed[0]["ok"] is False
    assert feed[0]["error"] in ("upstream_error", "timeout", "bad_payload")
    assert any(f["ok"] for f in feed[1:]), "the feed never recovered"
    assert {"shot", "made_three", "score_update", "period_change"} <= {e["type"] for e in events}
    assert_final_score(events, state, sim.final_score)

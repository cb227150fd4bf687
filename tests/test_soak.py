"""Soak: a whole demo game at high speed through a real ``python -m server serve`` process, the
chaos upstream failing ~30 % of polls, a few hundred WebSocket clients and an operator firing
graphics, holds and panics throughout.

It runs 60 s by default and 180 s in CI (``.ci/run``); ``SHOTFEED_SOAK_S=900`` runs it longer
by hand (the game then plays slower, so it still lasts the whole soak);
``SHOTFEED_SOAK_CLIENTS`` sets the client count (300).

Held:

* the server process stays up (checked every second) and answers ``/healthz`` 200; every exit
  is explained: the assertion message carries the return code and the last lines of its log;
* its RSS levels off: sampled from ``/proc/<pid>/status`` every second, the highest value of
  the last half stays within a margin of the highest of the first half (after warm-up);
* every client's seq goes up by exactly 1 from its hello to the end, and the bytes it got are
  the store's log for that range (a digest compared per client); one client from ``since=0``
  holds the whole log, equal to the store;
* every operator action answered 200 is in the store as answered.

Figures go to ``$SHOTFEED_RELIABILITY_OUT/soak.json`` when that variable is set.
"""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from server.sim.chaos import ChaosUpstream
from server.sim.simgame import simulate_game
from tests.server_fixtures import AUTH, free_port
from tests.test_crash_restart import Server

pytestmark = [pytest.mark.network, pytest.mark.anyio]

GAME = "SOAK"
SOAK_S = float(os.environ.get("SHOTFEED_SOAK_S", "60"))
CLIENTS = int(os.environ.get("SHOTFEED_SOAK_CLIENTS", "300"))
RATE = 0.3
SEED = 7
# Growth of the server's RSS allowed between the first and the second half of the soak.
RSS_MARGIN_KB = 16 * 1024
RSS_MARGIN_SHARE = 0.10


@dataclass
class Client:
    """One overlay-like client: hello, then live events; checks seq +1 as they come."""

    n: int
    first: int | None = None
    last: int | None = None
    count: int = 0
    digest: Any = field(default_factory=hashlib.sha1)
    breaks: list[str] = field(default_factory=list)
    closed: str | None = None

    async def run(self, url: str) -> None:
        try:
            async with connect(url, compression=None, ping_interval=None, open_timeout=20) as ws:
                hello = orjson.loads(await ws.recv())
                self.last = int(hello["seq"])
                async for raw in ws:
                    frame = raw if isinstance(raw, bytes) else raw.encode()
                    msg = orjson.loads(frame)
                    if msg["type"] in ("heartbeat", "pong"):
                        continue
                    if msg["seq"] != self.last + 1:
                        self.breaks.append(f"{self.last} -> {msg['seq']}")
                    if self.first is None:
                        self.first = msg["seq"]
                    self.last = msg["seq"]
                    self.count += 1
                    self.digest.update(frame)
        except ConnectionClosed as exc:
            self.closed = f"closed {exc.rcvd.code if exc.rcvd else None}"
        except OSError as exc:
            self.closed = f"{type(exc).__name__}: {exc}"


def store_bodies(db: Path, game: str) -> dict[int, bytes]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT seq, body FROM events WHERE game = ? ORDER BY seq", (game,))
        return {int(seq): bytes(body) for seq, body in rows}
    finally:
        con.close()


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


async def operator(base: str, until: float, acked: list[dict[str, Any]], failed: list[str]) -> None:
    """Graphics shown and hidden four times a second, a hold now and then, a panic rarely."""
    rng = random.Random(SEED)
    i = 0
    async with httpx.AsyncClient(base_url=base, timeout=5, headers=AUTH) as http:
        while time.monotonic() < until:
            i += 1
            if i % 40 == 0:
                r = await http.post(f"/api/games/{GAME}/panic")
            elif i % 20 == 0:
                r = await http.post(f"/api/games/{GAME}/hold", json={"held": i % 40 == 20})
            else:
                action = "show" if i % 2 else "hide"
                body = {"action": action, "name": f"lower{rng.randrange(4)}", "payload": {"i": i}}
                r = await http.post(f"/api/games/{GAME}/graphics", json=body)
            if r.status_code == 200 and "event" in r.json():
                acked.append(r.json()["event"])
            elif r.status_code != 200:
                failed.append(f"{r.status_code} {r.text[:200]}")
            await anyio.sleep(0.25)


async def test_soak_server_stays_up_memory_levels_every_client_plus_one(tmp_path: Path) -> None:
    game = simulate_game(SEED, "quarters")
    speed = game.duration_s / (SOAK_S * 0.85)  # the game ends before the soak does
    upstream = ChaosUpstream(
        game,
        speed=speed,
        rate=RATE,
        seed=SEED,
        event_id=GAME,
        timeout_delay_s=1.5,
        retry_after="1",
        refuse_s=0.2,
    )
    env = {"SHOTFEED_AUTH_RETRY": "0.5", "SHOTFEED_BACKOFF_CAP": "0.5"}
    env["SHOTFEED_IDLE_INTERVAL"] = "0.1"
    rss: list[tuple[float, int]] = []
    health: dict[str, int] = {}
    acked: list[dict[str, Any]] = []
    failed: list[str] = []
    clients = [Client(i) for i in range(CLIENTS)]
    reference: list[dict[str, Any]] = []
    alive_checks = 0
    with upstream:
        db = tmp_path / "soak.db"
        server = Server(tmp_path, upstream.url, db, free_port(), env, 0.1, GAME)
        server.start()
        try:
            await server.ready()
            assert server.proc is not None
            pid = server.proc.pid
            ws_url = server.base.replace("http://", "ws://") + f"/ws/games/{GAME}"
            started = time.monotonic()
            end = started + SOAK_S
            async with anyio.create_task_group() as tg:

                async def follow_all() -> None:
                    async with connect(f"{ws_url}?since=0", compression=None) as ws:
                        async for raw in ws:
                            msg = orjson.loads(raw)
                            if msg["type"] not in ("hello", "heartbeat", "pong"):
                                msg.pop("replay", None)
                                reference.append(msg)

                tg.start_soon(follow_all)
                for c in clients:  # in waves, as overlays come up at a show's start
                    tg.start_soon(c.run, ws_url)
                    if c.n % 50 == 49:
                        await anyio.sleep(0.2)
                tg.start_soon(operator, server.base, end, acked, failed)
                async with httpx.AsyncClient(base_url=server.base, timeout=5) as http:
                    while time.monotonic() < end or not upstream.finished():
                        rc = server.proc.poll()
                        assert rc is None, (
                            f"server exited {rc} mid-soak at {time.monotonic() - started:.0f} s; "
                            f"its log ends:\n{server.tail(lines=30)}"
                        )
                        alive_checks += 1
                        kb = rss_kb(pid)
                        if kb is not None:
                            rss.append((time.monotonic() - started, kb))
                        try:
                            code = str((await http.get("/healthz")).status_code)
                        except httpx.HTTPError as exc:
                            code = type(exc).__name__
                        health[code] = health.get(code, 0) + 1
                        await anyio.sleep(1.0)
                    # the faults stop; let the clients drain up to the store's last event
                    upstream.rate = 0.0
                    await anyio.sleep(2.0)
                    with anyio.fail_after(30):
                        while True:
                            last = max(store_bodies(server.db, GAME))
                            if all(c.closed or c.last == last for c in clients) and (
                                reference and reference[-1]["seq"] == last
                            ):
                                break
                            await anyio.sleep(0.1)
                tg.cancel_scope.cancel()
        finally:
            rc = server.terminate()
    elapsed = time.monotonic() - started
    exits = f"server exits (code, last log lines): {server.exits}"
    assert rc == 0, f"SIGTERM at the end: exit {rc}\n{exits}"
    # the exit explains itself: the server's last words name the signal
    assert "stopped: signal SIGTERM" in server.tail(lines=10), server.tail()
    assert health == {"200": alive_checks}, health

    bodies = store_bodies(server.db, GAME)
    seqs = sorted(bodies)
    assert seqs == list(range(1, len(seqs) + 1)), "the store's log has a gap"
    # the store may hold a last event or two made after the clients stopped reading
    assert len(reference) >= min(c.last or 0 for c in clients)
    assert reference == [orjson.loads(bodies[s]) for s in seqs[: len(reference)]], "client != store"

    closed = [(c.n, c.closed) for c in clients if c.closed]
    assert not closed, f"{len(closed)} clients lost their connection: {closed[:5]}"
    broken = [(c.n, c.breaks[:3]) for c in clients if c.breaks]
    assert not broken, f"seq not +1 for {len(broken)} clients: {broken[:5]}"
    for c in clients:
        assert c.first is not None and c.last is not None, c.n
        expected = hashlib.sha1(b"".join(bodies[s] for s in range(c.first, c.last + 1)))
        assert c.digest.hexdigest() == expected.hexdigest(), f"client {c.n} got other bytes"

    for event in acked:
        assert orjson.loads(bodies[event["seq"]]) == event
    assert not failed, failed[:5]

    # Memory levels off: after a warm-up fifth, the second half's peak stays near the first's.
    warm = [kb for t, kb in rss if t >= SOAK_S * 0.2]
    half = len(warm) // 2
    first_peak, second_peak = max(warm[:half]), max(warm[half:])
    margin = max(RSS_MARGIN_KB, int(first_peak * RSS_MARGIN_SHARE))
    assert second_peak - first_peak <= margin, (
        f"RSS still growing: {first_peak} kB -> {second_peak} kB (samples {rss})"
    )

    out = os.environ.get("SHOTFEED_RELIABILITY_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        figures = {
            "seconds": round(elapsed, 1),
            "clients": CLIENTS,
            "events": len(seqs),
            "framesDelivered": sum(c.count for c in clients),
            "polls": len(upstream.served),
            "faults": sum(upstream.faults.values()),
            "kinds": dict(sorted(upstream.faults.items())),
            "operatorActions": len(acked),
            "rssKb": {"start": rss[0][1], "firstPeak": first_peak, "secondPeak": second_peak},
            "exits": [rc for rc, _ in server.exits],
            "speed": round(speed, 1),
        }
        (Path(out) / "soak.json").write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))

"""kill -9 of a real ``python -m server serve`` at random points of a simulated game, restarted
on the same store, while a WebSocket client records everything and resumes with ``since``.

Each run plays one game (the simulator on a loopback port, in this process, so the game goes
on while the server is down) and kills the server several times: at random moments (mid-poll,
mid-write, between polls: wherever the dice say) and once right inside a burst of concurrent
operator POSTs, so some kill lands while a commit is being written. After every kill the server
restarts on the same SQLite file and port. At the end:

* the store's log runs 1, 2, 3... without a gap;
* the client's events, all reconnects together, are exactly the store's log: nothing missed,
  nothing twice, and no seq whose content changed between before and after a crash;
* every operator POST that was answered 200 is in the store with the content it was answered
  with (what the operator saw confirmed was committed);
* every shot of the game appears as ``shot`` exactly once and every made three as
  ``made_three`` exactly once, across all the restarts;
* the first poll after each restart marks everything it finds ``stale`` (it is on air late or
  never, never as if live), and fires nothing the log already had;
* each kill ended the process by SIGKILL, the last stop (SIGTERM) exits 0.

Figures go to ``$SHOTFEED_RELIABILITY_OUT/crash-<seed>.json`` when that variable is set.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from server.sim.chaos import FAILING, ChaosUpstream
from server.sim.simgame import DEFAULT_T0_MS, simulate_game
from server.sim.simulator import DEMO_SECRET, DEMO_USERNAME
from tests.server_fixtures import AUTH, TOKEN, free_port

pytestmark = [pytest.mark.network, pytest.mark.anyio]

ROOT = Path(__file__).parent.parent
GAME = "CRASH"
# (seed, share of polls failing): the last run also kills while the feed is failing, so a
# restart must come back from a stored failing feed health (only failing faults: a payload
# that hides shots would make "every shot once" untrue on purpose).
RUNS = ((3, 0.0), (4, 0.0), (5, 0.3))
SPEED = 150.0
KILLS = 3  # at random moments, plus one inside a burst of operator POSTs
BURST = 300
# Event types a poll makes (all stale in the first poll after a restart); the rest come from
# the operator or feed health.
POLL_TYPES = {
    "shot",
    "made_three",
    "shot_update",
    "shot_removed",
    "score_update",
    "period_change",
    "game_status",
    "clock",
    "scoring_run",
    "hot_hand",
}


@dataclass
class Server:
    """``python -m server serve`` on a fixed port and store; every start's log kept apart."""

    tmp: Path
    upstream: str
    db: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    poll_interval: float = 0.05
    game: str = GAME
    starts: int = 0
    proc: subprocess.Popen[bytes] | None = None
    exits: list[tuple[int, str]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_path(self, n: int | None = None) -> Path:
        return self.tmp / f"server-{self.starts if n is None else n}.log"

    def tail(self, n: int | None = None, lines: int = 15) -> str:
        path = self.log_path(n)
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        self.starts += 1
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("SHOTFEED_", "SHOTTRACKER_"))
        }
        env.update(
            SHOTTRACKER_USERNAME=DEMO_USERNAME,
            SHOTTRACKER_SECRET=DEMO_SECRET,
            SHOTFEED_OPERATOR_TOKEN=TOKEN,
            SHOTFEED_IDLE_INTERVAL="0.05",
            SHOTFEED_TIMEOUT="1",
            SHOTFEED_BACKOFF_CAP="0.2",
            SHOTFEED_AUTH_RETRY="0.2",
        )
        env.update(self.env)
        args = ["serve", "--game", self.game, "--upstream", self.upstream, "--port", str(self.port)]
        args += ["--db", str(self.db), "--poll-interval", str(self.poll_interval)]
        with self.log_path().open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=2) as http:
            with anyio.fail_after(20):
                while True:
                    assert self.proc is not None
                    rc = self.proc.poll()
                    assert rc is None, f"server exited {rc} at start:\n{self.tail()}"
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await anyio.sleep(0.03)

    def kill9(self) -> None:
        assert self.proc is not None
        rc = self.proc.poll()
        assert rc is None, f"server died by itself ({rc}) before the kill:\n{self.tail()}"
        os.kill(self.proc.pid, signal.SIGKILL)
        rc = self.proc.wait(timeout=10)
        self.exits.append((rc, self.tail(lines=3)))
        assert rc == -signal.SIGKILL, f"exit {rc} after kill -9:\n{self.tail()}"

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = int(self.proc.returncode)
        self.exits.append((rc, self.tail(lines=3)))
        return rc


def store_log(db: Path) -> list[dict[str, Any]]:
    """The event log as the SQLite file holds it (read with the server down or running)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT body FROM events WHERE game = ? ORDER BY seq", (GAME,))
        return [orjson.loads(body) for (body,) in rows]
    finally:
        con.close()


def count_events(db: Path) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute("SELECT count(*) FROM events WHERE game = ?", (GAME,)).fetchone()[0])
    finally:
        con.close()


def kill_when_committed(server: Server, count: int) -> None:
    """In a thread of its own, so the event loop's burst does not delay it: SIGKILL as soon as
    the store holds ``count`` events, while the rest of the burst is being committed."""
    deadline = time.monotonic() + 20
    while count_events(server.db) < count and time.monotonic() < deadline:
        time.sleep(0.0005)
    server.kill9()


@dataclass
class Recorder:
    """A client that follows the game for good: reconnects with ``since`` after every loss."""

    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    hellos: list[dict[str, Any]] = field(default_factory=list)
    resumes: list[tuple[int, int | None]] = field(default_factory=list)  # (since, first seq)

    @property
    def last(self) -> int:
        return self.events[-1]["seq"] if self.events else 0

    async def run(self) -> None:
        while True:
            since = self.last
            try:
                async with connect(
                    f"{self.url}?since={since}", compression=None, ping_interval=None
                ) as ws:
                    hello = orjson.loads(await ws.recv())
                    self.hellos.append(hello)
                    first: int | None = None
                    async for raw in ws:
                        msg = orjson.loads(raw)
                        if msg["type"] in ("heartbeat", "pong"):
                            continue
                        if first is None:
                            first = msg["seq"]
                            self.resumes.append((since, first))
                        msg.pop("replay", None)
                        self.events.append(msg)
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError):
                pass
            await anyio.sleep(0.03)


async def operator_burst(
    base: str, n: int, tag: str, acked: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """``n`` graphics POSTed at once; the events of those answered 200 go into ``acked`` as
    the answers come (so a caller can kill the server while the rest are being committed)."""
    acked = [] if acked is None else acked

    async def one(http: httpx.AsyncClient, i: int) -> None:
        try:
            r = await http.post(
                f"/api/games/{GAME}/graphics",
                json={"action": "show", "name": f"{tag}-{i}", "payload": {"i": i, "tag": tag}},
                headers=AUTH,
            )
        except httpx.HTTPError:
            return  # the server died under it: it may or may not have committed
        if r.status_code == 200:
            acked.append(r.json()["event"])

    limits = httpx.Limits(max_connections=None)  # all at once: the server queues, not we
    async with (
        httpx.AsyncClient(base_url=base, timeout=5, limits=limits) as http,
        anyio.create_task_group() as tg,
    ):
        for i in range(n):
            tg.start_soon(one, http, i)
    return acked


def first_poll_events(
    log: list[dict[str, Any]], boundary: int, second_request_ms: float
) -> list[dict[str, Any]]:
    """The events the first poll after a restart made: poll types, after the crash's last
    committed seq, stamped before the upstream saw the restarted server's second request."""
    return [
        e
        for e in log
        if e["seq"] > boundary and e["type"] in POLL_TYPES and e["at"] < second_request_ms
    ]


def _polled_after_success(served: list[Any]) -> bool:
    codes = [s.code for s in served]
    return None in codes and codes.index(None) < len(codes) - 1


def write_figures(seed: int, figures: dict[str, Any]) -> None:
    out = os.environ.get("SHOTFEED_RELIABILITY_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"crash-{seed}.json").write_bytes(
            orjson.dumps(figures, option=orjson.OPT_INDENT_2)
        )


@pytest.mark.parametrize(("seed", "rate"), RUNS)
async def test_kill_9_at_random_points_loses_and_repeats_nothing(
    seed: int, rate: float, tmp_path: Path
) -> None:
    game = simulate_game(seed, "quarters", period_minutes=4)
    rng = random.Random(f"crash-{seed}")
    real_s = game.duration_s / SPEED
    moments = sorted(rng.uniform(0.1, 0.85) * real_s for _ in range(KILLS + 1))
    burst_at = rng.randrange(len(moments))
    wall_minus_mono = time.time() - time.monotonic()

    upstream = ChaosUpstream(
        game,
        speed=SPEED,
        rate=rate,
        seed=seed,
        event_id=GAME,
        t0_ms=DEFAULT_T0_MS,
        kinds=tuple(FAILING),
        timeout_delay_s=1.5,
        retry_after="0.2",
    )
    acked: list[dict[str, Any]] = []
    restarts: list[dict[str, Any]] = []
    with upstream:
        server = Server(tmp_path, upstream.url, tmp_path / "feed.db", free_port())
        server.start()
        try:
            await server.ready()
            recorder = Recorder(server.base.replace("http://", "ws://") + f"/ws/games/{GAME}")
            async with anyio.create_task_group() as tg:
                tg.start_soon(recorder.run)
                started = time.monotonic()
                with anyio.fail_after(real_s + 60):
                    for i, at in enumerate(moments):
                        await anyio.sleep(max(0.0, started + at - time.monotonic()))
                        if i == burst_at:
                            # inside a burst of operator commits: once the store holds a random
                            # number of them, while the rest are being written
                            kind = "burst"
                            wanted = rng.randint(1, BURST // 3)
                            before = count_events(server.db)
                            async with anyio.create_task_group() as burst:
                                burst.start_soon(operator_burst, server.base, BURST, "burst", acked)
                                await anyio.to_thread.run_sync(
                                    kill_when_committed, server, before + wanted
                                )
                        else:
                            # a few single POSTs between kills, so every run has operator events
                            await operator_burst(server.base, 3, f"pre{i}", acked)
                            # mid-poll: just after the upstream answered, while the server is
                            # detecting and committing what the answer changed
                            kind = "mid-poll"
                            seen = len(upstream.served)
                            while len(upstream.served) == seen:
                                await anyio.sleep(0.0005)
                            await anyio.sleep(rng.uniform(0.0, 0.004))
                            server.kill9()
                        boundary = max((e["seq"] for e in store_log(server.db)), default=0)
                        down_at = time.monotonic()
                        served_before = len(upstream.served)
                        server.start()
                        await server.ready()
                        # the restarted server's first poll and one more, before anything else
                        while not _polled_after_success(upstream.served[served_before:]):
                            await anyio.sleep(0.01)
                        restarts.append(
                            {
                                "kind": kind,
                                "boundary": boundary,
                                "served_before": served_before,
                                "down_s": round(time.monotonic() - down_at, 2),
                            }
                        )
                    while not upstream.finished():
                        await anyio.sleep(0.05)
                    upstream.rate = 0.0  # game over: the feed comes back for good
                    async with httpx.AsyncClient(base_url=server.base, timeout=5) as http:
                        while True:
                            state = (await http.get(f"/api/games/{GAME}/state")).json()
                            if state["status"] == "FINAL":
                                break
                            await anyio.sleep(0.05)
                        # the clock's "stopped" event comes 1.8 s after its last change
                        await anyio.sleep(2.5)
                    final = store_log(server.db)
                    while recorder.last < final[-1]["seq"]:
                        await anyio.sleep(0.02)
                tg.cancel_scope.cancel()
        finally:
            rc = server.terminate()
    assert rc == 0, f"the last stop (SIGTERM) exited {rc}:\n{server.tail()}"
    # the exit explains itself: the server's last words name the signal
    assert "stopped: signal SIGTERM" in server.tail(lines=10), server.tail()
    log = store_log(server.db)
    assert len(server.exits) == len(moments) + 1
    assert [rc for rc, _ in server.exits[:-1]] == [-signal.SIGKILL] * len(moments)

    # The store: gapless. The client, across every reconnect: exactly the store's log.
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert recorder.events == log[: len(recorder.events)]
    assert len(recorder.events) == len(log)
    assert all(h["gap"] is False for h in recorder.hellos)
    assert len(recorder.hellos) >= len(moments) + 1
    for since, first in recorder.resumes:
        assert first == since + 1, (since, first)

    # What the operator saw confirmed is committed, as confirmed.
    by_seq = {e["seq"]: e for e in log}
    for event in acked:
        assert by_seq.get(event["seq"]) == event, event
    burst_acked = [e for e in acked if str(e["data"]["name"]).startswith("burst")]
    burst_logged = [
        e for e in log if e["type"] == "graphic" and str(e["data"]["name"]).startswith("burst")
    ]
    assert len(burst_acked) < BURST, "the kill came after the burst, not inside it"
    assert len(burst_logged) >= len(burst_acked)

    # Every shot once, every made three once, whatever the server was doing when it died.
    shot_keys = [e["data"]["key"] for e in log if e["type"] == "shot"]
    assert len(shot_keys) == len(set(shot_keys)) == len(game.shots), Counter(shot_keys)
    threes = [e["data"]["key"] for e in log if e["type"] == "made_three"]
    truth = {
        str(game.shot_t(s, t0_ms=DEFAULT_T0_MS, speed=SPEED))
        for s in game.shots
        if s.made and s.three
    }
    assert sorted(threes) == sorted(truth)
    assert not [e for e in log if e["type"] == "shot_removed"]

    # The first poll after each restart: everything it found is stale, never live.
    stale_first = 0
    for r in restarts:
        after = upstream.served[r["served_before"] :]
        # the first poll that succeeded (a failing one finds nothing), and the request after it
        ok = next(i for i, a in enumerate(after) if a.code is None)
        assert len(after) > ok + 1, "the restarted server never polled after its first success"
        second_ms = (after[ok + 1].at + wall_minus_mono) * 1000
        found = first_poll_events(log, r["boundary"], second_ms)
        assert all(e.get("stale") for e in found), [
            (e["seq"], e["type"], e.get("stale")) for e in found
        ]
        stale_first += len(found)
        # and nothing from before the crash came again
        before_keys = {e["data"].get("key") for e in log if e["seq"] <= r["boundary"]}
        again = [
            e
            for e in log
            if e["seq"] > r["boundary"]
            and e["type"] in ("shot", "made_three")
            and e["data"]["key"] in before_keys
        ]
        assert not again, again

    # Feed health, stored with the state, survives the kills: every feed_status is a change
    # from the one before (a restart neither repeats nor forgets one), and it ends healthy.
    feed = [(e["data"]["ok"], e["data"]["error"]) for e in log if e["type"] == "feed_status"]
    previous: tuple[bool, str | None] = (True, None)
    for f in feed:
        assert f != previous, feed
        previous = f
    assert previous == (True, None), feed
    assert bool(feed) == (rate > 0)

    write_figures(
        seed,
        {
            "seed": seed,
            "rate": rate,
            "faults": sum(upstream.faults.values()),
            "feedStatus": len(feed),
            "kills": len(moments),
            "killsInBurst": 1,
            "burstAcked": len(burst_acked),
            "burstCommitted": len(burst_logged),
            "operatorAcked": len(acked),
            "events": len(log),
            "reconnects": len(recorder.hellos) - 1,
            "staleFirstPollEvents": stale_first,
            "restarts": restarts,
            "shots": len(game.shots),
            "madeThrees": len(truth),
        },
    )

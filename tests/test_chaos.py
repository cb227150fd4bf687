"""The chaos game: a whole simulated game through a real server while ~30 % of polls go wrong.

For each seed the same game plays twice at high speed, side by side: once from a clean
simulated upstream, once from the chaos upstream (``server.sim.chaos``: 500, 403, 401, 429 with
Retry-After, answers slower than the client's timeout, connections reset or refused, bodies cut
off, JSON cut short or broken, ``shots`` of the wrong type, and usable 200s with a shot or a
score of the wrong type, shots reordered, duplicated or briefly missing, a period code never
seen). The chaos run must end where the clean run ends, and on the way:

* every made three of the simulated game is emitted as ``made_three`` exactly once (SPEC: at
  most one per shot ever, also when a shot that went missing comes back as ``shot``);
* a ``shot_removed`` only for a shot the upstream really left out, and the shot comes back;
* seq runs 1, 2, 3... without a gap, and a WebSocket client from ``since=0`` gets the very log;
* ``feed_status`` goes exactly as SPEC says for the poll outcomes the upstream logged: ok:false
  with the fault's code on the first failure, again when the code changes, ok:true on the next
  success;
* after a 429 the next request waits at least Retry-After;
* ``/healthz`` answers 200 throughout, and the server logs no ERROR.

The figures (faults injected per kind, polls, events) are written to
``$SHOTFEED_RELIABILITY_OUT/chaos-<seed>.json`` when that variable is set (docs/reliability.md).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from server.config import Settings
from server.sim.chaos import FAILING, KINDS, ChaosUpstream, Served, expected_transitions
from server.sim.simgame import DEFAULT_T0_MS, SimGame, simulate_game
from server.sim.simulator import DEMO_SECRET, DEMO_USERNAME
from server.web.app import create_app
from server.web.serving import websocket_options
from tests.server_fixtures import TOKEN, _Collect
from tests.upstream_app import LiveServer

pytestmark = [pytest.mark.network, pytest.mark.anyio]

GAME = "CHAOS"
SEEDS = (1, 4, 5, 6)  # 1 goes to overtime; all have re-credited shots
RATE = 0.3
SPEED = 250.0
PERIOD_MINUTES = 4
RETRY_AFTER_S = 0.2
CLIENT_TIMEOUT_S = 0.6
FEED = {
    "poll_interval": 0.03,
    "idle_interval": 0.03,
    "timeout": CLIENT_TIMEOUT_S,
    "backoff_cap": 0.15,
    "auth_retry": 0.15,
}
# Volatile by nature: when the server read things, not what it knows.
# What depends on when polls landed, not on what the game is: the suggestions too (a poll after
# an outage suggests nothing new, and an open one expires by the server's clock).
VOLATILE_STATE = ("clockAt", "clockRunning", "seq", "feed", "suggestions")


@dataclass
class Run:
    """What one game through one server left behind."""

    upstream: ChaosUpstream
    log: list[dict[str, Any]]
    ws: list[dict[str, Any]]
    state: dict[str, Any]
    shots: list[dict[str, Any]]
    served: list[Served]
    health: Counter[str]
    seconds: float


def truth_threes(game: SimGame) -> set[str]:
    """The key of every made three the simulator played (``t`` alone: no two share one)."""
    return {
        str(game.shot_t(s, t0_ms=DEFAULT_T0_MS, speed=SPEED))
        for s in game.shots
        if s.made and s.three
    }


async def read_log(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        since = out[-1]["seq"] if out else 0
        r = await http.get(f"/api/games/{GAME}/events", params={"since": since, "limit": 1000})
        assert r.status_code == 200, r.text
        page = r.json()["events"]
        if not page:
            return out
        out.extend(page)


@asynccontextmanager
async def feed_server(upstream_url: str, db: Path) -> AsyncIterator[httpx.AsyncClient]:
    """shotfeed on real uvicorn (the product's WebSocket options), signing as the demo does."""
    settings = Settings(
        base_url=upstream_url,
        games=(GAME,),
        db_path=str(db),
        operator_token=TOKEN,
        username=DEMO_USERNAME,
        secret=DEMO_SECRET,
        **FEED,
    )
    server = LiveServer(
        create_app(settings, announce=False),
        lifespan="on",
        log_level="error",
        **websocket_options(),
    )
    with server as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as http:
            yield http


async def record_ws(url: str, into: list[dict[str, Any]]) -> None:
    """Every event from seq 1 as a client resuming with ``since=0`` gets it."""
    async with connect(url + "?since=0", compression=None, ping_interval=None) as ws:
        hello = orjson.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["gap"] is False
        async for raw in ws:
            msg = orjson.loads(raw)
            if msg["type"] not in ("heartbeat", "pong"):
                into.append(msg)


async def watch_health(http: httpx.AsyncClient, counts: Counter[str]) -> None:
    while True:
        try:
            r = await http.get("/healthz", timeout=2)
            counts[str(r.status_code)] += 1
        except httpx.HTTPError as exc:
            counts[type(exc).__name__] += 1
        await anyio.sleep(0.1)


async def play(game: SimGame, seed: int, rate: float, db: Path) -> Run:
    """The whole game through one server; returns once the server holds FINAL, healthy, and
    the upstream has answered a few clean polls after the faults stopped."""
    upstream = ChaosUpstream(
        game,
        speed=SPEED,
        rate=rate,
        seed=seed,
        event_id=GAME,
        timeout_delay_s=CLIENT_TIMEOUT_S + 0.4,
        retry_after=f"{RETRY_AFTER_S}",
        refuse_s=0.1,
        t0_ms=DEFAULT_T0_MS,
    )
    health: Counter[str] = Counter()
    ws_events: list[dict[str, Any]] = []
    started = time.monotonic()
    with upstream:
        async with feed_server(upstream.url, db) as http, anyio.create_task_group() as tg:
            base = str(http.base_url).rstrip("/").replace("http://", "ws://", 1)
            tg.start_soon(record_ws, f"{base}/ws/games/{GAME}", ws_events)
            tg.start_soon(watch_health, http, health)
            with anyio.fail_after(game.duration_s / SPEED + 30):
                while not upstream.finished():
                    await anyio.sleep(0.05)
                upstream.rate = 0.0  # the game is over: let the feed settle
                calm = len(upstream.served)
                while True:
                    state = (await http.get(f"/api/games/{GAME}/state")).json()
                    clean = [s for s in upstream.served[calm:] if s.fault is None]
                    if state["status"] == "FINAL" and state["feed"]["ok"] and len(clean) >= 5:
                        break
                    await anyio.sleep(0.05)
                served = list(upstream.served)
                log = await read_log(http)
                state = (await http.get(f"/api/games/{GAME}/state")).json()
                shots = (await http.get(f"/api/games/{GAME}/shots")).json()["shots"]
                while not ws_events or ws_events[-1]["seq"] < log[-1]["seq"]:
                    await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
    return Run(upstream, log, ws_events, state, shots, served, health, time.monotonic() - started)


def comparable(state: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in state.items() if k not in VOLATILE_STATE}
    if isinstance(out.get("override"), dict):  # it repeats the clock's reading times
        upstream = out["override"].get("upstream") or {}
        out["override"] = {
            **out["override"],
            "upstream": {k: v for k, v in upstream.items() if k not in VOLATILE_STATE},
        }
    return out


def of_type(log: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in log if e["type"] == type_]


def write_figures(seed: int, figures: dict[str, Any]) -> None:
    out = os.environ.get("SHOTFEED_RELIABILITY_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"chaos-{seed}.json").write_bytes(
            orjson.dumps(figures, option=orjson.OPT_INDENT_2)
        )


@pytest.mark.parametrize("seed", SEEDS)
async def test_chaos_game_ends_as_the_clean_game_with_every_three_once(
    seed: int, tmp_path: Path
) -> None:
    game = simulate_game(seed, "quarters", period_minutes=PERIOD_MINUTES)
    collect = _Collect()
    watched = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in watched:
        logger.addHandler(collect)
    runs: dict[str, Run] = {}
    try:

        async def one(name: str, rate: float) -> None:
            runs[name] = await play(game, seed, rate, tmp_path / f"{name}.db")

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "clean", 0.0)
            tg.start_soon(one, "chaos", RATE)
    finally:
        for logger in watched:
            logger.removeHandler(collect)
    clean, chaos = runs["clean"], runs["chaos"]
    errors = [r.getMessage() for r in collect.records]
    assert not errors, errors

    # The faults really happened, of (nearly) every kind, at about the rate asked.
    polls = len(chaos.served)
    injected = sum(1 for s in chaos.served if s.fault)
    assert 0.2 * polls <= injected <= 0.4 * polls, (injected, polls)
    kinds = Counter(s.fault for s in chaos.served if s.fault)
    assert len(kinds) >= len(KINDS) - 4, f"too few kinds drawn: {kinds}"
    assert not any(s.fault for s in clean.served)

    for run in (clean, chaos):
        # never down: every health probe answered 200
        assert set(run.health) == {"200"} and run.health["200"] >= 10, run.health
        # seq without a gap, and the WebSocket client got exactly the log
        assert [e["seq"] for e in run.log] == list(range(1, len(run.log) + 1))
        got = [{k: v for k, v in e.items() if k != "replay"} for e in run.ws]
        assert got[: len(run.log)] == run.log
        # every made three of the game exactly once (the first poll saw the game SCHEDULED)
        threes = [e["data"]["key"] for e in of_type(run.log, "made_three")]
        assert sorted(threes) == sorted(truth_threes(game)), "a three missing or fired twice"
        # every shot of the game is known at the end, as the simulator has it
        assert len(run.shots) == len(game.shots)

    # Same end: state (what the server knows, not when it read it) and every shot.
    assert comparable(chaos.state) == comparable(clean.state)
    assert chaos.shots == clean.shots
    assert (chaos.state["home"]["score"], chaos.state["away"]["score"]) == game.final_score

    # feed_status: exactly the transitions the injected faults call for, codes included.
    feed = [(e["data"]["ok"], e["data"]["error"]) for e in of_type(chaos.log, "feed_status")]
    assert feed == expected_transitions(chaos.served)
    assert not of_type(clean.log, "feed_status")
    assert {code for ok, code in feed if not ok} <= set(FAILING.values())

    # Retry-After honoured: the request after a 429 came no earlier than it asked.
    for a, b in zip(chaos.served, chaos.served[1:], strict=False):
        if a.fault == "http_429":
            assert b.at - a.at >= RETRY_AFTER_S - 0.02, (a, b)

    # A shot removed only when the upstream left it out (faults), and it came back.
    removed = [e["data"]["key"] for e in of_type(chaos.log, "shot_removed")]
    assert not of_type(clean.log, "shot_removed")
    assert set(removed) <= {str(t) for t in chaos.upstream.dropped}, "a shot removed for nothing"
    for key in set(removed):  # each removal followed by the shot's return, never a new key
        kinds_of_key = [e["type"] for e in chaos.log if e["data"].get("key") == key]
        kinds_of_key = [k for k in kinds_of_key if k in ("shot", "shot_removed")]
        assert kinds_of_key == ["shot", *["shot_removed", "shot"] * removed.count(key)], key
    # a hot hand goes on air once per make, however often the shot left and came back
    hot = [e["data"]["key"] for e in of_type(chaos.log, "hot_hand") if not e.get("stale")]
    assert len(hot) == len(set(hot)), Counter(hot).most_common(3)

    write_figures(
        seed,
        {
            "seed": seed,
            "polls": polls,
            "faults": injected,
            "kinds": dict(sorted(kinds.items())),
            "refusedWindows": kinds["refused"],
            "events": len(chaos.log),
            "cleanEvents": len(clean.log),
            "feedStatus": len(feed),
            "madeThrees": len(truth_threes(game)),
            "shots": len(game.shots),
            "shotRemoved": len(removed),
            "healthProbes": chaos.health["200"],
            "seconds": round(chaos.seconds, 1),
        },
    )

"""How long one poll takes: parse + detect + persist of a ~400-shot ShotTracker payload.

Run it with ``python bench/poll.py`` (``--blocks N`` / ``--per-block N`` to change the sample).
It prints figures; it is not a test and asserts only that the scenario is what it claims.

The payload is built in the upstream's JSON shape, starting from the seed record's fields
(``tests/data/seed_shots.json``), with consistent geometry (hoop at (-44, 12783) mm, ``d`` in
cm = |shot - hoop| / 10, ``hsx,hsy`` = hoop - shot), ~20 players over the two ``gameTotals``
team ids, ~45 % made, ~35 % threes, and scores/period totals that add up. Bytes are built
before the clock starts: producing them is the upstream's work, not ours.

Each block follows a fresh game id in one real SQLite file (WAL, as the server runs it):

* (c) baseline: the first poll of a never-seen game, 400 shots, fresh ``ShotParser``;
* (a) changed: ``--per-block`` polls, each adding one made shot, raising that team's score and
  ticking the game clock (so a poll emits shot [+ made_three, hot_hand, scoring_run],
  score_update and clock, as in live play); payloads of 401..400+per-block shots;
* (b) unchanged: after every changed poll, the same bytes again (state_changed must be False,
  so nothing is written);
* (d) the changed poll again, end to end through ``Game.apply_poll`` (worker-thread hop, as
  the server does it, the suggestions' own commit included), on a second set of blocks;
* (e) the suggestion rules over each changed poll of (a), after its commit, and their commit.

Timed steps mirror ``Game.apply_poll``: a long-lived ``ShotParser.parse_body`` (as the upstream
client calls it);
``tracker.detect``; ``Event.encode`` of each event + ``Store.save(state, events, changed)``.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import orjson

from server.config import Settings
from server.core import tracker, zones
from server.core.derived import Deriver, after_step, suggest_step
from server.core.onair import OnAir
from server.core.roster import GameConfig
from server.core.shots import MM_PER_FT, ShotParser
from server.core.suggestions import Book
from server.core.tracker import GameState, PollContext
from server.live.ledger import Game
from server.live.store import Store

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "tests" / "data" / "seed_shots.json"
HX, HY = -44, 12783
THREE_MM = 6750  # a shot from beyond this is a three (consistent with is3)
ATTRIBUTES = ("OTD", "CAS", "GUARDED", "UNGUARDED", "CLEAN", "LAYUP", "JUMPSHOT", "FADEAWAY")
BASE_SHOTS = 400
ONAIR = OnAir()
GOAL_MS = 2.5  # issue 12: with the splits recomputed (it was 2 ms without them)


class GameScript:
    """A deterministic game: a list of shot records plus the totals that go with them."""

    def __init__(self, seed: int) -> None:
        doc = orjson.loads(SEED.read_bytes())
        self.template: dict[str, Any] = doc["shots"][0]
        self.totals: dict[str, Any] = doc["gameTotals"]
        self.home_tid = self.totals["homeTeamScore"]["teamId"]
        self.away_tid = self.totals["awayTeamScore"]["teamId"]
        # H1/H2 session ids come from periodTotals, as upstream's sid does.
        self.sessions = {p["period"]: p["sessionId"] for p in self.totals["periodTotals"]}
        self.rng = random.Random(seed)
        self.players = [
            (str(7200 + i), self.home_tid if i < 10 else self.away_tid) for i in range(20)
        ]
        self.shots: list[dict[str, Any]] = []
        self.t = int(self.template["t"])
        self.clock_s = 20 * 60

    def shot(self, *, made: bool | None = None, period: str = "H1") -> dict[str, Any]:
        rng = self.rng
        self.t += rng.randint(4_000, 25_000)
        pid, tid = rng.choice(self.players)
        three = rng.random() < 0.35
        dist = rng.uniform(6_800, 8_600) if three else rng.uniform(300, 6_500)
        angle = rng.uniform(-1.45, 1.45)  # around the hoop, toward half court (-y at this end)
        px = round(HX + dist * math.sin(angle))
        py = round(HY - dist * math.cos(angle))
        is_make = rng.random() < 0.45 if made is None else made
        # this hoop is at +y: hoop-relative feet flip both axes (Shot.hoop_relative_ft)
        z, az = zones.classify((HX - px) / MM_PER_FT, (HY - py) / MM_PER_FT, three)
        rec = dict(self.template)
        rec.update(
            t=self.t,
            pid=pid,
            tid=tid,
            sid=self.sessions[period],
            prd=period,
            st="MAKE" if is_make else "MISS",
            is3=three,
            pts=(3 if three else 2) if is_make else -1,
            z=z,
            az=az,
            px=px,
            py=py,
            pz=rng.randint(300, 700),
            hsx=HX - px,
            hsy=HY - py,
            drb=rng.randint(0, 6),
            attributes=rng.sample(ATTRIBUTES, rng.randint(1, 3)),
            players=[rng.choice(self.players)[0]],
            d=math.hypot(px - HX, py - HY) / 10,
            shotDefenders=[rng.randint(7000, 7999)],
        )
        self.shots.append(rec)
        return rec

    def body(self) -> bytes:
        """The whole game so far, as upstream sends it on every poll."""
        score = {("H1", self.home_tid): 0, ("H1", self.away_tid): 0}
        score |= {("H2", self.home_tid): 0, ("H2", self.away_tid): 0}
        for s in self.shots:
            if s["pts"] > 0:
                score[s["prd"], s["tid"]] += s["pts"]
        period = self.shots[-1]["prd"]

        def side(team: str, value: int) -> dict[str, Any]:
            return {"teamId": team, "value": value}

        h = {p: score[p, self.home_tid] for p in ("H1", "H2")}
        a = {p: score[p, self.away_tid] for p in ("H1", "H2")}
        totals = {
            "awayTeamScore": side(self.away_tid, a["H1"] + a["H2"]),
            "homeTeamScore": side(self.home_tid, h["H1"] + h["H2"]),
            "period": period,
            "gameClock": f"00:{self.clock_s // 60:02d}:{self.clock_s % 60:02d}",
            "status": "ACTIVE",
            "periodTotals": [
                {
                    "awayTeamScore": side(self.away_tid, a[p]),
                    "homeTeamScore": side(self.home_tid, h[p]),
                    "period": p,
                    "sessionId": self.sessions[p],
                }
                for p in ("H2", "H1")
            ],
        }
        return orjson.dumps({"shots": self.shots, "gameTotals": totals})


def build_block(seed: int, extra: int) -> tuple[bytes, list[bytes]]:
    """(baseline body of 400 shots, then ``extra`` bodies each one made shot + 1 s later)."""
    g = GameScript(seed)
    for i in range(BASE_SHOTS):
        g.shot(period="H1" if i < BASE_SHOTS // 2 else "H2")
    g.clock_s = 15 * 60
    baseline = g.body()
    later: list[bytes] = []
    for _ in range(extra):
        g.shot(made=True, period="H2")
        g.clock_s -= 1
        later.append(g.body())
    return baseline, later


class Timings:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        self.samples.setdefault(name, []).append(seconds * 1000)

    def line(self, name: str) -> str:
        xs = sorted(self.samples[name])
        p90 = xs[min(len(xs) - 1, math.ceil(0.9 * len(xs)) - 1)]
        return (
            f"  {name:<44} median {statistics.median(xs):7.3f} ms   p90 {p90:7.3f} ms"
            f"   min {xs[0]:7.3f} ms   (n={len(xs)})"
        )


def run_blocks(
    store: Store, blocks: list[tuple[bytes, list[bytes]]], timings: Timings, prefix: str
) -> dict[str, int]:
    pc: Callable[[], float] = time.perf_counter
    counts: dict[str, int] = {}
    for b, (baseline, later) in enumerate(blocks):
        game = f"{prefix}-{b}"
        parser = ShotParser()
        deriver = Deriver()
        book = Book()
        config = GameConfig()
        state = GameState(game)
        now = 1_663_900_000_000

        # (c) the first poll of a never-seen game: everything is new to the parser and the store.
        t0 = pc()
        payload = parser.parse_body(baseline)
        det = tracker.detect(state, payload, PollContext(now_ms=now))
        encoded = [e.encode() for e in det.events]
        splits = deriver.splits.compute(det.state.shots.values(), config, det.state)
        store.save(det.state, det.events, det.changed_shots, encoded=encoded)
        t1 = pc()
        timings.add("(c) baseline poll, 400 shots", t1 - t0)
        assert not det.events and len(det.changed_shots) == BASE_SHOTS
        state = det.state

        for body in later:
            now += 1000
            # (a) one new made shot, score and clock moved.
            t0 = pc()
            payload = parser.parse_body(body)
            t1 = pc()
            det = tracker.detect(state, payload, PollContext(now_ms=now))
            t2 = pc()
            # as Game.apply_poll: the splits, and a stats event when they moved
            derived = after_step(
                deriver, splits, det.state, det.events, config, now, shots_changed=True
            )
            new_state, events = derived.state, derived.events
            splits = derived.splits or splits
            t3 = pc()
            encoded = [e.encode() for e in events]
            store.save(new_state, events, det.changed_shots, encoded=encoded)
            t4 = pc()
            # (e) then, after the poll's commit (its events are on air), the suggestion rules
            # and their own commit when they have something to say
            sug = suggest_step(
                deriver,
                splits,
                new_state,
                events,
                now,
                shots_changed=True,
                book=book,
                onair=ONAIR,
            )
            if sug.events:
                store.save(sug.state, sug.events, (), encoded=[e.encode() for e in sug.events])
            t5 = pc()
            book = sug.book or book
            timings.add("(a) changed poll: parse+detect+stats+persist", t4 - t0)
            timings.add("    parse (ShotParser.parse_body)   ", t1 - t0)
            timings.add("    detect", t2 - t1)
            timings.add("    stats (after_step: splits + compare)", t3 - t2)
            timings.add("    persist (encode + Store.save)", t4 - t3)
            timings.add("(e) then the suggestions (suggest_step + commit)", t5 - t4)
            assert det.state_changed and len(det.changed_shots) == 1
            for e in [*events, *sug.events]:
                counts[e.type] = counts.get(e.type, 0) + 1
            state = sug.state

            # (b) the same bytes again half a second later: nothing changed, nothing written,
            # and no shot changed, so the splits are not even looked at (as Game.apply_poll).
            t0 = pc()
            payload = parser.parse_body(body)
            det = tracker.detect(state, payload, PollContext(now_ms=now + 500))
            if det.state_changed:
                store.save(det.state, det.events, det.changed_shots)
            t1 = pc()
            timings.add("(b) unchanged poll: parse+detect", t1 - t0)
            assert not det.state_changed and not det.events
            state = det.state
    return counts


async def run_game_blocks(
    store: Store, blocks: list[tuple[bytes, list[bytes]]], timings: Timings
) -> None:
    """(d) the changed poll through Game.apply_poll: detect, save in a worker thread, publish."""
    pc = time.perf_counter
    for b, (baseline, later) in enumerate(blocks):
        fake_now = [1_663_900_000.0]

        def clock(fake_now: list[float] = fake_now) -> float:
            return fake_now[0]

        game = Game(f"game-{b}", store, Settings(), clock=clock)
        await game.apply_poll(game.parser.parse_body(baseline))
        for body in later:
            fake_now[0] += 1.0
            t0 = pc()
            det = await game.apply_poll(game.parser.parse_body(body))
            t1 = pc()
            timings.add("(d) changed poll: parse + Game.apply_poll", t1 - t0)
            assert det.state_changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=25, help="games (each: 1 baseline poll)")
    ap.add_argument("--per-block", type=int, default=20, help="changed polls per game")
    args = ap.parse_args()

    blocks = [build_block(seed, args.per_block) for seed in range(args.blocks)]
    game_blocks = [build_block(1000 + seed, args.per_block) for seed in range(args.blocks)]
    sample = orjson.loads(blocks[0][0])
    shots = sample["shots"]
    made = sum(s["st"] == "MAKE" for s in shots) / len(shots)
    threes = sum(s["is3"] for s in shots) / len(shots)
    print(f"shotfeed poll benchmark - Python {sys.version.split()[0]}, {sys.platform}")
    print(
        f"payload: {len(shots)} shots, {len(blocks[0][0]) / 1024:.0f} KiB JSON; "
        f"{made:.0%} made, {threes:.0%} threes; changed polls carry "
        f"{BASE_SHOTS + 1}..{BASE_SHOTS + args.per_block} shots"
    )
    print(
        f"sample: {args.blocks} games x (1 baseline + {args.per_block} changed + "
        f"{args.per_block} unchanged polls), SQLite WAL file in a temp dir"
    )

    timings = Timings()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        # Warm-up: imports, SQLite page cache, code paths.
        run_blocks(store, [build_block(99_999, 3)], Timings(), "warmup")
        gc.collect()
        counts = run_blocks(store, blocks, timings, "bench")
        gc.collect()
        anyio.run(run_game_blocks, store, game_blocks, timings)
        store.close()

    print()
    for name in timings.samples:
        print(timings.line(name))
    per_poll = {k: round(v / (args.blocks * args.per_block), 2) for k, v in counts.items()}
    print(f"\nevents per changed poll (mean): {per_poll}")
    med = statistics.median(timings.samples["(a) changed poll: parse+detect+stats+persist"])
    unchanged = statistics.median(timings.samples["(b) unchanged poll: parse+detect"])
    verdict = "MET" if med <= GOAL_MS else "MISSED"
    print(
        f"goal: changed poll <= {GOAL_MS} ms median -> {verdict} ({med:.3f} ms); "
        f"unchanged poll {unchanged:.3f} ms ({unchanged / med:.0%} of a changed one)"
    )


if __name__ == "__main__":
    main()

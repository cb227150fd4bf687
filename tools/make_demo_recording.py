"""Record a short simulated game as ``shotfeed record`` would, for the tests to replay.

The embedded ShotTracker simulator (``server.sim.simulator``) plays a short deterministic game
(seed 7, halves of 4 minutes: tip-off, made threes, a re-credited shot, half-time, FINAL) at
50x on a real uvicorn on a loopback port, and ``server.sim.recording.record`` polls it with the demo
credentials (every request HMAC-signed and checked) until the game is FINAL, plus a few frames.
The result is ``tests/data/demo-game.jsonl.gz`` (gzip: a game's polls repeat each other, so
the file is a few dozen KB instead of half a MB).

    python tools/make_demo_recording.py                   # rewrite tests/data/demo-game.jsonl.gz
    python tools/make_demo_recording.py --out /tmp/x.jsonl --speed 20 --interval 0.5

The bodies hold the wall-clock time of the run (shot ``t``, frame ``at``), so two runs never give
the same bytes; the game in them is the same every time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO

import anyio
import orjson

from server.live.upstream import Credentials
from server.sim.loopback import LoopbackServer
from server.sim.recording import Frame, open_recording, read_recording, record
from server.sim.simgame import simulate_game
from server.sim.simulator import DEMO_SECRET, DEMO_USERNAME, create_simulator_app

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "data" / "demo-game.jsonl.gz"
EVENT_ID = "DEMO"


class UntilFinal:
    """The recording's file, watched: ``done`` is set ``after`` frames past the first FINAL."""

    def __init__(self, out: IO[bytes], after: int) -> None:
        self.out = out
        self.after = after
        self.frames = 0
        self.final_at: int | None = None
        self.done = anyio.Event()

    def write(self, line: bytes) -> int:
        n = self.out.write(line)
        self.frames += 1
        if self.final_at is None:
            frame = Frame.from_line(line, self.frames)
            if frame.status == 200:
                totals = orjson.loads(frame.body).get("gameTotals") or {}
                if totals.get("status") == "FINAL":
                    self.final_at = self.frames
        if self.final_at is not None and self.frames >= self.final_at + self.after:
            self.done.set()
        return n

    def flush(self) -> None:
        self.out.flush()


async def make(args: argparse.Namespace) -> int:
    sim = simulate_game(args.seed, args.format, period_minutes=args.period_minutes)
    app = create_simulator_app(
        sim, speed=args.speed, event_id=EVENT_ID, credentials={DEMO_USERNAME: DEMO_SECRET}
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    budget = sim.duration_s / args.speed + (args.after_final + 10) * args.interval + 30
    with LoopbackServer(app) as upstream, open_recording(args.out, "wb") as fh:
        out = UntilFinal(fh, args.after_final)
        with anyio.fail_after(budget):
            async with anyio.create_task_group() as tg:

                async def run() -> None:
                    await record(
                        upstream.url,
                        EVENT_ID,
                        out,  # type: ignore[arg-type]
                        credentials=Credentials(DEMO_USERNAME, DEMO_SECRET),
                        interval=args.interval,
                    )

                tg.start_soon(run)
                await out.done.wait()
                tg.cancel_scope.cancel()
    frames = read_recording(args.out)
    bad = [f for f in frames if f.status != 200]
    if bad:
        print(f"unexpected non-200 frames: {[(f.status, f.error) for f in bad]}", file=sys.stderr)
        return 1
    size = args.out.stat().st_size
    print(
        f"wrote {args.out} ({len(frames)} frames, {size / 1024:.0f} KiB): seed {args.seed}, "
        f"{args.format} of {args.period_minutes} min, final {sim.final_score[0]}-"
        f"{sim.final_score[1]}, recorded at {args.speed:g}x every {args.interval:g} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="file (.gz = gzip)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=("quarters", "halves"), default="halves")
    parser.add_argument("--period-minutes", type=int, default=4)
    parser.add_argument("--speed", type=float, default=50.0, help="game seconds per second")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between polls")
    parser.add_argument("--after-final", type=int, default=5, help="frames to keep after FINAL")
    args = parser.parse_args(argv)
    return anyio.run(make, args)


if __name__ == "__main__":
    sys.exit(main())

"""Screenshots of the six overlays mid-animation, for docs/screenshots/{name}.png.

Run it with ``.venv/bin/python bench/screenshots.py`` (about 20 s; ``--only three,period`` for
some, ``--out DIR`` elsewhere, ``--seed N`` another simulated game, ``--scale 1`` full size).
It is not a test. It also saves ``index.png``: the index page with its live thumbnails.

A real shotfeed (the app under uvicorn, as ``shotfeed demo`` runs it) follows the embedded
ShotTracker simulator (``server.sim.simulator``: HMAC-signed requests, the documented JSON) with
the simulated game's teams, colours and roster configured. The simulator's clock is driven
from here, so the moments are chosen rather than waited for:

1. the game is set five seconds into half time: the first poll is the baseline, so every
   first-half shot is in the state (a full shot chart) and nothing animates;
2. the six overlays open in headless Chromium at 1920x1080 and show that state;
3. the clock runs into the 3rd quarter: the period banner plays live;
4. the clock jumps to a few seconds before the first made three of the 3rd quarter that
   follows a quiet spell, and runs: the splash, the scorebug and scoreboard flashes, the
   ticker's new line and the shot chart's new shot all play live.

Each page freezes its own animations (Web Animations API ``pause()``) a set time after its
moment starts, so each picture is caught mid-animation whatever the screenshot costs; the page
background is painted dark (the overlays themselves are transparent) so they can be seen.
``SimShow`` is shared with ``bench/overlays.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from server.config import Settings  # noqa: E402
from server.sim.loopback import LoopbackServer  # noqa: E402
from server.sim.simgame import SimGame, SimShot, simulate_game  # noqa: E402
from server.sim.simulator import DEMO_SECRET, DEMO_USERNAME, create_simulator_app  # noqa: E402
from server.web.app import create_app  # noqa: E402
from server.web.serving import websocket_options  # noqa: E402

GAME = "DEMO"
TOKEN = "bench-operator-token-0123456789"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
OVERLAY_NAMES = ("scorebug", "three", "period", "ticker", "shotchart", "scoreboard")
# The tracking-split graphics: fired by the operator (as the console does) at half time, each
# shot once its animation in has settled.
STATS_NAMES = ("playercard", "zones", "compare")
# a dark, neutral backdrop with a faint checkerboard: where an overlay is transparent
BACKDROP = "repeating-conic-gradient(#22262d 0% 25%, #1c1f25 0% 50%) 0 0 / 48px 48px, #1c1f25"


class SimClock:
    """The simulator's clock, in game-timeline seconds: set it, pause it, let it run."""

    def __init__(self) -> None:
        self.base = 0.0
        self.anchor = time.monotonic()
        self.rate = 0.0

    def __call__(self) -> float:
        return self.base + (time.monotonic() - self.anchor) * self.rate

    def set(self, at_s: float, rate: float = 1.0) -> None:
        self.base, self.anchor, self.rate = at_s, time.monotonic(), rate


@dataclass
class SimShow:
    """shotfeed following the simulator, with a clock the caller drives."""

    sim: SimGame
    clock: SimClock
    url: str
    http: httpx.Client
    stops: list[Callable[[], None]] = field(default_factory=list)

    def period(self, code: str) -> Any:
        return next(p for p in self.sim.periods if p.code == code)

    def quiet_three(self, period: str, after_s: float, quiet_s: float = 6.0) -> SimShot:
        """The first made three of ``period`` after ``after_s`` with nothing (no shot, no free
        throw) in the ``quiet_s`` before it, so it is alone in its poll."""
        moments = sorted(
            [s.offset_s for s in self.sim.shots] + [f.offset_s for f in self.sim.free_throws]
        )
        for s in self.sim.shots:
            if s.period != period or not (s.made and s.three) or s.offset_s < after_s:
                continue
            before = [m for m in moments if m < s.offset_s]
            if not before or s.offset_s - before[-1] >= quiet_s:
                return s
        raise RuntimeError(f"no quiet made three in {period}; try another --seed")

    def state(self) -> dict[str, Any]:
        r = self.http.get(f"/api/games/{GAME}/state")
        r.raise_for_status()
        state: dict[str, Any] = r.json()
        return state

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        r = self.http.get(f"/api/games/{GAME}/events", params={"since": since, "limit": 1000})
        r.raise_for_status()
        events: list[dict[str, Any]] = r.json()["events"]
        return events

    def wait_poll(self, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for a poll that started after now; returns the state then."""
        start = int(time.time() * 1000)
        deadline = time.monotonic() + timeout
        while True:
            state = self.state()
            if (state["feed"]["lastSuccessAt"] or 0) > start:
                return state
            if time.monotonic() > deadline:
                raise RuntimeError("no poll of the simulator within the timeout")
            time.sleep(0.05)


@contextmanager
def sim_show(seed: int = 2, *, start_s: float = 0.0, poll_s: float = 0.25) -> Iterator[SimShow]:
    """The simulator (clock paused at ``start_s``) and shotfeed following it, teams configured."""
    sim = simulate_game(seed, "quarters")
    clock = SimClock()
    sim_app = create_simulator_app(
        sim,
        speed=1.0,
        event_id=GAME,
        credentials={DEMO_USERNAME: DEMO_SECRET},
        clock=clock,
    )
    clock.set(start_s, rate=0.0)
    with tempfile.TemporaryDirectory(prefix="shotfeed-bench-") as tmp:
        upstream = LoopbackServer(sim_app, log_level="warning")
        upstream.start()
        settings = Settings(
            username=DEMO_USERNAME,
            secret=DEMO_SECRET,
            base_url=upstream.url,
            games=(GAME,),
            db_path=str(Path(tmp) / "bench.db"),
            operator_token=TOKEN,
            poll_interval=poll_s,
            idle_interval=poll_s,
            timeout=3.0,
        )
        server = LoopbackServer(
            create_app(settings, announce=False),
            lifespan="on",
            log_level="error",
            timeout_graceful_shutdown=2,
            **websocket_options(),
        )
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                show = SimShow(sim, clock, server.url, http)
                show.wait_poll()
                r = http.put(
                    f"/api/games/{GAME}/config",
                    json=sim.config_data(),
                    headers={"authorization": f"Bearer {TOKEN}"},
                )
                r.raise_for_status()
                yield show
        finally:
            server.stop()
            upstream.stop()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait(page: Any, expression: str, timeout: float = 10.0) -> Any:
    """Poll a JS expression until truthy (the overlays' CSP refuses wait_for_function)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"not true within {timeout} s: {expression}")
        page.wait_for_timeout(25)


# Per overlay: the feed event that starts its moment, and how long (ms) into the animation to
# freeze it. The hook runs in the page, so the freeze lands on time whatever Python is doing.
MOMENTS: dict[str, tuple[str, int]] = {
    "scorebug": ("score_update", 190),  # the score cell's flash at its brightest
    "three": ("made_three", 320),  # the splash sliding in, the 3 popping
    "period": ("period_change", 430),  # the banner rising, its rows following
    "ticker": ("shot", 420),  # the new line sliding in from the left
    "shotchart": ("shot", 420),  # the new shot popping, its ring going out
    "scoreboard": ("score_update", 190),  # the score's flash
}

FREEZE_HOOK = """([type, ms]) => {
  window.__moment = {type, frozen: false, at: null};
  window.shotfeed.feed.on(type, (ev, animate) => {
    const m = window.__moment;
    if (!animate || m.at !== null) return;
    m.at = performance.now();
    setTimeout(() => {
      for (const a of document.getAnimations()) a.pause();
      m.frozen = true;
    }, ms);
  });
}"""


def open_overlay(browser: Any, url: str, *, scale: float = 1.0) -> Any:
    context = browser.new_context(
        viewport={"width": 1920, "height": 1080}, device_scale_factor=scale
    )
    page = context.new_page()
    page.goto(url, wait_until="load")
    ready = "window.shotfeed && window.shotfeed.feed.hasState"
    wait(page, f"{ready} && !document.documentElement.classList.contains('sf-loading')")
    return page


def run(out: Path, names: list[str], seed: int, scale: float) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    sim = simulate_game(seed, "quarters")
    q3 = next(p for p in sim.periods if p.code == "Q3")
    halftime = next(p for p in sim.periods if p.code == "Q2").end_s + 5
    saved: list[Path] = []
    with sim_show(seed, start_s=halftime) as show, chromium() as browser:
        three = show.quiet_three("Q3", q3.start_s + 8)
        query = "hold_ms=9000"
        pages: dict[str, Any] = {}
        for name in [n for n in names if n in OVERLAY_NAMES]:
            page = open_overlay(
                browser, f"{show.url}/overlays/{name}?game={GAME}&{query}", scale=scale
            )
            page.evaluate("bg => { document.documentElement.style.background = bg; }", BACKDROP)
            pages[name] = page
        print(f"{len(pages)} overlay(s) open on {show.url}, at half time")
        saved += stats_shots(browser, show, [n for n in names if n in STATS_NAMES], out, scale)

        def shoot(name: str) -> None:
            page = pages.pop(name)
            wait(page, "window.__moment.frozen", timeout=20)
            path = out / f"{name}.png"
            page.screenshot(path=str(path), animations="allow")
            page.context.close()
            saved.append(path)
            print(
                f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
                f"  {path.stat().st_size / 1024:.0f} KiB"
            )

        # the 3rd quarter starts: the period banner
        if "period" in pages:
            pages["period"].evaluate(FREEZE_HOOK, list(MOMENTS["period"]))
        show.clock.set(q3.start_s - 1.5, rate=1.0)
        if "period" in pages:
            shoot("period")
        # the clock jumps to a quiet spell before a made three (what the jump brings in plays
        # and settles first), then the three itself
        show.clock.set(three.offset_s - 5.0, rate=1.0)
        show.wait_poll()
        time.sleep(1.5)
        for name, page in pages.items():
            page.evaluate(FREEZE_HOOK, list(MOMENTS[name]))
        for name in [n for n in names if n in pages]:
            shoot(name)
        if "index" in names:
            saved.append(index_shot(browser, show.url, out))
    return saved


def stats_shots(
    browser: Any, show: SimShow, names: list[str], out: Path, scale: float
) -> list[Path]:
    """The stats graphics on air at half time: the leading scorer's card, the home team's
    zones, and the teams' comparison table."""
    state = show.state()
    players = state["splits"]["players"]
    best = max(players, key=lambda p: (p["points"], p["fg3m"]))
    payloads = {
        "playercard": {"pid": best["pid"]},
        "zones": {"team": "home"},
        "compare": {},
    }
    saved: list[Path] = []
    for name in names:
        page = open_overlay(browser, f"{show.url}/overlays/{name}?game={GAME}", scale=scale)
        page.evaluate("bg => { document.documentElement.style.background = bg; }", BACKDROP)
        r = show.http.post(
            f"/api/games/{GAME}/graphics",
            json={"action": "show", "name": name, "payload": payloads[name]},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        r.raise_for_status()
        page.wait_for_timeout(1500)  # the animation in, settled
        path = out / f"{name}.png"
        page.screenshot(path=str(path), animations="allow")
        page.context.close()
        saved.append(path)
        show.http.post(
            f"/api/games/{GAME}/graphics",
            json={"action": "hide", "name": name},
            headers={"authorization": f"Bearer {TOKEN}"},
        )
        print(f"  {path.name}  {path.stat().st_size / 1024:.0f} KiB")
    return saved


def index_shot(browser: Any, url: str, out: Path) -> Path:
    """The index page with its live thumbnails (each the real overlay page, scaled down)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1160})
    page = context.new_page()
    page.goto(f"{url}/", wait_until="load")
    deadline = time.monotonic() + 10
    for frame in [f for f in page.frames if "/overlays/" in f.url]:
        while not frame.evaluate("!!(window.shotfeed && window.shotfeed.feed.hasState)"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no state in the thumbnail {frame.url}")
            page.wait_for_timeout(50)
    page.wait_for_timeout(500)
    path = out / "index.png"
    page.screenshot(path=str(path))
    context.close()
    print(f"  {path.name}  {path.stat().st_size / 1024:.0f} KiB")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", help="comma list of overlays and/or index (default: all)")
    parser.add_argument("--seed", type=int, default=2, help="which simulated game")
    parser.add_argument(
        "--scale", type=float, default=0.5, help="device scale factor: 0.5 saves 960x540 PNGs"
    )
    args = parser.parse_args()
    everything = [*OVERLAY_NAMES, *STATS_NAMES, "index"]
    names = [n.strip() for n in args.only.split(",")] if args.only else everything
    unknown = [n for n in names if n not in everything]
    if unknown:
        parser.error(f"unknown overlay(s): {', '.join(unknown)}")
    started = time.monotonic()
    saved = run(args.out, names, args.seed, args.scale)
    print(f"{len(saved)} screenshots in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

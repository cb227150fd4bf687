"""What each overlay costs a browser source: bytes, time to the first state, long tasks.

Run it with ``.venv/bin/python bench/overlays.py`` (about 40 s; ``--loads N`` cold loads per
overlay, default 5; ``--only ...``). It prints figures; it is not a test.

The same rig as ``bench/screenshots.py``: a real shotfeed following the embedded simulator,
teams and roster configured, the game set at half time (so the state holds a whole first
half: the shot chart has ~60 shots to fetch). Chromium is Debian's, headless, 1920x1080.

For each overlay it reports:

- **bytes**: everything the page loaded over HTTP, cold (a fresh browser context, so an empty
  cache): the page, feed.js, overlay.css, the two fonts, and for the shot chart its compact
  shots list (``/overlays/shotchart/shots.json``); counted as bytes on the wire (headers
  included), from Chrome's own network events.
  The WebSocket's hello (the state) is shown apart. Goal: <= 150 KB.
- **to state**: navigation start -> ``performance.mark("shotfeed:painted")``, which feed.js
  sets once hello's state is drawn, the fonts are in and a frame has gone by (median and worst
  of ``--loads`` cold loads). For the shot chart also -> ``shotfeed:shots`` (the full list
  fetched and drawn). One uncounted load of each overlay warms the browser up first.
  Goal: <= 300 ms on loopback.
- **long tasks**: a ``PerformanceObserver('longtask')`` (main-thread tasks over 50 ms) from
  the overlay's main moment played live (the period banner for ``period``, a made three for
  the others: splash, score flash, ticker line, shot pop) until 2.5 s after it, with the
  longest gap between animation frames over the same span. Goal: no long task.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.screenshots import (  # noqa: E402
    GAME,
    OVERLAY_NAMES,
    STATS_NAMES,
    TOKEN,
    chromium,
    sim_show,
    wait,
)
from server.sim.simgame import simulate_game  # noqa: E402

SEED = 2
WATCH_MS = 2500

OBSERVE = """() => {
  window.__lt = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__lt.push({start: e.startTime, ms: e.duration});
  }).observe({type: 'longtask', buffered: true});
}"""

# Marks when the page's main moment starts (a live, animated event), then records the frame
# times until WATCH_MS after it.
MOMENT = """([type, watch]) => {
  window.__m = {at: null, frames: [], done: false};
  window.shotfeed.feed.on(type, (ev, animate) => {
    const m = window.__m;
    if (!animate || m.at !== null) return;
    m.at = performance.now();
    const tick = (t) => {
      m.frames.push(t);
      if (t - m.at < watch) requestAnimationFrame(tick);
      else m.done = true;
    };
    requestAnimationFrame(tick);
  });
}"""


def cold_load(browser: Any, url: str) -> dict[str, Any]:
    """One load in a fresh context: bytes by resource, ms to the painted mark(s)."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, str] = {}
    sizes: dict[str, int] = {}
    ws = {"hello": 0}

    def on_request(e: dict[str, Any]) -> None:
        urls[e["requestId"]] = e["request"]["url"]

    def on_finished(e: dict[str, Any]) -> None:
        sizes[e["requestId"]] = int(e["encodedDataLength"])

    def on_frame(e: dict[str, Any]) -> None:
        payload = e["response"]["payloadData"]
        if '"type":"hello"' in payload[:200]:
            ws["hello"] = len(payload.encode())

    cdp.on("Network.requestWillBeSent", on_request)
    cdp.on("Network.loadingFinished", on_finished)
    cdp.on("Network.webSocketFrameReceived", on_frame)
    page.goto(url, wait_until="load")
    painted = wait(
        page, "performance.getEntriesByName('shotfeed:painted').map(e => e.startTime)[0]"
    )
    shots = None
    if "/shotchart" in url:
        shots = wait(
            page, "performance.getEntriesByName('shotfeed:shots').map(e => e.startTime)[0]"
        )
    page.wait_for_timeout(300)  # let the last network events in
    by_kind: dict[str, int] = {}
    for rid, size in sizes.items():
        u = urls.get(rid, "")
        kind = (
            "font"
            if u.endswith(".woff2")
            else "feed.js"
            if "feed.js" in u
            else "css"
            if ".css" in u
            else "shots"
            if "shots.json" in u
            else "page"
        )
        by_kind[kind] = by_kind.get(kind, 0) + size
    context.close()
    return {
        "painted": float(painted),
        "shots": None if shots is None else float(shots),
        "bytes": sum(sizes.values()),
        "requests": len(sizes),
        "by_kind": by_kind,
        "hello": ws["hello"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--loads", type=int, default=5, help="cold loads per overlay")
    parser.add_argument("--only", help="comma list of overlays (default: all nine)")
    args = parser.parse_args()
    everything = [*OVERLAY_NAMES, *STATS_NAMES]
    names = [n.strip() for n in args.only.split(",")] if args.only else everything

    sim = simulate_game(SEED, "quarters")
    q3 = next(p for p in sim.periods if p.code == "Q3")
    halftime = next(p for p in sim.periods if p.code == "Q2").end_s + 5
    with sim_show(SEED, start_s=halftime) as show, chromium() as browser:
        state = show.state()
        shots = len(show.http.get(f"/api/games/{GAME}/shots").json()["shots"])
        print(
            f"shotfeed on {show.url} following the simulator (seed {SEED}), at half time: "
            f"{state['away']['short']} {state['away']['score']} - "
            f"{state['home']['short']} {state['home']['score']}, {shots} shots"
        )
        print(f"Chromium {browser.version}, headless, 1920x1080; {args.loads} cold loads each\n")
        # the stats graphics on air (as the console fires them), so a load paints them whole
        best = max(state["splits"]["players"], key=lambda p: (p["points"], p["fg3m"]))
        payloads = {"playercard": {"pid": best["pid"]}, "zones": {"team": "home"}, "compare": {}}
        for name in [n for n in names if n in STATS_NAMES]:
            show.http.post(
                f"/api/games/{GAME}/graphics",
                json={"action": "show", "name": name, "payload": payloads[name]},
                headers={"authorization": f"Bearer {TOKEN}"},
            ).raise_for_status()
        for name in names:  # a first load warms the browser up (not counted)
            cold_load(browser, f"{show.url}/overlays/{name}?game={GAME}")
        loads: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            url = f"{show.url}/overlays/{name}?game={GAME}"
            loads[name] = [cold_load(browser, url) for _ in range(args.loads)]

        # the moments, live: every overlay open at once, as in a show
        pages: dict[str, Any] = {}
        for name in names:
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            page.goto(f"{show.url}/overlays/{name}?game={GAME}&hold_ms=3000", wait_until="load")
            wait(page, "performance.getEntriesByName('shotfeed:painted').length")
            page.evaluate(OBSERVE)
            pages[name] = page
        if "period" in pages:
            pages["period"].evaluate(MOMENT, ["period_change", WATCH_MS])
        show.clock.set(q3.start_s - 1.0, rate=1.0)
        if "period" in pages:
            wait(pages["period"], "window.__m.done", timeout=15)
        three = show.quiet_three("Q3", q3.start_s + 8)
        show.clock.set(three.offset_s - 5.0, rate=1.0)
        show.wait_poll()
        time.sleep(1.5)
        moment = {"three": "made_three", "period": "period_change", "ticker": "shot"}
        moment |= {"shotchart": "shot", "scorebug": "score_update", "scoreboard": "score_update"}
        moment |= dict.fromkeys(STATS_NAMES, "stats")  # the numbers the three changes
        for name, page in pages.items():
            if name != "period":
                page.evaluate(MOMENT, [moment[name], WATCH_MS])
        long_tasks: dict[str, tuple[list[float], float, str]] = {}
        for name, page in pages.items():
            wait(page, "window.__m.done", timeout=20)
            m = page.evaluate("window.__m")
            tasks = [t["ms"] for t in page.evaluate("window.__lt") if t["start"] >= m["at"] - 50]
            frames = m["frames"]
            gap = max((b - a for a, b in itertools.pairwise(frames)), default=0.0)
            long_tasks[name] = (tasks, gap, moment[name])
            page.context.close()

    print(
        f"{'overlay':<11} {'bytes':>9} {'reqs':>4}  {'page':>6} {'feed.js':>7} {'css':>5} "
        f"{'fonts':>6} {'shots':>6} {'hello':>6}  {'to state ms':>13}  "
        f"{'long tasks':>10}  {'max frame gap':>13}  moment"
    )
    for name in names:
        runs = loads[name]
        first = runs[0]
        k = first["by_kind"]
        painted = [r["painted"] for r in runs]
        ms = f"{statistics.median(painted):.0f} / {max(painted):.0f}"
        tasks, gap, what = long_tasks[name]
        lt = "none" if not tasks else f"{len(tasks)}: {max(tasks):.0f} ms"
        print(
            f"{name:<11} {first['bytes'] / 1000:>7.1f}KB {first['requests']:>4}  "
            f"{k.get('page', 0) / 1000:>5.1f}K {k.get('feed.js', 0) / 1000:>6.1f}K "
            f"{k.get('css', 0) / 1000:>4.1f}K {k.get('font', 0) / 1000:>5.1f}K "
            f"{k.get('shots', 0) / 1000:>5.1f}K {first['hello'] / 1000:>5.1f}K  "
            f"{ms:>13}  {lt:>10}  {gap:>10.0f} ms  {what}"
        )
        if first["shots"] is not None:
            full = [r["shots"] for r in runs]
            print(
                f"{'':<11} shot chart with every shot drawn: "
                f"{statistics.median(full):.0f} / {max(full):.0f} ms"
            )
            per_shot = k.get("shots", 0) / max(shots, 1)
            whole = first["bytes"] + per_shot * (len(sim.shots) - shots)
            print(
                f"{'':<11} at the end of this game ({len(sim.shots)} shots, "
                f"{per_shot:.0f} B a shot on the wire): about {whole / 1000:.0f} KB"
            )
    print("\nto state: median / worst of the cold loads; bytes: first cold load, on the wire")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

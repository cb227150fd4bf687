"""What one event costs each server process when no client is connected: the fixed cost per
event that every web process pays whatever its number of clients.

Run it with ``.venv/bin/python bench/event_cost.py`` (``--events 2000``, 3 alternated runs; a
Redis on loopback, keys under a unique prefix deleted at the end, as ``redis_fanout.py``). It
prints figures; it is not a test.

Per run, ``--events`` operator graphics are POSTed one after another (``--interval`` apart):

* **embedded**: to one ``serve`` process (POST, SQLite commit in its worker thread, publish);
* **redis**: to web process 0 of two ``shotfeed web`` processes (POST, the commit script,
  publish, then its own commit back through ``XREAD``), while web process 1 only follows
  (``XREAD`` wake-up, parse, apply, publish, the next ``XREAD``).

Why this script beside ``redis_fanout.py``: that one calibrates the per-event cost over 40
events from ``/proc/<pid>/stat``, in 10 ms clock ticks (±0.25 ms per event). Here the CPU is
``/proc/<pid>/task/*/schedstat`` (nanoseconds, every thread) over thousands of events, with
each process's idle rate, measured just after, taken off.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fanout import SEED, Bench, git_describe, stop_processes  # noqa: E402
from bench.redis_fanout import LOOPBACK, RedisKeys, ScaleBench  # noqa: E402


def cpu_ns(pid: int) -> int:
    """CPU time of every live thread of a process, in ns (schedstat's first field)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        path = f"/proc/{pid}/task/{task}/schedstat"
        with contextlib.suppress(FileNotFoundError), open(path) as f:  # or the thread ended
            total += int(f.read().split()[0])
    return total


def measure(bench: Bench, base: str, pids: list[int], events: int, interval: float) -> list[float]:
    """ms of CPU per event for each pid, net of its idle rate."""
    http = httpx.Client(base_url=base, headers={"authorization": f"Bearer {bench.token}"})
    with http:
        for i in range(50):  # warm: imports, first commits, caches
            bench.fire(http, {"warm": i})
        time.sleep(0.5)
        c0, t0 = [cpu_ns(p) for p in pids], time.monotonic()
        for i in range(events):
            bench.fire(http, {"k": i})
            time.sleep(interval)
        time.sleep(0.3)  # the followers apply the last one
        c1, dt = [cpu_ns(p) for p in pids], time.monotonic() - t0
    i0, ti = [cpu_ns(p) for p in pids], time.monotonic()
    time.sleep(3.0)
    i1, di = [cpu_ns(p) for p in pids], time.monotonic() - ti
    return [
        max(0.0, (b - a) - (y - x) / di * dt) / events / 1e6
        for a, b, x, y in zip(c0, c1, i0, i1, strict=True)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per run")
    parser.add_argument("--interval", type=float, default=0.005, help="s between events")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode, alternated")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="server poll s")
    parser.set_defaults(heartbeat=600.0, prelude=None, profile=None, profile_args="")
    args = parser.parse_args()
    if urlsplit(args.redis_url).hostname not in LOOPBACK:
        raise SystemExit("--redis-url: loopback only (the bench deletes keys there)")
    for var in ("REDIS_URL", "SHOTFEED_REDIS_PREFIX", "SHOTFEED_GAMES"):
        os.environ.pop(var, None)  # the embedded server must not inherit Redis mode

    from tests.upstream_app import LiveServer, Reply, ScriptedUpstream

    upstream = ScriptedUpstream()
    upstream.push(Reply(200, SEED.read_bytes()))
    keys = RedisKeys(args.redis_url)
    names = ("embedded", "web 0 (takes the POSTs)", "web 1 (follows)", "poll process")
    rows: dict[str, list[float]] = {name: [] for name in names}
    print(
        f"event cost: {args.events} events per run, {args.repeat} alternated runs, server at "
        f"{git_describe()}, redis {keys.version}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="event-cost-")))
        up = stack.enter_context(LiveServer(upstream))
        stack.callback(keys.delete)
        bench = Bench(args, up.url, tmp)
        sb = ScaleBench(args, bench, keys)
        for i in range(args.repeat):
            proc, base = bench.start_server(f"embedded-{i}")
            try:
                (emb,) = measure(bench, base, [proc.pid], args.events, args.interval)
            finally:
                stop_processes([proc])
            procs, bases, poll = sb.start_redis(f"redis-{i}", 2)
            try:
                pids = [procs[0].pid, procs[1].pid, poll.pid]
                web0, web1, pollp = measure(bench, bases[0], pids, args.events, args.interval)
            finally:
                stop_processes([*procs, poll])
                keys.delete(keys.prefix(f"redis-{i}"))
            for name, v in zip(rows, (emb, web0, web1, pollp), strict=True):
                rows[name].append(v)
            print(
                f"  run {i + 1}: embedded {emb:.3f} ms; web 0 {web0:.3f} ms; web 1 {web1:.3f} ms; "
                f"poll process {pollp:.3f} ms per event",
                flush=True,
            )
    print("\nCPU per event with no client, net of idle (ms; median [runs]):")
    for name, values in rows.items():
        each = " ".join(f"{v:.3f}" for v in values)
        print(f"  {name:<26} {statistics.median(values):.3f} [{each}]")
    emb, web0, web1, _ = (statistics.median(rows[name]) for name in names)
    print(
        f"  each web process that follows adds {web1:.3f} ms per event; the one taking the "
        f"POSTs costs {web0 - emb:+.3f} ms per event against the embedded process"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
